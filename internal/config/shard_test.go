package config

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors"
)

func TestTopLevelShardAppliesToCollectorsWithoutTheirOwn(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want collectors.Shard
	}{
		{"inherited", "shard: {index: 1, count: 3}\ncollectors: {aws: {}, azure: {}, gcp: {projects: [proj-one]}}\n", collectors.Shard{Index: 1, Count: 3}},
		{"the collector's own wins", "shard: {index: 1, count: 3}\ncollectors: {aws: {shard: {index: 0, count: 2}}, azure: {shard: {index: 0, count: 2}}, gcp: {projects: [proj-one], shard: {index: 0, count: 2}}}\n", collectors.Shard{Index: 0, Count: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("service: S\nsigning: {key: k.pem}\n" + tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Collectors.AWS.Shard; got == nil || *got != tc.want {
				t.Errorf("collectors.aws.shard = %v, want %v", got, tc.want)
			}
			if got := cfg.Collectors.Azure.Shard; got == nil || *got != tc.want {
				t.Errorf("collectors.azure.shard = %v, want %v", got, tc.want)
			}
			if got := cfg.Collectors.GCP.Shard; got == nil || *got != tc.want {
				t.Errorf("collectors.gcp.shard = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestShardOverrideReplacesEveryShardBlock(t *testing.T) {
	doc := "service: S\nsigning: {key: k.pem}\nshard: {index: 1, count: 3}\ncollectors: {aws: {shard: {index: 0, count: 2}}, azure: {shard: {index: 0, count: 2}}, gcp: {projects: [proj-one], shard: {index: 0, count: 2}}}\n"
	cfg, err := parse([]byte(doc), Overrides{Shard: &collectors.Shard{Index: 4, Count: 5}})
	if err != nil {
		t.Fatal(err)
	}
	want := collectors.Shard{Index: 4, Count: 5}
	if got := cfg.Collectors.AWS.Shard; got == nil || *got != want {
		t.Errorf("collectors.aws.shard = %v, want %v", got, want)
	}
	if got := cfg.Collectors.Azure.Shard; got == nil || *got != want {
		t.Errorf("collectors.azure.shard = %v, want %v", got, want)
	}
	if got := cfg.Collectors.GCP.Shard; got == nil || *got != want {
		t.Errorf("collectors.gcp.shard = %v, want %v", got, want)
	}
	if got := cfg.Chain(); got != "shard-4" {
		t.Errorf("chain %q, want shard-4", got)
	}
}

func TestChainIsNamedOnlyWhenTheEstateIsSplit(t *testing.T) {
	for _, tc := range []struct{ shard, want string }{
		{"", ""},
		{"shard: {index: 0, count: 1}\n", ""},
		{"shard: {index: 2, count: 3}\n", "shard-2"},
	} {
		cfg, err := Parse([]byte("service: S\nsigning: {key: k.pem}\ncollectors: {aws: {}}\n" + tc.shard))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Chain(); got != tc.want {
			t.Errorf("%q: chain %q, want %q", tc.shard, got, tc.want)
		}
	}
}
