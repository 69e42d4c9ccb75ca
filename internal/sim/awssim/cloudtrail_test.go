package awssim_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// trailEstate has a multi-region trail homed in eu-west-1 and a regional
// trail in each of eu-west-1 and eu-central-1.
func trailEstate() *awssim.Estate {
	return &awssim.Estate{Accounts: []*awssim.Account{{ID: "111111111111", Regions: map[string]*awssim.Region{
		"eu-west-1": {Name: "eu-west-1", Trails: []awssim.Trail{
			{Name: "org", MultiRegion: true, Logging: true, LogFileValidate: true, KMSKeyID: "arn:aws:kms:eu-west-1:111111111111:key/t"},
			{Name: "west"},
		}},
		"eu-central-1": {Name: "eu-central-1", Trails: []awssim.Trail{{Name: "central", Logging: true}}},
	}}}}
}

func TestCloudTrailDescribeTrails(t *testing.T) {
	cfg := serve(t, trailEstate(), "111111111111")
	central := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = "eu-central-1" })
	names := func(in *cloudtrail.DescribeTrailsInput) []string {
		t.Helper()
		out, err := central.DescribeTrails(context.Background(), in)
		if err != nil {
			t.Fatalf("DescribeTrails: %v", err)
		}
		var ns []string
		for _, tr := range out.TrailList {
			ns = append(ns, aws.ToString(tr.Name)+"@"+aws.ToString(tr.HomeRegion))
		}
		slices.Sort(ns)
		return ns
	}
	if got, want := names(&cloudtrail.DescribeTrailsInput{}), []string{"central@eu-central-1", "org@eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("shadow trails by default: got %v, want %v", got, want)
	}
	if got, want := names(&cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)}), []string{"central@eu-central-1"}; !slices.Equal(got, want) {
		t.Errorf("without shadow trails: got %v, want %v", got, want)
	}
	if got, want := names(&cloudtrail.DescribeTrailsInput{TrailNameList: []string{"arn:aws:cloudtrail:eu-west-1:111111111111:trail/org"}}), []string{"org@eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("by ARN: got %v, want %v", got, want)
	}

	out, err := central.DescribeTrails(context.Background(), &cloudtrail.DescribeTrailsInput{TrailNameList: []string{"arn:aws:cloudtrail:eu-west-1:111111111111:trail/org"}})
	if err != nil || len(out.TrailList) != 1 {
		t.Fatalf("DescribeTrails org: %+v, %v", out, err)
	}
	tr := out.TrailList[0]
	if !aws.ToBool(tr.IsMultiRegionTrail) || !aws.ToBool(tr.LogFileValidationEnabled) ||
		aws.ToString(tr.KmsKeyId) != "arn:aws:kms:eu-west-1:111111111111:key/t" ||
		aws.ToString(tr.TrailARN) != "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org" {
		t.Errorf("org trail %+v", tr)
	}
}

func TestCloudTrailGetTrailStatus(t *testing.T) {
	cfg := serve(t, trailEstate(), "111111111111")
	central := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = "eu-central-1" })
	var notFound *types.TrailNotFoundException
	for _, tc := range []struct {
		name    string
		trail   string
		logging bool
		missing bool
	}{
		{name: "home trail by name", trail: "central", logging: true},
		{name: "shadow trail by ARN", trail: "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org", logging: true},
		{name: "shadow trail by name is not found", trail: "org", missing: true},
		{name: "another region's single-region trail is not found", trail: "arn:aws:cloudtrail:eu-west-1:111111111111:trail/west", missing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := central.GetTrailStatus(context.Background(), &cloudtrail.GetTrailStatusInput{Name: aws.String(tc.trail)})
			if tc.missing {
				if !errors.As(err, &notFound) {
					t.Errorf("got %v, want TrailNotFoundException", err)
				}
				return
			}
			if err != nil || aws.ToBool(out.IsLogging) != tc.logging {
				t.Errorf("status %+v, %v; want logging %v", out, err, tc.logging)
			}
		})
	}
}
