package collectors

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// Shard is one replica's share of the scopes (cloud accounts, projects,
// subscriptions) when several agents split an estate between them: replica
// Index of Count takes the scopes whose stable hash modulo Count is Index.
// Every replica keeps its own chain (its own state directory and signing
// key or key id), so the replicas together seal each scope exactly once per
// run and never into one chain. A nil *Shard takes every scope.
type Shard struct {
	// Index is this replica's number, from 0.
	Index int `yaml:"index"`
	// Count is how many replicas share the estate.
	Count int `yaml:"count"`
}

// Owns reports whether scope (an account ID, say) belongs to this replica.
// The hash is FNV-1a (64-bit) of the scope's bytes: stable across
// releases, platforms and restarts, so a scope never moves between replicas
// unless Count changes.
func (s *Shard) Owns(scope string) bool {
	if s == nil || s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(scope))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// Validate reports every problem, each prefixed with its YAML key.
func (s *Shard) Validate() error {
	var errs []error
	if s.Count < 1 {
		errs = append(errs, fmt.Errorf("count: must be at least 1, got %d", s.Count))
	}
	if s.Index < 0 || (s.Count >= 1 && s.Index >= s.Count) {
		errs = append(errs, fmt.Errorf("index: must be from 0 to count-1 (%d), got %d", max(s.Count-1, 0), s.Index))
	}
	return errors.Join(errs...)
}

// ValidateAt is Validate for a shard block at a YAML path (such as
// "shard"): every problem, each prefixed with the path. A nil shard has
// none.
func (s *Shard) ValidateAt(path string) []error {
	if s == nil {
		return nil
	}
	err := s.Validate()
	if err == nil {
		return nil
	}
	var errs []error
	for _, line := range strings.Split(err.Error(), "\n") {
		errs = append(errs, fmt.Errorf("%s.%s", path, line))
	}
	return errs
}

// String is how logs name the shard: "2/5" is replica 2 of 5.
func (s *Shard) String() string {
	if s == nil {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
