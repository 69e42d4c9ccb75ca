package aws

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/sync/errgroup"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

const checkKeyRotation = "aws.kms.key_rotation"

// kmsPageSize is how many keys one ListKeys page asks for, the most KMS
// allows.
const kmsPageSize = 1000

// kmsAPI is the part of the KMS client the check uses.
type kmsAPI interface {
	kms.ListKeysAPIClient
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetKeyRotationStatus(ctx context.Context, in *kms.GetKeyRotationStatusInput, optFns ...func(*kms.Options)) (*kms.GetKeyRotationStatusOutput, error)
}

// kmsScanner checks that KMS customer keys rotate their key material.
func kmsScanner() scanner {
	return scanner{
		service: "kms",
		global:  false,
		checks:  []string{checkKeyRotation},
		scan: func(ctx context.Context, s *scope) error {
			return scanKMS(ctx, s, kms.NewFromConfig(s.cfg))
		},
	}
}

func scanKMS(ctx context.Context, s *scope, api kmsAPI) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resourceWorkers)
	var keys int
	var listErr error
	p := kms.NewListKeysPaginator(api, &kms.ListKeysInput{}, func(o *kms.ListKeysPaginatorOptions) { o.Limit = kmsPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(gctx)
		if err != nil {
			listErr = fmt.Errorf("list KMS keys in %s: %w", s.region, err)
			break
		}
		for _, k := range page.Keys {
			keys++
			g.Go(func() error { return kmsKey(gctx, s, api, k) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if keys == 0 {
		return s.notApplicable(ctx, checkKeyRotation, "*", "", "no KMS keys in this region")
	}
	return nil
}

// kmsKey decides key_rotation for one key. Automatic rotation exists only
// for enabled, customer managed, symmetric keys with KMS-generated material;
// every other key is not applicable, with the reason in the detail.
func kmsKey(ctx context.Context, s *scope, api kmsAPI, k types.KeyListEntry) error {
	arn, id := aws.ToString(k.KeyArn), aws.ToString(k.KeyId)
	if err := s.located(ctx, arn, s.region); err != nil {
		return err
	}
	d, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
	if err != nil {
		return s.notAssessed(ctx, checkKeyRotation, arn, "", fmt.Errorf("describe KMS key %s: %w", id, err))
	}
	m := d.KeyMetadata
	if m == nil {
		return s.notAssessed(ctx, checkKeyRotation, arn, "", fmt.Errorf("describe KMS key %s: no key metadata in the answer", id))
	}
	observed := map[string]any{
		"key_manager": string(m.KeyManager),
		"key_spec":    string(m.KeySpec),
		"key_state":   string(m.KeyState),
		"origin":      string(m.Origin),
	}
	var skip string
	switch {
	case m.KeyManager != types.KeyManagerTypeCustomer:
		skip = "AWS managed key: AWS rotates its key material itself"
	case m.KeySpec != types.KeySpecSymmetricDefault:
		skip = fmt.Sprintf("%s key: KMS cannot rotate asymmetric or HMAC keys automatically", m.KeySpec)
	case m.Origin != types.OriginTypeAwsKms:
		skip = fmt.Sprintf("key material has origin %s: KMS can rotate only material it generated", m.Origin)
	case m.KeyState != types.KeyStateEnabled:
		skip = fmt.Sprintf("key is %s, so it protects no new data", m.KeyState)
	}
	if skip != "" {
		return s.emit(ctx, finding.Finding{Check: checkKeyRotation, Resource: arn, Status: finding.NotApplicable, Detail: skip, Observed: observed})
	}
	r, err := api.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})
	var unsupported *types.UnsupportedOperationException
	switch {
	case errors.As(err, &unsupported):
		return s.emit(ctx, finding.Finding{Check: checkKeyRotation, Resource: arn, Status: finding.NotApplicable,
			Detail: "KMS does not support automatic rotation for this key", Observed: observed})
	case err != nil:
		return s.notAssessed(ctx, checkKeyRotation, arn, "", fmt.Errorf("get rotation status of KMS key %s: %w", id, err))
	}
	observed["key_rotation_enabled"] = r.KeyRotationEnabled
	detail := "customer managed key rotates its key material automatically"
	if r.RotationPeriodInDays != nil {
		observed["rotation_period_in_days"] = int(*r.RotationPeriodInDays)
		detail = fmt.Sprintf("customer managed key rotates its key material every %d days", *r.RotationPeriodInDays)
	}
	if !r.KeyRotationEnabled {
		detail = "customer managed key never rotates its key material"
	}
	return s.verdict(ctx, checkKeyRotation, arn, "", r.KeyRotationEnabled, detail, observed)
}
