package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const (
	rootARN   = "arn:aws:iam::111111111111:root"
	aliceARN  = "arn:aws:iam::111111111111:user/alice"
	policyARN = "arn:aws:iam::111111111111:account-password-policy"
)

// daysAgo is d days before now, for access key and user creation dates.
func daysAgo(d int) time.Time { return time.Now().Add(-time.Duration(d) * 24 * time.Hour) }

func strongPolicy() *awssim.PasswordPolicy {
	return &awssim.PasswordPolicy{MinimumLength: 14, RequireSymbols: true, RequireNumbers: true,
		RequireUppercase: true, RequireLowercase: true, ReusePrevention: 24}
}

func withUsers(us ...awssim.User) func(*awssim.Estate) {
	return func(e *awssim.Estate) { e.Accounts[0].Users = us }
}

func TestIAMRootMFA(t *testing.T) {
	runSimCases(t, []simCase{
		{
			name:     "root with MFA passes",
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.Pass,
			observed: map[string]any{"account_mfa_enabled": 1},
		},
		{
			name:     "root without MFA fails",
			setup:    func(e *awssim.Estate) { e.Accounts[0].RootMFA = false },
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.Fail,
			observed: map[string]any{"account_mfa_enabled": 0},
		},
		{
			name:     "denied account summary is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountSummary", Kind: awssim.AccessDenied}},
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
			detail:   "get IAM account summary",
		},
		{
			name:     "throttled account summary is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountSummary", Kind: awssim.Throttle}},
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "failing account summary is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountSummary", Kind: awssim.ServerError}},
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "account summary slower than the call timeout is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountSummary", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:    checkRootMFA,
			resource: rootARN,
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
		{
			name:     "unlistable users leave root MFA not assessed with the rest of the scope",
			faults:   []awssim.Fault{{Service: "iam", Action: "ListUsers", Kind: awssim.AccessDenied}},
			check:    checkRootMFA,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
	})
}

