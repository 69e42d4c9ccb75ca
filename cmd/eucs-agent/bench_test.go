package main

import (
	"regexp"
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// TestBenchSealsPartsThatVerify runs a tiny benchmark through the whole
// pipeline with a part bound far below the run's size: the run must be
// sealed as a manifest and parts, and `eucs-agent verify` (which the
// benchmark runs on the evidence) must accept them.
func TestBenchSealsPartsThatVerify(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "--in-process", "--resources", "300", "--accounts", "3", "--regions", "2",
		"--latency", "0s", "--part-findings", "150", "--out", t.TempDir())
	if code != exitOK {
		t.Fatalf("bench: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`sealed bundle 1 in \d+ parts: \d+ findings over 3 scopes; not assessed: none`),
		regexp.MustCompile(`API calls +\d+`),
		regexp.MustCompile(`wall time +\S+`),
		regexp.MustCompile(`rate-limit bound +\S+`),
		regexp.MustCompile(`findings/s +\d+`),
		regexp.MustCompile(`peak RSS \(agent\) +\d+ MiB`),
		regexp.MustCompile(`verify +OK: 1 bundle \(sequence 1; 1 split into \d+ parts\), \d+ findings`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("bench output lacks %s:\n%s", want, stdout)
		}
	}
}

func TestPerRegionForComesClosest(t *testing.T) {
	for _, tc := range []struct{ n, accounts, regions, want int }{
		{100_000, 10, 4, 399},    // 10 × (4 × (6×399 + 5) + 399) = 99,950
		{1_000_000, 100, 4, 399}, // the same shape, ten times the accounts
		{10_000, 5, 2, 153},      // 5 × (2 × (6×153 + 5) + 153) = 9,995
		{10, 1, 1, 1},
	} {
		if got := perRegionFor(tc.n, tc.accounts, tc.regions); got != tc.want {
			t.Errorf("perRegionFor(%d, %d, %d) = %d, want %d", tc.n, tc.accounts, tc.regions, got, tc.want)
		}
	}
}

// TestSimulatorThrottlesWhereTheCollectorPaces keeps the two tables of AWS's
// limits, the collector's and the simulator's, the same: a benchmark
// measures the collector against the limits it believes in.
func TestSimulatorThrottlesWhereTheCollectorPaces(t *testing.T) {
	agentSide := aws.DefaultRateLimits()
	simSide := awssim.DefaultLimits()
	if len(agentSide) != len(simSide) {
		t.Errorf("the collector keeps %d buckets, the simulator %d", len(agentSide), len(simSide))
	}
	for k, a := range agentSide {
		s, ok := simSide[k]
		if !ok || s.Rate != a.Rate || s.Burst != a.Burst {
			t.Errorf("%s: the collector keeps %g/s burst %d, the simulator %g/s burst %d", k, a.Rate, a.Burst, s.Rate, s.Burst)
		}
	}
}
