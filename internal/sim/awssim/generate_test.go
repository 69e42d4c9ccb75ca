package awssim

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

func TestGenerateIsDeterministic(t *testing.T) {
	spec := Spec{Accounts: 3, Regions: []string{"eu-west-1", "us-east-1"}, PerRegion: 6}
	a, b := Generate(7, spec), Generate(7, spec)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different estates (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, Generate(8, spec)) {
		t.Error("seeds 7 and 8 generated the same estate")
	}
}

func TestGenerateFollowsSpec(t *testing.T) {
	tests := []struct {
		name         string
		spec         Spec
		wantAccounts int
		wantRegions  []string
	}{
		{"several accounts and regions", Spec{Accounts: 4, Regions: []string{"eu-west-1", "eu-central-1", "us-east-1"}, PerRegion: 5}, 4, []string{"eu-west-1", "eu-central-1", "us-east-1"}},
		{"zero spec is one account in eu-west-1", Spec{}, 1, []string{"eu-west-1"}},
		{"trails stop at five a region", Spec{Accounts: 1, Regions: []string{"eu-west-1"}, PerRegion: 9}, 1, []string{"eu-west-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Generate(1, tt.spec)
			if len(e.Accounts) != tt.wantAccounts {
				t.Fatalf("accounts = %d, want %d", len(e.Accounts), tt.wantAccounts)
			}
			if diff := cmp.Diff(tt.wantRegions, e.Regions); diff != "" {
				t.Errorf("regions (-want +got):\n%s", diff)
			}
			n := tt.spec.PerRegion
			for _, a := range e.Accounts {
				if len(a.Users) != n {
					t.Errorf("%s: %d users, want %d", a.ID, len(a.Users), n)
				}
				perRegion := map[string]int{}
				for _, b := range a.Buckets {
					perRegion[b.Region]++
				}
				for _, name := range tt.wantRegions {
					if perRegion[name] != n {
						t.Errorf("%s: %d buckets in %s, want %d", a.ID, perRegion[name], name, n)
					}
					r := a.Regions[name]
					if r == nil || r.Name != name {
						t.Fatalf("%s: region %s missing or misnamed: %+v", a.ID, name, r)
					}
					sizes := map[string]int{"volumes": len(r.Volumes), "security groups": len(r.SecurityGroups), "VPCs": len(r.VPCs),
						"KMS keys": len(r.KMSKeys), "DB instances": len(r.DBInstances)}
					for kind, got := range sizes {
						if got != n {
							t.Errorf("%s %s: %d %s, want %d", a.ID, name, got, kind, n)
						}
					}
					if want := min(n, 5); len(r.Trails) != want {
						t.Errorf("%s %s: %d trails, want %d", a.ID, name, len(r.Trails), want)
					}
				}
			}
		})
	}
}

func TestGenerateIDsAreRealisticAndUnique(t *testing.T) {
	e := Generate(3, Spec{Accounts: 5, Regions: []string{"eu-west-1", "eu-north-1"}, PerRegion: 40})
	formats := map[string]*regexp.Regexp{
		"account":    regexp.MustCompile(`^[0-9]{12}$`),
		"bucket":     regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`),
		"volume":     regexp.MustCompile(`^vol-[0-9a-f]{17}$`),
		"group":      regexp.MustCompile(`^sg-[0-9a-f]{17}$`),
		"vpc":        regexp.MustCompile(`^vpc-[0-9a-f]{17}$`),
		"kms key":    regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
		"access key": regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`),
	}
	seen := map[string]string{}
	check := func(kind, id string) {
		t.Helper()
		if !formats[kind].MatchString(id) {
			t.Errorf("%s ID %q is not shaped like a real one", kind, id)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s ID %q already used by a %s", kind, id, prev)
		}
		seen[id] = kind
	}
	for _, a := range e.Accounts {
		check("account", a.ID)
		users := map[string]bool{}
		for _, u := range a.Users {
			if users[u.Name] {
				t.Errorf("%s: user %q twice", a.ID, u.Name)
			}
			users[u.Name] = true
			for _, k := range u.AccessKeys {
				check("access key", k.ID)
				if k.Created.Before(u.Created) {
					t.Errorf("key %s created before its user %s", k.ID, u.Name)
				}
			}
		}
		for _, b := range a.Buckets {
			check("bucket", b.Name)
		}
		for _, r := range a.Regions {
			for _, v := range r.Volumes {
				check("volume", v.ID)
			}
			for _, g := range r.SecurityGroups {
				check("group", g.ID)
			}
			for _, v := range r.VPCs {
				check("vpc", v.ID)
			}
			for _, k := range r.KMSKeys {
				check("kms key", k.ID)
			}
		}
	}
}

