package azure

import (
	"strings"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
)

func TestSetDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	want := Config{Cloud: "public", Concurrency: 8, CallTimeout: 30 * time.Second, ScopeTimeout: 5 * time.Minute, MaxAttempts: 4}
	if c.Cloud != want.Cloud || c.Concurrency != want.Concurrency || c.CallTimeout != want.CallTimeout ||
		c.ScopeTimeout != want.ScopeTimeout || c.MaxAttempts != want.MaxAttempts {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{
			name: "valid subscriptions",
			cfg:  Config{Subscriptions: []string{sub1, sub2}, AllowedRegions: []string{"westeurope", "germanywestcentral"}, Cloud: "china"},
		},
		{
			name: "valid management group",
			cfg:  Config{ManagementGroup: "contoso-landing_zones(eu).1", Cloud: "usgovernment", EndpointURL: "https://localhost:8443"},
		},
		{
			name: "bad subscription IDs",
			cfg:  Config{Subscriptions: []string{"prod", sub1, "11111111-1111-4111-8111-111111111111"}},
			want: `subscriptions[0]: "prod" is not a subscription ID (a GUID like 00000000-0000-0000-0000-000000000000)` + "\n" +
				`subscriptions[2]: subscription 11111111-1111-4111-8111-111111111111 is already listed at subscriptions[1]`,
		},
		{
			name: "duplicate IDs differ in case only",
			cfg:  Config{Subscriptions: []string{"AAAAAAAA-1111-4111-8111-111111111111", "aaaaaaaa-1111-4111-8111-111111111111"}},
			want: `subscriptions[1]: subscription aaaaaaaa-1111-4111-8111-111111111111 is already listed at subscriptions[0]`,
		},
		{
			name: "group and subscriptions together",
			cfg:  Config{Subscriptions: []string{sub1}, ManagementGroup: "mg"},
			want: `management_group: cannot be combined with subscriptions; list the subscriptions or name the group, not both`,
		},
		{
			name: "bad group ID",
			cfg:  Config{ManagementGroup: "my group."},
			want: `management_group: "my group." is not a management group ID (up to 90 letters, digits, -, _, (, ) and .)`,
		},
		{
			name: "valid include, exclude, rate limits and shard",
			cfg: Config{ManagementGroup: "mg", Include: []string{sub1, "mg-child", "/providers/Microsoft.Management/managementGroups/" + sub2},
				Exclude:    []string{strings.ToUpper(sub2), "/PROVIDERS/microsoft.management/MANAGEMENTGROUPS/mg-x"},
				RateLimits: map[string]RateLimit{"arm": {Rate: 5}, "microsoft.compute": {Rate: 0.5, Burst: 2}, "microsoft.web": {Rate: 1}},
				Shard:      &collectors.Shard{Index: 2, Count: 3}},
		},
		{
			name: "bad include and exclude entries",
			cfg: Config{Include: []string{"prod team", "/providers/Microsoft.Management/managementGroups/"},
				Exclude: []string{"/subscriptions/" + sub1, "mg."}},
			want: `include[0]: "prod team" is not a subscription ID (a GUID), a management group ID or a management group resource ID (/providers/Microsoft.Management/managementGroups/ID)` + "\n" +
				`include[1]: "/providers/Microsoft.Management/managementGroups/" is not a subscription ID (a GUID), a management group ID or a management group resource ID (/providers/Microsoft.Management/managementGroups/ID)` + "\n" +
				`exclude[0]: "/subscriptions/` + sub1 + `" is not a subscription ID (a GUID), a management group ID or a management group resource ID (/providers/Microsoft.Management/managementGroups/ID)` + "\n" +
				`exclude[1]: "mg." is not a subscription ID (a GUID), a management group ID or a management group resource ID (/providers/Microsoft.Management/managementGroups/ID)`,
		},
		{
			name: "include and exclude choose among discovered subscriptions only",
			cfg:  Config{Subscriptions: []string{sub1}, Include: []string{sub1}, Exclude: []string{"mg"}},
			want: `include: cannot be combined with subscriptions, which are assessed as listed` + "\n" +
				`exclude: cannot be combined with subscriptions, which are assessed as listed`,
		},
		{
			name: "bad rate limits",
			cfg: Config{RateLimits: map[string]RateLimit{
				"Microsoft.Compute": {Rate: 1},
				"arm":               {Rate: 0, Burst: -1},
				"storage":           {Rate: -2},
			}},
			want: `rate_limits["Microsoft.Compute"]: must be "arm" or a resource provider namespace in lower case (like "microsoft.compute")` + "\n" +
				`rate_limits["arm"].rate: must be positive, got 0` + "\n" +
				`rate_limits["arm"].burst: must not be negative, got -1` + "\n" +
				`rate_limits["storage"]: must be "arm" or a resource provider namespace in lower case (like "microsoft.compute")` + "\n" +
				`rate_limits["storage"].rate: must be positive, got -2`,
		},
		{
			name: "bad shard",
			cfg:  Config{Shard: &collectors.Shard{Index: 3, Count: 3}},
			want: `shard.index: must be from 0 to count-1 (2), got 3`,
		},
		{
			name: "a shard of no replicas",
			cfg:  Config{Shard: &collectors.Shard{Index: -1, Count: 0}},
			want: `shard.count: must be at least 1, got 0` + "\n" + `shard.index: must be from 0 to count-1 (0), got -1`,
		},
		{
			name: "everything else at once",
			cfg: Config{Cloud: "germany", AllowedRegions: []string{"West Europe", "eu-west-1"}, EndpointURL: "http://localhost",
				Concurrency: -1, CallTimeout: -time.Second, ScopeTimeout: -time.Minute, MaxAttempts: -2},
			want: `cloud: "germany" is not one of public, usgovernment, china` + "\n" +
				`allowed_regions[0]: "West Europe" is not an Azure location name (like westeurope)` + "\n" +
				`allowed_regions[1]: "eu-west-1" is not an Azure location name (like westeurope)` + "\n" +
				`endpoint_url: "http://localhost" must start with https:// (the SDK sends bearer tokens over TLS only)` + "\n" +
				`concurrency: must be positive, got -1` + "\n" +
				`call_timeout: must be positive, got -1s` + "\n" +
				`scope_timeout: must be positive, got -1m0s` + "\n" +
				`max_attempts: must be positive, got -2`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNewNeedsACredential(t *testing.T) {
	var cfg Config
	cfg.SetDefaults()
	if _, err := New(cfg, nil, nil, nil); err == nil || err.Error() != "azure collector needs a credential" {
		t.Errorf("New without credential: %v", err)
	}
}
