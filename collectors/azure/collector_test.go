package azure

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// The collector is a collectors.Collector.
var _ collectors.Collector = (*Collector)(nil)

const sub3 = "33333333-3333-4333-8333-333333333333"

// threeSubscriptions is richEstate plus sub2 under group mg-other and sub3
// in mg-child below mg-test. sub2's secure transfer is off, so that its
// findings differ from sub1's.
func threeSubscriptions() *azuresim.Estate {
	e := richEstate()
	e.ManagementGroups = append(e.ManagementGroups,
		&azuresim.ManagementGroup{ID: "mg-other", Parent: tenant},
		&azuresim.ManagementGroup{ID: "mg-child", Parent: "mg-test"})
	bad := goodAccount()
	bad.HTTPSOnly = false
	e.Subscriptions = append(e.Subscriptions,
		&azuresim.Subscription{ID: sub2, DisplayName: "other", ManagementGroup: "mg-other", StorageAccounts: []azuresim.StorageAccount{bad}},
		&azuresim.Subscription{ID: sub3, DisplayName: "child", ManagementGroup: "mg-child", StorageAccounts: []azuresim.StorageAccount{goodAccount()}},
	)
	return e
}

func TestSubscriptionDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*azuresim.Estate)
		config func(*Config)
		want   []string
		// calls are the simulator operations expected, with their count.
		calls map[string]int64
	}{
		{
			name: "every readable subscription",
			want: []string{sub1, sub2, sub3},
			calls: map[string]int64{"subscriptions:Subscriptions_List": 2, "subscriptions:Subscriptions_Get": 0,
				"managementgroups:ManagementGroups_GetDescendants": 0},
		},
		{
			name:  "disabled and deleted subscriptions are passed by",
			setup: func(e *azuresim.Estate) { e.Subscriptions[1].State = "Disabled"; e.Subscriptions[2].State = "Deleted" },
			want:  []string{sub1},
		},
		{
			name:   "everything under a management group, nested groups included",
			config: func(c *Config) { c.ManagementGroup = "mg-test" },
			want:   []string{sub1, sub3},
			calls: map[string]int64{"managementgroups:ManagementGroups_GetDescendants": 2, "subscriptions:Subscriptions_Get": 2,
				"subscriptions:Subscriptions_List": 0},
		},
		{
			name:   "a disabled subscription under the group is passed by",
			setup:  func(e *azuresim.Estate) { e.Subscriptions[2].State = "Disabled" },
			config: func(c *Config) { c.ManagementGroup = "mg-test" },
			want:   []string{sub1},
		},
		{
			name:   "the tenant root group holds them all",
			config: func(c *Config) { c.ManagementGroup = tenant },
			want:   []string{sub1, sub2, sub3},
		},
		{
			name:   "configured subscriptions only",
			config: func(c *Config) { c.Subscriptions = []string{sub3, strings.ToUpper(sub2)} },
			want:   []string{sub2, sub3},
			calls:  map[string]int64{"subscriptions:Subscriptions_Get": 2, "subscriptions:Subscriptions_List": 0},
		},
		{
			name:   "a configured subscription is assessed even when disabled",
			setup:  func(e *azuresim.Estate) { e.Subscriptions[1].State = "Disabled" },
			config: func(c *Config) { c.Subscriptions = []string{sub2} },
			want:   []string{sub2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := threeSubscriptions()
			if tc.setup != nil {
				tc.setup(e)
			}
			c, sim := startSim(t, e, tc.config)
			sim.PageSize = 2
			rec := collect(t, c)
			if got := rec.Accounts(); !slices.Equal(got, tc.want) {
				t.Errorf("assessed %v, want %v", got, tc.want)
			}
			for op, want := range tc.calls {
				svc, name, _ := strings.Cut(op, ":")
				if got := sim.Calls(svc, name); got != want {
					t.Errorf("%s called %d times, want %d", op, got, want)
				}
			}
			if slices.Contains(tc.want, sub2) {
				if f := rec.One(t, checkStorageSecureTransfer, strings.Replace(resID("Microsoft.Storage/storageAccounts", "stgood"), sub1, sub2, 1)); f.Status != finding.Fail || f.Account != sub2 {
					t.Errorf("sub2's own account: got %s in %s, want fail in %s", f.Status, f.Account, sub2)
				}
			}
		})
	}
}