// TestGenerateMixesCompliance checks that every setting the checks read is
// drawn both ways, mostly compliant.
func TestGenerateMixesCompliance(t *testing.T) {
	e := Generate(11, Spec{Accounts: 20, Regions: []string{"eu-west-1", "eu-central-1"}, PerRegion: 25})
	// Keys older than 90 days before the default anchor are overdue.
	rotateBy := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -90)
	type tally struct{ good, all int }
	counts := map[string]*tally{}
	add := func(field string, good bool) {
		c := counts[field]
		if c == nil {
			c = &tally{}
			counts[field] = c
		}
		c.all++
		if good {
			c.good++
		}
	}
	for _, a := range e.Accounts {
		add("root MFA", a.RootMFA)
		add("password policy present", a.PasswordPolicy != nil)
		if p := a.PasswordPolicy; p != nil {
			add("password length", p.MinimumLength >= 14)
			add("password symbols", p.RequireSymbols)
			add("password numbers", p.RequireNumbers)
			add("password uppercase", p.RequireUppercase)
			add("password lowercase", p.RequireLowercase)
			add("password max age", p.MaxAge > 0 && p.MaxAge <= 90)
			add("password reuse", p.ReusePrevention >= 24)
		}
		for _, u := range a.Users {
			add("user MFA", u.MFA)
			add("user without console", !u.Console)
			for _, k := range u.AccessKeys {
				add("access key fresh", k.Created.After(rotateBy))
				add("access key active", k.Active)
			}
		}
		for _, b := range a.Buckets {
			add("bucket encryption", b.Encryption != "")
			add("bucket public access block", b.PublicAccessBlock != nil && *b.PublicAccessBlock == [4]bool{true, true, true, true})
			add("bucket policy", b.HasPolicy)
			add("bucket TLS only", b.TLSOnly)
			add("bucket versioning", b.Versioning)
		}
		for _, r := range a.Regions {
			add("EBS default encryption", r.EBSDefaultEncryption)
			add("GuardDuty", r.GuardDuty)
			if !r.GuardDuty {
				add("GuardDuty detector kept", r.GuardDutySuspended)
			}
			for _, v := range r.Volumes {
				add("volume encrypted", v.Encrypted)
			}
			for _, v := range r.VPCs {
				add("VPC flow logs", v.FlowLogs)
			}
			for _, g := range r.SecurityGroups {
				add("security group closed", !worldOpen(g))
			}
			for _, k := range r.KMSKeys {
				add("KMS customer managed", k.CustomerManaged)
				add("KMS symmetric", k.Symmetric)
				add("KMS rotation", k.Rotation)
				add("KMS enabled", k.Enabled)
			}
			for _, tr := range r.Trails {
				add("trail multi-region", tr.MultiRegion)
				add("trail validation", tr.LogFileValidate)
				add("trail KMS", tr.KMSKeyID != "")
				add("trail logging", tr.Logging)
			}
			for _, db := range r.DBInstances {
				add("DB encrypted", db.StorageEncrypted)
				add("DB private", !db.PubliclyAccessible)
				add("DB backups", db.BackupRetention >= 7)
			}
		}
	}
	if len(e.Accounts[1:]) > 0 {
		ext := 0
		for _, a := range e.Accounts[1:] {
			if a.ExternalID != "" {
				ext++
			}
		}
		add("external ID on some accounts", ext > 0 && ext < len(e.Accounts)-1)
	}
	for field, c := range counts {
		t.Logf("%-30s %4d of %4d compliant", field, c.good, c.all)
		if c.good == 0 || (c.good == c.all && c.all > 1) {
			t.Errorf("%s: %d of %d compliant, want a mix", field, c.good, c.all)
		}
	}
}

func worldOpen(g SecurityGroup) bool {
	for _, r := range g.Ingress {
		world := false
		for _, c := range r.CIDRs {
			world = world || c == "0.0.0.0/0"
		}
		for _, c := range r.CIDRv6s {
			world = world || c == "::/0"
		}
		if !world {
			continue
		}
		if r.Protocol == "-1" || (r.Protocol == "tcp" && (r.FromPort <= 22 && r.ToPort >= 22 || r.FromPort <= 3389 && r.ToPort >= 3389)) {
			return true
		}
	}
	return false
}

func TestDemoIsServable(t *testing.T) {
	e := Demo()
	if len(e.Accounts) != 3 {
		t.Fatalf("demo has %d accounts, want 3", len(e.Accounts))
	}
	us := 0
	for _, a := range e.Accounts {
		for _, b := range a.Buckets {
			if b.Region == "us-east-1" {
				us++
			}
		}
		if r := a.Regions["us-east-1"]; r != nil {
			us += len(r.Volumes) + len(r.VPCs) + len(r.SecurityGroups) + len(r.DBInstances)
		}
	}
	if us == 0 {
		t.Error("demo has nothing in us-east-1 for the data-location check to fail on")
	}
	for _, a := range e.Accounts {
		for name, r := range a.Regions {
			if r.Name != name {
				t.Errorf("%s: region keyed %s is named %s", a.ID, name, r.Name)
			}
		}
	}
	c, _ := newS3Client(t, e, "us-east-1")
	out, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets on the demo: %v", err)
	}
	if len(out.Buckets) != len(e.Accounts[0].Buckets) {
		t.Errorf("ListBuckets = %d buckets, want the first account's %d", len(out.Buckets), len(e.Accounts[0].Buckets))
	}
}
