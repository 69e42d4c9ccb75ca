package collectors

import (
	"fmt"
	"testing"
)

func TestShardsPartitionTheScopesExactly(t *testing.T) {
	var scopes []string
	for i := range 1000 {
		scopes = append(scopes, fmt.Sprintf("%012d", 100000000000+i*7919))
	}
	for _, count := range []int{1, 2, 3, 7, 16} {
		t.Run(fmt.Sprintf("%d replicas", count), func(t *testing.T) {
			owners := map[string]int{}
			sizes := make([]int, count)
			for i := range count {
				s := &Shard{Index: i, Count: count}
				for _, sc := range scopes {
					if s.Owns(sc) {
						owners[sc]++
						sizes[i]++
					}
				}
			}
			for _, sc := range scopes {
				if owners[sc] != 1 {
					t.Fatalf("scope %s is owned by %d replicas, want exactly 1", sc, owners[sc])
				}
			}
			// FNV-1a spreads account IDs evenly enough that no replica is
			// idle or doubled.
			for i, n := range sizes {
				if want := len(scopes) / count; n < want/2 || n > want*2 {
					t.Errorf("replica %d owns %d scopes, expected about %d", i, n, want)
				}
			}
		})
	}
}

func TestShardOwnershipIsStable(t *testing.T) {
	// Pinned: a change of hash would move accounts between replicas (and
	// their chains) on upgrade.
	s := &Shard{Index: 2, Count: 3}
	for scope, want := range map[string]bool{"111111111111": false, "222222222222": false, "345678901234": true, "210987654321": true} {
		if got := s.Owns(scope); got != want {
			t.Errorf("replica 2/3 owns %s: %v, want %v", scope, got, want)
		}
	}
	var none *Shard
	if !none.Owns("anything") {
		t.Error("no shard must own every scope")
	}
}

func TestShardValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Shard
		want string
	}{
		{Shard{Index: 0, Count: 1}, ""},
		{Shard{Index: 3, Count: 3}, "index: must be from 0 to count-1 (2), got 3"},
		{Shard{Index: -1, Count: 2}, "index: must be from 0 to count-1 (1), got -1"},
		{Shard{Index: 0, Count: 0}, "count: must be at least 1, got 0"},
	} {
		err := tc.s.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestValidateAtPrefixesEveryProblem(t *testing.T) {
	var none *Shard
	if errs := none.ValidateAt("shard"); errs != nil {
		t.Errorf("a nil shard: %v", errs)
	}
	errs := (&Shard{Index: -1, Count: 0}).ValidateAt("collectors.gcp.shard")
	want := []string{"collectors.gcp.shard.count: must be at least 1, got 0", "collectors.gcp.shard.index: must be from 0 to count-1 (0), got -1"}
	if len(errs) != len(want) {
		t.Fatalf("errs %v, want %v", errs, want)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("errs[%d] = %q, want %q", i, errs[i], want[i])
		}
	}
}