// TestFailingSubscriptionIsNotAssessedAlone makes one subscription
// unreadable in several ways and expects every check in it, and only in
// it, to be not assessed, while the others are assessed in full.
func TestFailingSubscriptionIsNotAssessedAlone(t *testing.T) {
	const unseen = "44444444-4444-4444-8444-444444444444"
	for _, tc := range []struct {
		name    string
		fault   azuresim.Fault
		config  func(*Config)
		failing string
		reason  finding.Reason
		detail  string
	}{
		{
			name:    "configured subscription the identity cannot see",
			failing: unseen,
			config:  func(c *Config) { c.Subscriptions = []string{sub1, unseen} },
			reason:  finding.AccessDenied,
			detail:  "SubscriptionNotFound",
		},
		{
			name:    "reading a subscription under the group is denied",
			failing: sub3,
			fault:   azuresim.Fault{Subscription: sub3, Operation: "Subscriptions_Get", Kind: azuresim.AccessDenied},
			config:  func(c *Config) { c.ManagementGroup = "mg-test" },
			reason:  finding.AccessDenied,
			detail:  "read subscription " + sub3,
		},
		{
			name:    "reading a configured subscription is throttled",
			failing: sub3,
			fault:   azuresim.Fault{Subscription: sub3, Operation: "Subscriptions_Get", Kind: azuresim.Throttle},
			config:  func(c *Config) { c.Subscriptions = []string{sub1, sub3} },
			reason:  finding.Throttled,
		},
		{
			name:    "every call in one subscription is denied",
			failing: sub3,
			fault:   azuresim.Fault{Subscription: sub3, Kind: azuresim.AccessDenied},
			reason:  finding.AccessDenied,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, sim := startSim(t, threeSubscriptions(), tc.config)
			if tc.fault.Kind != 0 {
				sim.Inject(tc.fault)
			}
			rec := collect(t, c)
			failing := 0
			for _, f := range rec.Findings {
				if f.Account != tc.failing {
					if f.Status == finding.NotAssessed {
						t.Errorf("%s in %s, a healthy subscription: not assessed (%s)", f.Check, f.Account, f.Detail)
					}
					continue
				}
				failing++
				if f.Status != finding.NotAssessed || f.Reason != tc.reason || f.Resource != "*" {
					t.Errorf("%s in %s: got %s/%s on %q, want not_assessed/%s on *", f.Check, f.Account, f.Status, f.Reason, f.Resource, tc.reason)
				}
				if !strings.Contains(f.Detail, tc.detail) {
					t.Errorf("%s: detail %q does not mention %q", f.Check, f.Detail, tc.detail)
				}
			}
			// Every check of every scanner, once: no location policy.
			if want := len(Checks()) - 1; failing != want {
				t.Errorf("%d findings for %s, want %d (every check but location)", failing, tc.failing, want)
			}
			if f := rec.One(t, checkStorageSecureTransfer, resID("Microsoft.Storage/storageAccounts", "stgood")); f.Status != finding.Pass {
				t.Errorf("the healthy subscription: got %s, want pass", f.Status)
			}
		})
	}
}

