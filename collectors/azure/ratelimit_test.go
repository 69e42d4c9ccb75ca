package azure

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit/ratelimittest"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// newFakeClock stops l's clock, so the tests count tokens rather than time.
func newFakeClock(l *limiter) *ratelimittest.Clock { return ratelimittest.Freeze(&l.buckets) }

// waitN takes n tokens for requests to provider in scope and returns the
// delays each was told to wait, in order (0 for none).
func waitN(t *testing.T, l *limiter, n int, scope, provider string) []time.Duration {
	t.Helper()
	return ratelimittest.Waits(t, &l.buckets, n, func() error { return l.wait(context.Background(), scope, provider) })
}

// unlimited is a rate_limits block that never makes a request wait.
func unlimited() map[string]RateLimit {
	out := map[string]RateLimit{}
	for k := range defaultLimits() {
		out[k] = RateLimit{Rate: 1e6, Burst: 1e6}
	}
	return out
}

func TestRequestScopeReadsTheSubscriptionAndProvider(t *testing.T) {
	for _, tc := range []struct {
		path, sub, provider string
	}{
		{"/subscriptions", "", ""},
		{"/subscriptions/" + strings.ToUpper(sub1), sub1, ""},
		{"/providers/Microsoft.Management/managementGroups/mg/descendants", "", "microsoft.management"},
		{"/subscriptions/" + sub1 + "/providers/Microsoft.Storage/storageAccounts", sub1, "microsoft.storage"},
		{"/SUBSCRIPTIONS/" + sub1 + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys", sub1, "microsoft.keyvault"},
		{"/subscriptions/" + sub1 + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/diagnosticSettings", sub1, "microsoft.insights"},
	} {
		if sub, provider := requestScope(tc.path); sub != tc.sub || provider != tc.provider {
			t.Errorf("requestScope(%q) = %q, %q; want %q, %q", tc.path, sub, provider, tc.sub, tc.provider)
		}
	}
}

func TestDefaultsKeepHeadroomAndOverridesAreTakenAsGiven(t *testing.T) {
	l := newLimiter(map[string]RateLimit{"microsoft.sql": {Rate: 3}})
	if got := l.limits[limitARM]; got.Rate != 25*ratelimit.DefaultHeadroom || got.Burst != 250 {
		t.Errorf("arm: %+v, want 95%% of 25/s, burst 250", got)
	}
	if got := l.limits["microsoft.sql"]; got.Rate != 3 || got.Burst != 3 {
		t.Errorf("microsoft.sql: %+v, want the override with a second's worth of burst", got)
	}
	if got := DefaultRateLimits()["microsoft.storage"]; !near(time.Duration(float64(time.Second)*got.Rate*300), 50*time.Second) || got.Burst != 50 {
		t.Errorf("microsoft.storage: %+v, want 100 per 5 minutes as a burst of 50 and 50 more over the window", got)
	}
}

func TestLimiterBucketsAreKeyedLikeARMKeysThem(t *testing.T) {
	tests := []struct {
		name  string
		first func(*limiter) []time.Duration // drains a bucket
		then  func(*limiter) []time.Duration // one request that must, or must not, wait
		waits bool
	}{
		{
			name:  "a provider's bucket holds back its own requests",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 50, sub1, "microsoft.storage") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, sub1, "microsoft.storage") },
			waits: true,
		},
		{
			name:  "providers do not share a bucket",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 50, sub1, "microsoft.storage") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, sub1, "microsoft.compute") },
		},
		{
			name:  "every provider in a subscription shares ARM's bucket",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 250, sub1, "") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, sub1, "microsoft.compute") },
			waits: true,
		},
		{
			name:  "a provider without a bucket of its own waits on ARM's",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 250, sub1, "microsoft.web") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, sub1, "") },
			waits: true,
		},
		{
			name:  "subscriptions never share a bucket",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 250, sub1, "") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, sub2, "") },
		},
		{
			name:  "the tenant's bucket is not a subscription's",
			first: func(l *limiter) []time.Duration { return waitN(t, l, 250, sub1, "") },
			then:  func(l *limiter) []time.Duration { return waitN(t, l, 1, "", "microsoft.management") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(nil)
			newFakeClock(l)
			if first := tc.first(l); slices.ContainsFunc(first, func(d time.Duration) bool { return d != 0 }) {
				t.Fatalf("the burst waited: %v", first)
			}
			if d := tc.then(l)[0]; (d > 0) != tc.waits {
				t.Errorf("the next request waits %v; want a wait: %v", d, tc.waits)
			}
		})
	}
}

func TestConfiguredLimitsWinOverDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]RateLimit
		provider  string
		// want is the second request's wait, the first taking the only
		// token.
		want time.Duration
	}{
		{"a provider's override", map[string]RateLimit{"microsoft.compute": {Rate: 2, Burst: 1}}, "microsoft.compute", 500 * time.Millisecond},
		{"ARM's override holds back every provider", map[string]RateLimit{"arm": {Rate: 4, Burst: 1}}, "microsoft.security", 250 * time.Millisecond},
		{"burst defaults to a second's worth", map[string]RateLimit{"microsoft.sql": {Rate: 0.5}}, "microsoft.sql", 2 * time.Second},
		{"a provider without defaults", map[string]RateLimit{"microsoft.web": {Rate: 1}}, "microsoft.web", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.overrides)
			newFakeClock(l)
			if got := waitN(t, l, 2, sub1, tc.provider); got[0] != 0 || !near(got[1], tc.want) {
				t.Errorf("waits %v, want [0 %v]", got, tc.want)
			}
		})
	}
}

