// Package awssim is a simulated AWS estate: an in-memory model of several
// accounts' resources and an HTTP server that answers for it in the real AWS
// wire protocols (REST-XML for S3, EC2 query, AWS query for IAM, RDS and STS,
// JSON 1.1 for KMS and CloudTrail, REST-JSON for GuardDuty).
//
// The real aws-sdk-go-v2 clients talk to it over loopback, so their
// serialisation, signing, paging and retries all run. It serves the demo, the
// tests and the benchmarks; estates of any size come from Generate with a
// seed.
//
// The server does not verify SigV4 signatures; it reads the credential scope
// of the Authorization header to learn the service, the region and (from the
// access key ID) the account a request is for.
package awssim

import "time"

// Estate is the whole simulated AWS footprint: every account the agent may
// see. Treat it as read-only once a Server serves it.
type Estate struct {
	// Accounts in a stable order; the first is the one the base credentials
	// belong to and the organization's management account: the only one
	// that may call AWS Organizations.
	Accounts []*Account
	// Regions the estate's EC2 DescribeRegions reports as enabled.
	Regions []string
	// OrgUnits are the organization's OUs, for AWS Organizations; the
	// organization's root is OrgRootID.
	OrgUnits []OrgUnit
}

// OrgRootID is the ID of the simulated organization's root.
const OrgRootID = "r-sim0"

// OrgUnit is an organizational unit.
type OrgUnit struct {
	// ID is like ou-sim0-00000001.
	ID   string
	Name string
	// Parent is the ID of the OU it sits in; "" is the root.
	Parent string
}

// Account is one AWS account's resources.
type Account struct {
	ID string
	// Name is the account's name in the organization; "" is derived from
	// the ID.
	Name string
	// Status is the account's status in the organization: "" (ACTIVE),
	// SUSPENDED or PENDING_CLOSURE.
	Status string
	// Parent is the ID of the OU the account sits in; "" is the root.
	Parent string
	// ExternalID, when set, must be presented by STS AssumeRole into this
	// account (a confused-deputy guard); a missing or wrong one is denied.
	ExternalID string
	// RootMFA is what IAM GetAccountSummary reports as AccountMFAEnabled.
	RootMFA bool
	// PasswordPolicy is nil when the account has none (IAM answers
	// NoSuchEntity).
	PasswordPolicy *PasswordPolicy
	Users          []User
	// Buckets are global to the account (ListBuckets lists all of them);
	// each lives in one region.
	Buckets []Bucket
	// Regional resources, keyed by region name.
	Regions map[string]*Region
}

// PasswordPolicy is the IAM account password policy.
type PasswordPolicy struct {
	MinimumLength    int
	RequireSymbols   bool
	RequireNumbers   bool
	RequireUppercase bool
	RequireLowercase bool
	MaxAge           int // days; 0 means passwords never expire
	ReusePrevention  int
}

// User is an IAM user.
type User struct {
	Name       string
	Created    time.Time
	MFA        bool // has at least one MFA device
	Console    bool // has a login profile (console password)
	AccessKeys []AccessKey
}

// AccessKey is one IAM access key of a user.
type AccessKey struct {
	ID      string
	Created time.Time
	Active  bool
}

// Bucket is an S3 bucket.
type Bucket struct {
	Name   string
	Region string
	// Encryption is "" (no default encryption configuration), "AES256" or
	// "aws:kms".
	Encryption string
	// PublicAccessBlock holds the four flags BlockPublicAcls, IgnorePublicAcls,
	// BlockPublicPolicy, RestrictPublicBuckets; nil means no configuration.
	PublicAccessBlock *[4]bool
	// TLSOnly means the bucket policy denies aws:SecureTransport false.
	TLSOnly bool
	// HasPolicy is false when there is no bucket policy at all.
	HasPolicy  bool
	Versioning bool
}

// Region is one region of one account.
type Region struct {
	Name                 string
	EBSDefaultEncryption bool
	SecurityGroups       []SecurityGroup
	Volumes              []Volume
	VPCs                 []VPC
	KMSKeys              []KMSKey
	Trails               []Trail
	DBInstances          []DBInstance
	// GuardDuty is true when a detector exists and is enabled.
	GuardDuty bool
	// GuardDutySuspended, when GuardDuty is false, keeps a detector that
	// is suspended (status DISABLED) instead of having none.
	GuardDutySuspended bool
}

// SecurityGroup is an EC2 security group.
type SecurityGroup struct {
	ID    string
	Name  string
	VPCID string
	// Ingress rules.
	Ingress []Rule
}

// Rule is one ingress permission. Protocol "-1" means all traffic.
type Rule struct {
	Protocol string
	FromPort int
	ToPort   int
	CIDRs    []string // IPv4 ranges
	CIDRv6s  []string // IPv6 ranges
}

// Volume is an EBS volume.
type Volume struct {
	ID        string
	Encrypted bool
	SizeGiB   int
}

// VPC is a VPC and whether it has an active flow log.
type VPC struct {
	ID       string
	FlowLogs bool
}

// KMSKey is a KMS key.
type KMSKey struct {
	ID string
	// CustomerManaged is false for AWS managed keys.
	CustomerManaged bool
	// Symmetric keys support automatic rotation; others answer
	// UnsupportedOperationException to GetKeyRotationStatus.
	Symmetric bool
	Rotation  bool
	Enabled   bool
}

// Trail is a CloudTrail trail whose home region is the Region it is listed
// under.
type Trail struct {
	Name            string
	MultiRegion     bool
	LogFileValidate bool
	KMSKeyID        string // "" when not encrypted with KMS
	Logging         bool
}

// DBInstance is an RDS DB instance.
type DBInstance struct {
	ID                 string
	Engine             string
	StorageEncrypted   bool
	PubliclyAccessible bool
	BackupRetention    int // days
}

// Account returns the account with the given ID, or nil.
func (e *Estate) Account(id string) *Account {
	for _, a := range e.Accounts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// Resources counts the estate's resources: IAM users, buckets, and every
// region's volumes, security groups, VPCs, KMS keys, trails and DB
// instances.
func (e *Estate) Resources() int {
	n := 0
	for _, a := range e.Accounts {
		n += len(a.Users) + len(a.Buckets)
		for _, r := range a.Regions {
			n += len(r.Volumes) + len(r.SecurityGroups) + len(r.VPCs) + len(r.KMSKeys) + len(r.Trails) + len(r.DBInstances)
		}
	}
	return n
}
