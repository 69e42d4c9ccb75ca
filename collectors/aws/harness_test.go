package aws

import (
	"context"
	"io"
	"log/slog"
	"slices"
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