// TestEveryAttemptWaitsForItsBucket runs the Key Vault scanner through the
// real SDK with one Key Vault token a second, a clock that stands still,
// and one vault whose key listing ARM throttles for good: each listing,
// and each retry of the throttled one, waits one second more than the one
// before, and the throttled vault's keys end up not assessed, throttled.
func TestEveryAttemptWaitsForItsBucket(t *testing.T) {
	e := richEstate()
	for i := range 2 {
		v := goodVault()
		v.Name = fmt.Sprintf("kv-more-%d", i)
		home(e).KeyVaults = append(home(e).KeyVaults, v)
	}
	c, sim := startSim(t, e, func(c *Config) {
		c.RateLimits = unlimited()
		c.RateLimits["microsoft.keyvault"] = RateLimit{Rate: 1, Burst: 1}
		c.MaxAttempts = 3
	})
	sim.Inject(azuresim.Fault{Operation: "Keys_List", Resource: "kv-more-1", Kind: azuresim.Throttle, RetryAfter: 10 * time.Millisecond})
	newFakeClock(c.limits)
	recorded := ratelimittest.Record(&c.limits.buckets)
	rec := collect(t, c)
	var waits []time.Duration
	for _, d := range recorded() {
		waits = append(waits, d.Round(time.Millisecond))
	}

	// Vaults_ListBySubscription once, Keys_List for two vaults once and
	// for the throttled one three times: six attempts on one bucket of a
	// token a second, the first free.
	if n := sim.Calls("keyvault", ""); n != 6 {
		t.Errorf("Key Vault answered %d calls, want 6", n)
	}
	slices.Sort(waits)
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("Key Vault attempts waited %v, want %v", waits, want)
	}
	throttled := rec.Of(checkVaultKeyExpiry, resID("Microsoft.KeyVault/vaults", "kv-more-1"))
	if len(throttled) != 1 || throttled[0].Status != finding.NotAssessed || throttled[0].Reason != finding.Throttled ||
		!strings.Contains(throttled[0].Detail, "HTTP 429 SubscriptionRequestsThrottled") {
		t.Errorf("the throttled vault's keys: %+v, want one not_assessed finding, throttled", throttled)
	}
	if f := rec.One(t, checkVaultSoftDelete, resID("Microsoft.KeyVault/vaults", "kv-more-1")); f.Status != finding.Pass {
		t.Errorf("the throttled vault's soft delete: %s, want pass (the vault listing was not throttled)", f.Status)
	}
}

// TestWaitingForATokenIsNotPartOfTheCallTimeout makes key listings wait
// longer for their tokens than the call timeout allows a request: the
// wait must not count against it.
func TestWaitingForATokenIsNotPartOfTheCallTimeout(t *testing.T) {
	e := richEstate()
	for i := range 2 {
		v := goodVault()
		v.Name = fmt.Sprintf("kv-more-%d", i)
		home(e).KeyVaults = append(home(e).KeyVaults, v)
	}
	c, _ := startSim(t, e, func(c *Config) {
		c.RateLimits = map[string]RateLimit{"microsoft.keyvault": {Rate: 5, Burst: 1}}
		c.CallTimeout = 100 * time.Millisecond
	})
	rec := collect(t, c)
	for _, f := range rec.Findings {
		if f.Status == finding.NotAssessed {
			t.Errorf("%s on %s not assessed: %s", f.Check, f.Resource, f.Detail)
		}
	}
	if waits, waited := c.limits.stats(); waits < 3 || waited < 3*200*time.Millisecond {
		t.Errorf("%d waits for %v in all; want the key listings to have waited 200ms, 400ms and 600ms", waits, waited)
	}
}

func TestForgottenSubscriptionsHoldNoBuckets(t *testing.T) {
	l := newLimiter(nil)
	newFakeClock(l)
	for i := range 50 {
		waitN(t, l, 1, fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), "microsoft.storage")
	}
	for i := range 50 {
		l.forget(fmt.Sprintf("%08d-0000-4000-8000-000000000000", i))
	}
	if held := l.buckets.Held(); len(held) != 0 {
		t.Errorf("%d subscriptions still hold buckets", len(held))
	}
}

func TestEveryDefaultNamesAProviderTheCollectorCalls(t *testing.T) {
	want := []string{"arm", "microsoft.compute", "microsoft.insights", "microsoft.keyvault", "microsoft.management",
		"microsoft.network", "microsoft.security", "microsoft.sql", "microsoft.storage"}
	if got := slices.Sorted(maps.Keys(DefaultRateLimits())); !slices.Equal(got, want) {
		t.Errorf("default buckets %v, want %v", got, want)
	}
	for k, l := range DefaultRateLimits() {
		if err := (&Config{RateLimits: map[string]RateLimit{k: l}}).Validate(); err != nil {
			t.Errorf("the default %s would not validate as an override: %v", k, err)
		}
	}
}

// near reports whether d is want, give or take the float rounding of
// x/time/rate's token arithmetic.
func near(d, want time.Duration) bool { return (d - want).Abs() < time.Microsecond }
