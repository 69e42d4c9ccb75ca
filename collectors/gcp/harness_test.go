package gcp

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/finding/findingtest"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// testToken is the OAuth access token the tests' simulators accept, and
// the secret no finding may carry.
const testToken = "ya29.sim-secret-access-token"

// testProject is testEstate's one project.
const testProject = "test-project-1"

// recorder is the shared findingtest sink.
type recorder = findingtest.Recorder

// testEstate is a one-project estate, outside any organisation, for tests
// to fill in.
func testEstate() *gcpsim.Estate {
	return &gcpsim.Estate{
		Locations: []string{"europe-west1"},
		Projects:  []*gcpsim.Project{{ID: testProject, Number: 111111111111}},
	}
}

// project is testEstate's project.
func project(e *gcpsim.Estate) *gcpsim.Project { return e.Projects[0] }

// startSim serves e on loopback and returns a collector pointed at it,
// assessing every project of e by ID, with a static access token, no
// retries and no rate limits. mutate may adjust the config before defaults
// are applied.
func startSim(t *testing.T, e *gcpsim.Estate, mutate func(*Config)) (*Collector, *gcpsim.Server) {
	t.Helper()
	sim := gcpsim.NewServer(e)
	sim.Token = testToken
	ts := sim.Start()
	t.Cleanup(ts.Close)
	return collectorFor(t, ts.URL, e, mutate), sim
}

// collectorFor returns a collector pointed at a simulator of e served at
// url, configured as startSim does.
func collectorFor(t *testing.T, url string, e *gcpsim.Estate, mutate func(*Config)) *Collector {
	t.Helper()
	cfg := Config{Endpoint: url, MaxAttempts: 1}
	for _, p := range e.Projects {
		cfg.Projects = append(cfg.Projects, p.ID)
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
	opts := []option.ClientOption{option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken}))}
	c, err := New(context.Background(), cfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// unlimited lifts the rate limits the collector keeps to: tests of what
// the collector concludes should not take as long as real quotas would
// make them (ratelimit_test.go tests the limits themselves).
func unlimited() map[string]RateLimit {
	out := map[string]RateLimit{}
	for service := range apiMethods() {
		out[service] = RateLimit{Rate: 1e6, Burst: 1e6}
	}
	return out
}

// collect runs c to completion and returns what it emitted, after checking
// every finding's invariants.
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
		if f.Provider != Provider || f.Region == "" || f.Resource == "" || f.Service == "" {
			t.Errorf("finding %s on %q lacks provider, region, resource or service: %+v", f.Check, f.Resource, f)
		}
	}
	return rec
}

// simCase is one scenario for one check: how the estate differs from
// testEstate, the faults the simulator answers with, and the single finding
// expected on a resource.
type simCase struct {
	name   string
	setup  func(*gcpsim.Estate)
	faults []gcpsim.Fault
	config func(*Config)

	check    string
	resource string
	status   finding.Status
	reason   finding.Reason
	// region, when set, is the finding's expected region.
	region string
	// observed lists keys the finding's Observed must hold, with their
	// values; other keys are not compared (see holds).
	observed map[string]any
	// detail, when set, must appear in the finding's Detail.
	detail string
}

// runSimCases runs each case against its own simulator through the real
// client libraries.
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
			if tc.region != "" && f.Region != tc.region {
				t.Errorf("region %q, want %q", f.Region, tc.region)
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

// listingFaults are the ways the listing call of a scanner (service,
// method) can fail, each leaving its checks not assessed for the whole
// project, plus the empty project, where they do not apply. setup gives
// the project something to list.
func listingFaults(check, service, method string, setup func(*gcpsim.Estate), empty string) []simCase {
	fault := func(k gcpsim.FaultKind) []gcpsim.Fault {
		return []gcpsim.Fault{{Project: testProject, Service: service, Method: method, Kind: k, Delay: 5 * time.Second}}
	}
	return []simCase{
		{name: method + " denied leaves the project not assessed", setup: setup, faults: fault(gcpsim.AccessDenied),
			check: check, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied, detail: "denied"},
		{name: method + " throttled leaves the project not assessed", setup: setup, faults: fault(gcpsim.Throttle),
			check: check, resource: "*", status: finding.NotAssessed, reason: finding.Throttled},
		{name: method + " server error leaves the project not assessed", setup: setup, faults: fault(gcpsim.ServerError),
			check: check, resource: "*", status: finding.NotAssessed, reason: finding.APIError},
		{name: method + " malformed answer leaves the project not assessed", setup: setup, faults: fault(gcpsim.Malformed),
			check: check, resource: "*", status: finding.NotAssessed, reason: finding.APIError},
		{name: method + " slower than the call timeout leaves the project not assessed", setup: setup, faults: fault(gcpsim.Slow),
			config: func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:  check, resource: "*", status: finding.NotAssessed, reason: finding.TimedOut},
		{name: method + " slower than the scope timeout leaves the project not assessed", setup: setup, faults: fault(gcpsim.Slow),
			config: func(c *Config) { c.ScopeTimeout, c.CallTimeout = 300*time.Millisecond, time.Second },
			check:  check, resource: "*", status: finding.NotAssessed, reason: finding.TimedOut},
		{name: "project without anything to check is not applicable",
			check: check, resource: "*", status: finding.NotApplicable, detail: empty},
	}
}
