package aws

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// recorder is a finding.Sink that keeps everything, for assertions.
type recorder struct {
	mu       sync.Mutex
	findings []finding.Finding
	coverage []finding.Coverage
}

func (r *recorder) Finding(_ context.Context, f finding.Finding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings = append(r.findings, f)
	return nil
}

func (r *recorder) Coverage(_ context.Context, c finding.Coverage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.coverage = append(r.coverage, c)
	return nil
}

// of returns the findings of check on resource ("" for any resource).
func (r *recorder) of(check, resource string) []finding.Finding {
	var out []finding.Finding
	for _, f := range r.findings {
		if f.Check == check && (resource == "" || f.Resource == resource) {
			out = append(out, f)
		}
	}
	return out
}

// one returns the single finding of check on resource, failing the test
// when there is not exactly one.
func (r *recorder) one(t *testing.T, check, resource string) finding.Finding {
	t.Helper()
	fs := r.of(check, resource)
	if len(fs) != 1 {
		t.Fatalf("want exactly one %s finding on %q, got %d: %+v", check, resource, len(fs), fs)
	}
	return fs[0]
}

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
	for _, f := range rec.findings {
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
			f := collect(t, c).one(t, tc.check, tc.resource)
			if f.Status != tc.status || f.Reason != tc.reason {
				t.Errorf("got %s/%q (%s), want %s/%q", f.Status, f.Reason, f.Detail, tc.status, tc.reason)
			}
			if !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", f.Detail, tc.detail)
			}
			for k, want := range tc.observed {
				if got, ok := f.Observed[k]; !ok || !holds(got, want) {
					t.Errorf("observed[%q] = %#v, want %#v (observed %v)", k, got, want, f.Observed)
				}
			}
		})
	}
}

// holds reports whether got has everything want has: maps may carry more
// keys than want names, slices must match element by element, and other
// values must be equal.
func holds(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if gv, ok := g[k]; !ok || !holds(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !holds(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// mainRegion is the one region of testEstate's account.
func mainRegion(e *awssim.Estate) *awssim.Region { return e.Accounts[0].Regions["eu-west-1"] }
