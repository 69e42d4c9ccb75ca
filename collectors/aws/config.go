package aws

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// Config is the `collectors.aws` block of agent.yaml.
type Config struct {
	// Regions to collect from; the single entry "all" means every region
	// enabled in each account (EC2 DescribeRegions).
	Regions []string `yaml:"regions"`
	// AllowedRegions is the data-location policy: every resource found
	// outside these regions fails aws.location.allowed_region. Empty turns
	// the location check off.
	AllowedRegions []string `yaml:"allowed_regions"`
	// Accounts to assess. Empty means the one account of the ambient
	// credentials.
	Accounts []Account `yaml:"accounts"`
	// EndpointURL overrides every service's endpoint (S3-compatible stores,
	// emulators). The SDK's own AWS_ENDPOINT_URL and
	// AWS_ENDPOINT_URL_<SERVICE> variables are honoured as well.
	EndpointURL string `yaml:"endpoint_url"`
	// S3PathStyle addresses buckets as https://host/bucket rather than
	// https://bucket.host, as most emulators need.
	S3PathStyle bool `yaml:"s3_path_style"`
	// Concurrency bounds how many account/region/service scopes are
	// collected at once.
	Concurrency int `yaml:"concurrency"`
	// CallTimeout bounds each HTTP request to an AWS API.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// ScopeTimeout bounds the collection of one service in one region of one
	// account, paging included.
	ScopeTimeout time.Duration `yaml:"scope_timeout"`
	// MaxAttempts is how often the SDK tries a throttled or failed call.
	MaxAttempts int `yaml:"max_attempts"`
	// HomeRegion is where global services (IAM, STS, S3 listing) are called.
	HomeRegion string `yaml:"home_region"`
	// Organization, when set, discovers the accounts to assess from AWS
	// Organizations (the agent's credentials must be the management
	// account's or a delegated administrator's) instead of Accounts.
	Organization *Organization `yaml:"organization"`
	// RateLimits override the per-API token buckets the collector keeps
	// itself within (see ratelimit.go for the defaults and their sources),
	// keyed by service ("ec2") or service and action ("ec2:DescribeVolumes").
	RateLimits map[string]RateLimit `yaml:"rate_limits"`
	// Shard, when set, makes this agent one of several replicas that split
	// the accounts between them (collectors.Shard). A top-level shard block
	// applies here when this one is not set.
	Shard *collectors.Shard `yaml:"shard"`
}

// Organization selects the accounts of an AWS organization.
type Organization struct {
	// RoleName is the role assumed in every member account
	// (arn:aws:iam::ACCOUNT:role/ROLE_NAME), typically deployed by a
	// StackSet. The management account is assessed through it too.
	RoleName string `yaml:"role_name"`
	// ExternalID is passed to every AssumeRole when the roles' trust
	// policy asks for one.
	ExternalID string `yaml:"external_id"`
	// Include limits the accounts to these account IDs and the accounts
	// under these OU or root IDs (nested OUs included). Empty: every
	// account.
	Include []string `yaml:"include"`
	// Exclude removes account IDs, and the accounts under OU or root IDs,
	// after Include.
	Exclude []string `yaml:"exclude"`
}

// RateLimit is one token bucket: Rate requests a second on average, up to
// Burst at once (Burst defaults to one second's worth of Rate).
type RateLimit = ratelimit.Limit

// Account is one account to assess.
type Account struct {
	// ID is the 12-digit account ID.
	ID string `yaml:"id"`
	// RoleARN, when set, is assumed with STS for this account.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to AssumeRole when the role's trust policy asks
	// for one.
	ExternalID string `yaml:"external_id"`
}

// Defaults set in code, applied by SetDefaults.
const (
	// DefaultConcurrency is 32 because each account's global scopes (IAM,
	// S3) are paced by per-account buckets: with fewer workers than
	// twice the accounts they run in waves, and a 10-account estate took
	// 2.2 times its rate-limit bound at 8 against 1.09 at 32
	// (docs/performance.md, section 4), for about 20 MiB more memory.
	DefaultConcurrency  = 32
	DefaultCallTimeout  = 30 * time.Second
	DefaultScopeTimeout = 5 * time.Minute
	DefaultMaxAttempts  = 5
	DefaultHomeRegion   = "us-east-1"
)

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = []string{"all"}
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.ScopeTimeout == 0 {
		c.ScopeTimeout = DefaultScopeTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.HomeRegion == "" {
		c.HomeRegion = DefaultHomeRegion
	}
}

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleARNRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	roleNameRe  = regexp.MustCompile(`^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	ouIDRe      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$`)
	rootIDRe    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	limitKeyRe  = regexp.MustCompile(`^[a-z0-9-]+(:[A-Z][A-Za-z0-9]*)?$`)
)

