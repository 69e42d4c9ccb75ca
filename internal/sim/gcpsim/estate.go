// Package gcpsim is a simulated Google Cloud estate: an in-memory model of
// an organisation's folders and projects and their resources, and an HTTP
// server that answers for it in the real REST/JSON wire formats of the
// APIs the GCP collector calls (Cloud Storage JSON API, Compute Engine
// v1, Cloud KMS v1, Cloud SQL Admin v1, IAM v1, Resource Manager v3),
// with their paging and their error bodies.
//
// The real Google client libraries talk to it over loopback, pointed at it
// with option.WithEndpoint. It serves the demo, the tests and the
// benchmarks; estates of any size come from Generate with a seed.
//
// Every API is served under one base URL: each API's paths are distinct
// (/storage/v1, /compute/v1, /v1/projects/P/locations for Cloud KMS,
// /v1/projects/P/instances for Cloud SQL, /v1/projects/P/serviceAccounts
// for IAM, /v3 for Resource Manager), so the path alone says which API a
// request is for.
package gcpsim

import "time"

// Estate is the whole simulated footprint. Treat it as read-only once a
// Server serves it.
type Estate struct {
	// Organization is the numeric ID of the organisation the folders and
	// projects descend from; "" for stand-alone projects.
	Organization string
	// OrgPolicy is the organisation's IAM policy.
	OrgPolicy Policy
	// Folders in any order; each names its parent.
	Folders []*Folder
	// Projects in a stable order.
	Projects []*Project
	// Locations are what Cloud KMS lists as every project's locations,
	// and the regions aggregated Compute Engine listings report (with a
	// warning) when they hold nothing there.
	Locations []string
}

// Folder is a Resource Manager folder.
type Folder struct {
	// ID is numeric.
	ID string
	// Parent is organizations/N or folders/N.
	Parent      string
	DisplayName string
	// Deleted folders are in state DELETE_REQUESTED.
	Deleted bool
	Policy  Policy
}

// Project is one project's resources.
type Project struct {
	ID     string
	Number int64
	// Parent is organizations/N, folders/N or "" for a project outside
	// any organisation.
	Parent string
	// Deleted projects are in state DELETE_REQUESTED.
	Deleted bool
	Policy  Policy
	// Metadata is the Compute Engine project metadata, such as
	// enable-oslogin.
	Metadata        map[string]string
	Buckets         []Bucket
	Disks           []Disk
	Firewalls       []Firewall
	Subnets         []Subnet
	KeyRings        []KeyRing
	SQLInstances    []SQLInstance
	ServiceAccounts []ServiceAccount
}

// Policy is an IAM policy.
type Policy struct {
	Bindings     []Binding
	AuditConfigs []AuditConfig
}

// Binding grants a role to members (user:a@example.com, group:...,
// serviceAccount:...).
type Binding struct {
	Role    string
	Members []string
}

// AuditConfig configures audit logging of a service, or allServices.
type AuditConfig struct {
	Service    string
	LogConfigs []AuditLogConfig
}

// AuditLogConfig turns on one log type: ADMIN_READ, DATA_READ or
// DATA_WRITE.
type AuditLogConfig struct {
	LogType         string
	ExemptedMembers []string
}

// Bucket is a Cloud Storage bucket.
type Bucket struct {
	Name string
	// Location as Cloud Storage spells it: EUROPE-WEST1, EU, EUR4.
	Location string
	// DataLocations are the regions of a configurable dual-region.
	DataLocations []string
	UniformAccess bool
	// PublicAccessPrevention is "enforced" or "inherited".
	PublicAccessPrevention string
	// KMSKey is the default Cloud KMS key name; "" for Google-managed
	// encryption.
	KMSKey     string
	Versioning bool
}

// Disk is a Compute Engine persistent disk.
type Disk struct {
	Name string
	// Zone of a zonal disk (europe-west1-b) or, with Regional, the region
	// of a regional one.
	Zone     string
	Regional bool
	SizeGB   int64
	// KMSKey is the Cloud KMS key version protecting it; "" for a
	// Google-managed key.
	KMSKey string
	// CustomerSupplied is a key the customer supplies (CSEK).
	CustomerSupplied bool
}

// Firewall is a VPC firewall rule.
type Firewall struct {
	Name    string
	Network string
	// Direction is INGRESS or EGRESS.
	Direction    string
	Disabled     bool
	SourceRanges []string
	// Allowed and Denied are the rule's protocol and port entries; a rule
	// has one or the other.
	Allowed  []FirewallEntry
	Denied   []FirewallEntry
	Priority int32
}

// FirewallEntry is a protocol (tcp, udp, icmp, all, or a number) and its
// ports (22, 1000-2000; none means all).
type FirewallEntry struct {
	Protocol string
	Ports    []string
}

// Subnet is a VPC subnetwork.
type Subnet struct {
	Name    string
	Region  string
	Network string
	CIDR    string
	// Purpose is PRIVATE, REGIONAL_MANAGED_PROXY, PRIVATE_SERVICE_CONNECT...
	Purpose  string
	FlowLogs bool
}

// KeyRing is a Cloud KMS key ring and its keys.
type KeyRing struct {
	Name     string
	Location string
	Keys     []CryptoKey
}

// CryptoKey is a Cloud KMS key.
type CryptoKey struct {
	Name string
	// Purpose is ENCRYPT_DECRYPT, ASYMMETRIC_SIGN, MAC...
	Purpose string
	// RotationPeriod is zero when the key does not rotate automatically.
	RotationPeriod time.Duration
	// ProtectionLevel is SOFTWARE, HSM, EXTERNAL...
	ProtectionLevel string
	// PrimaryState is the state of the primary version (ENABLED,
	// DISABLED, DESTROYED); "" means no primary.
	PrimaryState string
	ImportOnly   bool
}

// SQLInstance is a Cloud SQL instance.
type SQLInstance struct {
	Name            string
	Region          string
	DatabaseVersion string
	// InstanceType is CLOUD_SQL_INSTANCE, READ_REPLICA_INSTANCE or
	// ON_PREMISES_INSTANCE.
	InstanceType       string
	PublicIP           bool
	AuthorizedNetworks []string
	// SSLMode is ALLOW_UNENCRYPTED_AND_ENCRYPTED, ENCRYPTED_ONLY or
	// TRUSTED_CLIENT_CERTIFICATE_REQUIRED; "" leaves it out, as older
	// instances do.
	SSLMode         string
	RequireSSL      bool
	Backups         bool
	RetainedBackups int64
}

// ServiceAccount is an IAM service account and its keys.
type ServiceAccount struct {
	Email    string
	Disabled bool
	Keys     []ServiceAccountKey
}

// ServiceAccountKey is one key of a service account.
type ServiceAccountKey struct {
	ID      string
	Created time.Time
	// SystemManaged keys are Google's; the others are user-managed.
	SystemManaged bool
	Disabled      bool
}

// Project returns the project with the given ID or number, or nil.
func (e *Estate) Project(idOrNumber string) *Project {
	for _, p := range e.Projects {
		if p.ID == idOrNumber || formatNumber(p.Number) == idOrNumber {
			return p
		}
	}
	return nil
}

// Folder returns the folder with the given numeric ID, or nil.
func (e *Estate) Folder(id string) *Folder {
	for _, f := range e.Folders {
		if f.ID == id {
			return f
		}
	}
	return nil
}
