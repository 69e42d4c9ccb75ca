package controls

import (
	"context"
	"slices"
	"sync"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// RequirementStatus is a requirement's state after a run, at the target
// assurance level.
type RequirementStatus string

// The roll-up outcomes.
const (
	// Satisfied: automated checks map to it and every finding passed (or did
	// not apply).
	Satisfied RequirementStatus = "satisfied"
	// NotSatisfied: at least one mapped finding failed.
	NotSatisfied RequirementStatus = "not_satisfied"
	// NotAssessedReq: no failure, but at least one mapped finding could not be
	// assessed, or no mapped check produced any finding.
	NotAssessedReq RequirementStatus = "not_assessed"
	// Manual: no automated check maps to it; an auditor assesses it by hand.
	Manual RequirementStatus = "manual"
)

// Result is one requirement's roll-up in a bundle's predicate.
type Result struct {
	ID     string            `json:"id"`
	Level  Level             `json:"level"`
	Status RequirementStatus `json:"status"`
	// Checks are the automated checks that evidence the requirement.
	Checks        []string `json:"checks,omitempty"`
	Pass          int      `json:"pass"`
	Fail          int      `json:"fail"`
	NotApplicable int      `json:"not_applicable"`
	NotAssessed   int      `json:"not_assessed"`
}

// Tally counts findings per requirement as they stream past, then rolls them
// up. It keeps counters only, so its memory does not grow with the estate.
// It is safe for concurrent use.
type Tally struct {
	set   *Set
	level Level

	mu     sync.Mutex
	counts map[string]*[4]int // requirement ID -> pass, fail, not_applicable, not_assessed
}

// NewTally returns a tally for the requirements applicable at level.
func (s *Set) NewTally(level Level) *Tally {
	return &Tally{set: s, level: level, counts: map[string]*[4]int{}}
}

func statusIndex(st finding.Status) int {
	switch st {
	case finding.Pass:
		return 0
	case finding.Fail:
		return 1
	case finding.NotApplicable:
		return 2
	default:
		return 3
	}
}

// Add counts f against each of its requirements.
func (t *Tally) Add(f *finding.Finding) {
	i := statusIndex(f.Status)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range f.Requirements {
		c := t.counts[id]
		if c == nil {
			c = new([4]int)
			t.counts[id] = c
		}
		c[i]++
	}
}

// Results rolls the counts up for every requirement applicable at the
// tally's level, in catalogue order.
func (t *Tally) Results() []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Result
	for _, req := range t.set.Catalog.Requirements() {
		if !req.Level.AppliesAt(t.level) {
			continue
		}
		r := Result{ID: req.ID, Level: req.Level, Checks: t.set.ChecksFor(req.ID)}
		if c := t.counts[req.ID]; c != nil {
			r.Pass, r.Fail, r.NotApplicable, r.NotAssessed = c[0], c[1], c[2], c[3]
		}
		switch {
		case len(r.Checks) == 0:
			r.Status = Manual
		case r.Fail > 0:
			r.Status = NotSatisfied
		case r.NotAssessed > 0 || r.Pass+r.NotApplicable == 0:
			r.Status = NotAssessedReq
		default:
			r.Status = Satisfied
		}
		out = append(out, r)
	}
	return out
}

// Summary counts results by status.
func Summary(results []Result) map[RequirementStatus]int {
	m := map[RequirementStatus]int{}
	for _, r := range results {
		m[r.Status]++
	}
	return m
}

// Mapper is a finding.Sink stage: it stamps each finding with the EUCS
// requirements of its check, counts it in a Tally, and passes it on. A
// finding whose check is not mapped is an error: the mapping is validated at
// load time, so this only happens when a collector emits an undeclared check.
type Mapper struct {
	set   *Set
	tally *Tally
	next  finding.Sink
}

// NewMapper returns a Mapper that forwards to next.
func (s *Set) NewMapper(t *Tally, next finding.Sink) *Mapper {
	return &Mapper{set: s, tally: t, next: next}
}

// Finding maps, counts and forwards f.
func (m *Mapper) Finding(ctx context.Context, f finding.Finding) error {
	c, ok := m.set.Check(f.Check)
	if !ok {
		return &UnmappedCheckError{Check: f.Check}
	}
	f.Requirements = c.Requirements
	if err := f.Validate(); err != nil {
		return err
	}
	m.tally.Add(&f)
	return m.next.Finding(ctx, f)
}

// Coverage forwards c.
func (m *Mapper) Coverage(ctx context.Context, c finding.Coverage) error {
	return m.next.Coverage(ctx, c)
}

// UnmappedCheckError is returned for a finding whose check has no mapping.
type UnmappedCheckError struct{ Check string }

func (e *UnmappedCheckError) Error() string {
	return "check " + e.Check + " is not in the check catalogue (controls/checks/*.yaml)"
}

// sortedCopy returns a sorted copy of ids.
func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
