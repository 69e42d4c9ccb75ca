package gcp

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
)

func TestSetDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	want := Config{Regions: []string{"all"}, Concurrency: DefaultConcurrency, CallTimeout: DefaultCallTimeout,
		ScopeTimeout: DefaultScopeTimeout, MaxAttempts: DefaultMaxAttempts}
	if !slices.Equal(c.Regions, want.Regions) || c.Concurrency != want.Concurrency || c.CallTimeout != want.CallTimeout ||
		c.ScopeTimeout != want.ScopeTimeout || c.MaxAttempts != want.MaxAttempts {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	set := Config{Regions: []string{"europe-west1"}, Concurrency: 2, CallTimeout: time.Second, ScopeTimeout: time.Minute, MaxAttempts: 1}
	got := set
	got.SetDefaults()
	if !slices.Equal(got.Regions, set.Regions) || got.Concurrency != 2 || got.CallTimeout != time.Second || got.MaxAttempts != 1 {
		t.Errorf("SetDefaults overwrote set fields: %+v", got)
	}
}

func TestValidConfigs(t *testing.T) {
	for _, c := range []Config{
		{Projects: []string{"my-project-1", "example.com:legacy-app"}},
		{Organization: "123456789012"},
		{Organization: "organizations/123456789012", ExcludeProjects: []string{"sys-*"}},
		{Folders: []string{"456", "folders/789"}, Regions: []string{"europe-west1", "EU", "global"},
			AllowedRegions: []string{"europe-west1", "europe-west4", "eu", "europe", "eur4", "nam-eur-asia1"}},
		{Projects: []string{"my-project-1"}, Endpoint: "http://127.0.0.1:8085/"},
		{Organization: "123456789012", Folders: []string{"456"}, ExcludeFolders: []string{"789", "folders/790"},
			Shard: &collectors.Shard{Index: 2, Count: 3},
			RateLimits: map[string]RateLimit{"compute": {Rate: 20, Burst: 40}, "compute:disks.aggregatedList": {Rate: 5},
				"cloudkms:projects.locations.keyRings.list": {Rate: 2, Burst: 2}, "cloudresourcemanager": {Rate: 1}}},
	} {
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestValidateNamesEveryProblem shows the exact messages a user sees, all
// at once, each with its YAML path.
func TestValidateNamesEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "nothing to assess", cfg: Config{},
			want: []string{"projects: name at least one project, or an organization or folders to discover projects under"}},
		{name: "everything wrong at once", cfg: Config{
			Projects:        []string{"My_Project", "ok-project", "ok-project", "short"},
			Organization:    "example.com",
			Folders:         []string{"folders/12", "12", "team-a"},
			ExcludeFolders:  []string{"folders/12", "sandbox"},
			ExcludeProjects: []string{"sys-[", "ok-*"},
			Regions:         []string{"all", "europe-west1"},
			AllowedRegions:  []string{"europe-west1-b", "eu-west-1", "all"},
			Endpoint:        "localhost:8085",
			Concurrency:     -1,
			CallTimeout:     -time.Second,
			ScopeTimeout:    -time.Minute,
			MaxAttempts:     -2,
			RateLimits: map[string]RateLimit{
				"compute":                {Rate: 0, Burst: -1},
				"Compute":                {Rate: 1},
				"compute:instances.list": {Rate: 1},
				"logging":                {Rate: 1},
			},
			Shard: &collectors.Shard{Index: 3, Count: 2},
		}, want: []string{
			`projects[0]: "My_Project" is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)`,
			`projects[2]: project ok-project is already listed at projects[1]`,
			`projects[3]: "short" is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)`,
			`organization: "example.com" is not an organization ID (digits, optionally after organizations/)`,
			`folders[1]: folder 12 is already listed at folders[0]`,
			`folders[2]: "team-a" is not a folder ID (digits, optionally after folders/)`,
			`exclude_folders[0]: folder 12 is listed in folders[0] too`,
			`exclude_folders[1]: "sandbox" is not a folder ID (digits, optionally after folders/)`,
			`exclude_projects[0]: "sys-[" is not a valid pattern: syntax error in pattern`,
			`regions[0]: "all" cannot be combined with named locations`,
			`allowed_regions[0]: "europe-west1-b" is a zone; name its region europe-west1`,
			`allowed_regions[1]: "eu-west-1" is not a GCP location (a region like europe-west1, a multi-region like eu, or global)`,
			`allowed_regions[2]: "all" is not a location`,
			`endpoint: "localhost:8085" must start with http:// or https://`,
			`concurrency: must be positive, got -1`,
			`call_timeout: must be positive, got -1s`,
			`scope_timeout: must be positive, got -1m0s`,
			`max_attempts: must be positive, got -2`,
			`rate_limits["Compute"]: must be a service ("compute") or a service and method ("compute:disks.aggregatedList")`,
			`rate_limits["compute"].rate: must be positive, got 0`,
			`rate_limits["compute"].burst: must not be negative, got -1`,
			`rate_limits["compute:instances.list"]: the collector does not call compute instances.list; it calls disks.aggregatedList, firewalls.list, projects.get, subnetworks.aggregatedList`,
			`rate_limits["logging"]: the collector does not call service logging; it calls cloudkms, cloudresourcemanager, compute, iam, sqladmin, storage`,
			`shard.index: must be from 0 to count-1 (1), got 3`,
		}},
		{name: "shard without replicas", cfg: Config{Projects: []string{"my-project-1"}, Shard: &collectors.Shard{}},
			want: []string{`shard.count: must be at least 1, got 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
