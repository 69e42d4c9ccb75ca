package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Verification of runs split into parts (docs/evidence-format.md, section
// 11). Each manifest and each part is first checked on its own, like a
// bundle; then every part a manifest lists is looked up by its payload
// digest among the parts given. File names play no part: the digest in the
// signed manifest is what ties a part to its run.

// manifestInfo is a manifest that passed its own checks.
type manifestInfo struct {
	v       Verified
	digests []string // payload digests of parts 1..n
	summary partsSummary
}

// partInfo is a part that passed its own checks.
type partInfo struct {
	name          string
	payloadDigest string
	runID         string
	sequence      uint64
	index, count  int
	findings      int
	scopes        []string
}

// predicateTypeOf reads a statement's predicate type, "" when the payload
// is not a JSON object with one.
func predicateTypeOf(body []byte) string {
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(body, &st) != nil {
		return ""
	}
	return st.PredicateType
}

// checkManifest checks a manifest's verified payload on its own: the
// statement, the run's metadata and chain link, and that its subjects name
// its parts in order.
func checkManifest(name string, body []byte) (manifestInfo, []error) {
	var st struct {
		Type          string             `json:"_type"`
		Subject       []subject          `json:"subject"`
		PredicateType string             `json:"predicateType"`
		Predicate     *manifestPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return manifestInfo{}, []error{fmt.Errorf("payload is not an in-toto statement: %w", err)}
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if st.Type != StatementType {
		add("statement _type is %q, want %q", st.Type, StatementType)
	}
	if len(st.Subject) == 0 {
		add("manifest has no subject: it lists no parts")
	}
	p := st.Predicate
	if p == nil {
		add("statement has no predicate")
		return manifestInfo{}, errs
	}
	errs = append(errs, checkRun(p.Run, p.Service, p.Level, p.Chain, p.Requirements)...)
	if p.Parts == nil {
		add("predicate.parts is missing")
	} else if p.Parts.Count != len(st.Subject) {
		add("predicate.parts.count is %d, but the manifest lists %s", p.Parts.Count, plural(len(st.Subject), "part", "parts"))
	}
	m := manifestInfo{digests: make([]string, 0, len(st.Subject))}
	for i, s := range st.Subject {
		if err := validateSubject(s); err != nil {
			add("subject[%d] (%s): %w", i, s.Name, err)
			continue
		}
		if want := partSubjectName(i + 1); s.Name != want {
			add("subject[%d] is %q, want %q: a manifest lists its parts in order", i, s.Name, want)
			continue
		}
		m.digests = append(m.digests, s.Digest["sha256"])
	}
	if len(errs) > 0 {
		return manifestInfo{}, errs
	}
	m.summary = *p.Parts
	m.v = Verified{
		Name:          name,
		Chain:         p.Chain.ID,
		Sequence:      p.Chain.Sequence,
		Previous:      p.Chain.Previous,
		PayloadDigest: digestHex(body),
		RunID:         p.Run.ID,
		Service:       p.Service,
		Level:         p.Level,
		Parts:         len(m.digests),
	}
	m.v.Started, _ = time.Parse(time.RFC3339, p.Run.Started)
	m.v.Finished, _ = time.Parse(time.RFC3339, p.Run.Finished)
	return m, nil
}

// CheckPart checks the decoded payload of one part on its own, as Verify
// does before it pairs parts with their manifest: the statement, the
// part's place in its run, and every subject digest recomputed from the
// part's findings. The signature is the caller's to check first. A
// receiver uses it to refuse an unsound part when it is uploaded rather
// than when its manifest arrives.
func CheckPart(ctx context.Context, payload []byte) error {
	_, problems := checkPart(ctx, "", payload)
	return errors.Join(problems...)
}

// checkPart checks a part's verified payload on its own: the statement, its
// place in its run, and its subject digests, recomputed from its findings
// exactly as for a bundle.
func checkPart(ctx context.Context, name string, body []byte) (partInfo, []error) {
	var st struct {
		Type          string         `json:"_type"`
		Subject       []subject      `json:"subject"`
		PredicateType string         `json:"predicateType"`
		Predicate     *partPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return partInfo{}, []error{fmt.Errorf("payload is not an in-toto statement: %w", err)}
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if st.Type != StatementType {
		add("statement _type is %q, want %q", st.Type, StatementType)
	}
	if len(st.Subject) == 0 {
		add("statement has no subject")
	}
	p := st.Predicate
	if p == nil {
		add("statement has no predicate")
		return partInfo{}, errs
	}
	if p.Run == nil || p.Run.ID == "" {
		add("predicate.run.id is missing")
	}
	if p.Sequence == 0 {
		add("predicate.sequence is missing or 0; sequences start at 1")
	}
	if p.Part == nil {
		add("predicate.part is missing")
	} else if p.Part.Index < 1 || p.Part.Index > p.Part.Count {
		add("predicate.part says part %d of %d", p.Part.Index, p.Part.Count)
	}
	if p.Coverage == nil {
		add("predicate.coverage is missing")
	}
	if p.Findings == nil {
		add("predicate.findings is missing")
	}
	if len(errs) > 0 {
		return partInfo{}, errs
	}
	if problems := checkSubjects(ctx, st.Subject, p.Findings); len(problems) > 0 {
		return partInfo{}, problems
	}
	info := partInfo{
		name: name, payloadDigest: digestHex(body), runID: p.Run.ID, sequence: p.Sequence,
		index: p.Part.Index, count: p.Part.Count, findings: len(p.Findings),
	}
	for _, s := range st.Subject {
		info.scopes = append(info.scopes, s.Name)
	}
	return info, nil
}

// matchParts pairs every manifest with the parts it lists, by payload
// digest, and returns each complete run as one Verified (its findings and
// scopes over all parts). A part a manifest lists but nobody gave, a part
// given twice, a part whose own account of its place disagrees with the
// manifest, and a part no manifest lists are all errors.
func matchParts(manifests []manifestInfo, parts []partInfo) ([]Verified, []error) {
	var errs []error
	byDigest := map[string][]int{}
	for i, p := range parts {
		byDigest[p.payloadDigest] = append(byDigest[p.payloadDigest], i)
	}
	used := make([]bool, len(parts))
	var runs []Verified
	for _, m := range manifests {
		v := m.v
		n := len(m.digests)
		scopes := map[string]bool{}
		complete := true
		for i, d := range m.digests {
			idx := byDigest[d]
			if len(idx) == 0 {
				errs = append(errs, fmt.Errorf("%s: part %d of %d (payload digest %s) is missing", v.Name, i+1, n, d))
				complete = false
				continue
			}
			p := parts[idx[0]]
			for _, j := range idx {
				used[j] = true
			}
			for _, j := range idx[1:] {
				errs = append(errs, fmt.Errorf("part %d of sequence %d is given twice: %s and %s are the same part", i+1, v.Sequence, p.name, parts[j].name))
			}
			if p.sequence != v.Sequence || p.index != i+1 || p.count != n || p.runID != v.RunID {
				errs = append(errs, fmt.Errorf("%s: lists %s as part %d of %d of sequence %d (run %s), but the part says it is part %d of %d of sequence %d (run %s)",
					v.Name, p.name, i+1, n, v.Sequence, v.RunID, p.index, p.count, p.sequence, p.runID))
				complete = false
				continue
			}
			v.Findings += p.findings
			for _, s := range p.scopes {
				scopes[s] = true
			}
		}
		if !complete {
			continue
		}
		if v.Findings != m.summary.Findings {
			errs = append(errs, fmt.Errorf("%s: predicate.parts.findings is %d, but its parts hold %d", v.Name, m.summary.Findings, v.Findings))
			continue
		}
		v.Scopes = len(scopes)
		runs = append(runs, v)
	}
	for i, p := range parts {
		if !used[i] {
			errs = append(errs, fmt.Errorf("%s: part %d of %d of sequence %d (run %s) is listed by no manifest given: give its manifest too, or it does not belong to this chain",
				p.name, p.index, p.count, p.sequence, p.runID))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return runs, nil
}
