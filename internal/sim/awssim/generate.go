package awssim

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"
)

// Spec sizes a generated estate.
type Spec struct {
	// Accounts is how many accounts the estate has; fewer than one means
	// one.
	Accounts int
	// Regions every account uses; empty means eu-west-1 alone.
	Regions []string
	// PerRegion is roughly how many resources of each kind an account has
	// in each region: volumes, security groups, VPCs, KMS keys, DB
	// instances and buckets homed there. IAM users, being global, number
	// PerRegion per account; trails are capped at CloudTrail's five per
	// region.
	PerRegion int
	// Now anchors creation times (users, access keys). The zero value
	// means 2026-01-01 UTC, so that an estate does not depend on the day it
	// is generated; pass time.Now() when the age of credentials matters.
	Now time.Time
}

// compliantShare is the part of generated settings that satisfy the checks;
// the rest are the misconfigurations a real estate accumulates.
const compliantShare = 0.7

// Generate builds an estate from spec, the same one for the same seed and
// spec. Every setting of the model is drawn, roughly 70% compliant.
func Generate(seed uint64, spec Spec) *Estate {
	if spec.Accounts < 1 {
		spec.Accounts = 1
	}
	if len(spec.Regions) == 0 {
		spec.Regions = []string{"eu-west-1"}
	}
	if spec.Now.IsZero() {
		spec.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	g := newGenerator(seed, spec.Now)
	// Account IDs are an affine permutation of 0..10^12-1, so they are
	// distinct without remembering the ones drawn.
	const idSpace = 1_000_000_000_000
	mul := g.rng.Uint64N(idSpace) | 1
	for mul%5 == 0 {
		mul = g.rng.Uint64N(idSpace) | 1
	}
	add := g.rng.Uint64N(idSpace)

	e := &Estate{Regions: append([]string(nil), spec.Regions...)}
	for i := range spec.Accounts {
		hi, lo := bits.Mul64(mul, uint64(i))
		id := (bits.Rem64(hi, lo, idSpace) + add) % idSpace
		e.Accounts = append(e.Accounts, g.account(fmt.Sprintf("%012d", id), i == 0, spec))
	}
	return e
}

// generator draws one estate. serial numbers every generated ID so that
// IDs are unique by construction; salt makes them differ between seeds.
type generator struct {
	rng    *rand.Rand
	now    time.Time
	salt   uint64
	serial uint64

	// Vocabulary for names.
	firstNames, lastNames, purposes, engines []string
	// safeRules are ingress rules no check objects to; riskyRules each
	// expose an admin port or everything to the internet.
	safeRules, riskyRules []Rule
}

func newGenerator(seed uint64, now time.Time) *generator {
	g := &generator{
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:        now,
		firstNames: []string{"ana", "ben", "chloe", "dario", "elif", "finn", "greta", "hugo", "ines", "jonas", "kasia", "luca", "maja", "nils", "olga", "pablo"},
		lastNames:  []string{"schmidt", "rossi", "martin", "novak", "jensen", "garcia", "muller", "dubois", "kowalski", "silva", "nagy", "berg"},
		purposes:   []string{"web", "api", "batch", "billing", "orders", "search", "reports", "ingest", "auth", "payments"},
		engines:    []string{"postgres", "mysql", "aurora-postgresql", "aurora-mysql", "mariadb", "sqlserver-se", "oracle-ee"},
		safeRules: []Rule{
			{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []string{"0.0.0.0/0"}, CIDRv6s: []string{"::/0"}},
			{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}},
			{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"10.0.0.0/8"}},
			{Protocol: "tcp", FromPort: 5432, ToPort: 5432, CIDRs: []string{"10.20.0.0/16"}},
			{Protocol: "-1", CIDRs: []string{"172.16.0.0/12"}},
			{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []string{"0.0.0.0/0"}},
		},
		riskyRules: []Rule{
			{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}},
			{Protocol: "tcp", FromPort: 3389, ToPort: 3389, CIDRs: []string{"0.0.0.0/0"}},
			{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRv6s: []string{"::/0"}},
			{Protocol: "tcp", FromPort: 20, ToPort: 25, CIDRs: []string{"0.0.0.0/0"}},
			{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []string{"0.0.0.0/0"}},
			{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}},
		},
	}
	g.salt = g.rng.Uint64()
	return g
}

