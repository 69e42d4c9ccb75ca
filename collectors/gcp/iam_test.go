package gcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const (
	testSAEmail = "app@test-project-1.iam.gserviceaccount.com"
	testSA      = "//iam.googleapis.com/projects/test-project-1/serviceAccounts/" + testSAEmail
	testSAKey   = testSA + "/keys/k1"
)

func daysAgo(d int) time.Time { return time.Now().Add(-time.Duration(d) * day) }

// withServiceAccount gives the project one service account with a
// system-managed key and the given keys.
func withServiceAccount(keys ...gcpsim.ServiceAccountKey) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) {
		project(e).ServiceAccounts = []gcpsim.ServiceAccount{{Email: testSAEmail,
			Keys: append([]gcpsim.ServiceAccountKey{{ID: "sys", Created: daysAgo(400), SystemManaged: true}}, keys...)}}
	}
}

func saCases(check string) []simCase {
	return listingFaults(check, "iam", "serviceAccounts.list", withServiceAccount(), "no service accounts")
}

func keysDenied(k gcpsim.FaultKind) []gcpsim.Fault {
	return []gcpsim.Fault{{Service: "iam", Method: "serviceAccounts.keys.list", Kind: k}}
}

func TestServiceAccountUserManagedKeys(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "Google-managed keys only passes", setup: withServiceAccount(),
			check: checkSAUserManagedKeys, resource: testSA, status: finding.Pass, region: GlobalRegion,
			observed: map[string]any{"user_managed_keys": []any{}, "email": testSAEmail}},
		{name: "a user-managed key fails", setup: withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(10)}),
			check: checkSAUserManagedKeys, resource: testSA, status: finding.Fail, observed: map[string]any{"user_managed_keys": []any{"k1"}}},
		{name: "a disabled user-managed key passes", setup: withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(10), Disabled: true}),
			check: checkSAUserManagedKeys, resource: testSA, status: finding.Pass},
		{name: "key listing denied leaves the account not assessed", setup: withServiceAccount(), faults: keysDenied(gcpsim.AccessDenied),
			check: checkSAUserManagedKeys, resource: testSA, status: finding.NotAssessed, reason: finding.AccessDenied},
		{name: "key listing throttled leaves the account not assessed", setup: withServiceAccount(), faults: keysDenied(gcpsim.Throttle),
			check: checkSAUserManagedKeys, resource: testSA, status: finding.NotAssessed, reason: finding.Throttled},
	}, saCases(checkSAUserManagedKeys)...))
}

func TestServiceAccountKeyAge(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "key of 20 days passes", setup: withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(20)}),
			check: checkSAKeyAge, resource: testSAKey, status: finding.Pass, observed: map[string]any{"age_days": 20}},
		{name: "key of 200 days fails", setup: withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(200)}),
			check: checkSAKeyAge, resource: testSAKey, status: finding.Fail, observed: map[string]any{"age_days": 200}, detail: "older than 90"},
		{name: "disabled old key is not applicable", setup: withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(500), Disabled: true}),
			check: checkSAKeyAge, resource: testSAKey, status: finding.NotApplicable, detail: "disabled"},
		{name: "only system-managed keys is not applicable", setup: withServiceAccount(),
			check: checkSAKeyAge, resource: "*", status: finding.NotApplicable, detail: "no service account of the project has a usable user-managed key"},
		{name: "key listing failing leaves the account's keys not assessed", setup: withServiceAccount(), faults: keysDenied(gcpsim.ServerError),
			check: checkSAKeyAge, resource: testSA, status: finding.NotAssessed, reason: finding.APIError},
	}, saCases(checkSAKeyAge)...))
}

func TestSystemManagedKeysAreNeverJudged(t *testing.T) {
	e := testEstate()
	withServiceAccount(gcpsim.ServiceAccountKey{ID: "k1", Created: daysAgo(5)})(e)
	c, _ := startSim(t, e, nil)
	rec := collect(t, c)
	if fs := rec.Of(checkSAKeyAge, testSA+"/keys/sys"); len(fs) != 0 {
		t.Errorf("the system-managed key was judged: %+v", fs)
	}
	rec.One(t, checkSAKeyAge, testSAKey)
}

func TestServiceAccountsArePaged(t *testing.T) {
	e := testEstate()
	for i := range serviceAccountPageSize + 1 {
		project(e).ServiceAccounts = append(project(e).ServiceAccounts,
			gcpsim.ServiceAccount{Email: fmt.Sprintf("sa-%03d@test-project-1.iam.gserviceaccount.com", i)})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("iam", "serviceAccounts.list"); n != 2 {
		t.Errorf("serviceAccounts.list called %d times, want 2 pages", n)
	}
	if n := len(rec.Of(checkSAUserManagedKeys, "")); n != serviceAccountPageSize+1 {
		t.Errorf("%d findings, want %d", n, serviceAccountPageSize+1)
	}
}
