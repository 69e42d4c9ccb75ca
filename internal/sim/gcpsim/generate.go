package gcpsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Spec sizes a generated estate.
type Spec struct {
	// Projects is how many projects the estate has; fewer than one means
	// one.
	Projects int
	// Regions every project uses; empty means europe-west1 alone.
	Regions []string
	// PerRegion is roughly how many resources of each kind a project has
	// in each region: buckets, disks, subnets, Cloud KMS keys and Cloud
	// SQL instances. Firewall rules and service accounts, being
	// project-wide, number PerRegion per project.
	PerRegion int
	// Now anchors key creation times. The zero value means 2026-01-01
	// UTC, so that an estate does not depend on the day it is generated;
	// pass time.Now() when the age of keys matters.
	Now time.Time
}

// compliantShare is the part of generated settings that satisfy the checks;
// the rest are the misconfigurations a real estate accumulates.
const compliantShare = 0.7

// Generate builds an estate from spec, the same one for the same seed and
// spec: an organisation with three folders (one nested) and the projects
// spread over it. Every setting of the model is drawn, roughly 70%
// compliant.
func Generate(seed uint64, spec Spec) *Estate {
	if spec.Projects < 1 {
		spec.Projects = 1
	}
	if len(spec.Regions) == 0 {
		spec.Regions = []string{"europe-west1"}
	}
	if spec.Now.IsZero() {
		spec.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: spec.Now,
		purposes: []string{"web", "api", "batch", "billing", "orders", "search", "reports", "ingest", "auth", "payments"}}
	org := fmt.Sprintf("%012d", 100000000000+g.rng.Int64N(900000000000))
	e := &Estate{
		Organization: org,
		OrgPolicy: Policy{
			Bindings:     []Binding{{Role: "roles/resourcemanager.organizationAdmin", Members: []string{"group:org-admins@example.com"}}},
			AuditConfigs: []AuditConfig{{Service: "allServices", LogConfigs: []AuditLogConfig{{LogType: "ADMIN_READ"}}}},
		},
		Locations: append(append([]string(nil), spec.Regions...), "global"),
	}
	folderBase := 300000000000 + g.rng.Int64N(100000000000)
	for i, name := range []string{"production", "non-production", "sandbox", "payments"} {
		f := &Folder{ID: fmt.Sprintf("%d", folderBase+int64(i)), Parent: "organizations/" + org, DisplayName: name}
		if name == "payments" {
			f.Parent = "folders/" + e.Folders[0].ID
		}
		if !g.ok() {
			f.Policy.Bindings = []Binding{{Role: "roles/editor", Members: []string{"user:" + g.person()}}}
		}
		e.Folders = append(e.Folders, f)
	}
	parents := []string{"organizations/" + org}
	for _, f := range e.Folders {
		parents = append(parents, "folders/"+f.ID)
	}
	numberBase := 400000000000 + g.rng.Int64N(100000000000)
	for i := range spec.Projects {
		purpose := drawOne(g, g.purposes...)
		id := fmt.Sprintf("%s-%s-%06x", drawOne(g, "acme", "globex", "initech", "umbrella"), purpose, g.rng.Uint32()&0xffffff)
		p := &Project{ID: id, Number: numberBase + int64(i), Parent: parents[i%len(parents)]}
		g.fill(p, spec)
		e.Projects = append(e.Projects, p)
	}
	return e
}

// generator draws one estate.
type generator struct {
	rng      *rand.Rand
	now      time.Time
	serial   int
	purposes []string
}

// ok draws a compliant setting with the estate-wide probability.
func (g *generator) ok() bool { return g.rng.Float64() < compliantShare }

