package aws

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// twoAccounts is testEstate plus a second account, 222222222222, whose root
// user has no MFA so that its findings differ from the first account's.
func twoAccounts() *awssim.Estate {
	e := testEstate()
	e.Accounts = append(e.Accounts, &awssim.Account{
		ID:         "222222222222",
		ExternalID: "ext-222",
		Regions:    map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1", GuardDuty: true}},
	})
	return e
}

func roleAccounts(c *Config) {
	c.Accounts = []Account{
		{ID: "111111111111", RoleARN: "arn:aws:iam::111111111111:role/eucs-audit"},
		{ID: "222222222222", RoleARN: "arn:aws:iam::222222222222:role/eucs-audit", ExternalID: "ext-222"},
	}
}

func TestAccountsAreEnteredByAssumeRole(t *testing.T) {
	c, sim := startSim(t, twoAccounts(), roleAccounts)
	rec := collect(t, c)
	if got := sim.Calls("sts", "AssumeRole"); got != 2 {
		t.Errorf("AssumeRole called %d times, want once per account", got)
	}
	want := map[string]finding.Status{"111111111111": finding.Pass, "222222222222": finding.Fail}
	for acct, status := range want {
		f := rec.One(t, checkRootMFA, "arn:aws:iam::"+acct+":root")
		if f.Account != acct || f.Status != status {
			t.Errorf("root_mfa of %s: got %s in account %s, want %s", acct, f.Status, f.Account, status)
		}
	}
	for _, f := range rec.Of(checkGuardDuty, "") {
		if f.Account == "222222222222" && f.Status != finding.Pass {
			t.Errorf("guardduty of 222222222222: got %s, want pass from its own detector", f.Status)
		}
	}
}

func TestDeniedAccountIsNotAssessedAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  *awssim.Fault
		config func(*Config)
	}{
		{
			name:   "AssumeRole denied by policy",
			fault:  &awssim.Fault{Service: "sts", Action: "AssumeRole", Resource: "222222222222", Kind: awssim.AccessDenied},
			config: roleAccounts,
		},
		{
			name: "wrong external ID",
			config: func(c *Config) {
				roleAccounts(c)
				c.Accounts[1].ExternalID = "not-the-one"
			},
		},
		{
			name: "missing external ID",
			config: func(c *Config) {
				roleAccounts(c)
				c.Accounts[1].ExternalID = ""
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, sim := startSim(t, twoAccounts(), tc.config)
			if tc.fault != nil {
				sim.Inject(*tc.fault)
			}
			rec := collect(t, c)
			var denied int
			for _, f := range rec.Findings {
				if f.Account != "222222222222" {
					continue
				}
				denied++
				if f.Status != finding.NotAssessed || f.Reason != finding.AccessDenied || f.Resource != "*" {
					t.Errorf("%s in 222222222222: got %s/%s on %q, want not_assessed/access_denied on *", f.Check, f.Status, f.Reason, f.Resource)
				}
			}
			// Every check of every scanner, once: the account has one region.
			if want := len(Checks()) - 1; denied != want {
				t.Errorf("%d findings for the denied account, want %d (every check but location)", denied, want)
			}
			if f := rec.One(t, checkRootMFA, rootARN); f.Account != "111111111111" || f.Status != finding.Pass {
				t.Errorf("the other account: got %s in %s, want pass in 111111111111", f.Status, f.Account)
			}
		})
	}
}

func TestAccountIDNotMatchingCredentialsIsNotAssessed(t *testing.T) {
	c, _ := startSim(t, testEstate(), func(c *Config) { c.Accounts = []Account{{ID: "333333333333"}} })
	rec := collect(t, c)
	if len(rec.Findings) == 0 {
		t.Fatal("no findings")
	}
	for _, f := range rec.Findings {
		if f.Account != "333333333333" || f.Status != finding.NotAssessed {
			t.Errorf("%s: got %s in %s, want not_assessed in 333333333333", f.Check, f.Status, f.Account)
		}
		if !strings.Contains(f.Detail, "credentials act in account 111111111111, configured as 333333333333") {
			t.Errorf("%s: detail %q does not explain the mismatch", f.Check, f.Detail)
		}
	}
}

// TestNoSecretsInFindings runs a full estate, with an assumed role and a
// denied one, and looks for the credentials' secrets anywhere in the output.
func TestNoSecretsInFindings(t *testing.T) {
	e := twoAccounts()
	e.Accounts[0].Users = []awssim.User{{Name: "alice", Console: true,
		AccessKeys: []awssim.AccessKey{{ID: "AKIAALICE", Created: daysAgo(200), Active: true}}}}
	e.Accounts[1].Users = e.Accounts[0].Users
	mainRegion(e).KMSKeys = []awssim.KMSKey{{ID: "k1", CustomerManaged: true, Symmetric: true, Enabled: true}}
	mainRegion(e).Trails = []awssim.Trail{{Name: "main", MultiRegion: true, Logging: true}}
	mainRegion(e).DBInstances = []awssim.DBInstance{{ID: "db1", Engine: "mysql"}}
	c, sim := startSim(t, e, func(c *Config) {
		roleAccounts(c)
		c.Accounts = append(c.Accounts, Account{ID: "333333333333", RoleARN: "arn:aws:iam::333333333333:role/eucs-audit"})
	})
	sim.Inject(awssim.Fault{Service: "kms", Action: "DescribeKey", Kind: awssim.AccessDenied})

	// Ask the simulator for the secrets an assumed role gets, to look for
	// exactly those.
	out, err := sts.NewFromConfig(c.base).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::222222222222:role/eucs-audit"), RoleSessionName: aws.String("eucs-agent"),
		ExternalId: aws.String("ext-222"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	base, err := c.base.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("base credentials: %v", err)
	}
	secrets := []string{"sim-secret", base.SecretAccessKey, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)}

	rec := collect(t, c)
	blob, err := json.Marshal(struct {
		F []finding.Finding
		C []finding.Coverage
	}{rec.Findings, rec.Covered})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret: the test would prove nothing")
		}
		if strings.Contains(string(blob), s) {
			t.Errorf("output contains the secret %q", s)
		}
	}
	if !strings.Contains(string(blob), "AKIAALICE") {
		t.Error("access key IDs are not secret and should be reported")
	}
}
