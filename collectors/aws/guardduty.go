package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"
)

const checkGuardDuty = "aws.guardduty.enabled"

// guardDutyPageSize is how many detector IDs one ListDetectors page asks
// for, the most GuardDuty allows.
const guardDutyPageSize = 50

// guardDutyAPI is the part of the GuardDuty client the check uses.
type guardDutyAPI interface {
	guardduty.ListDetectorsAPIClient
	GetDetector(ctx context.Context, in *guardduty.GetDetectorInput, optFns ...func(*guardduty.Options)) (*guardduty.GetDetectorOutput, error)
}

// guardDutyScanner checks that GuardDuty is enabled in each region.
func guardDutyScanner() scanner {
	return scanner{
		service: "guardduty",
		global:  false,
		checks:  []string{checkGuardDuty},
		scan: func(ctx context.Context, s *scope) error {
			return scanGuardDuty(ctx, s, guardduty.NewFromConfig(s.cfg))
		},
	}
}

// scanGuardDuty decides enabled for the region: it passes when a detector
// is ENABLED. The subject is the region's detector, whichever it is or
// whether there is one at all.
func scanGuardDuty(ctx context.Context, s *scope, api guardDutyAPI) error {
	subject := "arn:aws:guardduty:" + s.region + ":" + s.account + ":detector"
	// AWS allows one detector per account and region; the IDs are few.
	var ids []string
	p := guardduty.NewListDetectorsPaginator(api, &guardduty.ListDetectorsInput{}, func(o *guardduty.ListDetectorsPaginatorOptions) { o.Limit = guardDutyPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list GuardDuty detectors in %s: %w", s.region, err)
		}
		ids = append(ids, page.DetectorIds...)
	}
	if len(ids) == 0 {
		return s.verdict(ctx, checkGuardDuty, subject, "", false, "GuardDuty has no detector in this region",
			map[string]any{"detector_ids": []any{}})
	}
	seen := []any{}
	var firstErr error
	for _, id := range ids {
		d, err := api.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: &id})
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("get GuardDuty detector %s: %w", id, err)
			}
			continue
		}
		if d.Status == types.DetectorStatusEnabled {
			return s.verdict(ctx, checkGuardDuty, subject, "", true, "GuardDuty detector is enabled in this region",
				map[string]any{"detector_id": id, "status": string(d.Status)})
		}
		seen = append(seen, map[string]any{"detector_id": id, "status": string(d.Status)})
	}
	if firstErr != nil {
		// The detector that could not be read might be the enabled one.
		return s.notAssessed(ctx, checkGuardDuty, subject, "", firstErr)
	}
	return s.verdict(ctx, checkGuardDuty, subject, "", false, "GuardDuty detector is suspended in this region",
		map[string]any{"detectors": seen})
}
