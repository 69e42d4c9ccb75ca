package aws

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/collectortest"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// orgTestEstate is an organization: the management account 111111111111
// and n members 2000000000NN in one region. Even members sit in the OU
// ou-sim0-00000001, every sixth in its child OU ou-sim0-00000002, and
// member 1 is suspended.
func orgTestEstate(n int) *awssim.Estate {
	e := testEstate()
	e.OrgUnits = []awssim.OrgUnit{
		{ID: "ou-sim0-00000001", Name: "workloads"},
		{ID: "ou-sim0-00000002", Name: "prod", Parent: "ou-sim0-00000001"},
	}
	for i := range n {
		a := &awssim.Account{ID: fmt.Sprintf("%012d", 200000000000+i), Regions: map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1"}}}
		switch {
		case i%6 == 0:
			a.Parent = "ou-sim0-00000002"
		case i%2 == 0:
			a.Parent = "ou-sim0-00000001"
		}
		if i == 1 {
			a.Status = "SUSPENDED"
		}
		e.Accounts = append(e.Accounts, a)
	}
	return e
}

func member(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

// logBuffer is a concurrency-safe log sink for asserting on log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func withOrganization(o Organization) func(*Config) {
	return func(c *Config) { c.Organization = &o }
}

func TestOrganizationAccountsAreDiscoveredAndEntered(t *testing.T) {
	c, sim := startSim(t, orgTestEstate(44), withOrganization(Organization{RoleName: "eucs-audit"}))
	var logs logBuffer
	c.log = slog.New(slog.NewTextHandler(&logs, nil))
	rec := collect(t, c)

	if got := sim.Calls("organizations", "ListAccounts"); got != 3 {
		t.Errorf("ListAccounts called %d times, want 3 pages of 20 for 45 accounts", got)
	}
	var want []string
	want = append(want, "111111111111")
	for i := range 44 {
		if i != 1 {
			want = append(want, member(i))
		}
	}
	slices.Sort(want)
	if got := rec.Accounts(); !slices.Equal(got, want) {
		t.Errorf("assessed %d accounts %v, want the %d active ones", len(got), got, len(want))
	}
	if got := sim.Calls("sts", "AssumeRole"); got != int64(len(want)) {
		t.Errorf("AssumeRole called %d times, want once per active account (%d), the management account's included", got, len(want))
	}
	for _, f := range rec.Findings {
		if f.Status == finding.NotAssessed {
			t.Errorf("%s in %s not assessed: %s", f.Check, f.Account, f.Detail)
		}
	}

	var suspended []finding.Coverage
	for _, cv := range rec.Covered {
		if cv.Account == member(1) {
			suspended = append(suspended, cv)
		}
	}
	if len(suspended) != 1 || suspended[0].Status != finding.NotCovered || suspended[0].Service != "organizations" ||
		suspended[0].Detail != "account is SUSPENDED in the organization, so it is not assessed" {
		t.Errorf("coverage of the suspended account: %+v", suspended)
	}
	if !strings.Contains(logs.String(), `msg="organization account skipped" account=200000000001 status=SUSPENDED`) {
		t.Errorf("no log line for the suspended account:\n%s", logs.String())
	}
}

func TestOrganizationIncludeAndExclude(t *testing.T) {
	for _, tc := range []struct {
		name string
		org  Organization
		want []string
	}{
		{
			name: "an OU includes its nested OUs, exclude wins",
			org:  Organization{RoleName: "eucs-audit", Include: []string{"ou-sim0-00000001"}, Exclude: []string{member(6)}},
			want: []string{member(0), member(2), member(4), member(8), member(10), member(12)},
		},
		{
			name: "accounts by ID, and a nested OU alone",
			org:  Organization{RoleName: "eucs-audit", Include: []string{"111111111111", member(3), "ou-sim0-00000002"}},
			want: []string{"111111111111", member(0), member(3), member(6), member(12)},
		},
		{
			name: "the root less an OU",
			org:  Organization{RoleName: "eucs-audit", Include: []string{awssim.OrgRootID}, Exclude: []string{"ou-sim0-00000001", "111111111111"}},
			want: []string{member(3), member(5), member(7), member(9), member(11), member(13)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := startSim(t, orgTestEstate(14), withOrganization(tc.org))
			got := collect(t, c).Accounts()
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("assessed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOneMemberRefusingTheRoleLeavesTheOthersAssessed(t *testing.T) {
	c, sim := startSim(t, orgTestEstate(4), withOrganization(Organization{RoleName: "eucs-audit"}))
	sim.Inject(awssim.Fault{Service: "sts", Action: "AssumeRole", Resource: member(2), Kind: awssim.AccessDenied})
	rec := collect(t, c)
	for _, f := range rec.Findings {
		denied := f.Account == member(2)
		if denied != (f.Status == finding.NotAssessed && f.Reason == finding.AccessDenied && f.Resource == "*") {
			t.Errorf("%s in %s: %s/%s on %q", f.Check, f.Account, f.Status, f.Reason, f.Resource)
		}
	}
	if got := rec.Accounts(); !slices.Equal(got, []string{"111111111111", member(0), member(2), member(3)}) {
		t.Errorf("accounts with findings %v", got)
	}
}

func TestOrganizationThatCannotBeListedLeavesTheRunNotAssessed(t *testing.T) {
	c, sim := startSim(t, orgTestEstate(2), withOrganization(Organization{RoleName: "eucs-audit"}))
	// As when the credentials are not the management account's.
	sim.Inject(awssim.Fault{Service: "organizations", Action: "ListAccounts", Kind: awssim.AccessDenied})
	rec := collect(t, c)
	if len(rec.Findings) == 0 {
		t.Fatal("no findings: the run would seal nothing and say nothing")
	}
	for _, f := range rec.Findings {
		if f.Account != "unknown" || f.Status != finding.NotAssessed || f.Reason != finding.AccessDenied ||
			!strings.Contains(f.Detail, "list the organization's accounts") {
			t.Errorf("%s: %s/%s in %s (%s)", f.Check, f.Status, f.Reason, f.Account, f.Detail)
		}
	}
}

func TestShardsPartitionTheOrganization(t *testing.T) {
	const replicas = 3
	owner := map[string]int{}
	total := 0
	for i := range replicas {
		c, _ := startSim(t, orgTestEstate(20), func(c *Config) {
			c.Organization = &Organization{RoleName: "eucs-audit"}
			c.Shard = &collectors.Shard{Index: i, Count: replicas}
		})
		rec := collect(t, c)
		for _, a := range rec.Accounts() {
			owner[a]++
		}
		for _, cv := range rec.Covered {
			if cv.Service == "organizations" {
				owner[cv.Account]++ // the suspended account is reported by its owner only
			}
		}
		total += len(rec.Accounts())
	}
	if len(owner) != 21 {
		t.Errorf("the replicas together saw %d accounts, want all 21", len(owner))
	}
	for a, n := range owner {
		if n != 1 {
			t.Errorf("account %s handled by %d replicas, want exactly 1", a, n)
		}
	}
	if total != 20 {
		t.Errorf("%d accounts assessed in all, want the 20 active ones", total)
	}
}

func TestShardsPartitionConfiguredAccounts(t *testing.T) {
	e := orgTestEstate(9)
	var accounts []Account
	for _, a := range e.Accounts {
		if a.Status == "" {
			accounts = append(accounts, Account{ID: a.ID, RoleARN: "arn:aws:iam::" + a.ID + ":role/eucs-audit"})
		}
	}
	seen := map[string]int{}
	for i := range 2 {
		c, _ := startSim(t, e, func(c *Config) {
			c.Accounts = accounts
			c.Shard = &collectors.Shard{Index: i, Count: 2}
		})
		for _, a := range collect(t, c).Accounts() {
			seen[a]++
		}
	}
	if len(seen) != len(accounts) {
		t.Errorf("the two replicas assessed %d accounts, want %d", len(seen), len(accounts))
	}
	for a, n := range seen {
		if n != 1 {
			t.Errorf("account %s assessed by %d replicas", a, n)
		}
	}
}

// TestConcurrencyHoldsWithHundredsOfAccounts collects an organization of
// 150 accounts with a concurrency of 4: never more than 4 scopes run at
// once, every scope runs once, and no account's rate-limit buckets outlive
// its scopes.
func TestConcurrencyHoldsWithHundredsOfAccounts(t *testing.T) {
	const accounts, concurrency = 150, 4
	c, _ := startSim(t, orgTestEstate(accounts-1), func(c *Config) {
		c.Organization = &Organization{RoleName: "eucs-audit"}
		c.Concurrency = concurrency
	})
	var g collectortest.Gauge
	for i, sc := range c.scanners {
		c.scanners[i].scan = collectortest.Track(&g, sc.scan)
	}
	rec := collect(t, c)
	most, ran := g.Most(), g.Ran()
	if most > concurrency {
		t.Errorf("%d scopes ran at once, bound %d", most, concurrency)
	}
	if want := (accounts - 1) * len(c.scanners); ran != want { // one account is suspended; one region each
		t.Errorf("%d scopes ran, want %d", ran, want)
	}
	if got := len(rec.Accounts()); got != accounts-1 {
		t.Errorf("%d accounts assessed, want %d", got, accounts-1)
	}
	for _, acct := range c.limits.buckets.Held() {
		if acct != "" {
			t.Errorf("account %s still holds rate-limit buckets after its scopes ended", acct)
		}
	}
}
