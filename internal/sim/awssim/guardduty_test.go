package awssim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/guardduty/types"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

func TestGuardDutyDetectors(t *testing.T) {
	e := &awssim.Estate{Accounts: []*awssim.Account{{ID: "111111111111", Regions: map[string]*awssim.Region{
		"eu-west-1":    {Name: "eu-west-1", GuardDuty: true},
		"eu-central-1": {Name: "eu-central-1", GuardDutySuspended: true},
		"eu-north-1":   {Name: "eu-north-1"},
	}}}}
	cfg := serve(t, e, "111111111111")
	for region, want := range map[string]types.DetectorStatus{"eu-west-1": types.DetectorStatusEnabled, "eu-central-1": types.DetectorStatusDisabled, "eu-north-1": ""} {
		t.Run(region, func(t *testing.T) {
			client := guardduty.NewFromConfig(cfg, func(o *guardduty.Options) { o.Region = region })
			list, err := client.ListDetectors(context.Background(), &guardduty.ListDetectorsInput{})
			if err != nil {
				t.Fatalf("ListDetectors: %v", err)
			}
			if want == "" {
				if len(list.DetectorIds) != 0 {
					t.Errorf("detectors %v, want none", list.DetectorIds)
				}
				return
			}
			if len(list.DetectorIds) != 1 || len(list.DetectorIds[0]) != 32 {
				t.Fatalf("detectors %v, want one 32-character ID", list.DetectorIds)
			}
			d, err := client.GetDetector(context.Background(), &guardduty.GetDetectorInput{DetectorId: aws.String(list.DetectorIds[0])})
			if err != nil || d.Status != want {
				t.Errorf("detector %+v, %v; want status %s", d, err, want)
			}
		})
	}
	client := guardduty.NewFromConfig(cfg)
	_, err := client.GetDetector(context.Background(), &guardduty.GetDetectorInput{DetectorId: aws.String("0123456789abcdef0123456789abcdef")})
	if code := errorCode(err); code != "BadRequestException" {
		t.Errorf("unknown detector: got %v, want BadRequestException", err)
	}
}