// chance is true with probability p.
func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// drawOne picks one of xs uniformly.
func drawOne[T any](g *generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

// name is a resource name unique within the estate.
func (g *generator) name(prefix string) string {
	g.serial++
	return fmt.Sprintf("%s-%s-%d", prefix, drawOne(g, g.purposes...), g.serial)
}

func (g *generator) person() string {
	return drawOne(g, "ana", "ben", "chloe", "dario", "elif", "finn", "greta", "hugo") + "." +
		drawOne(g, "schmidt", "rossi", "martin", "novak", "jensen", "garcia") + "@example.com"
}

// daysAgo is a time between lo and hi days before now, at a whole second.
func (g *generator) daysAgo(lo, hi int) time.Time {
	d := lo + g.rng.IntN(hi-lo+1)
	return g.now.Add(-time.Duration(d)*24*time.Hour - time.Duration(g.rng.IntN(86400))*time.Second)
}

func (g *generator) fill(p *Project, spec Spec) {
	n := spec.PerRegion
	p.Policy = g.policy()
	p.Metadata = map[string]string{}
	switch {
	case g.ok():
		p.Metadata["enable-oslogin"] = drawOne(g, "TRUE", "true")
	case g.chance(0.5):
		p.Metadata["enable-oslogin"] = "FALSE"
	}
	for range n {
		p.Firewalls = append(p.Firewalls, g.firewall())
	}
	for range n {
		p.ServiceAccounts = append(p.ServiceAccounts, g.serviceAccount(p.ID))
	}
	for ri, r := range spec.Regions {
		for range n {
			p.Buckets = append(p.Buckets, g.bucket(p.ID, r))
			p.Disks = append(p.Disks, g.disk(p.ID, r))
			p.SQLInstances = append(p.SQLInstances, g.sqlInstance(r))
		}
		for i := range n {
			p.Subnets = append(p.Subnets, g.subnet(r, ri, i))
		}
		if n > 0 {
			ring := KeyRing{Name: g.name("ring"), Location: r}
			for range n {
				ring.Keys = append(ring.Keys, g.cryptoKey())
			}
			p.KeyRings = append(p.KeyRings, ring)
		}
	}
}

func (g *generator) policy() Policy {
	p := Policy{Bindings: []Binding{
		{Role: "roles/owner", Members: []string{"group:platform-admins@example.com"}},
		{Role: "roles/viewer", Members: []string{"group:engineering@example.com"}},
	}}
	if !g.ok() {
		p.Bindings = append(p.Bindings, Binding{Role: drawOne(g, "roles/owner", "roles/editor"), Members: []string{"user:" + g.person()}})
	}
	switch {
	case g.ok():
		ac := AuditConfig{Service: "allServices", LogConfigs: []AuditLogConfig{{LogType: "DATA_READ"}, {LogType: "DATA_WRITE"}}}
		if g.chance(0.1) {
			ac.LogConfigs[0].ExemptedMembers = []string{"user:" + g.person()}
		}
		p.AuditConfigs = []AuditConfig{ac}
	case g.chance(0.5):
		p.AuditConfigs = []AuditConfig{{Service: "allServices", LogConfigs: []AuditLogConfig{{LogType: "DATA_WRITE"}}}}
	}
	return p
}

func (g *generator) firewall() Firewall {
	safe := []Firewall{
		{Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"443"}}}, SourceRanges: []string{"0.0.0.0/0"}},
		{Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"22"}}}, SourceRanges: []string{"35.235.240.0/20"}},
		{Allowed: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"10.0.0.0/8"}},
		{Allowed: []FirewallEntry{{Protocol: "icmp"}}, SourceRanges: []string{"0.0.0.0/0"}},
		{Direction: "EGRESS", Denied: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"0.0.0.0/0"}},
	}
	risky := []Firewall{
		{Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"22"}}}, SourceRanges: []string{"0.0.0.0/0"}},
		{Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"3389"}}}, SourceRanges: []string{"0.0.0.0/0", "::/0"}},
		{Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"20-25"}}}, SourceRanges: []string{"0.0.0.0/0"}},
		{Allowed: []FirewallEntry{{Protocol: "tcp"}}, SourceRanges: []string{"0.0.0.0/0"}},
		{Allowed: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"0.0.0.0/0"}},
	}
	f := drawOne(g, safe...)
	if !g.ok() {
		f = drawOne(g, risky...)
	}
	f.Name = g.name("fw")
	f.SourceRanges = append([]string(nil), f.SourceRanges...)
	return f
}