func TestFailedDiscoveryIsNotAssessed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*azuresim.Estate)
		fault  *azuresim.Fault
		config func(*Config)
		reason finding.Reason
		detail string
	}{
		{
			name:   "listing subscriptions is denied",
			fault:  &azuresim.Fault{Operation: "Subscriptions_List", Kind: azuresim.AccessDenied},
			reason: finding.AccessDenied,
			detail: "list subscriptions: HTTP 403 AuthorizationFailed",
		},
		{
			name:   "listing subscriptions fails",
			fault:  &azuresim.Fault{Operation: "Subscriptions_List", Kind: azuresim.Malformed},
			reason: finding.APIError,
			detail: "list subscriptions",
		},
		{
			name:   "listing subscriptions stays throttled through every retry",
			fault:  &azuresim.Fault{Operation: "Subscriptions_List", Kind: azuresim.Throttle, RetryAfter: 10 * time.Millisecond},
			config: func(c *Config) { c.MaxAttempts = 3 },
			reason: finding.Throttled,
			detail: "list subscriptions: HTTP 429 TenantRequestsThrottled: Number of 'read' requests for tenant exceeded the limit. Please try again later.",
		},
		{
			name:   "a management group named in include cannot be read",
			config: func(c *Config) { c.Include = []string{sub1, "mg-nowhere"} },
			reason: finding.AccessDenied,
			detail: "list subscriptions under management group mg-nowhere (include[1]): HTTP 403 AuthorizationFailed",
		},
		{
			name: "a management group named in exclude cannot be read",
			config: func(c *Config) {
				c.ManagementGroup = "mg-test"
				c.Exclude = []string{"/providers/Microsoft.Management/managementGroups/mg-gone"}
			},
			reason: finding.AccessDenied,
			detail: "list subscriptions under management group mg-gone (exclude[0]): HTTP 403 AuthorizationFailed",
		},
		{
			name:   "the management group cannot be read",
			config: func(c *Config) { c.ManagementGroup = "mg-nowhere" },
			reason: finding.AccessDenied,
			detail: "list subscriptions under management group mg-nowhere",
		},
		{
			name:   "the identity can read no subscription",
			setup:  func(e *azuresim.Estate) { e.Subscriptions = nil },
			reason: finding.AccessDenied,
			detail: "the identity can read no subscription",
		},
		{
			name: "the management group holds no subscription",
			setup: func(e *azuresim.Estate) {
				e.ManagementGroups = append(e.ManagementGroups, &azuresim.ManagementGroup{ID: "mg-empty", Parent: tenant})
			},
			config: func(c *Config) { c.ManagementGroup = "mg-empty" },
			reason: finding.AccessDenied,
			detail: "the identity can read no subscription under management group mg-empty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := richEstate()
			if tc.setup != nil {
				tc.setup(e)
			}
			c, sim := startSim(t, e, tc.config)
			if tc.fault != nil {
				sim.Inject(*tc.fault)
			}
			rec := collect(t, c)
			if want := len(Checks()) - 1; len(rec.Findings) != want {
				t.Errorf("%d findings, want %d (every check but location)", len(rec.Findings), want)
			}
			for _, f := range rec.Findings {
				if f.Account != UnknownSubscription || f.Status != finding.NotAssessed || f.Reason != tc.reason {
					t.Errorf("%s: got %s/%s in %s, want not_assessed/%s in %s", f.Check, f.Status, f.Reason, f.Account, tc.reason, UnknownSubscription)
				}
				if !strings.Contains(f.Detail, tc.detail) {
					t.Errorf("%s: detail %q does not mention %q", f.Check, f.Detail, tc.detail)
				}
			}
			for _, cov := range rec.Covered {
				if cov.Status != finding.NotCovered || cov.Account != UnknownSubscription {
					t.Errorf("coverage %+v, want not_assessed for %s", cov, UnknownSubscription)
				}
			}
		})
	}
}

func TestLocationCheck(t *testing.T) {
	e := richEstate()
	s := home(e)
	us := goodAccount()
	us.Name, us.Location = "stus", "eastus"
	s.StorageAccounts = append(s.StorageAccounts, us)
	s.Disks = append(s.Disks, azuresim.Disk{Name: "disk-us", ResourceGroup: group, Location: "East US"})

	t.Run("resources outside the allowed regions fail", func(t *testing.T) {
		c, _ := startSim(t, e, func(c *Config) { c.AllowedRegions = []string{"westeurope", "germanywestcentral"} })
		rec := collect(t, c)
		for resource, want := range map[string]finding.Status{
			resID("Microsoft.Storage/storageAccounts", "stgood"):        finding.Pass,
			resID("Microsoft.Storage/storageAccounts", "stus"):          finding.Fail,
			resID("Microsoft.Compute/disks", "disk-us"):                 finding.Fail,
			resID("Microsoft.KeyVault/vaults", "kv-test"):               finding.Pass,
			resID("Microsoft.Sql/servers", "sql-test"):                  finding.Pass,
			resID("Microsoft.Network/networkSecurityGroups", "nsg-web"): finding.Pass,
			resID("Microsoft.Compute/disks", "disk-os"):                 finding.Pass,
		} {
			f := rec.One(t, LocationCheck, resource)
			if f.Status != want {
				t.Errorf("%s: got %s (%s), want %s", resource, f.Status, f.Detail, want)
			}
		}
		f := rec.One(t, LocationCheck, resID("Microsoft.Compute/disks", "disk-us"))
		if f.Region != "eastus" || f.Observed["location"] != "eastus" || f.Service != "compute" {
			t.Errorf("display-name location: got region %q, observed %v, service %q; want eastus from compute", f.Region, f.Observed, f.Service)
		}
		if want := "resource is in eastus, outside the allowed regions westeurope, germanywestcentral"; f.Detail != want {
			t.Errorf("detail %q, want %q", f.Detail, want)
		}
		if n := len(rec.Of(LocationCheck, "")); n != 7 {
			t.Errorf("%d location findings, want one per located resource (7)", n)
		}
	})
	t.Run("no policy, no location findings", func(t *testing.T) {
		c, _ := startSim(t, e, nil)
		if n := len(collect(t, c).Of(LocationCheck, "")); n != 0 {
			t.Errorf("%d location findings without allowed regions, want none", n)
		}
	})
}

