package awssim_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// A bucket of burst 2 that refills once in a thousand seconds lets exactly
// two calls through during a test, whatever the machine's speed.
const slowRate = 0.001

func TestLimitsThrottleInEachServicesWireFormat(t *testing.T) {
	e := orgEstate(1)
	e.Regions = []string{"eu-west-1"}
	e.Accounts[0].Regions = map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1"}}
	sim := awssim.NewServer(e)
	sim.Limits = awssim.Limits{}
	for _, svc := range []string{"ec2", "iam", "kms", "rds", "s3", "organizations"} {
		sim.Limits[svc] = awssim.Limit{Rate: slowRate, Burst: 2}
	}
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := serveConfig(ts.URL, e.Accounts[0].ID)
	ctx := context.Background()

	for _, tc := range []struct {
		service, code string
		call          func() error
	}{
		{"ec2", "RequestLimitExceeded", func() error {
			_, err := ec2.NewFromConfig(cfg).DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
			return err
		}},
		{"iam", "Throttling", func() error {
			_, err := iam.NewFromConfig(cfg).ListUsers(ctx, &iam.ListUsersInput{})
			return err
		}},
		{"kms", "ThrottlingException", func() error {
			_, err := kms.NewFromConfig(cfg).ListKeys(ctx, &kms.ListKeysInput{})
			return err
		}},
		{"rds", "Throttling", func() error {
			_, err := rds.NewFromConfig(cfg).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
			return err
		}},
		{"s3", "SlowDown", func() error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}},
		{"organizations", "TooManyRequestsException", func() error {
			_, err := organizations.NewFromConfig(cfg).ListAccounts(ctx, &organizations.ListAccountsInput{})
			return err
		}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			for i := range 2 {
				if err := tc.call(); err != nil {
					t.Fatalf("call %d within the burst: %v", i+1, err)
				}
			}
			if err := tc.call(); errorCode(err) != tc.code {
				t.Errorf("call past the burst: %v, want %s", err, tc.code)
			}
		})
	}
}

func TestBucketsAreKeyedLikeAWSKeysThem(t *testing.T) {
	e := orgEstate(1)
	e.Regions = []string{"eu-west-1", "eu-central-1"}
	for _, a := range e.Accounts {
		a.Regions = map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1"}, "eu-central-1": {Name: "eu-central-1"}}
	}
	sim := awssim.NewServer(e)
	sim.Limits = awssim.Limits{
		"ec2": {Rate: slowRate, Burst: 1},               // per API and region
		"iam": {Rate: slowRate, Burst: 1, Global: true}, // per API, every region
		"rds": {Rate: slowRate, Burst: 1, Shared: true}, // every API
	}
	ts := sim.Start()
	t.Cleanup(ts.Close)
	ctx := context.Background()
	in := func(region string) aws.Config {
		cfg := serveConfig(ts.URL, e.Accounts[0].ID)
		cfg.Region = region
		return cfg
	}
	// EC2: one bucket per region and API.
	for _, r := range e.Regions {
		if _, err := ec2.NewFromConfig(in(r)).DescribeVolumes(ctx, &ec2.DescribeVolumesInput{}); err != nil {
			t.Errorf("DescribeVolumes in %s: %v", r, err)
		}
	}
	if _, err := ec2.NewFromConfig(in("eu-west-1")).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
		t.Errorf("DescribeVpcs has its own bucket: %v", err)
	}
	// IAM: one bucket for every region.
	if _, err := iam.NewFromConfig(in("eu-west-1")).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(in("eu-central-1")).ListUsers(ctx, &iam.ListUsersInput{}); errorCode(err) != "Throttling" {
		t.Errorf("IAM from another region: %v, want Throttling", err)
	}
	// RDS: one bucket for every action.
	if _, err := rds.NewFromConfig(in("eu-west-1")).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rds.NewFromConfig(in("eu-west-1")).DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{}); errorCode(err) != "Throttling" {
		t.Errorf("another RDS action: %v, want Throttling", err)
	}

	stats := sim.BucketStats()
	got := map[string][2]int64{}
	for _, b := range stats {
		got[b.Region+"|"+b.Service+":"+b.Action] = [2]int64{b.Calls, b.Throttled}
	}
	want := map[string][2]int64{
		"eu-west-1|ec2:DescribeVolumes":    {1, 0},
		"eu-central-1|ec2:DescribeVolumes": {1, 0},
		"eu-west-1|ec2:DescribeVpcs":       {1, 0},
		"|iam:ListUsers":                   {1, 1},
		"eu-west-1|rds:":                   {1, 1},
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bucket %s: calls and throttled %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestLowerBoundIsTheSlowestBucket(t *testing.T) {
	stats := []awssim.BucketStat{
		{Service: "iam", Action: "GetLoginProfile", Limit: awssim.Limit{Rate: 10, Burst: 20}, Calls: 420}, // (420-20)/10 = 40s
		{Service: "ec2", Action: "DescribeVolumes", Limit: awssim.Limit{Rate: 20, Burst: 100}, Calls: 90}, // within the burst
		{Service: "rds", Limit: awssim.Limit{Rate: 12, Burst: 300}, Calls: 540},                           // (540-300)/12 = 20s
	}
	bound, binding := awssim.LowerBound(stats)
	if bound != 40*time.Second || binding.Action != "GetLoginProfile" {
		t.Errorf("lower bound %v on %s:%s, want 40s on iam:GetLoginProfile", bound, binding.Service, binding.Action)
	}
	if d := stats[1].MinDuration(); d != 0 {
		t.Errorf("calls within the burst need %v, want 0", d)
	}
}