func (g *generator) serviceAccount(project string) ServiceAccount {
	sa := ServiceAccount{Email: g.name("sa") + "@" + project + ".iam.gserviceaccount.com",
		Keys: []ServiceAccountKey{{ID: g.keyID(), Created: g.daysAgo(1, 300), SystemManaged: true}}}
	if !g.ok() {
		for range 1 + g.rng.IntN(2) {
			k := ServiceAccountKey{ID: g.keyID(), Disabled: g.chance(0.15)}
			if g.ok() {
				k.Created = g.daysAgo(1, 80)
			} else {
				k.Created = g.daysAgo(100, 900)
			}
			sa.Keys = append(sa.Keys, k)
		}
	}
	return sa
}

// keyID is 40 hex digits, as service account key IDs are.
func (g *generator) keyID() string {
	return fmt.Sprintf("%016x%016x%08x", g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint32())
}

func (g *generator) bucket(project, region string) Bucket {
	b := Bucket{
		Name:                   strings.ReplaceAll(g.name(project), "--", "-"),
		Location:               strings.ToUpper(region),
		UniformAccess:          g.ok(),
		PublicAccessPrevention: "inherited",
		Versioning:             g.ok(),
	}
	if g.chance(0.2) {
		b.Location = drawOne(g, "EU", "US")
	}
	if g.ok() {
		b.PublicAccessPrevention = "enforced"
	}
	if g.ok() {
		b.KMSKey = fmt.Sprintf("projects/%s/locations/%s/keyRings/storage/cryptoKeys/default", project, region)
	}
	return b
}

func (g *generator) disk(project, region string) Disk {
	d := Disk{Name: g.name("disk"), Zone: region + "-" + drawOne(g, "b", "c", "d"), SizeGB: drawOne[int64](g, 10, 50, 100, 500)}
	if g.chance(0.1) {
		d.Zone, d.Regional = region, true
	}
	switch {
	case g.ok():
		d.KMSKey = fmt.Sprintf("projects/%s/locations/%s/keyRings/compute/cryptoKeys/disks/cryptoKeyVersions/1", project, region)
	case g.chance(0.1):
		d.CustomerSupplied = true
	}
	return d
}

func (g *generator) subnet(region string, ri, i int) Subnet {
	s := Subnet{Name: g.name("subnet"), Region: region, CIDR: fmt.Sprintf("10.%d.%d.0/24", ri%256, i%256), FlowLogs: g.ok()}
	if g.chance(0.1) {
		s.Purpose, s.FlowLogs = "REGIONAL_MANAGED_PROXY", false
	}
	return s
}