// TestNoSecretsInFindings runs a full estate over three subscriptions, with
// faults, and looks for the bearer token anywhere in the output.
func TestNoSecretsInFindings(t *testing.T) {
	c, sim := startSim(t, threeSubscriptions(), func(c *Config) { c.AllowedRegions = []string{loc} })
	sim.Inject(azuresim.Fault{Subscription: sub2, Service: "keyvault", Kind: azuresim.AccessDenied})
	sim.Inject(azuresim.Fault{Subscription: sub3, Service: "sql", Kind: azuresim.ServerError})
	rec := collect(t, c)
	blob, err := json.Marshal(struct {
		F []finding.Finding
		C []finding.Coverage
	}{rec.Findings, rec.Covered})
	if err != nil {
		t.Fatal(err)
	}
	token := sim.Token()
	if len(token) < 16 {
		t.Fatalf("token %q too short: the test would prove little", token)
	}
	for _, secret := range []string{token, "Bearer "} {
		if strings.Contains(string(blob), secret) {
			t.Errorf("output contains %q", secret)
		}
	}
	if !strings.Contains(string(blob), "AuthorizationFailed") {
		t.Error("the denied scope should be in the output")
	}
}

// failingSink refuses every finding, as a full disk would.
type failingSink struct{ recorder }

func (*failingSink) Finding(context.Context, finding.Finding) error { return errors.New("disk full") }

