package azure

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Config is the `collectors.azure` block of agent.yaml.
type Config struct {
	// Subscriptions to assess, by ID. Empty means every subscription the
	// identity can read, or every one under ManagementGroup when that is
	// set.
	Subscriptions []string `yaml:"subscriptions"`
	// ManagementGroup, when set, scopes the run to the subscriptions in
	// this management group and every group below it.
	ManagementGroup string `yaml:"management_group"`
	// Cloud is the Azure cloud: public, usgovernment or china. It selects
	// the Entra ID authority and the Resource Manager endpoint.
	Cloud string `yaml:"cloud"`
	// AllowedRegions is the data-location policy, as Azure location names
	// (westeurope, germanywestcentral): every resource found elsewhere
	// fails azure.location.allowed_region. Empty turns the check off.
	AllowedRegions []string `yaml:"allowed_regions"`
	// EndpointURL overrides the Resource Manager endpoint (an emulator, a
	// simulator, a private cloud). It must be HTTPS: the SDK will not send
	// a bearer token in the clear.
	EndpointURL string `yaml:"endpoint_url"`
	// Concurrency bounds how many subscription/service scopes are collected
	// at once.
	Concurrency int `yaml:"concurrency"`
	// CallTimeout bounds each HTTP request to an Azure API.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// ScopeTimeout bounds the collection of one service in one
	// subscription, paging included.
	ScopeTimeout time.Duration `yaml:"scope_timeout"`
	// MaxAttempts is how often the SDK tries a throttled or failed call.
	MaxAttempts int `yaml:"max_attempts"`
}

// Defaults set in code, applied by SetDefaults.
const (
	DefaultCloud        = CloudPublic
	DefaultConcurrency  = 8
	DefaultCallTimeout  = 30 * time.Second
	DefaultScopeTimeout = 5 * time.Minute
	// DefaultMaxAttempts is the SDK's own default: one try and three
	// retries.
	DefaultMaxAttempts = 4
)

// The clouds Cloud may name.
const (
	CloudPublic       = "public"
	CloudUSGovernment = "usgovernment"
	CloudChina        = "china"
)

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Cloud == "" {
		c.Cloud = DefaultCloud
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
}

var (
	subscriptionIDRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// Management group IDs are up to 90 letters, digits, -, _, (, ) and
	// periods, not ending in a period.
	managementGroupRe = regexp.MustCompile(`^[A-Za-z0-9_()\-.]{0,89}[A-Za-z0-9_()\-]$`)
	// Location names are the lower-case, space-free programmatic names.
	locationRe = regexp.MustCompile(`^[a-z][a-z0-9]+$`)
)

// Validate reports every problem at once, each prefixed with its YAML path
// relative to this block.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	seen := map[string]int{}
	for i, s := range c.Subscriptions {
		p := fmt.Sprintf("subscriptions[%d]", i)
		if !subscriptionIDRe.MatchString(s) {
			add(p, "%q is not a subscription ID (a GUID like 00000000-0000-0000-0000-000000000000)", s)
		} else if j, dup := seen[strings.ToLower(s)]; dup {
			add(p, "subscription %s is already listed at subscriptions[%d]", s, j)
		} else {
			seen[strings.ToLower(s)] = i
		}
	}
	if c.ManagementGroup != "" {
		if !managementGroupRe.MatchString(c.ManagementGroup) {
			add("management_group", "%q is not a management group ID (up to 90 letters, digits, -, _, (, ) and .)", c.ManagementGroup)
		}
		if len(c.Subscriptions) > 0 {
			add("management_group", "cannot be combined with subscriptions; list the subscriptions or name the group, not both")
		}
	}
	switch c.Cloud {
	case "", CloudPublic, CloudUSGovernment, CloudChina:
	default:
		add("cloud", "%q is not one of public, usgovernment, china", c.Cloud)
	}
	for i, r := range c.AllowedRegions {
		if !locationRe.MatchString(r) {
			add(fmt.Sprintf("allowed_regions[%d]", i), "%q is not an Azure location name (like westeurope)", r)
		}
	}
	if c.EndpointURL != "" && !strings.HasPrefix(c.EndpointURL, "https://") {
		add("endpoint_url", "%q must start with https:// (the SDK sends bearer tokens over TLS only)", c.EndpointURL)
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
	return errors.Join(errs...)
}
