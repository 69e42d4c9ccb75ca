package azuresim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Spec sizes a generated estate.
type Spec struct {
	// Subscriptions is how many subscriptions the tenant has; fewer than
	// one means one.
	Subscriptions int
	// Locations every subscription uses; empty means westeurope alone.
	Locations []string
	// PerLocation is roughly how many resources of each kind a subscription
	// has in each location: storage accounts, key vaults, NSGs, SQL
	// servers and disks.
	PerLocation int
	// Now anchors key expiry dates. The zero value means 2026-01-01 UTC,
	// so that an estate does not depend on the day it is generated.
	Now time.Time
}

// compliantShare is the part of generated settings that satisfy the checks;
// the rest are the misconfigurations a real estate accumulates.
const compliantShare = 0.7

// Generate builds an estate from spec, the same one for the same seed and
// spec. Subscriptions sit under two management groups below the tenant root
// group; every setting of the model is drawn, roughly 70% compliant.
func Generate(seed uint64, spec Spec) *Estate {
	if spec.Subscriptions < 1 {
		spec.Subscriptions = 1
	}
	if len(spec.Locations) == 0 {
		spec.Locations = []string{"westeurope"}
	}
	if spec.Now.IsZero() {
		spec.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	g := &generator{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:      spec.Now,
		purposes: []string{"web", "api", "batch", "billing", "orders", "search", "reports", "ingest", "auth", "payments"},
	}
	tenant := g.uuid()
	e := &Estate{
		TenantID: tenant,
		ManagementGroups: []*ManagementGroup{
			{ID: tenant, DisplayName: "Tenant Root Group"},
			{ID: "platform", DisplayName: "Platform", Parent: tenant},
			{ID: "landing-zones", DisplayName: "Landing zones", Parent: tenant},
			{ID: "corp", DisplayName: "Corp", Parent: "landing-zones"},
		},
	}
	groups := []string{"platform", "corp", "landing-zones"}
	for i := range spec.Subscriptions {
		s := &Subscription{
			ID:              g.uuid(),
			DisplayName:     fmt.Sprintf("sub-%s-%d", drawOne(g, g.purposes...), i+1),
			ManagementGroup: groups[i%len(groups)],
		}
		for _, loc := range spec.Locations {
			g.location(s, loc, spec.PerLocation)
		}
		g.subscriptionSettings(s)
		e.Subscriptions = append(e.Subscriptions, s)
	}
	return e
}

// generator draws one estate. serial numbers every generated name so that
// names are unique by construction.
type generator struct {
	rng      *rand.Rand
	now      time.Time
	serial   uint32
	purposes []string
}

// ok draws a compliant setting with the estate-wide probability.
func (g *generator) ok() bool { return g.rng.Float64() < compliantShare }

// chance is true with probability p.
func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// drawOne picks one of xs uniformly.
func drawOne[T any](g *generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

// tag is a short suffix unique within the estate (for up to 2^24 of
// them): multiplying by an odd number is a bijection modulo 2^24.
func (g *generator) tag() string {
	g.serial++
	return fmt.Sprintf("%06x", g.serial*0x9e3779&0xffffff)
}

// uuid is a version-4 style GUID.
func (g *generator) uuid() string {
	x, y := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", x>>32, (x>>16)&0xffff, x&0xfff, 0x8000|(y>>48)&0x3fff, y&0xffffffffffff)
}

func (g *generator) location(s *Subscription, loc string, n int) {
	rg := "rg-" + drawOne(g, g.purposes...) + "-" + loc
	for range n {
		a := StorageAccount{
			Name: "st" + drawOne(g, g.purposes...) + g.tag(), ResourceGroup: rg, Location: loc,
			HTTPSOnly: g.ok(), InfrastructureEncryption: g.chance(0.4),
		}
		if g.ok() {
			a.MinTLS = "TLS1_2"
		} else if g.chance(0.5) {
			a.MinTLS = drawOne(g, "TLS1_0", "TLS1_1")
		}
		if g.ok() {
			a.AllowBlobPublicAccess = ptr(false)
		} else if g.chance(0.5) {
			a.AllowBlobPublicAccess = ptr(true)
		}
		if g.chance(0.5) {
			a.KeyVaultKey, a.KeyVaultURI = "cmk-"+a.Name, "https://kv-keys-"+g.tag()+".vault.azure.net/"
		}
		s.StorageAccounts = append(s.StorageAccounts, a)
	}
	for range n {
		v := KeyVault{Name: "kv-" + drawOne(g, g.purposes...) + "-" + g.tag(), ResourceGroup: rg, Location: loc,
			SoftDelete: g.chance(0.9), PurgeProtection: g.ok()}
		for range g.rng.IntN(4) {
			k := Key{Name: "key-" + g.tag(), Enabled: g.chance(0.9)}
			if g.ok() {
				k.Expires = g.now.AddDate(0, 0, 30+g.rng.IntN(700)).Truncate(time.Second)
			}
			v.Keys = append(v.Keys, k)
		}
		s.KeyVaults = append(s.KeyVaults, v)
	}
	for range n {
		nsg := NSG{Name: "nsg-" + drawOne(g, g.purposes...) + "-" + g.tag(), ResourceGroup: rg, Location: loc}
		nsg.Subnets = []string{resourceID(s.ID, rg, "Microsoft.Network/virtualNetworks", "vnet-"+loc) + "/subnets/snet-" + g.tag()}
		prio := 100
		for range 1 + g.rng.IntN(3) {
			r := drawOne(g, safeRules()...)
			r.Name, r.Priority = fmt.Sprintf("rule-%d", prio), prio
			nsg.Rules = append(nsg.Rules, r)
			prio += 10
		}
		if !g.ok() {
			r := drawOne(g, riskyRules()...)
			r.Name, r.Priority = fmt.Sprintf("rule-%d", prio), prio
			nsg.Rules = append(nsg.Rules, r)
		}
		id := resourceID(s.ID, rg, "Microsoft.Network/networkSecurityGroups", nsg.Name)
		switch {
		case g.ok():
			s.FlowLogs = append(s.FlowLogs, FlowLog{Name: "fl-" + nsg.Name, Location: loc, Target: id, Enabled: true})
		case g.chance(0.5):
			s.FlowLogs = append(s.FlowLogs, FlowLog{Name: "fl-" + nsg.Name, Location: loc, Target: id})
		}
		s.NSGs = append(s.NSGs, nsg)
	}
	for range n {
		sv := SQLServer{Name: "sql-" + drawOne(g, g.purposes...) + "-" + g.tag(), ResourceGroup: rg, Location: loc,
			PublicNetworkAccess: drawOne(g, "Enabled", "Disabled"), Auditing: g.ok()}
		if g.ok() {
			sv.PublicNetworkAccess = "Disabled"
		}
		for range 1 + g.rng.IntN(2) {
			sv.Databases = append(sv.Databases, SQLDatabase{Name: "db-" + drawOne(g, g.purposes...) + "-" + g.tag(), TDE: g.chance(0.85)})
		}
		s.SQLServers = append(s.SQLServers, sv)
	}
	for range n {
		d := Disk{Name: "disk-" + drawOne(g, g.purposes...) + "-" + g.tag(), ResourceGroup: rg, Location: loc}
		if g.chance(0.5) {
			d.ManagedBy = resourceID(s.ID, rg, "Microsoft.Compute/virtualMachines", "vm-"+g.tag())
		}
		switch {
		case g.chance(0.4):
			d.EncryptionType = "EncryptionAtRestWithCustomerKey"
			d.DiskEncryptionSet = resourceID(s.ID, rg, "Microsoft.Compute/diskEncryptionSets", "des-"+loc)
		case g.chance(0.1):
			d.ADE = true
		}
		s.Disks = append(s.Disks, d)
	}
}

// subscriptionSettings draws what exists once per subscription: the
// activity log export and the Defender plans.
func (g *generator) subscriptionSettings(s *Subscription) {
	law := resourceID(s.ID, "rg-monitoring", "Microsoft.OperationalInsights/workspaces", "law-"+g.tag())
	switch {
	case g.ok():
		s.DiagnosticSettings = []DiagnosticSetting{{Name: "activity-log", WorkspaceID: law,
			Categories: []string{"Administrative", "Security", "Policy", "Alert"}}}
	case g.chance(0.5):
		s.DiagnosticSettings = []DiagnosticSetting{{Name: "activity-log", WorkspaceID: law, Categories: []string{"Administrative"}}}
	}
	for _, p := range defenderPlans() {
		p.Standard = !p.Deprecated && g.ok()
		if !p.Standard {
			p.SubPlan = ""
		}
		s.DefenderPlans = append(s.DefenderPlans, p)
	}
}

// defenderPlans are Defender for Cloud's plans as a subscription lists
// them, with the sub-plan an enabled one usually has.
func defenderPlans() []DefenderPlan {
	return []DefenderPlan{
		{Name: "VirtualMachines", SubPlan: "P2"},
		{Name: "SqlServers"},
		{Name: "AppServices"},
		{Name: "StorageAccounts", SubPlan: "DefenderForStorageV2"},
		{Name: "SqlServerVirtualMachines"},
		{Name: "KeyVaults", SubPlan: "PerKeyVault"},
		{Name: "Dns", Deprecated: true},
		{Name: "Arm", SubPlan: "PerSubscription"},
		{Name: "OpenSourceRelationalDatabases"},
		{Name: "CosmosDbs"},
		{Name: "Containers"},
		{Name: "CloudPosture"},
		{Name: "KubernetesService", Deprecated: true},
		{Name: "ContainerRegistry", Deprecated: true},
	}
}

// safeRules are inbound rules no check objects to.
func safeRules() []SecurityRule {
	return []SecurityRule{
		{Protocol: "Tcp", Sources: []string{"Internet"}, Ports: []string{"443"}},
		{Protocol: "Tcp", Sources: []string{"*"}, Ports: []string{"80", "443"}},
		{Protocol: "Tcp", Sources: []string{"10.0.0.0/8"}, Ports: []string{"22"}},
		{Protocol: "Tcp", Sources: []string{"VirtualNetwork"}, Ports: []string{"1433"}},
		{Protocol: "*", Sources: []string{"172.16.0.0/12"}, Ports: []string{"*"}},
		{Protocol: "Icmp", Sources: []string{"*"}, Ports: []string{"*"}},
	}
}

// riskyRules each open an administration port or everything to the
// internet.
func riskyRules() []SecurityRule {
	return []SecurityRule{
		{Protocol: "Tcp", Sources: []string{"*"}, Ports: []string{"22"}},
		{Protocol: "Tcp", Sources: []string{"Internet"}, Ports: []string{"3389"}},
		{Protocol: "Tcp", Sources: []string{"0.0.0.0/0"}, Ports: []string{"20-25"}},
		{Protocol: "*", Sources: []string{"Internet"}, Ports: []string{"*"}},
		{Protocol: "Tcp", Sources: []string{"*"}, Ports: []string{"0-65535"}},
	}
}

func ptr[T any](v T) *T { return &v }

// The demo estate's fixed identifiers.
const (
	DemoTenant     = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	DemoPlatform   = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a01"
	DemoProduction = "7a2b3c4d-5e6f-4071-9b8c-0d1e2f3a4b02"
	DemoSandbox    = "8b3c4d5e-6f70-4182-8c9d-1e2f3a4b5c03"
	// DemoGroup is the management group all three demo subscriptions
	// sit under.
	DemoGroup = "eucs-demo"
)

// Demo is the small fixed estate of the demo: three subscriptions under the
// management group eucs-demo, in westeurope, germanywestcentral and eastus,
// with a few resources in eastus so that a data-location policy of EU
// locations only has something to fail. The platform subscription is
// mostly in order, production is mixed and the sandbox is mostly not. Key
// expiry dates are relative to the current time so the verdicts do not
// drift as the demo ages.
func Demo() *Estate {
	now := time.Now().UTC().Truncate(time.Second)
	no, yes := ptr(false), ptr(true)
	id := resourceID
	const (
		plat, prod, sbx = DemoPlatform, DemoProduction, DemoSandbox
	)
	platformNSG := id(plat, "rg-hub-westeurope", "Microsoft.Network/networkSecurityGroups", "nsg-hub-bastion")
	prodWeb := id(prod, "rg-prod-westeurope", "Microsoft.Network/networkSecurityGroups", "nsg-prod-web")
	prodBastion := id(prod, "rg-prod-westeurope", "Microsoft.Network/networkSecurityGroups", "nsg-prod-bastion")
	plans := func(standard ...string) []DefenderPlan {
		var out []DefenderPlan
		for _, p := range defenderPlans() {
			for _, s := range standard {
				if s == p.Name || (s == "*" && !p.Deprecated) {
					p.Standard = true
				}
			}
			if !p.Standard {
				p.SubPlan = ""
			}
			out = append(out, p)
		}
		return out
	}
	return &Estate{
		TenantID: DemoTenant,
		ManagementGroups: []*ManagementGroup{
			{ID: DemoTenant, DisplayName: "Tenant Root Group"},
			{ID: DemoGroup, DisplayName: "EUCS demo", Parent: DemoTenant},
			{ID: "eucs-demo-platform", DisplayName: "Platform", Parent: DemoGroup},
			{ID: "eucs-demo-workloads", DisplayName: "Workloads", Parent: DemoGroup},
		},
		Subscriptions: []*Subscription{
			{
				ID: plat, DisplayName: "demo-platform", ManagementGroup: "eucs-demo-platform",
				StorageAccounts: []StorageAccount{{
					Name: "stdemoplatformlogs", ResourceGroup: "rg-hub-westeurope", Location: "westeurope",
					HTTPSOnly: true, MinTLS: "TLS1_2", AllowBlobPublicAccess: no, InfrastructureEncryption: true,
					KeyVaultKey: "storage-cmk", KeyVaultURI: "https://kv-demo-platform.vault.azure.net/",
				}},
				KeyVaults: []KeyVault{{
					Name: "kv-demo-platform", ResourceGroup: "rg-hub-westeurope", Location: "westeurope", SoftDelete: true, PurgeProtection: true,
					Keys: []Key{
						{Name: "storage-cmk", Enabled: true, Expires: now.AddDate(1, 0, 0)},
						{Name: "disk-cmk", Enabled: true, Expires: now.AddDate(0, 6, 0)},
					},
				}},
				NSGs: []NSG{{
					Name: "nsg-hub-bastion", ResourceGroup: "rg-hub-westeurope", Location: "westeurope",
					Subnets: []string{id(plat, "rg-hub-westeurope", "Microsoft.Network/virtualNetworks", "vnet-hub") + "/subnets/snet-bastion"},
					Rules: []SecurityRule{
						{Name: "allow-https", Priority: 100, Sources: []string{"Internet"}, Ports: []string{"443"}},
						{Name: "allow-ssh-internal", Priority: 110, Sources: []string{"10.0.0.0/8"}, Ports: []string{"22"}},
					},
				}},
				FlowLogs: []FlowLog{{Name: "fl-hub-bastion", Location: "westeurope", Target: platformNSG, Enabled: true}},
				SQLServers: []SQLServer{{
					Name: "sql-demo-identity", ResourceGroup: "rg-hub-westeurope", Location: "westeurope",
					PublicNetworkAccess: "Disabled", Auditing: true, Databases: []SQLDatabase{{Name: "identity", TDE: true}},
				}},
				DiagnosticSettings: []DiagnosticSetting{{Name: "activity-to-law", Categories: []string{"Administrative", "Security", "Policy", "Alert"},
					WorkspaceID: id(plat, "rg-monitoring", "Microsoft.OperationalInsights/workspaces", "law-demo-platform")}},
				DefenderPlans: plans("*"),
				Disks: []Disk{{
					Name: "disk-hub-jump-os", ResourceGroup: "rg-hub-westeurope", Location: "westeurope",
					EncryptionType: "EncryptionAtRestWithCustomerKey", DiskEncryptionSet: id(plat, "rg-hub-westeurope", "Microsoft.Compute/diskEncryptionSets", "des-platform"),
					ManagedBy: id(plat, "rg-hub-westeurope", "Microsoft.Compute/virtualMachines", "vm-hub-jump"),
				}},
			},
			{
				ID: prod, DisplayName: "demo-production", ManagementGroup: "eucs-demo-workloads",
				StorageAccounts: []StorageAccount{
					{Name: "stdemoprodcustomers", ResourceGroup: "rg-prod-westeurope", Location: "westeurope",
						HTTPSOnly: true, MinTLS: "TLS1_2", AllowBlobPublicAccess: no},
					{Name: "stdemoprodassets", ResourceGroup: "rg-prod-germanywestcentral", Location: "germanywestcentral",
						HTTPSOnly: true, MinTLS: "TLS1_0", AllowBlobPublicAccess: yes},
					{Name: "stdemoprodusbackup", ResourceGroup: "rg-prod-eastus", Location: "eastus",
						HTTPSOnly: true, MinTLS: "TLS1_2", AllowBlobPublicAccess: no, InfrastructureEncryption: true},
				},
				KeyVaults: []KeyVault{{
					Name: "kv-demo-prod", ResourceGroup: "rg-prod-westeurope", Location: "westeurope", SoftDelete: true,
					Keys: []Key{
						{Name: "orders-cmk", Enabled: true},
						{Name: "tls-signing", Enabled: true, Expires: now.AddDate(0, 3, 0)},
					},
				}},
				NSGs: []NSG{
					{Name: "nsg-prod-web", ResourceGroup: "rg-prod-westeurope", Location: "westeurope",
						Rules: []SecurityRule{{Name: "allow-https", Priority: 100, Sources: []string{"Internet"}, Ports: []string{"443"}}}},
					{Name: "nsg-prod-bastion", ResourceGroup: "rg-prod-westeurope", Location: "westeurope",
						Rules: []SecurityRule{{Name: "allow-ssh", Priority: 100, Sources: []string{"*"}, Ports: []string{"22"}}}},
					{Name: "nsg-prod-us-jump", ResourceGroup: "rg-prod-eastus", Location: "eastus",
						Rules: []SecurityRule{{Name: "allow-rdp", Priority: 100, Sources: []string{"Internet"}, Ports: []string{"3389"}}}},
				},
				FlowLogs: []FlowLog{
					{Name: "fl-prod-web", Location: "westeurope", Target: prodWeb, Enabled: true},
					{Name: "fl-prod-bastion", Location: "westeurope", Target: prodBastion},
				},
				SQLServers: []SQLServer{{
					Name: "sql-demo-orders", ResourceGroup: "rg-prod-westeurope", Location: "westeurope", Auditing: true,
					Databases: []SQLDatabase{{Name: "orders", TDE: true}, {Name: "reports"}},
				}},
				DiagnosticSettings: []DiagnosticSetting{{Name: "activity-to-storage", Categories: []string{"Administrative"},
					StorageAccountID: id(prod, "rg-prod-westeurope", "Microsoft.Storage/storageAccounts", "stdemoprodcustomers")}},
				DefenderPlans: plans("VirtualMachines", "SqlServers", "Arm"),
				Disks: []Disk{
					{Name: "disk-prod-web-os", ResourceGroup: "rg-prod-westeurope", Location: "westeurope",
						ManagedBy: id(prod, "rg-prod-westeurope", "Microsoft.Compute/virtualMachines", "vm-prod-web")},
					{Name: "disk-prod-db-data", ResourceGroup: "rg-prod-westeurope", Location: "westeurope",
						EncryptionType: "EncryptionAtRestWithPlatformAndCustomerKeys", DiskEncryptionSet: id(prod, "rg-prod-westeurope", "Microsoft.Compute/diskEncryptionSets", "des-prod")},
					{Name: "disk-prod-us-analytics", ResourceGroup: "rg-prod-eastus", Location: "eastus"},
				},
			},
			{
				ID: sbx, DisplayName: "demo-sandbox", ManagementGroup: "eucs-demo-workloads",
				StorageAccounts: []StorageAccount{{Name: "stdemosandboxscratch", ResourceGroup: "rg-sandbox-eastus", Location: "eastus"}},
				KeyVaults: []KeyVault{{
					Name: "kv-demo-sandbox", ResourceGroup: "rg-sandbox-eastus", Location: "eastus",
					Keys: []Key{{Name: "test", Enabled: true}, {Name: "old", Enabled: false}},
				}},
				NSGs: []NSG{{Name: "nsg-sandbox-anything", ResourceGroup: "rg-sandbox-westeurope", Location: "westeurope",
					Rules: []SecurityRule{{Name: "allow-all", Priority: 100, Protocol: "*", Sources: []string{"Internet"}, Ports: []string{"*"}}}}},
				SQLServers: []SQLServer{{
					Name: "sql-demo-sandbox", ResourceGroup: "rg-sandbox-eastus", Location: "eastus",
					Databases: []SQLDatabase{{Name: "scratch"}},
				}},
				DefenderPlans: plans(),
				Disks:         []Disk{{Name: "disk-sandbox-os", ResourceGroup: "rg-sandbox-eastus", Location: "eastus"}},
			},
		},
	}
}