func TestSinkFailureEndsTheRun(t *testing.T) {
	c, _ := startSim(t, richEstate(), nil)
	err := c.Collect(context.Background(), &failingSink{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Collect: got %v, want the sink's error", err)
	}
}

func TestDemoEstate(t *testing.T) {
	c, _ := startSim(t, azuresim.Demo(), func(c *Config) {
		c.ManagementGroup = azuresim.DemoGroup
		c.AllowedRegions = []string{"westeurope", "germanywestcentral"}
	})
	rec := collect(t, c)
	want := []string{azuresim.DemoPlatform, azuresim.DemoProduction, azuresim.DemoSandbox}
	slices.Sort(want)
	if got := rec.Accounts(); !slices.Equal(got, want) {
		t.Errorf("assessed %v, want %v", got, want)
	}
	statuses := map[finding.Status]int{}
	for _, f := range rec.Findings {
		statuses[f.Status]++
	}
	if statuses[finding.Pass] == 0 || statuses[finding.Fail] == 0 || statuses[finding.NotAssessed] != 0 {
		t.Errorf("statuses %v, want a mix of pass and fail and nothing unassessed", statuses)
	}
	var outside int
	for _, f := range rec.Of(LocationCheck, "") {
		if f.Status == finding.Fail {
			outside++
			if f.Region != "eastus" {
				t.Errorf("%s fails the location check in %s", f.Resource, f.Region)
			}
		}
	}
	if outside == 0 {
		t.Error("no resource fails the location check; the demo should show some in eastus")
	}
	// Every check has something to decide in the demo.
	for _, check := range Checks() {
		decided := false
		for _, f := range rec.Of(check, "") {
			decided = decided || f.Status == finding.Pass || f.Status == finding.Fail
		}
		if !decided {
			t.Errorf("%s is decided nowhere in the demo", check)
		}
	}
}

func TestChecksAreMappedInTheCatalogue(t *testing.T) {
	set, err := controls.Load()
	if err != nil {
		t.Fatalf("controls.Load: %v", err)
	}
	ids := Checks()
	if len(ids) < 15 {
		t.Errorf("%d checks, want at least 15", len(ids))
	}
	for _, id := range ids {
		c, ok := set.Check(id)
		if !ok {
			t.Errorf("%s is not in the check catalogue", id)
			continue
		}
		if c.Provider != Provider || !strings.HasPrefix(id, "azure."+c.Service+".") {
			t.Errorf("%s: catalogue has provider %q, service %q", id, c.Provider, c.Service)
		}
	}
	for _, c := range set.Checks() {
		if c.Provider == Provider && !slices.Contains(ids, c.ID) {
			t.Errorf("the catalogue maps %s, which the collector never emits", c.ID)
		}
	}
	if c, ok := set.Check(LocationCheck); !ok || c.Kind != controls.Sovereignty {
		t.Errorf("%s must be a sovereignty check", LocationCheck)
	}
}

func TestCloudSelectsEndpoints(t *testing.T) {
	for _, tc := range []struct {
		cloud, endpoint, want string
	}{
		{CloudPublic, "", "https://management.azure.com"},
		{CloudUSGovernment, "", "https://management.usgovcloudapi.net"},
		{CloudChina, "", "https://management.chinacloudapi.cn"},
		{CloudPublic, "https://arm.example.test", "https://arm.example.test"},
	} {
		opts, err := clientOptions(Config{Cloud: tc.cloud, EndpointURL: tc.endpoint, MaxAttempts: 1}, nil, newLimiter(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.cloud, err)
		}
		if got := opts.Cloud.Services[cloud.ResourceManager].Endpoint; got != tc.want {
			t.Errorf("%s with endpoint %q: Resource Manager at %q, want %q", tc.cloud, tc.endpoint, got, tc.want)
		}
		if opts.Retry.MaxRetries != -1 || !opts.DisableRPRegistration {
			t.Errorf("%s: retries %d, RP registration disabled %v; want -1, true", tc.cloud, opts.Retry.MaxRetries, opts.DisableRPRegistration)
		}
	}
	if got := cloud.AzurePublic.Services[cloud.ResourceManager].Endpoint; got != "https://management.azure.com" {
		t.Errorf("the endpoint override leaked into the SDK's public cloud: %q", got)
	}
}

// TestDemoAsTheAgentRunsIt wires the collector the way cmd/eucs-agent's
// demo does: the demo estate behind its management group, retries on, and
// two faults that keep the evidence honest about what it could not see.
func TestDemoAsTheAgentRunsIt(t *testing.T) {
	c, sim := startSim(t, azuresim.Demo(), func(c *Config) {
		c.ManagementGroup = azuresim.DemoGroup
		c.AllowedRegions = []string{"westeurope", "germanywestcentral"}
		c.MaxAttempts = 2
	})
	sim.Inject(azuresim.Fault{Subscription: azuresim.DemoSandbox, Service: "defender", Kind: azuresim.AccessDenied})
	sim.Inject(azuresim.Fault{Subscription: azuresim.DemoProduction, Operation: "TransparentDataEncryptions_Get", Resource: "reports",
		Kind: azuresim.Throttle, RetryAfter: 20 * time.Millisecond})
	rec := collect(t, c)
	f := rec.One(t, checkDefenderPlan, "*")
	if f.Account != azuresim.DemoSandbox || f.Reason != finding.AccessDenied {
		t.Errorf("sandbox Defender: got %s/%s in %s", f.Status, f.Reason, f.Account)
	}
	reports := "/subscriptions/" + azuresim.DemoProduction + "/resourceGroups/rg-prod-westeurope/providers/Microsoft.Sql/servers/sql-demo-orders/databases/reports"
	if f := rec.One(t, checkSQLTDE, reports); f.Reason != finding.Throttled {
		t.Errorf("throttled TDE read: got %s/%s", f.Status, f.Reason)
	}
	if n := sim.Calls("sql", "TransparentDataEncryptions_Get"); n != 5 {
		t.Errorf("TransparentDataEncryptions_Get called %d times, want 5 (three databases, the throttled one twice)", n)
	}
}
