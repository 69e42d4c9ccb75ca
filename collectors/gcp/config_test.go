package gcp

import (
	"slices"
	"strings"
	"testing"
	"time"
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
			ExcludeProjects: []string{"sys-[", "ok-*"},
			Regions:         []string{"all", "europe-west1"},
			AllowedRegions:  []string{"europe-west1-b", "eu-west-1", "all"},
			Endpoint:        "localhost:8085",
			Concurrency:     -1,
			CallTimeout:     -time.Second,
			ScopeTimeout:    -time.Minute,
			MaxAttempts:     -2,
		}, want: []string{
			`projects[0]: "My_Project" is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)`,
			`projects[2]: project ok-project is already listed at projects[1]`,
			`projects[3]: "short" is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)`,
			`organization: "example.com" is not an organization ID (digits, optionally after organizations/)`,
			`folders[1]: folder 12 is already listed at folders[0]`,
			`folders[2]: "team-a" is not a folder ID (digits, optionally after folders/)`,
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
		}},
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