// ok draws a compliant setting with the estate-wide probability.
func (g *generator) ok() bool { return g.rng.Float64() < compliantShare }

// chance is true with probability p.
func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// drawOne picks one of xs uniformly.
func drawOne[T any](g *generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

// next returns a fresh 64-bit value unique within the estate: splitmix64's
// finaliser is a bijection, so distinct serials give distinct values.
func (g *generator) next() uint64 {
	g.serial++
	z := g.serial ^ g.salt
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// next32 is next for 32-bit values: lowbias32 is a bijection too.
func (g *generator) next32() uint32 {
	g.serial++
	x := uint32(g.serial) ^ uint32(g.salt)
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	return x ^ (x >> 16)
}

// resourceID is an EC2-style ID: prefix, a dash and 17 hex digits.
func (g *generator) resourceID(prefix string) string {
	return fmt.Sprintf("%s-0%016x", prefix, g.next())
}

// daysAgo is a time up to days before now, at a whole second.
func (g *generator) daysAgo(lo, hi int) time.Time {
	d := lo + g.rng.IntN(hi-lo+1)
	return g.now.Add(-time.Duration(d)*24*time.Hour - time.Duration(g.rng.IntN(86400))*time.Second)
}

func (g *generator) account(id string, first bool, spec Spec) *Account {
	a := &Account{ID: id, RootMFA: g.ok(), Regions: map[string]*Region{}}
	// The first account is the one the base credentials act in; the others
	// are entered with AssumeRole, some of them guarded by an external ID.
	if !first && g.chance(0.5) {
		a.ExternalID = fmt.Sprintf("eucs-%012x", g.next()&0xffffffffffff)
	}
	if g.chance(0.85) {
		a.PasswordPolicy = g.passwordPolicy()
	}
	taken := map[string]bool{}
	for range spec.PerRegion {
		a.Users = append(a.Users, g.user(taken))
	}
	for _, r := range spec.Regions {
		a.Regions[r] = g.region(id, r, spec.PerRegion)
		for range spec.PerRegion {
			a.Buckets = append(a.Buckets, g.bucket(r))
		}
	}
	return a
}

func (g *generator) passwordPolicy() *PasswordPolicy {
	p := &PasswordPolicy{
		MinimumLength:    6 + g.rng.IntN(7),
		RequireSymbols:   g.ok(),
		RequireNumbers:   g.ok(),
		RequireUppercase: g.ok(),
		RequireLowercase: g.ok(),
		MaxAge:           drawOne(g, 0, 180, 365),
		ReusePrevention:  drawOne(g, 0, 1, 5),
	}
	if g.ok() {
		p.MinimumLength = 14 + g.rng.IntN(7)
	}
	if g.ok() {
		p.MaxAge = drawOne(g, 60, 90)
	}
	if g.ok() {
		p.ReusePrevention = 24
	}
	return p
}

// user draws an IAM user: a person with console access or a pipeline with
// keys only. taken holds the account's names so far.
func (g *generator) user(taken map[string]bool) User {
	name := drawOne(g, g.firstNames...) + "." + drawOne(g, g.lastNames...)
	if g.chance(0.25) {
		name = "svc-" + drawOne(g, g.purposes...)
	}
	for n := 2; taken[name]; n++ {
		name = fmt.Sprintf("%s%d", trimTrailingDigits(name), n)
	}
	taken[name] = true
	u := User{Name: name, Created: g.daysAgo(30, 1500), Console: g.chance(0.6)}
	// MFA matters for console users; keep the 70/30 mix among them.
	u.MFA = g.ok()
	for range g.rng.IntN(3) {
		k := AccessKey{ID: g.accessKeyID(), Active: g.chance(0.85)}
		if g.ok() {
			k.Created = g.daysAgo(1, 80)
		} else {
			k.Created = g.daysAgo(100, 900)
		}
		if k.Created.Before(u.Created) {
			k.Created = u.Created
		}
		u.AccessKeys = append(u.AccessKeys, k)
	}
	return u
}

func trimTrailingDigits(s string) string {
	for len(s) > 0 && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' {
		s = s[:len(s)-1]
	}
	return s
}

// accessKeyID is AKIA and 16 base32 characters, as IAM's are.
func (g *generator) accessKeyID() string {
	var b [10]byte
	binary.BigEndian.PutUint16(b[:2], uint16(g.rng.Uint32()))
	binary.BigEndian.PutUint64(b[2:], g.next())
	return "AKIA" + base32.StdEncoding.EncodeToString(b[:])
}

func (g *generator) bucket(region string) Bucket {
	b := Bucket{
		Name:       fmt.Sprintf("%s-%s-%s-%08x", drawOne(g, "acme", "globex", "initech", "umbrella"), drawOne(g, g.purposes...), region, g.next32()),
		Region:     region,
		Versioning: g.ok(),
	}
	if g.ok() {
		b.Encryption = drawOne(g, "AES256", "aws:kms")
	}
	switch {
	case g.ok():
		b.PublicAccessBlock = &[4]bool{true, true, true, true}
	case g.chance(0.5):
		// Some flags set, at least one not.
		var f [4]bool
		for i := range f {
			f[i] = g.chance(0.5)
		}
		f[g.rng.IntN(4)] = false
		b.PublicAccessBlock = &f
	}
	if g.ok() {
		b.HasPolicy, b.TLSOnly = true, true
	} else {
		b.HasPolicy = g.chance(0.5)
	}
	return b
}

func (g *generator) region(account, name string, n int) *Region {
	r := &Region{Name: name, EBSDefaultEncryption: g.ok(), GuardDuty: g.ok()}
	if !r.GuardDuty {
		r.GuardDutySuspended = g.chance(0.5)
	}
	for range n {
		r.VPCs = append(r.VPCs, VPC{ID: g.resourceID("vpc"), FlowLogs: g.ok()})
	}
	for range n {
		r.Volumes = append(r.Volumes, Volume{ID: g.resourceID("vol"), Encrypted: g.ok(), SizeGiB: drawOne(g, 8, 20, 50, 100, 500, 1000)})
	}
	for i := range n {
		r.SecurityGroups = append(r.SecurityGroups, g.securityGroup(r.VPCs, i))
	}
	for range n {
		k := KMSKey{ID: g.keyID(), CustomerManaged: g.chance(0.8), Symmetric: g.chance(0.85), Enabled: g.chance(0.9)}
		// AWS managed keys always rotate; only customer keys can be left
		// without it.
		k.Rotation = !k.CustomerManaged || (k.Symmetric && g.ok())
		r.KMSKeys = append(r.KMSKeys, k)
	}
	for i := range min(n, 5) {
		t := Trail{Name: fmt.Sprintf("%s-trail-%d", drawOne(g, "org", "audit", "security", "ops"), i+1),
			MultiRegion: g.ok(), LogFileValidate: g.ok(), Logging: g.ok()}
		if g.ok() && len(r.KMSKeys) > 0 {
			t.KMSKeyID = "arn:aws:kms:" + name + ":" + account + ":key/" + r.KMSKeys[g.rng.IntN(len(r.KMSKeys))].ID
		}
		r.Trails = append(r.Trails, t)
	}
	for i := range n {
		db := DBInstance{ID: fmt.Sprintf("%s-db-%d", drawOne(g, g.purposes...), i+1), Engine: drawOne(g, g.engines...),
			StorageEncrypted: g.ok(), PubliclyAccessible: !g.ok(), BackupRetention: drawOne(g, 7, 14, 30, 35)}
		if !g.ok() {
			db.BackupRetention = drawOne(g, 0, 1)
		}
		r.DBInstances = append(r.DBInstances, db)
	}
	return r
}

// keyID is a KMS key ID: a UUID.
func (g *generator) keyID() string {
	x, y := g.next(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", x>>32, (x>>16)&0xffff, x&0xfff, 0x8000|(y>>48)&0x3fff, y&0xffffffffffff)
}

func (g *generator) securityGroup(vpcs []VPC, i int) SecurityGroup {
	sg := SecurityGroup{ID: g.resourceID("sg"), Name: fmt.Sprintf("%s-%d", drawOne(g, g.purposes...), i+1)}
	if len(vpcs) > 0 {
		sg.VPCID = vpcs[g.rng.IntN(len(vpcs))].ID
	}
	for range 1 + g.rng.IntN(3) {
		sg.Ingress = append(sg.Ingress, cloneRule(drawOne(g, g.safeRules...)))
	}
	if !g.ok() {
		sg.Ingress = append(sg.Ingress, cloneRule(drawOne(g, g.riskyRules...)))
	}
	return sg
}

// cloneRule copies r so that no two groups share CIDR slices.
func cloneRule(r Rule) Rule {
	r.CIDRs = append([]string(nil), r.CIDRs...)
	r.CIDRv6s = append([]string(nil), r.CIDRv6s...)
	return r
}

// Demo is the small fixed estate of the demo: three accounts in eu-west-1,
// eu-central-1 and us-east-1, with a few resources in us-east-1 so that a
// data-location policy of EU regions only has something to fail. The
// management account is mostly in order, production is mixed and the
// sandbox is mostly not. Credential ages are relative to the current time
// so the verdicts do not drift as the demo ages.
func Demo() *Estate {
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	all := &[4]bool{true, true, true, true}
	https := Rule{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []string{"0.0.0.0/0"}, CIDRv6s: []string{"::/0"}}
	internalSSH := Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"10.0.0.0/8"}}
	worldSSH := Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}}
	worldRDP := Rule{Protocol: "tcp", FromPort: 3389, ToPort: 3389, CIDRs: []string{"0.0.0.0/0"}, CIDRv6s: []string{"::/0"}}
	worldAll := Rule{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}
	const (
		mgmt    = "210987654321"
		prod    = "345678901234"
		sandbox = "456789012345"
	)
	return &Estate{
		Regions: []string{"eu-central-1", "eu-west-1", "us-east-1"},
		Accounts: []*Account{
			{
				ID:      mgmt,
				RootMFA: true,
				PasswordPolicy: &PasswordPolicy{MinimumLength: 14, RequireSymbols: true, RequireNumbers: true,
					RequireUppercase: true, RequireLowercase: true, MaxAge: 90, ReusePrevention: 24},
				Users: []User{
					{Name: "alice.admin", Created: ago(700), MFA: true, Console: true,
						AccessKeys: []AccessKey{{ID: "AKIADEMOMGMT00000001", Created: ago(20), Active: true}}},
					{Name: "svc-ci-deployer", Created: ago(500),
						AccessKeys: []AccessKey{{ID: "AKIADEMOMGMT00000002", Created: ago(200), Active: true}}},
				},
				Buckets: []Bucket{
					{Name: "demo-mgmt-audit-logs", Region: "eu-west-1", Encryption: "aws:kms", PublicAccessBlock: all, HasPolicy: true, TLSOnly: true, Versioning: true},
					{Name: "demo-mgmt-terraform-state", Region: "eu-central-1", Encryption: "AES256", PublicAccessBlock: all, HasPolicy: true, TLSOnly: true},
				},
				Regions: map[string]*Region{
					"eu-west-1": {Name: "eu-west-1", EBSDefaultEncryption: true, GuardDuty: true,
						VPCs:           []VPC{{ID: "vpc-0a1b2c3d4e5f60001", FlowLogs: true}},
						SecurityGroups: []SecurityGroup{{ID: "sg-0a1b2c3d4e5f60001", Name: "web", VPCID: "vpc-0a1b2c3d4e5f60001", Ingress: []Rule{https, internalSSH}}},
						Volumes:        []Volume{{ID: "vol-0a1b2c3d4e5f60001", Encrypted: true, SizeGiB: 100}},
						KMSKeys: []KMSKey{
							{ID: "1f0c3a52-8d4e-4b7a-9c61-0d2e5f7a8b01", CustomerManaged: true, Symmetric: true, Rotation: true, Enabled: true},
							{ID: "2a9e7d14-3c5b-4f28-8e90-1b3c5d7e9f02", Symmetric: true, Rotation: true, Enabled: true},
						},
						Trails: []Trail{{Name: "org-trail", MultiRegion: true, LogFileValidate: true, Logging: true,
							KMSKeyID: "arn:aws:kms:eu-west-1:" + mgmt + ":key/1f0c3a52-8d4e-4b7a-9c61-0d2e5f7a8b01"}},
						DBInstances: []DBInstance{{ID: "identity-db", Engine: "postgres", StorageEncrypted: true, BackupRetention: 14}},
					},
					"eu-central-1": {Name: "eu-central-1", EBSDefaultEncryption: true, GuardDuty: true,
						VPCs: []VPC{{ID: "vpc-0a1b2c3d4e5f60002", FlowLogs: true}},
					},
					"us-east-1": {Name: "us-east-1", EBSDefaultEncryption: true, GuardDuty: true},
				},
			},
			{
				ID:      prod,
				RootMFA: true,
				PasswordPolicy: &PasswordPolicy{MinimumLength: 8, RequireNumbers: true, RequireLowercase: true,
					RequireUppercase: true, ReusePrevention: 5},
				Users: []User{
					{Name: "bob.ops", Created: ago(900), Console: true,
						AccessKeys: []AccessKey{{ID: "AKIADEMOPROD00000001", Created: ago(400), Active: true}}},
					{Name: "carol.dev", Created: ago(120), MFA: true, Console: true},
					{Name: "svc-backup", Created: ago(800), AccessKeys: []AccessKey{
						{ID: "AKIADEMOPROD00000002", Created: ago(30), Active: true},
						{ID: "AKIADEMOPROD00000003", Created: ago(600), Active: false},
					}},
				},
				Buckets: []Bucket{
					{Name: "demo-prod-customer-data", Region: "eu-west-1", Encryption: "aws:kms", PublicAccessBlock: all, HasPolicy: true, TLSOnly: true, Versioning: true},
					{Name: "demo-prod-public-assets", Region: "eu-west-1", Encryption: "AES256", PublicAccessBlock: &[4]bool{true, true, false, false}, HasPolicy: true},
					{Name: "demo-prod-invoices", Region: "eu-central-1", PublicAccessBlock: all, Versioning: true},
					{Name: "demo-prod-us-backups", Region: "us-east-1", Encryption: "AES256", PublicAccessBlock: all, HasPolicy: true, TLSOnly: true, Versioning: true},
				},
				Regions: map[string]*Region{
					"eu-west-1": {Name: "eu-west-1", GuardDuty: true,
						VPCs: []VPC{{ID: "vpc-0b1c2d3e4f5a60001", FlowLogs: true}, {ID: "vpc-0b1c2d3e4f5a60002"}},
						SecurityGroups: []SecurityGroup{
							{ID: "sg-0b1c2d3e4f5a60001", Name: "web", VPCID: "vpc-0b1c2d3e4f5a60001", Ingress: []Rule{https}},
							{ID: "sg-0b1c2d3e4f5a60002", Name: "bastion", VPCID: "vpc-0b1c2d3e4f5a60001", Ingress: []Rule{worldSSH}},
						},
						Volumes: []Volume{{ID: "vol-0b1c2d3e4f5a60001", Encrypted: true, SizeGiB: 500}, {ID: "vol-0b1c2d3e4f5a60002", SizeGiB: 50}},
						KMSKeys: []KMSKey{{ID: "3b8f6e25-4d6c-4a39-9fa1-2c4d6e8fa003", CustomerManaged: true, Symmetric: true, Rotation: true, Enabled: true}},
						Trails:  []Trail{{Name: "prod-trail", MultiRegion: true, LogFileValidate: true, Logging: true}},
						DBInstances: []DBInstance{
							{ID: "orders-db", Engine: "aurora-postgresql", StorageEncrypted: true, BackupRetention: 35},
							{ID: "legacy-reports", Engine: "mysql", PubliclyAccessible: true, BackupRetention: 1},
						},
					},
					"eu-central-1": {Name: "eu-central-1", EBSDefaultEncryption: true, GuardDuty: true,
						Volumes: []Volume{{ID: "vol-0b1c2d3e4f5a60003", Encrypted: true, SizeGiB: 100}},
						KMSKeys: []KMSKey{{ID: "4c9a7f36-5e7d-4b4a-8ab2-3d5e7f9ab004", CustomerManaged: true, Enabled: true}},
					},
					"us-east-1": {Name: "us-east-1", GuardDutySuspended: true,
						VPCs:           []VPC{{ID: "vpc-0b1c2d3e4f5a60003"}},
						SecurityGroups: []SecurityGroup{{ID: "sg-0b1c2d3e4f5a60003", Name: "windows-jump", VPCID: "vpc-0b1c2d3e4f5a60003", Ingress: []Rule{worldRDP}}},
						Volumes:        []Volume{{ID: "vol-0b1c2d3e4f5a60004", SizeGiB: 200}},
						DBInstances:    []DBInstance{{ID: "us-analytics", Engine: "postgres", StorageEncrypted: true, BackupRetention: 7}},
					},
				},
			},
			{
				ID: sandbox,
				Users: []User{
					{Name: "dave.intern", Created: ago(60), Console: true,
						AccessKeys: []AccessKey{{ID: "AKIADEMOSBOX00000001", Created: ago(59), Active: true}}},
				},
				Buckets: []Bucket{
					{Name: "demo-sandbox-scratch", Region: "eu-west-1"},
					{Name: "demo-sandbox-us-experiments", Region: "us-east-1", HasPolicy: true},
				},
				Regions: map[string]*Region{
					"eu-west-1": {Name: "eu-west-1",
						VPCs:           []VPC{{ID: "vpc-0c1d2e3f4a5b60001"}},
						SecurityGroups: []SecurityGroup{{ID: "sg-0c1d2e3f4a5b60001", Name: "anything-goes", VPCID: "vpc-0c1d2e3f4a5b60001", Ingress: []Rule{worldAll}}},
						Volumes:        []Volume{{ID: "vol-0c1d2e3f4a5b60001", SizeGiB: 20}},
						KMSKeys:        []KMSKey{{ID: "5dab8047-6f8e-4c5b-9bc3-4e6f8aabc005", CustomerManaged: true, Symmetric: true}},
						DBInstances:    []DBInstance{{ID: "sandbox-db", Engine: "mariadb", PubliclyAccessible: true}},
					},
					"eu-central-1": {Name: "eu-central-1"},
					"us-east-1": {Name: "us-east-1", GuardDuty: true,
						SecurityGroups: []SecurityGroup{{ID: "sg-0c1d2e3f4a5b60002", Name: "ml-notebook", Ingress: []Rule{{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []string{"0.0.0.0/0"}}}}},
						Volumes:        []Volume{{ID: "vol-0c1d2e3f4a5b60002", Encrypted: true, SizeGiB: 1000}},
						Trails:         []Trail{{Name: "sandbox-trail", LogFileValidate: true}},
					},
				},
			},
		},
	}
}
