package gcp

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// Config is the `collectors.gcp` block of agent.yaml.
type Config struct {
	// Projects to assess, by project ID. They are added to the projects
	// found under Organization and Folders.
	Projects []string `yaml:"projects"`
	// Organization, when set, has every active project under it assessed,
	// at any depth of folders (Resource Manager v3 projects.list and
	// folders.list). "123456789012" or "organizations/123456789012".
	Organization string `yaml:"organization"`
	// Folders, like Organization, have every active project under them
	// assessed. "456" or "folders/456".
	Folders []string `yaml:"folders"`
	// ExcludeProjects are path.Match patterns of project IDs left out of
	// discovery under Organization and Folders ("sys-*" for Apps Script
	// projects, say). Projects listed by ID are always assessed.
	ExcludeProjects []string `yaml:"exclude_projects"`
	// ExcludeFolders are folders ("456" or "folders/456") whose projects,
	// at any depth, are left out of discovery under Organization and
	// Folders; they are not even listed. A folder cannot be both listed in
	// Folders and excluded.
	ExcludeFolders []string `yaml:"exclude_folders"`
	// Regions are the locations to collect from. The single entry "all"
	// (the default) means every location. Otherwise a resource is
	// collected when its location is covered by the list, by the same rule
	// as AllowedRegions, and Cloud KMS is asked in exactly these locations.
	// Project-wide resources (firewall rules, service accounts, IAM
	// policies, project metadata) are always collected.
	Regions []string `yaml:"regions"`
	// AllowedRegions is the data-location policy: every located resource
	// whose location it does not cover fails gcp.location.allowed_region.
	// Empty turns the location check off.
	//
	// Entries are GCP location names, compared without regard to case: a
	// region (europe-west1) covers resources in it and in its zones; a
	// multi-region or dual-region name (eu, europe, eur4) or global covers
	// resources at exactly that location. A multi-region is not covered by
	// listing regions, because Google may place its data in any region of
	// the multi-region and does not commit to a list; only a configurable
	// dual-region bucket, whose API answer names its regions, is also
	// covered when every one of its regions is.
	AllowedRegions []string `yaml:"allowed_regions"`
	// Endpoint overrides the base URL of every Google API the collector
	// calls (emulators, the simulator, a private API gateway). Each API
	// keeps its own path under it: /storage/v1, /compute/v1, /v1 for Cloud
	// KMS, Cloud SQL Admin and IAM, /v3 for Resource Manager.
	Endpoint string `yaml:"endpoint"`
	// Concurrency bounds how many project/service scopes are collected at
	// once, across every project of the run; the Resource Manager listings
	// of discovery run under a bound of the same size of their own, and
	// wait while the scopes are at theirs.
	Concurrency int `yaml:"concurrency"`
	// CallTimeout bounds each HTTP request to a Google API, each retry
	// included on its own.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// ScopeTimeout bounds the collection of one service in one project,
	// paging included.
	ScopeTimeout time.Duration `yaml:"scope_timeout"`
	// MaxAttempts is how often a throttled or failed call is tried.
	MaxAttempts int `yaml:"max_attempts"`
	// RateLimits override the token buckets the collector keeps itself
	// within, one per Google API quota it draws on (see ratelimit.go for
	// the defaults and their sources). A key is a service ("compute") or a
	// service and method ("compute:disks.aggregatedList"): the services
	// are compute, storage, cloudkms, sqladmin, iam and
	// cloudresourcemanager, and the methods are named as in each API's
	// REST reference (projects.locations.keyRings.list for Cloud KMS key
	// rings). A service's entry sets the bucket every method of the
	// service shares; a method's entry gives that method a bucket of its
	// own. Buckets are kept per project for Compute Engine and Cloud
	// Storage, whose quotas are the assessed project's, and once for all
	// projects (per location for Cloud KMS) for the others, whose quotas
	// are the agent's own project's. When Shard splits the estate between
	// N replicas, each keeps 1/N of the default buckets of the agent's own
	// project; configured limits are taken as they are.
	RateLimits map[string]RateLimit `yaml:"rate_limits"`
	// Shard, when set, makes this agent one of several replicas that split
	// the projects between them by project ID (collectors.Shard). A
	// top-level shard block applies here when this one is not set.
	Shard *collectors.Shard `yaml:"shard"`
}

// RateLimit is one token bucket: Rate requests a second on average, up to
// Burst at once (Burst defaults to one second's worth of Rate).
type RateLimit = ratelimit.Limit

// Defaults set in code, applied by SetDefaults.
const (
	DefaultConcurrency  = 8
	DefaultCallTimeout  = 30 * time.Second
	DefaultScopeTimeout = 5 * time.Minute
	DefaultMaxAttempts  = 5
)