// Validate reports every problem at once, each prefixed with its YAML path
// relative to this block.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for i, r := range c.Regions {
		if r == "all" {
			if len(c.Regions) > 1 {
				add(fmt.Sprintf("regions[%d]", i), `"all" cannot be combined with named regions`)
			}
			continue
		}
		if !regionRe.MatchString(r) {
			add(fmt.Sprintf("regions[%d]", i), "%q is not an AWS region name (like eu-west-1)", r)
		}
	}
	for i, r := range c.AllowedRegions {
		if !regionRe.MatchString(r) {
			add(fmt.Sprintf("allowed_regions[%d]", i), "%q is not an AWS region name (like eu-west-1)", r)
		}
	}
	seen := map[string]int{}
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		if !accountIDRe.MatchString(a.ID) {
			add(p+".id", "%q is not a 12-digit AWS account ID", a.ID)
		} else if j, dup := seen[a.ID]; dup {
			add(p+".id", "account %s is already listed at accounts[%d]", a.ID, j)
		} else {
			seen[a.ID] = i
		}
		if a.RoleARN != "" {
			if !roleARNRe.MatchString(a.RoleARN) {
				add(p+".role_arn", "%q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", a.RoleARN)
			} else if accountIDRe.MatchString(a.ID) && strings.Split(a.RoleARN, ":")[4] != a.ID {
				add(p+".role_arn", "role belongs to account %s, not %s", strings.Split(a.RoleARN, ":")[4], a.ID)
			}
		}
		if a.ExternalID != "" && a.RoleARN == "" {
			add(p+".external_id", "set without role_arn")
		}
	}
	if c.EndpointURL != "" && !strings.HasPrefix(c.EndpointURL, "http://") && !strings.HasPrefix(c.EndpointURL, "https://") {
		add("endpoint_url", "%q must start with http:// or https://", c.EndpointURL)
	}
	if c.Concurrency < 0 {
		add("concurrency", "must be positive, got %d", c.Concurrency)
	}
	if c.CallTimeout < 0 {
		add("call_timeout", "must be positive, got %s", c.CallTimeout)
	}
	if c.ScopeTimeout < 0 {
		add("scope_timeout", "must be positive, got %s", c.ScopeTimeout)
	}
	if c.MaxAttempts < 0 {
		add("max_attempts", "must be positive, got %d", c.MaxAttempts)
	}
	if c.HomeRegion != "" && !regionRe.MatchString(c.HomeRegion) {
		add("home_region", "%q is not an AWS region name (like us-east-1)", c.HomeRegion)
	}
	if o := c.Organization; o != nil {
		if len(c.Accounts) > 0 {
			add("organization", "set either accounts or organization, not both")
		}
		if !roleNameRe.MatchString(o.RoleName) {
			add("organization.role_name", "%q is not an IAM role name (like eucs-agent)", o.RoleName)
		}
		for _, list := range []struct {
			field string
			ids   []string
		}{{"include", o.Include}, {"exclude", o.Exclude}} {
			for i, id := range list.ids {
				if !accountIDRe.MatchString(id) && !ouIDRe.MatchString(id) && !rootIDRe.MatchString(id) {
					add(fmt.Sprintf("organization.%s[%d]", list.field, i), "%q is not an account ID (12 digits), an OU ID (ou-…) or a root ID (r-…)", id)
				}
			}
		}
	}
	errs = append(errs, ratelimit.ValidateOverrides(c.RateLimits, func(key string) string {
		if !limitKeyRe.MatchString(key) {
			return `must be a service ("ec2") or a service and action ("ec2:DescribeVolumes")`
		}
		return ""
	})...)
	errs = append(errs, c.Shard.ValidateAt("shard")...)
	return errors.Join(errs...)
}
