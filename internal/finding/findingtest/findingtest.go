// Package findingtest helps collector tests assert on what a collector
// emitted: a Recorder sink that keeps every finding and coverage record, and
// Holds, which compares an observed excerpt with what a test expects.
package findingtest

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Recorder is a finding.Sink that keeps everything, for assertions. It is
// safe for concurrent use while a collector runs; read its fields after.
type Recorder struct {
	mu       sync.Mutex
	Findings []finding.Finding
	// Covered holds the coverage records (a field cannot share the name of
	// the Coverage method).
	Covered []finding.Coverage
}

// Finding keeps f.
func (r *Recorder) Finding(_ context.Context, f finding.Finding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Findings = append(r.Findings, f)
	return nil
}

// Coverage keeps c.
func (r *Recorder) Coverage(_ context.Context, c finding.Coverage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Covered = append(r.Covered, c)
	return nil
}

// Of returns the findings of check on resource ("" for any resource).
func (r *Recorder) Of(check, resource string) []finding.Finding {
	var out []finding.Finding
	for _, f := range r.Findings {
		if f.Check == check && (resource == "" || f.Resource == resource) {
			out = append(out, f)
		}
	}
	return out
}

// One returns the single finding of check on resource, failing the test
// when there is not exactly one.
func (r *Recorder) One(t testing.TB, check, resource string) finding.Finding {
	t.Helper()
	fs := r.Of(check, resource)
	if len(fs) != 1 {
		t.Fatalf("want exactly one %s finding on %q, got %d: %+v", check, resource, len(fs), fs)
	}
	return fs[0]
}

// Accounts returns the accounts findings were emitted for, sorted.
func (r *Recorder) Accounts() []string {
	var out []string
	for _, f := range r.Findings {
		if !slices.Contains(out, f.Account) {
			out = append(out, f.Account)
		}
	}
	slices.Sort(out)
	return out
}

// Holds reports whether got has everything want has: maps may carry more
// keys than want names, slices must match element by element, and other
// values must be equal.
func Holds(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if gv, ok := g[k]; !ok || !Holds(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !Holds(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}
