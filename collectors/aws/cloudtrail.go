package aws

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// CloudTrail check IDs.
const (
	checkTrailMultiRegion   = "aws.cloudtrail.multi_region"
	checkTrailLogValidation = "aws.cloudtrail.log_file_validation"
	checkTrailKMS           = "aws.cloudtrail.kms_encryption"
)

// cloudTrailAPI is the part of the CloudTrail client the checks use.
type cloudTrailAPI interface {
	DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
}

// cloudTrailScanner checks CloudTrail: a multi-region trail logging in every
// region, log file validation and KMS encryption of each trail.
func cloudTrailScanner() scanner {
	return scanner{
		service: "cloudtrail",
		global:  false,
		checks:  []string{checkTrailMultiRegion, checkTrailLogValidation, checkTrailKMS},
		scan: func(ctx context.Context, s *scope) error {
			return scanCloudTrail(ctx, s, cloudtrail.NewFromConfig(s.cfg))
		},
	}
}

func scanCloudTrail(ctx context.Context, s *scope, api cloudTrailAPI) error {
	// DescribeTrails has no paging: it answers every trail at once. Shadow
	// trails (multi-region trails homed elsewhere) are what tells whether
	// this region is covered.
	out, err := api.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("describe CloudTrail trails in %s: %w", s.region, err)
	}
	if err := trailCoverage(ctx, s, api, out.TrailList); err != nil {
		return err
	}
	// A trail is judged in its home region and owning account only, so a
	// multi-region or organization trail yields one verdict, not one per
	// region or member account.
	owned := 0
	for _, t := range out.TrailList {
		arn := aws.ToString(t.TrailARN)
		if aws.ToString(t.HomeRegion) != s.region || arnAccount(arn) != s.account {
			continue
		}
		owned++
		if err := trailSettings(ctx, s, t); err != nil {
			return err
		}
	}
	if owned == 0 {
		for _, check := range []string{checkTrailLogValidation, checkTrailKMS} {
			if err := s.notApplicable(ctx, check, "*", "", "no CloudTrail trail of this account has its home in this region"); err != nil {
				return err
			}
		}
	}
	return nil
}

// trailCoverage decides multi_region for the region: it passes when a
// multi-region trail visible here is logging. The subject is the region's
// trails as a whole.
func trailCoverage(ctx context.Context, s *scope, api cloudTrailAPI, trails []types.Trail) error {
	subject := "arn:aws:cloudtrail:" + s.region + ":" + s.account + ":trails"
	seen := []any{}
	var firstErr error
	for _, t := range trails {
		if !aws.ToBool(t.IsMultiRegionTrail) {
			continue
		}
		arn := aws.ToString(t.TrailARN)
		// A shadow trail's status is only found by its ARN.
		st, err := api.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: t.TrailARN})
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("get status of CloudTrail trail %s: %w", arn, err)
			}
			continue
		}
		logging := aws.ToBool(st.IsLogging)
		if logging {
			return s.verdict(ctx, checkTrailMultiRegion, subject, "", true,
				"a logging multi-region trail records this region", map[string]any{
					"trail_arn": arn, "home_region": aws.ToString(t.HomeRegion), "is_multi_region_trail": true, "is_logging": true,
				})
		}
		seen = append(seen, map[string]any{"trail_arn": arn, "is_multi_region_trail": true, "is_logging": false})
	}
	if firstErr != nil {
		// An unreadable trail might be the one that is logging.
		return s.notAssessed(ctx, checkTrailMultiRegion, subject, "", firstErr)
	}
	detail := "no multi-region trail records this region"
	if len(seen) > 0 {
		detail = "multi-region trails exist but none is logging"
	}
	return s.verdict(ctx, checkTrailMultiRegion, subject, "", false, detail, map[string]any{"multi_region_trails": seen})
}

// trailSettings decides log_file_validation and kms_encryption for a trail
// homed in this region.
func trailSettings(ctx context.Context, s *scope, t types.Trail) error {
	arn := aws.ToString(t.TrailARN)
	if err := s.located(ctx, arn, s.region); err != nil {
		return err
	}
	validated := aws.ToBool(t.LogFileValidationEnabled)
	detail := "trail writes digest files, so tampering with its logs is detectable"
	if !validated {
		detail = "trail writes no digest files, so its logs could be altered unnoticed"
	}
	if err := s.verdict(ctx, checkTrailLogValidation, arn, "", validated, detail,
		map[string]any{"log_file_validation_enabled": validated}); err != nil {
		return err
	}
	key := aws.ToString(t.KmsKeyId)
	detail = "trail encrypts its log files with a KMS key"
	if key == "" {
		detail = "trail log files are not encrypted with a KMS key (S3-managed encryption only)"
	}
	return s.verdict(ctx, checkTrailKMS, arn, "", key != "", detail, map[string]any{"kms_key_id": key})
}

// arnAccount is the account field of an ARN, "" when arn is not one.
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
