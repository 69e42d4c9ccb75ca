package gcp

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit/ratelimittest"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// standStill stops l's clock, so the tests count tokens rather than time.
func standStill(l *limiter) { ratelimittest.Freeze(&l.buckets) }

// waitN takes n tokens for one call and returns the delays it was told to
// wait, in order (0 for none).
func waitN(t *testing.T, l *limiter, n int, project string, call apiCall) []time.Duration {
	t.Helper()
	return ratelimittest.Waits(t, &l.buckets, n, func() error { return l.wait(context.Background(), project, call) })
}

// near reports whether d is want, give or take the float rounding of
// x/time/rate's token arithmetic.
func near(d, want time.Duration) bool { return (d - want).Abs() < time.Microsecond }

func TestCallOfNamesMethodsLikeGoogle(t *testing.T) {
	tests := []struct {
		service, httpMethod, path string
		method, location          string
	}{
		// Every call the collector makes, as its clients send them to the
		// simulator or, with the endpoint not overridden, to Google.
		{"storage", "GET", "/storage/v1/b", "buckets.list", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1", "projects.get", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1/aggregated/disks", "disks.aggregatedList", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1/global/firewalls", "firewalls.list", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1/aggregated/subnetworks", "subnetworks.aggregatedList", "global"},
		{"cloudkms", "GET", "/v1/projects/p-1/locations", "projects.locations.list", "global"},
		{"cloudkms", "GET", "/v1/projects/p-1/locations/europe-west1/keyRings", "projects.locations.keyRings.list", "europe-west1"},
		{"cloudkms", "GET", "/v1/projects/p-1/locations/EU/keyRings/r/cryptoKeys", "projects.locations.keyRings.cryptoKeys.list", "eu"},
		{"sqladmin", "GET", "/v1/projects/p-1/instances", "instances.list", "global"},
		{"iam", "GET", "/v1/projects/p-1/serviceAccounts", "projects.serviceAccounts.list", "global"},
		{"iam", "GET", "/v1/projects/p-1/serviceAccounts/a@p-1.iam.gserviceaccount.com/keys", "projects.serviceAccounts.keys.list", "global"},
		{"cloudresourcemanager", "GET", "/v3/projects", "projects.list", "global"},
		{"cloudresourcemanager", "GET", "/v3/folders", "folders.list", "global"},
		{"cloudresourcemanager", "GET", "/v3/projects/p-1", "projects.get", "global"},
		{"cloudresourcemanager", "GET", "/v3/folders/11", "folders.get", "global"},
		{"cloudresourcemanager", "POST", "/v3/projects/p-1:getIamPolicy", "projects.getIamPolicy", "global"},
		{"cloudresourcemanager", "POST", "/v3/folders/11:getIamPolicy", "folders.getIamPolicy", "global"},
		{"cloudresourcemanager", "POST", "/v3/organizations/999:getIamPolicy", "organizations.getIamPolicy", "global"},
		// Paths the collector does not send, named by the same rules.
		{"compute", "GET", "/compute/v1/projects/p-1/zones/europe-west1-b/disks", "disks.list", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1/zones/europe-west1-b", "zones.get", "global"},
		{"compute", "GET", "/compute/v1/projects/p-1/regions/europe-west1/subnetworks/s", "subnetworks.get", "global"},
		{"storage", "GET", "/storage/v1/b/my-bucket", "buckets.get", "global"},
		{"storage", "GET", "/storage/v1/b/my-bucket/iam", "buckets.getIamPolicy", "global"},
		{"storage", "GET", "/storage/v1/b/my-bucket/o", "objects.list", "global"},
		{"cloudkms", "POST", "/v1/projects/p-1/locations/l/keyRings/r/cryptoKeys/k:getIamPolicy", "projects.locations.keyRings.cryptoKeys.getIamPolicy", "l"},
		{"cloudkms", "GET", "/gateway/cloudkms/v1/projects/p-1/locations", "projects.locations.list", "global"},
	}
	for _, tt := range tests {
		got := callOf(tt.service, tt.httpMethod, tt.path)
		if got.service != tt.service || got.method != tt.method || got.location != tt.location {
			t.Errorf("%s %s %s: %s %s in %s, want %s in %s", tt.service, tt.httpMethod, tt.path,
				got.service, got.method, got.location, tt.method, tt.location)
		}
	}
}

func TestLimiterBucketsAreKeyedLikeGoogleKeysThem(t *testing.T) {
	l := newLimiter(nil, 1)
	standStill(l)
	call := func(service, method, location string) apiCall {
		return apiCall{service: service, method: method, location: location}
	}
	disks := call("compute", "disks.aggregatedList", "global")
	tests := []struct {
		name  string
		first func() []time.Duration // drains a bucket
		then  func() []time.Duration // one call that must, or must not, wait
		waits bool
	}{
		{
			name:  "Compute Engine: every method of a project draws on one bucket",
			first: func() []time.Duration { return waitN(t, l, 75, "p-one", disks) },
			then:  func() []time.Duration { return waitN(t, l, 1, "p-one", call("compute", "firewalls.list", "global")) },
			waits: true,
		},
		{
			name:  "Compute Engine: each project has its own bucket",
			first: func() []time.Duration { return waitN(t, l, 75, "p-two", disks) },
			then:  func() []time.Duration { return waitN(t, l, 1, "p-three", disks) },
		},
		{
			name:  "Cloud Storage: each project has its own bucket",
			first: func() []time.Duration { return waitN(t, l, 100, "p-four", call("storage", "buckets.list", "global")) },
			then:  func() []time.Duration { return waitN(t, l, 1, "p-five", call("storage", "buckets.list", "global")) },
		},
		{
			name: "Cloud KMS: one bucket per location for every project",
			first: func() []time.Duration {
				return waitN(t, l, 15, "p-six", call("cloudkms", "projects.locations.keyRings.list", "europe-west1"))
			},
			then: func() []time.Duration {
				return waitN(t, l, 1, "p-seven", call("cloudkms", "projects.locations.keyRings.cryptoKeys.list", "europe-west1"))
			},
			waits: true,
		},
		{
			name: "Cloud KMS: each location has its own bucket",
			first: func() []time.Duration {
				return waitN(t, l, 15, "p-eight", call("cloudkms", "projects.locations.keyRings.list", "europe-west4"))
			},
			then: func() []time.Duration {
				return waitN(t, l, 1, "p-eight", call("cloudkms", "projects.locations.keyRings.list", "asia-east1"))
			},
		},
		{
			name: "Resource Manager: one bucket for every project, method and discovery",
			first: func() []time.Duration {
				return waitN(t, l, 10, "p-nine", call("cloudresourcemanager", "projects.getIamPolicy", "global"))
			},
			then: func() []time.Duration {
				return waitN(t, l, 1, "", call("cloudresourcemanager", "projects.list", "global"))
			},
			waits: true,
		},
		{
			name: "IAM: one bucket for every project",
			first: func() []time.Duration {
				return waitN(t, l, 300, "p-ten", call("iam", "projects.serviceAccounts.list", "global"))
			},
			then: func() []time.Duration {
				return waitN(t, l, 1, "p-eleven", call("iam", "projects.serviceAccounts.keys.list", "global"))
			},
			waits: true,
		},
		{
			name: "Cloud SQL Admin: one bucket for every project",
			first: func() []time.Duration {
				return waitN(t, l, 9, "p-twelve", call("sqladmin", "instances.list", "global"))
			},
			then: func() []time.Duration {
				return waitN(t, l, 1, "p-thirteen", call("sqladmin", "instances.list", "global"))
			},
			waits: true,
		},
		{
			name:  "a service the table does not name: one conservative bucket",
			first: func() []time.Duration { return waitN(t, l, 10, "p-one", call("logging", "entries.list", "global")) },
			then:  func() []time.Duration { return waitN(t, l, 1, "p-two", call("logging", "entries.list", "global")) },
			waits: true,
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

func TestDefaultsRunAtTheHeadroomBelowTheQuota(t *testing.T) {
	l := newLimiter(nil, 1)
	standStill(l)
	// Compute Engine: 1,500 a minute is 25 a second; at 95% the 76th call,
	// the first after the burst of 75, waits 1/23.75 s.
	waits := waitN(t, l, 76, "p-1", apiCall{service: "compute", method: "firewalls.list"})
	if want := 4 * time.Second / 95; !near(waits[75], want) {
		t.Errorf("the 76th Compute Engine call waits %v, want %v", waits[75], want)
	}
	// Every default bucket can be overridden under its own name.
	for key := range DefaultRateLimits() {
		if msg := limitKeyProblem(key); msg != "" {
			t.Errorf("default bucket %s cannot be configured: %s", key, msg)
		}
	}
	// However the calls bunch, no minute sees more than the quota.
	for _, quota := range []float64{180, 300, 1500, 6000} {
		l := perMinute(quota)
		if most := float64(l.Burst) + 60*l.Rate*ratelimit.DefaultHeadroom; most > quota {
			t.Errorf("perMinute(%g): a minute may see %g calls", quota, most)
		}
	}
}

func TestReplicasShareTheCallersQuotas(t *testing.T) {
	l := newLimiter(map[string]RateLimit{"iam": {Rate: 10, Burst: 1}}, 2)
	standStill(l)
	// Resource Manager is charged to the caller's project: each of two
	// replicas takes half, 4.75 a second and a burst of 5.
	crm := waitN(t, l, 6, "", apiCall{service: "cloudresourcemanager", method: "projects.list"})
	if want := 4 * time.Second / 19; crm[4] != 0 || !near(crm[5], want) {
		t.Errorf("Resource Manager waits %v, want a burst of 5 and then %v", crm, want)
	}
	// Compute Engine is charged to the assessed project, which one
	// replica assesses: the whole quota.
	if compute := waitN(t, l, 76, "p-1", apiCall{service: "compute", method: "firewalls.list"}); compute[74] != 0 || compute[75] == 0 {
		t.Errorf("Compute Engine calls 75 and 76 wait %v and %v, want none and a wait: the whole burst of 75", compute[74], compute[75])
	}
	// A configured limit is taken as it is.
	if iam := waitN(t, l, 2, "", apiCall{service: "iam", method: "projects.serviceAccounts.list"}); !near(iam[1], 100*time.Millisecond) {
		t.Errorf("configured IAM bucket waits %v, want 100ms for the second call", iam)
	}
}

func TestConfiguredLimitsWinOverDefaults(t *testing.T) {
	fw := apiCall{service: "compute", method: "firewalls.list", location: "global"}
	disks := apiCall{service: "compute", method: "disks.aggregatedList", location: "global"}
	kms := apiCall{service: "cloudkms", method: "projects.locations.keyRings.list", location: "europe-west1"}
	type step struct {
		project string
		call    apiCall
	}
	for _, tc := range []struct {
		name      string
		overrides map[string]RateLimit
		steps     []step
		want      []time.Duration
	}{
		{"a service's entry sets the bucket its methods share", map[string]RateLimit{"compute": {Rate: 2, Burst: 1}},
			[]step{{"p-1", fw}, {"p-1", disks}}, []time.Duration{0, 500 * time.Millisecond}},
		{"a method's entry gives the method its own bucket", map[string]RateLimit{"compute": {Rate: 2, Burst: 1}, "compute:firewalls.list": {Rate: 4, Burst: 1}},
			[]step{{"p-1", fw}, {"p-1", fw}, {"p-1", disks}}, []time.Duration{0, 250 * time.Millisecond, 0}},
		{"burst defaults to a second's worth", map[string]RateLimit{"storage": {Rate: 0.5}},
			[]step{{"p-1", apiCall{service: "storage", method: "buckets.list"}}, {"p-1", apiCall{service: "storage", method: "buckets.list"}}},
			[]time.Duration{0, 2 * time.Second}},
		{"an entry keeps its service's keying", map[string]RateLimit{"cloudkms": {Rate: 1, Burst: 1}},
			[]step{{"p-1", kms}, {"p-2", kms}}, []time.Duration{0, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.overrides, 1)
			standStill(l)
			var got []time.Duration
			for _, s := range tc.steps {
				got = append(got, waitN(t, l, 1, s.project, s.call)...)
			}
			if !slices.EqualFunc(got, tc.want, near) {
				t.Errorf("waits %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEveryAttemptWaitsForItsBucket runs the Compute Engine scanners of one
// project through the real clients with one token a second for Compute
// Engine and a clock that stands still: every attempt, the retry of a
// throttled firewalls.list among them, must have waited a second more than
// the one before.
func TestEveryAttemptWaitsForItsBucket(t *testing.T) {
	c, sim := startSim(t, testEstate(), func(c *Config) {
		c.RateLimits = unlimited()
		c.RateLimits["compute"] = RateLimit{Rate: 1, Burst: 1}
		c.MaxAttempts = 2
	})
	sim.Inject(gcpsim.Fault{Service: "compute", Method: "firewalls.list", Kind: gcpsim.Throttle, Times: 1})
	standStill(c.limits)
	recorded := ratelimittest.Record(&c.limits.buckets)
	collect(t, c)
	var waits []time.Duration
	for _, d := range recorded() {
		waits = append(waits, d.Round(time.Millisecond))
	}

	// disks.aggregatedList, subnetworks.aggregatedList and projects.get
	// once each, firewalls.list twice: five attempts on one bucket, so
	// the first is free and the others wait 1s, 2s, 3s and 4s.
	if n := sim.Calls("compute", ""); n != 5 {
		t.Errorf("Compute Engine answered %d calls, want 5", n)
	}
	slices.Sort(waits)
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("attempts waited %v, want %v", waits, want)
	}
	if n, _ := c.limits.stats(); n != 4 {
		t.Errorf("stats count %d waits, want 4", n)
	}
}

func TestProjectsForgetTheirBucketsWhenDone(t *testing.T) {
	c, _ := startSim(t, orgEstate(), func(c *Config) { c.Projects, c.Organization = []string{"standalone"}, "999" })
	rec := collect(t, c)
	if got := assessed(rec); len(got) != 4 {
		t.Fatalf("assessed %v, want four projects", got)
	}
	// Only the buckets of the agent's own quota project are left.
	if held := c.limits.buckets.Held(); !slices.Equal(held, []string{""}) {
		t.Errorf("buckets held for %q after the run, want only the caller's", held)
	}
}

// TestEveryCallTheCollectorMakesIsListed runs the demo estate, where every
// scanner and discovery make every call they can, and holds apiMethods,
// which configured limits are checked against, to the calls made.
func TestEveryCallTheCollectorMakesIsListed(t *testing.T) {
	e := gcpsim.Demo()
	c, _ := startSim(t, e, func(c *Config) { c.Projects, c.Organization = nil, e.Organization })
	collect(t, c)
	var want []string
	for service, methods := range apiMethods() {
		for _, m := range methods {
			want = append(want, service+":"+m)
		}
	}
	slices.Sort(want)
	if got := c.limits.calledMethods(false); !slices.Equal(got, want) {
		t.Errorf("called %v\nlisted %v", got, want)
	}
	if got := c.limits.calledMethods(true); len(got) != 0 {
		t.Errorf("called methods that rate_limits cannot name: %v", got)
	}
}

// TestEveryAttemptIsCounted checks what the API-call metrics are fed:
// every attempt the simulator answered, by service, and the throttled ones
// of both kinds Google sends (429, and 403 rateLimitExceeded).
func TestEveryAttemptIsCounted(t *testing.T) {
	c, sim := startSim(t, testEstate(), func(c *Config) {
		c.RateLimits = unlimited()
		c.MaxAttempts = 3
	})
	sim.Inject(gcpsim.Fault{Service: "compute", Method: "firewalls.list", Kind: gcpsim.Throttle, Times: 1})
	sim.Inject(gcpsim.Fault{Service: "storage", Method: "buckets.list", Kind: gcpsim.ThrottleForbidden, Times: 1})
	var mu sync.Mutex
	calls, throttled := map[string]int64{}, map[string]int64{}
	c.CountCalls(func(service string, t bool) {
		mu.Lock()
		defer mu.Unlock()
		calls[service]++
		if t {
			throttled[service]++
		}
	})
	collect(t, c)
	for _, svc := range []string{"compute", "storage", "cloudkms", "sqladmin", "iam", "cloudresourcemanager"} {
		if want := sim.Calls(svc, ""); calls[svc] != want || want == 0 {
			t.Errorf("%s: counted %d attempts, the simulator answered %d", svc, calls[svc], want)
		}
	}
	if want := map[string]int64{"compute": 1, "storage": 1}; !maps.Equal(throttled, want) {
		t.Errorf("throttled %v, want %v", throttled, want)
	}
}