func (g *generator) cryptoKey() CryptoKey {
	k := CryptoKey{Name: g.name("key"), Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", ProtectionLevel: drawOne(g, "SOFTWARE", "HSM")}
	switch {
	case g.chance(0.1):
		k.Purpose, k.PrimaryState = drawOne(g, "ASYMMETRIC_SIGN", "MAC"), ""
	case g.ok():
		k.RotationPeriod = time.Duration(drawOne(g, 30, 60, 90)) * 24 * time.Hour
	case g.chance(0.5):
		k.RotationPeriod = 365 * 24 * time.Hour
	}
	return k
}

func (g *generator) sqlInstance(region string) SQLInstance {
	in := SQLInstance{Name: g.name("db"), Region: region, DatabaseVersion: drawOne(g, "POSTGRES_16", "MYSQL_8_0", "SQLSERVER_2022_STANDARD"),
		PublicIP: !g.ok(), Backups: g.ok(), RetainedBackups: drawOne[int64](g, 7, 14, 30)}
	if in.PublicIP && g.chance(0.5) {
		in.AuthorizedNetworks = []string{drawOne(g, "0.0.0.0/0", "203.0.113.0/24")}
	}
	if g.ok() {
		in.SSLMode = drawOne(g, "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
	} else {
		in.SSLMode = "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
	}
	if in.Backups && !g.ok() {
		in.RetainedBackups = drawOne[int64](g, 1, 3)
	}
	return in
}

// Demo is the small fixed estate of the demo: an organisation with three
// projects in europe-west1, europe-west3 and us-central1, with a few
// resources in us-central1 and the US multi-region so that a data-location
// policy of EU locations only has something to fail. The management
// project is mostly in order, production is mixed and the sandbox is mostly
// not. Key ages are relative to the current time so the verdicts do not
// drift as the demo ages.
//
// Its Cloud KMS locations are europe-west1, europe-west3, us-central1,
// europe and global; an EU-only policy would allow europe-west1,
// europe-west3, eu and europe.
func Demo() *Estate {
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	const (
		org        = "123456789012"
		prodFolder = "200000000001"
		sboxFolder = "200000000002"
		mgmt       = "demo-mgmt-eu"
		prod       = "demo-prod-eu"
		sandbox    = "demo-sandbox"
		quarterly  = 90 * 24 * time.Hour
	)
	key := func(project, location, ring, name string) string {
		return "projects/" + project + "/locations/" + location + "/keyRings/" + ring + "/cryptoKeys/" + name
	}
	https := FirewallEntry{Protocol: "tcp", Ports: []string{"443"}}
	ssh := FirewallEntry{Protocol: "tcp", Ports: []string{"22"}}
	return &Estate{
		Organization: org,
		OrgPolicy: Policy{
			Bindings: []Binding{
				{Role: "roles/resourcemanager.organizationAdmin", Members: []string{"group:cloud-admins@example.com"}},
				{Role: "roles/iam.securityReviewer", Members: []string{"serviceAccount:eucs-agent@" + mgmt + ".iam.gserviceaccount.com"}},
			},
			// Admin reads are logged everywhere; data access is left to
			// each project.
			AuditConfigs: []AuditConfig{{Service: "allServices", LogConfigs: []AuditLogConfig{{LogType: "ADMIN_READ"}}}},
		},
		Folders: []*Folder{
			{ID: prodFolder, Parent: "organizations/" + org, DisplayName: "production",
				Policy: Policy{Bindings: []Binding{{Role: "roles/editor", Members: []string{"group:sre@example.com"}}}}},
			{ID: sboxFolder, Parent: "organizations/" + org, DisplayName: "sandbox",
				Policy: Policy{Bindings: []Binding{{Role: "roles/editor", Members: []string{"user:dave.intern@example.com"}}}}},
		},
		Locations: []string{"europe-west1", "europe-west3", "us-central1", "europe", "global"},
		Projects: []*Project{
			{
				ID: mgmt, Number: 100000000001, Parent: "organizations/" + org,
				Policy: Policy{
					Bindings: []Binding{
						{Role: "roles/owner", Members: []string{"group:cloud-admins@example.com"}},
						{Role: "roles/viewer", Members: []string{"user:alice.admin@example.com"}},
					},
					AuditConfigs: []AuditConfig{{Service: "allServices", LogConfigs: []AuditLogConfig{{LogType: "DATA_READ"}, {LogType: "DATA_WRITE"}}}},
				},
				Metadata: map[string]string{"enable-oslogin": "TRUE"},
				Buckets: []Bucket{
					{Name: "demo-mgmt-audit-logs", Location: "EUROPE-WEST1", UniformAccess: true, PublicAccessPrevention: "enforced",
						KMSKey: key(mgmt, "europe-west1", "mgmt", "storage"), Versioning: true},
					{Name: "demo-mgmt-terraform-state", Location: "EU", UniformAccess: true, PublicAccessPrevention: "enforced", Versioning: true},
				},
				Disks: []Disk{{Name: "mgmt-bastion", Zone: "europe-west1-b", SizeGB: 20, KMSKey: key(mgmt, "europe-west1", "mgmt", "disks") + "/cryptoKeyVersions/1"}},
				Firewalls: []Firewall{
					{Name: "allow-internal", Allowed: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"10.0.0.0/8"}},
					{Name: "allow-https", Allowed: []FirewallEntry{https}, SourceRanges: []string{"0.0.0.0/0"}},
					{Name: "allow-iap-ssh", Allowed: []FirewallEntry{ssh}, SourceRanges: []string{"35.235.240.0/20"}},
				},
				Subnets: []Subnet{
					{Name: "mgmt-europe-west1", Region: "europe-west1", CIDR: "10.10.0.0/24", FlowLogs: true},
					{Name: "mgmt-proxy-only", Region: "europe-west1", CIDR: "10.10.9.0/24", Purpose: "REGIONAL_MANAGED_PROXY"},
				},
				KeyRings: []KeyRing{{Name: "mgmt", Location: "europe-west1", Keys: []CryptoKey{
					{Name: "storage", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", RotationPeriod: quarterly},
					{Name: "disks", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", ProtectionLevel: "HSM", RotationPeriod: 30 * 24 * time.Hour},
					{Name: "release-signing", Purpose: "ASYMMETRIC_SIGN", ProtectionLevel: "HSM"},
				}}},
				SQLInstances: []SQLInstance{{Name: "identity-db", Region: "europe-west1", SSLMode: "ENCRYPTED_ONLY", Backups: true, RetainedBackups: 14}},
				ServiceAccounts: []ServiceAccount{
					{Email: "eucs-agent@" + mgmt + ".iam.gserviceaccount.com", Keys: []ServiceAccountKey{{ID: "1a2b3c4d5e6f708192a3b4c5d6e7f80910111213", Created: ago(30), SystemManaged: true}}},
					{Email: "ci-runner@" + mgmt + ".iam.gserviceaccount.com", Keys: []ServiceAccountKey{{ID: "2b3c4d5e6f708192a3b4c5d6e7f8091011121314", Created: ago(20)}}},
				},
			},
			{
				ID: prod, Number: 100000000002, Parent: "folders/" + prodFolder,
				Policy: Policy{
					Bindings: []Binding{
						{Role: "roles/owner", Members: []string{"serviceAccount:terraform@" + prod + ".iam.gserviceaccount.com"}},
						{Role: "roles/cloudsql.client", Members: []string{"user:bob.ops@example.com"}},
					},
					AuditConfigs: []AuditConfig{{Service: "allServices", LogConfigs: []AuditLogConfig{
						{LogType: "DATA_READ", ExemptedMembers: []string{"user:bob.ops@example.com"}}, {LogType: "DATA_WRITE"}}}},
				},
				Metadata: map[string]string{"enable-guest-attributes": "TRUE"},
				Buckets: []Bucket{
					{Name: "demo-prod-customer-data", Location: "EUROPE-WEST1", UniformAccess: true, PublicAccessPrevention: "enforced",
						KMSKey: key(prod, "europe-west1", "prod", "customer-data"), Versioning: true},
					{Name: "demo-prod-public-assets", Location: "EUROPE-WEST3", PublicAccessPrevention: "inherited"},
					{Name: "demo-prod-us-backups", Location: "US-CENTRAL1", UniformAccess: true, PublicAccessPrevention: "enforced", Versioning: true},
					{Name: "demo-prod-dr", Location: "EU", DataLocations: []string{"EUROPE-WEST1", "EUROPE-WEST3"}, UniformAccess: true,
						PublicAccessPrevention: "enforced", KMSKey: key(prod, "europe", "prod-multi", "dr"), Versioning: true},
				},
				Disks: []Disk{
					{Name: "prod-web-1", Zone: "europe-west1-b", SizeGB: 100, KMSKey: key(prod, "europe-west1", "prod", "disks") + "/cryptoKeyVersions/3"},
					{Name: "prod-web-2", Zone: "europe-west1-c", SizeGB: 100},
					{Name: "prod-orders-ha", Zone: "europe-west3", Regional: true, SizeGB: 500, CustomerSupplied: true},
					{Name: "prod-analytics", Zone: "us-central1-a", SizeGB: 1000},
				},
				Firewalls: []Firewall{
					{Name: "allow-https", Allowed: []FirewallEntry{https}, SourceRanges: []string{"0.0.0.0/0", "::/0"}},
					{Name: "allow-ssh-anywhere", Allowed: []FirewallEntry{ssh}, SourceRanges: []string{"0.0.0.0/0"}},
					{Name: "deny-all-egress", Direction: "EGRESS", Denied: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"0.0.0.0/0"}, Priority: 65000},
				},
				Subnets: []Subnet{
					{Name: "prod-europe-west1", Region: "europe-west1", CIDR: "10.20.0.0/20", FlowLogs: true},
					{Name: "prod-europe-west3", Region: "europe-west3", CIDR: "10.20.16.0/20", FlowLogs: true},
					{Name: "prod-us-central1", Region: "us-central1", CIDR: "10.20.32.0/20"},
				},
				KeyRings: []KeyRing{
					{Name: "prod", Location: "europe-west1", Keys: []CryptoKey{
						{Name: "customer-data", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", ProtectionLevel: "HSM", RotationPeriod: quarterly},
						{Name: "disks", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", RotationPeriod: 365 * 24 * time.Hour},
					}},
					{Name: "prod-multi", Location: "europe", Keys: []CryptoKey{
						{Name: "dr", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", RotationPeriod: quarterly},
					}},
					{Name: "legacy", Location: "global", Keys: []CryptoKey{
						{Name: "app-secrets", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED"},
					}},
				},
				SQLInstances: []SQLInstance{
					{Name: "orders-db", Region: "europe-west1", SSLMode: "ENCRYPTED_ONLY", Backups: true, RetainedBackups: 30},
					{Name: "orders-db-replica", Region: "europe-west3", InstanceType: "READ_REPLICA_INSTANCE", SSLMode: "ENCRYPTED_ONLY"},
					{Name: "legacy-reports", Region: "europe-west1", DatabaseVersion: "MYSQL_8_0", PublicIP: true,
						AuthorizedNetworks: []string{"0.0.0.0/0"}, SSLMode: "ALLOW_UNENCRYPTED_AND_ENCRYPTED"},
					{Name: "us-analytics", Region: "us-central1", SSLMode: "ENCRYPTED_ONLY", Backups: true, RetainedBackups: 7},
				},
				ServiceAccounts: []ServiceAccount{
					{Email: "terraform@" + prod + ".iam.gserviceaccount.com"},
					{Email: "app-runtime@" + prod + ".iam.gserviceaccount.com", Keys: []ServiceAccountKey{
						{ID: "3c4d5e6f708192a3b4c5d6e7f809101112131415", Created: ago(400)},
						{ID: "4d5e6f708192a3b4c5d6e7f80910111213141516", Created: ago(700), Disabled: true},
					}},
				},
			},
			{
				ID: sandbox, Number: 100000000003, Parent: "folders/" + sboxFolder,
				Policy: Policy{Bindings: []Binding{
					{Role: "roles/owner", Members: []string{"group:cloud-admins@example.com"}},
				}},
				Metadata: map[string]string{"enable-oslogin": "FALSE"},
				Buckets: []Bucket{
					{Name: "demo-sandbox-scratch", Location: "US", PublicAccessPrevention: "inherited"},
				},
				Disks: []Disk{{Name: "scratch-vm", Zone: "us-central1-a", SizeGB: 50}},
				Firewalls: []Firewall{
					{Name: "anything-goes", Allowed: []FirewallEntry{{Protocol: "all"}}, SourceRanges: []string{"0.0.0.0/0"}},
					{Name: "rdp-open", Allowed: []FirewallEntry{{Protocol: "tcp", Ports: []string{"3389"}}}, SourceRanges: []string{"0.0.0.0/0"}},
				},
				Subnets: []Subnet{
					{Name: "default", Region: "us-central1", CIDR: "10.128.0.0/20"},
					{Name: "default", Region: "europe-west1", CIDR: "10.132.0.0/20"},
				},
				SQLInstances: []SQLInstance{{Name: "sandbox-db", Region: "us-central1", DatabaseVersion: "MYSQL_8_0", PublicIP: true}},
				ServiceAccounts: []ServiceAccount{
					{Email: "100000000003-compute@developer.gserviceaccount.com", Keys: []ServiceAccountKey{
						{ID: "5e6f708192a3b4c5d6e7f8091011121314151617", Created: ago(59)},
					}},
				},
			},
		},
	}
}
