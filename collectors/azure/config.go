package azure

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
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
	// Include limits discovered subscriptions (under ManagementGroup, or
	// every one the identity can read) to these: subscription IDs, and
	// management groups whose subscriptions, in nested groups too, are
	// taken. A GUID is a subscription ID; a management group whose ID is
	// a GUID is named by its resource ID,
	// /providers/Microsoft.Management/managementGroups/ID. Empty: every
	// discovered subscription.
	Include []string `yaml:"include"`
	// Exclude removes subscriptions, and the subscriptions under
	// management groups, written as in Include, from the discovered ones;
	// it wins over Include.
	Exclude []string `yaml:"exclude"`
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
	// CallTimeout bounds each HTTP request to an Azure API (each attempt),
	// from after its wait for a rate-limit token.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// ScopeTimeout bounds the collection of one service in one
	// subscription, paging, retries and rate-limit waits included.
	ScopeTimeout time.Duration `yaml:"scope_timeout"`
	// MaxAttempts is how often the SDK tries a throttled or failed call.
	MaxAttempts int `yaml:"max_attempts"`
	// RateLimits override the token buckets the collector keeps itself
	// within (see ratelimit.go for the defaults and their sources). The
	// key "arm" is Azure Resource Manager's own read bucket, kept per
	// subscription and one for the tenant; any other key is a resource
	// provider namespace in lower case ("microsoft.compute",
	// "microsoft.storage"), whose bucket is kept per subscription. Every
	// request waits for a token of its provider's bucket, when there is
	// one, and of ARM's.
	RateLimits map[string]RateLimit `yaml:"rate_limits"`
	// Shard, when set, makes this agent one of several replicas that split
	// the subscriptions between them by the hash of each subscription ID
	// in lower case (collectors.Shard). A top-level shard block applies
	// here when this one is not set.
	Shard *collectors.Shard `yaml:"shard"`
}

// RateLimit is one token bucket: Rate requests a second on average, up to
// Burst at once (Burst defaults to one second's worth of Rate).
type RateLimit = ratelimit.Limit

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
	// limitKeyRe is "arm" or a resource provider namespace in lower case.
	limitKeyRe = regexp.MustCompile(`^(arm|[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+)$`)
)

// groupResourcePrefix starts the resource ID of a management group.
const groupResourcePrefix = "/providers/Microsoft.Management/managementGroups/"

// selector is one include or exclude entry: a subscription ID in lower
// case, or a management group ID.
type selector struct {
	subscription, group string
}

// parseSelector reads an include or exclude entry; ok is false when it is
// neither a subscription ID nor a management group ID or resource ID.
func parseSelector(s string) (sel selector, ok bool) {
	switch {
	case subscriptionIDRe.MatchString(s):
		return selector{subscription: strings.ToLower(s)}, true
	case len(s) > len(groupResourcePrefix) && strings.EqualFold(s[:len(groupResourcePrefix)], groupResourcePrefix):
		id := s[len(groupResourcePrefix):]
		return selector{group: id}, managementGroupRe.MatchString(id)
	case managementGroupRe.MatchString(s):
		return selector{group: s}, true
	}
	return selector{}, false
}

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
	for _, list := range []struct {
		field   string
		entries []string
	}{{"include", c.Include}, {"exclude", c.Exclude}} {
		if len(list.entries) > 0 && len(c.Subscriptions) > 0 {
			add(list.field, "cannot be combined with subscriptions, which are assessed as listed")
		}
		for i, e := range list.entries {
			if _, ok := parseSelector(e); !ok {
				add(fmt.Sprintf("%s[%d]", list.field, i), "%q is not a subscription ID (a GUID), a management group ID or a management group resource ID (%sID)", e, groupResourcePrefix)
			}
		}
	}
	errs = append(errs, ratelimit.ValidateOverrides(c.RateLimits, func(key string) string {
		if !limitKeyRe.MatchString(key) {
			return `must be "arm" or a resource provider namespace in lower case (like "microsoft.compute")`
		}
		return ""
	})...)
	errs = append(errs, c.Shard.ValidateAt("shard")...)
	return errors.Join(errs...)
}