func TestIAMUserMFA(t *testing.T) {
	runSimCases(t, []simCase{
		{
			name:     "console user with MFA passes",
			setup:    withUsers(awssim.User{Name: "alice", Console: true, MFA: true}),
			check:    checkUserMFA,
			resource: aliceARN,
			status:   finding.Pass,
			observed: map[string]any{"mfa_devices": []any{"arn:aws:iam::111111111111:mfa/alice"}},
		},
		{
			name:     "console user without MFA fails",
			setup:    withUsers(awssim.User{Name: "alice", Console: true}),
			check:    checkUserMFA,
			resource: aliceARN,
			status:   finding.Fail,
			observed: map[string]any{"mfa_devices": []any{}, "login_profile": true},
		},
		{
			name:     "user without console password is not applicable",
			setup:    withUsers(awssim.User{Name: "alice", MFA: false}),
			check:    checkUserMFA,
			resource: aliceARN,
			status:   finding.NotApplicable,
			detail:   "no console password",
		},
		{
			name:     "account without users is not applicable",
			check:    checkUserMFA,
			resource: "*",
			status:   finding.NotApplicable,
			detail:   "no IAM users",
		},
		{
			name:     "denied login profile leaves only that user not assessed",
			setup:    withUsers(awssim.User{Name: "alice", Console: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "GetLoginProfile", Resource: "alice", Kind: awssim.AccessDenied}},
			check:    checkUserMFA,
			resource: aliceARN,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
			detail:   "get login profile of IAM user alice",
		},
		{
			name:     "failing MFA device listing is not assessed",
			setup:    withUsers(awssim.User{Name: "alice", Console: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListMFADevices", Kind: awssim.ServerError}},
			check:    checkUserMFA,
			resource: aliceARN,
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "malformed user listing leaves the scope not assessed",
			setup:    withUsers(awssim.User{Name: "alice", Console: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListUsers", Kind: awssim.Malformed}},
			check:    checkUserMFA,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "user listing slower than the scope timeout is not assessed",
			setup:    withUsers(awssim.User{Name: "alice", Console: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListUsers", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond },
			check:    checkUserMFA,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
	})
	t.Run("one user's failure leaves the others assessed", func(t *testing.T) {
		e := testEstate()
		e.Accounts[0].Users = []awssim.User{{Name: "alice", Console: true}, {Name: "bob", Console: true, MFA: true}}
		c, sim := startSim(t, e, nil)
		sim.Inject(awssim.Fault{Service: "iam", Action: "GetLoginProfile", Resource: "alice", Kind: awssim.Throttle})
		rec := collect(t, c)
		if f := rec.One(t, checkUserMFA, aliceARN); f.Status != finding.NotAssessed || f.Reason != finding.Throttled {
			t.Errorf("alice: got %s/%s, want not_assessed/throttled", f.Status, f.Reason)
		}
		if f := rec.One(t, checkUserMFA, "arn:aws:iam::111111111111:user/bob"); f.Status != finding.Pass {
			t.Errorf("bob: got %s, want pass", f.Status)
		}
		if fs := rec.Of(checkUserMFA, "*"); len(fs) != 0 {
			t.Errorf("want no scope-wide user_mfa finding, got %+v", fs)
		}
	})
}

func TestIAMAccessKeyAge(t *testing.T) {
	keyARN := aliceARN + "/accesskey/AKIAALICE"
	aliceWith := func(k awssim.AccessKey) func(*awssim.Estate) {
		k.ID = "AKIAALICE"
		return withUsers(awssim.User{Name: "alice", AccessKeys: []awssim.AccessKey{k}})
	}
	runSimCases(t, []simCase{
		{
			name:     "active key younger than 90 days passes",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(30), Active: true}),
			check:    checkAccessKeyAge,
			resource: keyARN,
			status:   finding.Pass,
			observed: map[string]any{"access_key_id": "AKIAALICE", "status": "Active", "age_days": 30},
		},
		{
			name:     "active key older than 90 days fails",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(120), Active: true}),
			check:    checkAccessKeyAge,
			resource: keyARN,
			status:   finding.Fail,
			observed: map[string]any{"age_days": 120},
			detail:   "120 days old",
		},
		{
			name:     "inactive old key is not applicable",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(400)}),
			check:    checkAccessKeyAge,
			resource: keyARN,
			status:   finding.NotApplicable,
			observed: map[string]any{"status": "Inactive"},
		},
		{
			name:     "users without keys are not applicable",
			setup:    withUsers(awssim.User{Name: "alice"}),
			check:    checkAccessKeyAge,
			resource: "*",
			status:   finding.NotApplicable,
			detail:   "no IAM user has an access key",
		},
		{
			name:     "throttled key listing leaves that user not assessed",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(1), Active: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListAccessKeys", Kind: awssim.Throttle}},
			check:    checkAccessKeyAge,
			resource: aliceARN,
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "key listing slower than the call timeout leaves that user not assessed",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(1), Active: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListAccessKeys", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:    checkAccessKeyAge,
			resource: aliceARN,
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
		{
			name:     "denied user listing leaves the scope not assessed",
			setup:    aliceWith(awssim.AccessKey{Created: daysAgo(1), Active: true}),
			faults:   []awssim.Fault{{Service: "iam", Action: "ListUsers", Kind: awssim.AccessDenied}},
			check:    checkAccessKeyAge,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
	})
	t.Run("a key listing failure is not mistaken for having no keys", func(t *testing.T) {
		e := testEstate()
		e.Accounts[0].Users = []awssim.User{{Name: "alice"}}
		c, sim := startSim(t, e, nil)
		sim.Inject(awssim.Fault{Service: "iam", Action: "ListAccessKeys", Kind: awssim.ServerError})
		rec := collect(t, c)
		if fs := rec.Of(checkAccessKeyAge, "*"); len(fs) != 0 {
			t.Errorf("want no scope-wide not_applicable, got %+v", fs)
		}
		if f := rec.One(t, checkAccessKeyAge, aliceARN); f.Reason != finding.APIError {
			t.Errorf("got reason %q, want api_error", f.Reason)
		}
	})
}

func TestIAMPasswordPolicy(t *testing.T) {
	runSimCases(t, []simCase{
		{
			name:     "strong policy passes",
			setup:    func(e *awssim.Estate) { e.Accounts[0].PasswordPolicy = strongPolicy() },
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.Pass,
			observed: map[string]any{
				"minimum_password_length": 14, "require_symbols": true, "require_numbers": true,
				"require_uppercase_characters": true, "require_lowercase_characters": true, "password_reuse_prevention": 24,
			},
		},
		{
			name: "short passwords fail",
			setup: func(e *awssim.Estate) {
				e.Accounts[0].PasswordPolicy = strongPolicy()
				e.Accounts[0].PasswordPolicy.MinimumLength = 8
			},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.Fail,
			observed: map[string]any{"minimum_password_length": 8},
			detail:   "minimum length 8 is under 14",
		},
		{
			name: "policy without symbols fails",
			setup: func(e *awssim.Estate) {
				e.Accounts[0].PasswordPolicy = strongPolicy()
				e.Accounts[0].PasswordPolicy.RequireSymbols = false
			},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.Fail,
			observed: map[string]any{"require_symbols": false},
			detail:   "does not require symbols",
		},
		{
			name: "short reuse history fails",
			setup: func(e *awssim.Estate) {
				e.Accounts[0].PasswordPolicy = strongPolicy()
				e.Accounts[0].PasswordPolicy.ReusePrevention = 5
			},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.Fail,
			observed: map[string]any{"password_reuse_prevention": 5},
		},
		{
			name:     "missing policy fails",
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.Fail,
			observed: map[string]any{"error_code": "NoSuchEntity"},
			detail:   "no password policy",
		},
		{
			name:     "malformed policy answer is not assessed",
			setup:    func(e *awssim.Estate) { e.Accounts[0].PasswordPolicy = strongPolicy() },
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountPasswordPolicy", Kind: awssim.Malformed}},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "throttled policy is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountPasswordPolicy", Kind: awssim.Throttle}},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "policy slower than the call timeout is not assessed",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountPasswordPolicy", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
		{
			name:     "denied policy is not assessed, not missing",
			faults:   []awssim.Fault{{Service: "iam", Action: "GetAccountPasswordPolicy", Kind: awssim.AccessDenied}},
			check:    checkPasswordPolicy,
			resource: policyARN,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
	})
}

func TestIAMUsersArePaged(t *testing.T) {
	e := testEstate()
	const n = 1500 // the collector asks for 1000 users a page
	for i := range n {
		e.Accounts[0].Users = append(e.Accounts[0].Users, awssim.User{
			Name: fmt.Sprintf("user%04d", i), Console: true, MFA: i%2 == 0,
			AccessKeys: []awssim.AccessKey{{ID: fmt.Sprintf("AKIA%04d", i), Created: daysAgo(i % 180), Active: true}},
		})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if got := sim.Calls("iam", "ListUsers"); got != 2 {
		t.Errorf("ListUsers called %d times, want 2 pages", got)
	}
	count := map[finding.Status]int{}
	for _, f := range rec.Of(checkUserMFA, "") {
		count[f.Status]++
	}
	if count[finding.Pass] != n/2 || count[finding.Fail] != n/2 {
		t.Errorf("user_mfa verdicts %v, want %d pass and %d fail", count, n/2, n/2)
	}
	if got := len(rec.Of(checkAccessKeyAge, "")); got != n {
		t.Errorf("%d access_key_age findings, want %d", got, n)
	}
	if f := rec.One(t, checkUserMFA, "arn:aws:iam::111111111111:user/user1499"); f.Status != finding.Fail {
		t.Errorf("last user on the last page: got %s, want fail", f.Status)
	}
}
