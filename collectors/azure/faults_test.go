package azure

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// richEstate is testEstate with one resource of every kind, so that every
// check has something to decide.
func richEstate() *azuresim.Estate {
	e := testEstate()
	s := home(e)
	s.StorageAccounts = []azuresim.StorageAccount{goodAccount()}
	s.KeyVaults = []azuresim.KeyVault{goodVault()}
	s.NSGs = []azuresim.NSG{{Name: "nsg-web", ResourceGroup: group, Location: loc,
		Rules: []azuresim.SecurityRule{{Name: "https", Priority: 100, Sources: []string{"Internet"}, Ports: []string{"443"}}}}}
	s.FlowLogs = []azuresim.FlowLog{{Name: "fl-web", Location: loc, Target: resID("Microsoft.Network/networkSecurityGroups", "nsg-web"), Enabled: true}}
	s.SQLServers = []azuresim.SQLServer{goodServer()}
	s.Disks = []azuresim.Disk{{Name: "disk-os", ResourceGroup: group, Location: loc, EncryptionType: "EncryptionAtRestWithCustomerKey"}}
	s.DiagnosticSettings = []azuresim.DiagnosticSetting{goodDiagnosticSetting()}
	s.DefenderPlans = []azuresim.DefenderPlan{{Name: "VirtualMachines", Standard: true, SubPlan: "P2"}}
	return e
}

// listOperations are each scanner's listing, whose failure leaves the whole
// scope unassessed.
func listOperations() map[string]string {
	return map[string]string{
		"storage":  "StorageAccounts_List",
		"keyvault": "Vaults_ListBySubscription",
		"network":  "NetworkSecurityGroups_ListAll",
		"sql":      "Servers_List",
		"compute":  "Disks_List",
		"monitor":  "DiagnosticSettings_List",
		"defender": "Pricings_List",
	}
}

// TestFailedListingLeavesEveryCheckOfTheScopeNotAssessed fails each
// scanner's listing in every way the simulator can and expects every check
// of that scanner, and only of that one, to be not assessed with the
// matching reason, on the whole scope.
func TestFailedListingLeavesEveryCheckOfTheScopeNotAssessed(t *testing.T) {
	kinds := []struct {
		name   string
		fault  azuresim.Fault
		config func(*Config)
		reason finding.Reason
		// timing cases shorten a timeout that every scope shares; on a
		// loaded machine healthy scopes may hit it too, so only the
		// faulted scope is asserted.
		timing bool
	}{
		{name: "denied", fault: azuresim.Fault{Kind: azuresim.AccessDenied}, reason: finding.AccessDenied},
		{name: "throttled", fault: azuresim.Fault{Kind: azuresim.Throttle}, reason: finding.Throttled},
		{name: "server error", fault: azuresim.Fault{Kind: azuresim.ServerError}, reason: finding.APIError},
		{name: "malformed answer", fault: azuresim.Fault{Kind: azuresim.Malformed}, reason: finding.APIError},
		{name: "slower than the scope timeout", fault: azuresim.Fault{Kind: azuresim.Slow, Delay: 5 * time.Second},
			config: func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond }, reason: finding.TimedOut, timing: true},
		{name: "slower than the call timeout", fault: azuresim.Fault{Kind: azuresim.Slow, Delay: 5 * time.Second},
			config: func(c *Config) { c.CallTimeout = 200 * time.Millisecond }, reason: finding.TimedOut, timing: true},
	}
	for _, sc := range scanners() {
		for _, k := range kinds {
			t.Run(sc.service+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				c, sim := startSim(t, richEstate(), func(c *Config) {
					c.AllowedRegions = []string{loc}
					if k.config != nil {
						k.config(c)
					}
				})
				f := k.fault
				f.Service, f.Operation = sc.service, listOperations()[sc.service]
				sim.Inject(f)
				rec := collect(t, c)

				want := slices.Clone(sc.checks)
				if sc.locates {
					want = append(want, LocationCheck)
				}
				for _, check := range want {
					var scoped []finding.Finding
					for _, got := range rec.Of(check, "*") {
						if got.Service == sc.service {
							scoped = append(scoped, got)
						}
					}
					if len(scoped) != 1 {
						t.Fatalf("%s: want one not_assessed finding on *, got %+v", check, scoped)
					}
					if got := scoped[0]; got.Status != finding.NotAssessed || got.Reason != k.reason || got.Account != sub1 || got.Region != GlobalRegion {
						t.Errorf("%s: got %s/%s in %s/%s (%s), want not_assessed/%s", check, got.Status, got.Reason, got.Account, got.Region, got.Detail, k.reason)
					}
				}
				for _, cov := range rec.Covered {
					wantStatus := finding.Assessed
					if cov.Service == sc.service {
						wantStatus = finding.NotCovered
					} else if k.timing {
						continue
					}
					if cov.Status != wantStatus {
						t.Errorf("coverage of %s: %s (%s), want %s", cov.Service, cov.Status, cov.Detail, wantStatus)
					}
				}
				if len(rec.Covered) != len(scanners()) {
					t.Errorf("%d coverage records, want one per scanner (%d)", len(rec.Covered), len(scanners()))
				}
			})
		}
	}
}

func TestThrottledCallIsRetriedAfterRetryAfter(t *testing.T) {
	c, sim := startSim(t, richEstate(), func(c *Config) { c.MaxAttempts = 2 })
	sim.Inject(azuresim.Fault{Service: "storage", Operation: "StorageAccounts_List", Kind: azuresim.Throttle,
		RetryAfter: 20 * time.Millisecond, Times: 1})
	rec := collect(t, c)
	if f := rec.One(t, checkStorageSecureTransfer, resID("Microsoft.Storage/storageAccounts", "stgood")); f.Status != finding.Pass {
		t.Errorf("after one throttled answer: got %s (%s), want pass", f.Status, f.Detail)
	}
	if n := sim.Calls("storage", "StorageAccounts_List"); n != 2 {
		t.Errorf("StorageAccounts_List called %d times, want 2 (one throttled, one retried)", n)
	}
}

func TestPagingFollowsNextLink(t *testing.T) {
	e := richEstate()
	s := home(e)
	s.StorageAccounts = nil
	for i := range 7 {
		a := goodAccount()
		a.Name = fmt.Sprintf("st%02d", i)
		s.StorageAccounts = append(s.StorageAccounts, a)
	}
	c, sim := startSim(t, e, nil)
	sim.PageSize = 3
	rec := collect(t, c)
	if got := len(rec.Of(checkStorageSecureTransfer, "")); got != 7 {
		t.Errorf("%d secure_transfer findings, want one per account (7)", got)
	}
	if n := sim.Calls("storage", "StorageAccounts_List"); n != 3 {
		t.Errorf("StorageAccounts_List called %d times, want 3 pages", n)
	}
}

func TestErrorDetailIsShortAndKeepsARMsMessage(t *testing.T) {
	c, sim := startSim(t, richEstate(), nil)
	sim.Inject(azuresim.Fault{Service: "defender", Kind: azuresim.AccessDenied})
	f := collect(t, c).One(t, checkDefenderPlan, "*")
	want := "list Defender for Cloud plans of " + sub1 + ": HTTP 403 AuthorizationFailed: The client '00000000-0000-0000-0000-0000000c11e7' with object id '00000000-0000-0000-0000-0000000c11e7' does not have authorization to perform action 'Microsoft.Security/pricings/read' over scope '/subscriptions/" + sub1 + "' or the scope is invalid. If access was recently granted, please refresh your credentials."
	if f.Detail != want {
		t.Errorf("detail:\n got %q\nwant %q", f.Detail, want)
	}
}
