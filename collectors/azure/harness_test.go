package azure

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/finding/findingtest"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// The test estate's identifiers.
const (
	tenant = "99999999-9999-4999-8999-999999999999"
	sub1   = "11111111-1111-4111-8111-111111111111"
	sub2   = "22222222-2222-4222-8222-222222222222"
	group  = "rg-test"
	loc    = "westeurope"
)

// recorder is the shared findingtest sink.
type recorder = findingtest.Recorder

// testEstate is a one-subscription estate, under management group mg-test,
// for tests to fill in.
func testEstate() *azuresim.Estate {
	return &azuresim.Estate{
		TenantID: tenant,
		ManagementGroups: []*azuresim.ManagementGroup{
			{ID: tenant, DisplayName: "Tenant Root Group"},
			{ID: "mg-test", DisplayName: "Test", Parent: tenant},
		},
		Subscriptions: []*azuresim.Subscription{{ID: sub1, DisplayName: "test", ManagementGroup: "mg-test"}},
	}
}

// home is testEstate's one subscription.
func home(e *azuresim.Estate) *azuresim.Subscription { return e.Subscriptions[0] }

// resID is the ID of a resource of type typ in the test resource group of
// sub1.
func resID(typ, name string) string {
	return "/subscriptions/" + sub1 + "/resourceGroups/" + group + "/providers/" + typ + "/" + name
}

// startSim serves e over TLS on loopback and returns a collector pointed at
// it with the simulator's credential and no retries. mutate may adjust the
// config before defaults are applied.
func startSim(t *testing.T, e *azuresim.Estate, mutate func(*Config)) (*Collector, *azuresim.Server) {
	t.Helper()
	sim := azuresim.NewServer(e)
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := Config{EndpointURL: ts.URL, MaxAttempts: 1}
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: ts.Client()}}
	c, err := New(cfg, sim.Credential(), opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sim
}

// collect runs c to completion and returns what it emitted, checking every
// finding's invariants.
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
		if f.Provider != Provider || f.Region == "" {
			t.Errorf("%s on %s: provider %q, region %q", f.Check, f.Resource, f.Provider, f.Region)
		}
	}
	return rec
}

// simCase is one scenario for one check: how the estate differs from
// testEstate, the faults the simulator answers with, and the single finding
// expected on a resource.
type simCase struct {
	name   string
	setup  func(*azuresim.Estate)
	faults []azuresim.Fault
	config func(*Config)

	check    string
	resource string
	status   finding.Status
	reason   finding.Reason
	// observed lists keys the finding's Observed must hold, with their
	// values; other keys are not compared (see holds).
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

func ptr[T any](v T) *T { return &v }
