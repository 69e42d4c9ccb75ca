package aws

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/finding/findingtest"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// recorder is the shared findingtest sink.
type recorder = findingtest.Recorder

// testEstate is a one-account, one-region estate for tests to fill in.
func testEstate() *awssim.Estate {
	return &awssim.Estate{
		Regions: []string{"eu-west-1"},
		Accounts: []*awssim.Account{{
			ID:      "111111111111",
			RootMFA: true,
			Regions: map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1"}},
		}},
	}
}

// startSim serves e on loopback and returns a collector pointed at it, with
// the base credentials of e's first account, no retries and path-style S3.
// mutate may adjust the config before defaults are applied.
func startSim(t *testing.T, e *awssim.Estate, mutate func(*Config)) (*Collector, *awssim.Server) {
	t.Helper()
	sim := awssim.NewServer(e)
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := Config{
		Regions:     slices.Clone(e.Regions),
		EndpointURL: ts.URL,
		S3PathStyle: true,
		MaxAttempts: 1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.RateLimits == nil {
		cfg.RateLimits = unlimited()
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	base := aws.Config{
		Region:      cfg.HomeRegion,
		Credentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyFor(e.Accounts[0].ID), "sim-secret", ""),
	}
	return New(cfg, base, slog.New(slog.NewTextHandler(io.Discard, nil))), sim
}

// unlimited lifts the AWS rate limits the collector keeps to: tests of what
// the collector concludes should not take as long as a real account's
// quotas would make them (ratelimit_test.go tests the limits themselves).
func unlimited() map[string]RateLimit {
	out := map[string]RateLimit{}
	for _, svc := range []string{"s3", "ec2", "iam", "sts", "kms", "cloudtrail", "rds", "guardduty", "organizations"} {
		out[svc] = RateLimit{Rate: 1e6, Burst: 1e6}
	}
	return out
}

// collect runs c to completion and returns what it emitted.
func collect(t *testing.T, c *Collector) *recorder {
	t.Helper()
	rec := &recorder{}
	if err := c.Collect(context.Background(), rec); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	for _, f := range rec.Findings {
		if err := f.Validate(); err != nil {
			t.Errorf("invalid finding: %v", err)
		}
	}
	return rec
}

// simCase is one scenario for one check: how the estate differs from
// testEstate, the faults the simulator answers with, and the single finding
// expected on a resource.
type simCase struct {
	name   string
	setup  func(*awssim.Estate)
	faults []awssim.Fault
	config func(*Config)

	check    string
	resource string
	status   finding.Status
	reason   finding.Reason
	// observed lists keys the finding's Observed must hold, with their
	// values; other keys, at any depth of nested maps, are not compared
	// (see holds).
	observed map[string]any
	// detail, when set, must appear in the finding's Detail.
	detail string
}

// runSimCases runs each case against its own simulator through the real
// SDK clients.
func runSimCases(t *testing.T, cases []simCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testEstate()
			if tc.setup != nil {
				tc.setup(e)
			}
			c, sim := startSim(t, e, tc.config)
			for _, f := range tc.faults {
				sim.Inject(f)
			}
			f := collect(t, c).One(t, tc.check, tc.resource)
			if f.Status != tc.status || f.Reason != tc.reason {
				t.Errorf("got %s/%q (%s), want %s/%q", f.Status, f.Reason, f.Detail, tc.status, tc.reason)
			}
			if !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", f.Detail, tc.detail)
			}
			for k, want := range tc.observed {
				if got, ok := f.Observed[k]; !ok || !findingtest.Holds(got, want) {
					t.Errorf("observed[%q] = %#v, want %#v (observed %v)", k, got, want, f.Observed)
				}
			}
		})
	}
}

// mainRegion is the one region of testEstate's account.
func mainRegion(e *awssim.Estate) *awssim.Region { return e.Accounts[0].Regions["eu-west-1"] }
