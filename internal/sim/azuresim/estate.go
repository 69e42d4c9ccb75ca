// Package azuresim is a simulated Azure estate: an in-memory model of a
// tenant's management groups, subscriptions and resources, and an HTTPS
// server that answers for it in Azure Resource Manager's REST dialect (JSON
// bodies, paging through nextLink, errors as {"error":{"code","message"}},
// throttling as 429 with Retry-After).
//
// The real azure-sdk-for-go clients talk to it over loopback, so their
// serialisation, bearer-token policy, paging and retries all run. It serves
// the demo, the tests and the benchmarks; estates of any size come from
// Generate with a seed.
//
// The server speaks TLS because the SDK refuses to send a bearer token over
// plain HTTP; clients reach it through the *http.Client of the
// httptest.Server that Start returns. It accepts exactly the token of the
// credential Credential returns.
package azuresim

import "time"

// Estate is the whole simulated Azure footprint of one tenant. Treat it as
// read-only once a Server serves it.
type Estate struct {
	// TenantID is the Entra ID tenant every subscription belongs to.
	TenantID string
	// ManagementGroups form a tree through Parent; the tenant root group
	// has none.
	ManagementGroups []*ManagementGroup
	// Subscriptions in a stable order.
	Subscriptions []*Subscription
}

// ManagementGroup is one node of the management group hierarchy.
type ManagementGroup struct {
	// ID is the group's name, as in /providers/Microsoft.Management/managementGroups/ID.
	ID          string
	DisplayName string
	// Parent is the ID of the group above; "" for the tenant root group.
	Parent string
}

// Subscription is one subscription's resources.
type Subscription struct {
	// ID is the subscription's GUID.
	ID          string
	DisplayName string
	// State is Enabled, Warned, PastDue, Disabled or Deleted; "" means
	// Enabled.
	State string
	// ManagementGroup is the ID of the group the subscription sits in
	// directly; "" means the tenant root group.
	ManagementGroup string

	StorageAccounts []StorageAccount
	KeyVaults       []KeyVault
	NSGs            []NSG
	// FlowLogs live in the network watcher of their location
	// (NetworkWatcher_<location> in resource group NetworkWatcherRG, as
	// Azure creates them); the server invents one watcher for every
	// location that has an NSG or a flow log.
	FlowLogs   []FlowLog
	SQLServers []SQLServer
	// DiagnosticSettings are the subscription's activity log exports.
	DiagnosticSettings []DiagnosticSetting
	// DefenderPlans are Defender for Cloud's pricings, one per plan.
	DefenderPlans []DefenderPlan
	Disks         []Disk
}

// StorageAccount is a Microsoft.Storage/storageAccounts resource.
type StorageAccount struct {
	Name          string
	ResourceGroup string
	Location      string
	// HTTPSOnly is supportsHttpsTrafficOnly (secure transfer required).
	HTTPSOnly bool
	// MinTLS is minimumTlsVersion: TLS1_0, TLS1_1, TLS1_2 or TLS1_3; ""
	// leaves the property out, as accounts that never set it do.
	MinTLS string
	// AllowBlobPublicAccess is nil when the property was never set, which
	// Azure treats as allowed.
	AllowBlobPublicAccess *bool
	// InfrastructureEncryption is requireInfrastructureEncryption.
	InfrastructureEncryption bool
	// KeyVaultKey, when set, is the name of the customer-managed key the
	// account is encrypted with (keySource Microsoft.Keyvault); "" means
	// Microsoft-managed keys.
	KeyVaultKey string
	// KeyVaultURI is the vault holding KeyVaultKey.
	KeyVaultURI string
}

// KeyVault is a Microsoft.KeyVault/vaults resource and the keys in it.
type KeyVault struct {
	Name            string
	ResourceGroup   string
	Location        string
	SoftDelete      bool
	PurgeProtection bool
	Keys            []Key
}

// Key is one key in a vault, as the management plane lists it.
type Key struct {
	Name    string
	Enabled bool
	// Expires is the key's expiry; the zero time means none is set.
	Expires time.Time
}

// NSG is a Microsoft.Network/networkSecurityGroups resource.
type NSG struct {
	Name          string
	ResourceGroup string
	Location      string
	// Rules are the custom security rules; the server adds Azure's six
	// default rules.
	Rules []SecurityRule
	// Subnets and NICs are the IDs of what the group is attached to.
	Subnets []string
	NICs    []string
}

