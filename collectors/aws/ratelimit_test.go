package aws

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit/ratelimittest"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// newFakeClock stops l's clock, so the tests count tokens rather than time.
func newFakeClock(l *limiter) *ratelimittest.Clock { return ratelimittest.Freeze(&l.buckets) }

// waitN takes n tokens of one API and returns the delays it was told to
// wait, in order (0 for none).
func waitN(t *testing.T, l *limiter, n int, account, region, service, action string) []time.Duration {
	t.Helper()
	return ratelimittest.Waits(t, &l.buckets, n, func() error {
		return l.wait(context.Background(), account, region, service, action)
	})
}

func TestLimiterHonoursConfiguredRates(t *testing.T) {
	l := newLimiter(map[string]RateLimit{"ec2:DescribeVolumes": {Rate: 20, Burst: 100}})
	clock := newFakeClock(l)
	waits := waitN(t, l, 150, "111111111111", "eu-west-1", "ec2", "DescribeVolumes")
	for i, d := range waits {
		// The bucket starts full: 100 go at once, then one every 50ms.
		want := time.Duration(0)
		if i >= 100 {
			want = time.Duration(i-99) * 50 * time.Millisecond
		}
		if !near(d, want) {
			t.Fatalf("call %d waits %v, want %v", i+1, d, want)
		}
	}
	// Once the clock has caught up with the reservations, a second more
	// refills 20 tokens and no more.
	clock.Advance(50*50*time.Millisecond + time.Second)
	more := waitN(t, l, 21, "111111111111", "eu-west-1", "ec2", "DescribeVolumes")
	if slices.ContainsFunc(more[:20], func(d time.Duration) bool { return d != 0 }) || !near(more[20], 50*time.Millisecond) {
		t.Errorf("after a second: %v, want 20 at once and the 21st after 50ms", more)
	}
	if waits, waited := l.stats(); waits != 51 || !near(waited, 50*51/2*50*time.Millisecond+50*time.Millisecond) {
		t.Errorf("stats: %d waits, %v waited", waits, waited)
	}
}

func TestLimiterBucketsAreKeyedLikeAWSKeysThem(t *testing.T) {
	l := newLimiter(nil)
	newFakeClock(l)
	acct := "111111111111"
	tests := []struct {
		name  string
		first func() []time.Duration // drains a bucket
		then  func() []time.Duration // one call that must, or must not, wait
		waits bool
	}{
		{
			name:  "EC2: each region has its own bucket",
			first: func() []time.Duration { return waitN(t, l, 100, acct, "eu-west-1", "ec2", "DescribeVolumes") },
			then:  func() []time.Duration { return waitN(t, l, 1, acct, "eu-central-1", "ec2", "DescribeVolumes") },
		},
		{
			name:  "EC2: each API has its own bucket",
			first: func() []time.Duration { return waitN(t, l, 100, acct, "us-east-1", "ec2", "DescribeVolumes") },
			then:  func() []time.Duration { return waitN(t, l, 1, acct, "us-east-1", "ec2", "DescribeVpcs") },
		},
		{
			name:  "IAM: one bucket per API for every region",
			first: func() []time.Duration { return waitN(t, l, 20, acct, "us-east-1", "iam", "ListUsers") },
			then:  func() []time.Duration { return waitN(t, l, 1, acct, "eu-west-1", "iam", "ListUsers") },
			waits: true,
		},
		{
			name:  "RDS: one bucket for every API",
			first: func() []time.Duration { return waitN(t, l, 300, acct, "eu-west-1", "rds", "DescribeDBInstances") },
			then:  func() []time.Duration { return waitN(t, l, 1, acct, "eu-west-1", "rds", "DescribeDBClusters") },
			waits: true,
		},
		{
			name:  "accounts never share a bucket",
			first: func() []time.Duration { return waitN(t, l, 20, acct, "us-east-1", "iam", "GetLoginProfile") },
			then:  func() []time.Duration { return waitN(t, l, 1, "222222222222", "us-east-1", "iam", "GetLoginProfile") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if first := tc.first(); slices.ContainsFunc(first, func(d time.Duration) bool { return d != 0 }) {
				t.Fatalf("the burst waited: %v", first)
			}
			if d := tc.then()[0]; (d > 0) != tc.waits {
				t.Errorf("the next call waits %v; want a wait: %v", d, tc.waits)
			}
		})
	}
}

func TestConfiguredLimitsWinOverDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]RateLimit
		service   string
		action    string
		// want is the second call's wait, the first taking the only token.
		want time.Duration
	}{
		{"a service override covers actions the defaults name", map[string]RateLimit{"kms": {Rate: 2, Burst: 1}}, "kms", "DescribeKey", 500 * time.Millisecond},
		{"an action override wins over its service's", map[string]RateLimit{"kms": {Rate: 2, Burst: 1}, "kms:DescribeKey": {Rate: 4, Burst: 1}}, "kms", "DescribeKey", 250 * time.Millisecond},
		{"burst defaults to a second's worth", map[string]RateLimit{"ec2": {Rate: 0.5}}, "ec2", "DescribeVpcs", 2 * time.Second},
		{"a service without defaults", map[string]RateLimit{"ecs": {Rate: 1}}, "ecs", "ListClusters", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.overrides)
			newFakeClock(l)
			if got := waitN(t, l, 2, "111111111111", "eu-west-1", tc.service, tc.action); got[0] != 0 || !near(got[1], tc.want) {
				t.Errorf("waits %v, want [0 %v]", got, tc.want)
			}
		})
	}
}

func TestForgottenAccountsHoldNoBuckets(t *testing.T) {
	l := newLimiter(nil)
	newFakeClock(l)
	for i := range 50 {
		waitN(t, l, 1, fmt.Sprintf("%012d", i), "eu-west-1", "ec2", "DescribeVolumes")
	}
	for i := range 50 {
		l.forget(fmt.Sprintf("%012d", i))
	}
	if held := l.buckets.Held(); len(held) != 0 {
		t.Errorf("%d accounts still hold buckets", len(held))
	}
}

// TestEveryAttemptWaitsForItsBucket runs the VPC scanner through the real
// SDK with one token a second for EC2 and a clock that stands still: each
// DescribeVpcs page, and each retry of a throttled DescribeFlowLogs, must
// have waited one second more than the one before.
func TestEveryAttemptWaitsForItsBucket(t *testing.T) {
	e := testEstate()
	for i := range 2*vpcPageSize + 5 {
		mainRegion(e).VPCs = append(mainRegion(e).VPCs, awssim.VPC{ID: fmt.Sprintf("vpc-%017x", i), FlowLogs: true})
	}
	c, sim := startSim(t, e, func(c *Config) {
		c.RateLimits = unlimited()
		c.RateLimits["ec2"] = RateLimit{Rate: 1, Burst: 1}
		c.MaxAttempts = 2
	})
	sim.Inject(awssim.Fault{Service: "ec2", Action: "DescribeFlowLogs", Kind: awssim.Throttle, Times: 1})
	newFakeClock(c.limits)
	recorded := ratelimittest.Record(&c.limits.buckets)
	collect(t, c)
	var waits []time.Duration
	for _, d := range recorded() {
		waits = append(waits, d.Round(time.Millisecond))
	}

	// DescribeVpcs: 3 pages; DescribeFlowLogs: 3 calls and 1 retry;
	// DescribeSecurityGroups, DescribeVolumes, GetEbsEncryptionByDefault:
	// one each. Every EC2 API has its own bucket of one token a second, so
	// each API's first call is free and its later ones wait 1s, 2s, ...
	calls := sim.Calls("ec2", "")
	if calls != 3+4+3 {
		t.Errorf("EC2 answered %d calls, want 10", calls)
	}
	slices.Sort(waits)
	if want := []time.Duration{time.Second, time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("EC2 attempts waited %v, want %v (DescribeVpcs: 1s, 2s; DescribeFlowLogs and its retry: 1s, 2s, 3s)", waits, want)
	}
}

// near reports whether d is want, give or take the float rounding of
// x/time/rate's token arithmetic.
func near(d, want time.Duration) bool { return (d - want).Abs() < time.Microsecond }
