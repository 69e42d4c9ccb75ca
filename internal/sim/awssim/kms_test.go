package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

func kmsEstate() *awssim.Estate {
	r := &awssim.Region{Name: "eu-west-1"}
	for i := range 5 {
		r.KMSKeys = append(r.KMSKeys, awssim.KMSKey{ID: fmt.Sprintf("key-%d", i), CustomerManaged: i > 0, Symmetric: i != 4, Rotation: i == 1, Enabled: i != 2})
	}
	return &awssim.Estate{Accounts: []*awssim.Account{{ID: "111111111111", Regions: map[string]*awssim.Region{"eu-west-1": r}}}}
}

func TestKMSListKeysPages(t *testing.T) {
	client := kms.NewFromConfig(serve(t, kmsEstate(), "111111111111"))
	var arns []string
	pages := 0
	p := kms.NewListKeysPaginator(client, &kms.ListKeysInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, k := range out.Keys {
			arns = append(arns, aws.ToString(k.KeyArn))
		}
	}
	if len(arns) != 5 || pages != 3 || arns[4] != "arn:aws:kms:eu-west-1:111111111111:key/key-4" {
		t.Errorf("got %v in %d pages, want 5 keys in 3", arns, pages)
	}

	// Another region of the same account has no keys.
	other := kms.NewFromConfig(serve(t, kmsEstate(), "111111111111"), func(o *kms.Options) { o.Region = "us-east-1" })
	out, err := other.ListKeys(context.Background(), &kms.ListKeysInput{})
	if err != nil || len(out.Keys) != 0 || out.Truncated {
		t.Errorf("keys in an empty region: %+v, %v", out, err)
	}
}

func TestKMSDescribeKey(t *testing.T) {
	client := kms.NewFromConfig(serve(t, kmsEstate(), "111111111111"))
	for _, tc := range []struct {
		id      string
		manager types.KeyManagerType
		spec    types.KeySpec
		state   types.KeyState
	}{
		{"key-0", types.KeyManagerTypeAws, types.KeySpecSymmetricDefault, types.KeyStateEnabled},
		{"arn:aws:kms:eu-west-1:111111111111:key/key-1", types.KeyManagerTypeCustomer, types.KeySpecSymmetricDefault, types.KeyStateEnabled},
		{"key-2", types.KeyManagerTypeCustomer, types.KeySpecSymmetricDefault, types.KeyStateDisabled},
		{"key-4", types.KeyManagerTypeCustomer, types.KeySpecRsa2048, types.KeyStateEnabled},
	} {
		out, err := client.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(tc.id)})
		if err != nil {
			t.Errorf("DescribeKey %s: %v", tc.id, err)
			continue
		}
		m := out.KeyMetadata
		if m.KeyManager != tc.manager || m.KeySpec != tc.spec || m.KeyState != tc.state || m.Origin != types.OriginTypeAwsKms {
			t.Errorf("%s: %s %s %s %s, want %s %s %s AWS_KMS", tc.id, m.KeyManager, m.KeySpec, m.KeyState, m.Origin, tc.manager, tc.spec, tc.state)
		}
	}
	var nf *types.NotFoundException
	if _, err := client.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("nope")}); !errors.As(err, &nf) {
		t.Errorf("unknown key: got %v, want NotFoundException", err)
	}
}

func TestKMSKeyRotationStatus(t *testing.T) {
	client := kms.NewFromConfig(serve(t, kmsEstate(), "111111111111"))
	for id, want := range map[string]bool{"key-0": true, "key-1": true, "key-3": false} {
		out, err := client.GetKeyRotationStatus(context.Background(), &kms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
		if err != nil || out.KeyRotationEnabled != want {
			t.Errorf("%s: rotation %+v, %v; want %v", id, out, err, want)
		}
	}
	var unsupported *types.UnsupportedOperationException
	if _, err := client.GetKeyRotationStatus(context.Background(), &kms.GetKeyRotationStatusInput{KeyId: aws.String("key-4")}); !errors.As(err, &unsupported) {
		t.Errorf("asymmetric key: got %v, want UnsupportedOperationException", err)
	}
}