// SecurityRule is one NSG security rule.
type SecurityRule struct {
	Name string
	// Direction is Inbound or Outbound; "" means Inbound.
	Direction string
	// Access is Allow or Deny; "" means Allow.
	Access string
	// Protocol is Tcp, Udp, Icmp, Esp, Ah or *; "" means Tcp.
	Protocol string
	Priority int
	// Sources are address prefixes or service tags (*, Internet,
	// 0.0.0.0/0, 10.0.0.0/8, VirtualNetwork). One source is sent as
	// sourceAddressPrefix, several as sourceAddressPrefixes.
	Sources []string
	// Ports are destination port ranges (22, 20-25, *), sent the same way.
	Ports []string
}

// FlowLog is a network watcher flow log.
type FlowLog struct {
	Name     string
	Location string
	// Target is the ID of the NSG, virtual network, subnet or network
	// interface the flow log records.
	Target  string
	Enabled bool
}

// SQLServer is a Microsoft.Sql/servers resource (Azure SQL logical server).
type SQLServer struct {
	Name          string
	ResourceGroup string
	Location      string
	// PublicNetworkAccess is Enabled or Disabled; "" means Enabled.
	PublicNetworkAccess string
	// Auditing is the state of the server's blob auditing policy.
	Auditing bool
	// Databases are the user databases; the server lists master as well,
	// as Azure does.
	Databases []SQLDatabase
}

// SQLDatabase is one database of a logical server.
type SQLDatabase struct {
	Name string
	// TDE is whether transparent data encryption is enabled.
	TDE bool
}

// DiagnosticSetting is a subscription-level diagnostic setting: an export of
// the activity log.
type DiagnosticSetting struct {
	Name string
	// Categories are the activity log categories exported (Administrative,
	// Security, ServiceHealth, Alert, Recommendation, Policy, Autoscale,
	// ResourceHealth); the server lists the others as disabled.
	Categories []string
	// Destinations; at least one is set in a working setting.
	WorkspaceID      string
	StorageAccountID string
	EventHubRuleID   string
}

// DefenderPlan is one Defender for Cloud plan's pricing.
type DefenderPlan struct {
	// Name is the plan: VirtualMachines, SqlServers, StorageAccounts,
	// KeyVaults, Arm, Containers, ...
	Name string
	// Standard is the paid, enabled tier; false is Free.
	Standard bool
	SubPlan  string
	// Deprecated plans are still listed but can no longer be enabled.
	Deprecated bool
}

// Disk is a Microsoft.Compute/disks managed disk.
type Disk struct {
	Name          string
	ResourceGroup string
	Location      string
	// EncryptionType is EncryptionAtRestWithPlatformKey,
	// EncryptionAtRestWithCustomerKey or
	// EncryptionAtRestWithPlatformAndCustomerKeys; "" means the first.
	EncryptionType string
	// DiskEncryptionSet is the ID of the disk encryption set holding the
	// customer key, when there is one.
	DiskEncryptionSet string
	// ADE is Azure Disk Encryption (BitLocker/dm-crypt in the guest).
	ADE bool
	// ManagedBy is the ID of the VM the disk is attached to, if any.
	ManagedBy string
}

// Subscription returns the subscription with the given ID, or nil.
func (e *Estate) Subscription(id string) *Subscription {
	for _, s := range e.Subscriptions {
		if equalFold(s.ID, id) {
			return s
		}
	}
	return nil
}

// ManagementGroup returns the group with the given ID, or nil.
func (e *Estate) ManagementGroup(id string) *ManagementGroup {
	for _, g := range e.ManagementGroups {
		if equalFold(g.ID, id) {
			return g
		}
	}
	return nil
}

// Under reports whether the subscription sits in group id or below it.
func (e *Estate) Under(s *Subscription, id string) bool {
	g := s.ManagementGroup
	if g == "" {
		g = e.root()
	}
	// The hierarchy is at most six levels deep below the root; the bound
	// only guards against a cycle in a hand-written estate.
	for range len(e.ManagementGroups) + 1 {
		if equalFold(g, id) {
			return true
		}
		mg := e.ManagementGroup(g)
		if mg == nil || mg.Parent == "" {
			return false
		}
		g = mg.Parent
	}
	return false
}

// root is the ID of the tenant root group: the one group without a parent.
func (e *Estate) root() string {
	for _, g := range e.ManagementGroups {
		if g.Parent == "" {
			return g.ID
		}
	}
	return ""
}
