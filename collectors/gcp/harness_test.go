package gcp

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// testToken is the OAuth access token the tests' simulators accept, and
// the secret no finding may carry.
const testToken = "ya29.sim-secret-access-token"

// testProject is testEstate's one project.
const testProject = "test-project-1"

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
// assessing every project of e by ID, with a static access token and no
// retries. mutate may adjust the config before defaults are applied.
func startSim(t *testing.T, e *gcpsim.Estate, mutate func(*Config)) (*Collector, *gcpsim.Server) {
	t.Helper()
	sim := gcpsim.NewServer(e)
	sim.Token = testToken
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := Config{Endpoint: ts.URL, MaxAttempts: 1}
	for _, p := range e.Projects {
		cfg.Projects = append(cfg.Projects, p.ID)
	}
	if mutate != nil {
		mutate(&cfg)
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
	return c, sim
}

// collect runs c to completion and returns what it emitted, after checking
// every finding's invariants.
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
			f := collect(t, c).one(t, tc.check, tc.resource)
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