// allLocations is the Regions entry that means every location.
const allLocations = "all"

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = []string{allLocations}
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
	// projectIDRe is a project ID: 6 to 30 characters, with the legacy
	// domain-scoped form (example.com:my-project) allowed.
	projectIDRe = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	numericRe   = regexp.MustCompile(`^[0-9]+$`)
	// locationRe is a location name: a region (europe-west1), a
	// multi-region (eu, europe, nam-eur-asia1), a dual-region (eur4) or
	// global. It refuses AWS-style names (eu-west-1).
	locationRe = regexp.MustCompile(`^[a-z]+(-[a-z]+)*[0-9]*$`)
)

// Validate reports every problem at once, each prefixed with its YAML path
// relative to this block.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(c.Projects) == 0 && c.Organization == "" && len(c.Folders) == 0 {
		add("projects", "name at least one project, or an organization or folders to discover projects under")
	}
	seen := map[string]int{}
	for i, p := range c.Projects {
		at := fmt.Sprintf("projects[%d]", i)
		if !projectIDRe.MatchString(p) {
			add(at, "%q is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)", p)
		} else if j, dup := seen[p]; dup {
			add(at, "project %s is already listed at projects[%d]", p, j)
		} else {
			seen[p] = i
		}
	}
	if c.Organization != "" && !numericRe.MatchString(strings.TrimPrefix(c.Organization, "organizations/")) {
		add("organization", "%q is not an organization ID (digits, optionally after organizations/)", c.Organization)
	}
	folders := map[string]int{}
	for i, f := range c.Folders {
		at := fmt.Sprintf("folders[%d]", i)
		id := strings.TrimPrefix(f, "folders/")
		if !numericRe.MatchString(id) {
			add(at, "%q is not a folder ID (digits, optionally after folders/)", f)
		} else if j, dup := folders[id]; dup {
			add(at, "folder %s is already listed at folders[%d]", id, j)
		} else {
			folders[id] = i
		}
	}
	for i, f := range c.ExcludeFolders {
		at := fmt.Sprintf("exclude_folders[%d]", i)
		id := strings.TrimPrefix(f, "folders/")
		if !numericRe.MatchString(id) {
			add(at, "%q is not a folder ID (digits, optionally after folders/)", f)
		} else if j, listed := folders[id]; listed {
			add(at, "folder %s is listed in folders[%d] too", id, j)
		}
	}
	for i, p := range c.ExcludeProjects {
		if _, err := path.Match(p, ""); err != nil {
			add(fmt.Sprintf("exclude_projects[%d]", i), "%q is not a valid pattern: %v", p, err)
		}
	}
	for i, r := range c.Regions {
		at := fmt.Sprintf("regions[%d]", i)
		if r == allLocations {
			if len(c.Regions) > 1 {
				add(at, `"all" cannot be combined with named locations`)
			}
			continue
		}
		if msg := locationProblem(r); msg != "" {
			add(at, "%s", msg)
		}
	}
	for i, r := range c.AllowedRegions {
		if msg := locationProblem(r); msg != "" {
			add(fmt.Sprintf("allowed_regions[%d]", i), "%s", msg)
		}
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		add("endpoint", "%q must start with http:// or https://", c.Endpoint)
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
	errs = append(errs, ratelimit.ValidateOverrides(c.RateLimits, limitKeyProblem)...)
	errs = append(errs, c.Shard.ValidateAt("shard")...)
	return errors.Join(errs...)
}

// locationProblem says what is wrong with a configured location name, or
// "" when nothing is.
func locationProblem(name string) string {
	l := strings.ToLower(name)
	if region, ok := zoneRegion(l); ok {
		return fmt.Sprintf("%q is a zone; name its region %s", name, region)
	}
	if l == allLocations {
		return `"all" is not a location`
	}
	if !locationRe.MatchString(l) {
		return fmt.Sprintf("%q is not a GCP location (a region like europe-west1, a multi-region like eu, or global)", name)
	}
	return ""
}

// organizationName is the configured organization as a resource name.
func (c *Config) organizationName() string {
	if c.Organization == "" {
		return ""
	}
	return "organizations/" + strings.TrimPrefix(c.Organization, "organizations/")
}

// folderNames are the configured folders as resource names.
func (c *Config) folderNames() []string {
	out := make([]string, 0, len(c.Folders))
	for _, f := range c.Folders {
		out = append(out, "folders/"+strings.TrimPrefix(f, "folders/"))
	}
	return out
}

// folderExcluded reports whether discovery leaves out the folder name
// (folders/N) and everything under it.
func (c *Config) folderExcluded(name string) bool {
	for _, f := range c.ExcludeFolders {
		if "folders/"+strings.TrimPrefix(f, "folders/") == name {
			return true
		}
	}
	return false
}

// excluded reports whether a discovered project is left out.
func (c *Config) excluded(project string) bool {
	for _, p := range c.ExcludeProjects {
		if ok, _ := path.Match(p, project); ok {
			return true
		}
	}
	return false
}
