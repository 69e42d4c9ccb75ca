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
		{"inherited", "shard: {index: 1, count: 3}\ncollectors: {aws: {}}\n", collectors.Shard{Index: 1, Count: 3}},
		{"the collector's own wins", "shard: {index: 1, count: 3}\ncollectors: {aws: {shard: {index: 0, count: 2}}}\n", collectors.Shard{Index: 0, Count: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("service: S\nsigning: {key: k.pem}\n" + tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Collectors.AWS.Shard; got == nil || *got != tc.want {
				t.Errorf("collectors.aws.shard = %v, want %v", got, tc.want)
			}
		})
	}
}
