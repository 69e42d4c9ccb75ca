package bundle

import (
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/controls"
)

// Input is one bundle to verify (a single bundle, or a split run's manifest
// or one of its parts): its envelope bytes and the name errors use for it
// (normally the file path).
type Input struct {
	Name string
	Data []byte
	// Open, when Data is nil, reads the envelope. Verify calls it when it
	// comes to the input and lets go of the bytes once the input is
	// checked, so that verifying a run of many large parts holds one part
	// at a time.
	Open func() ([]byte, error)
}

// data returns the input's envelope bytes.
func (in Input) data() ([]byte, error) {
	if in.Data == nil && in.Open != nil {
		return in.Open()
	}
	return in.Data, nil
}

// Report summarises a successful verification.
type Report struct {
	// KeyID is the key every bundle was verified with.
	KeyID string
	// Bundles are the verified bundles in chain order; a run split into
	// parts is one entry, its manifest, with Parts set.
	Bundles []Verified
	// Findings counts the findings over all bundles.
	Findings int
	// First and Last are the chain sequences the bundles span; for
	// bundles of several chains, those of the first chain (by id).
	First, Last uint64
	// Chains are the chains the bundles form, by id; one entry for the
	// bundles of a single agent.
	Chains []ChainSpan
}

// ChainSpan is one chain among the verified bundles.
type ChainSpan struct {
	// ID is the chain id ("" for an unsharded agent).
	ID          string
	First, Last uint64
	Bundles     int
}

// String is the one-line summary the verify command prints.
func (r *Report) String() string {
	span := func(first, last uint64) string {
		if first == last {
			return fmt.Sprintf("sequence %d", first)
		}
		return fmt.Sprintf("sequences %d to %d", first, last)
	}
	seq := span(r.First, r.Last)
	if len(r.Chains) > 1 {
		var spans []string
		for _, c := range r.Chains {
			id := c.ID
			if id == "" {
				id = `""`
			}
			spans = append(spans, fmt.Sprintf("%s: %s", id, span(c.First, c.Last)))
		}
		seq = fmt.Sprintf("%d chains: %s", len(r.Chains), strings.Join(spans, ", "))
	}
	split, parts := 0, 0
	for _, v := range r.Bundles {
		if v.Parts > 0 {
			split++
			parts += v.Parts
		}
	}
	if split > 0 {
		seq += fmt.Sprintf("; %d split into %s", split, plural(parts, "part", "parts"))
	}
	return fmt.Sprintf("%s (%s), %s, signed by key %s",
		plural(len(r.Bundles), "bundle", "bundles"), seq, plural(r.Findings, "finding", "findings"), r.KeyID)
}

// Verified describes one bundle that passed every check.
type Verified struct {
	Name string
	// Chain is the bundle's chain id, "" for an unsharded agent's.
	Chain             string
	Sequence          uint64
	Previous          string
	PayloadDigest     string
	RunID             string
	Started, Finished time.Time
	Service           string
	Level             controls.Level
	Findings, Scopes  int
	// Parts is how many parts the run was split into (Name is then its
	// manifest); 0 for a single bundle.
	Parts int
}

// Verify checks bundles the way an auditor would, trusting only pub:
//
//   - each envelope has our payload type and a signature with pub's key id
//     that verifies over the DSSE PAE;
//   - each payload is an in-toto Statement v1 with our predicate type and
//     the predicate's required fields;
//   - each subject digest equals the digest recomputed from the findings,
//     each canonicalised afresh (so a re-signed but altered finding is caught
//     independently of the signature), every finding's scope has a subject
//     and every subject has findings;
//   - ordered by chain.sequence, the bundles form one unbroken chain from the
//     first given: contiguous sequences, no duplicates, and each previous
//     equal to the SHA-256 of the prior bundle's payload.
//
// Every problem is reported, each naming its file. The chain is walked only
// when every bundle is sound on its own, since links read from a bundle that
// failed its own checks prove nothing.
func Verify(ctx context.Context, pub crypto.PublicKey, bundles []Input) (*Report, error) {
	key, err := p256Public(pub)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	keyID, err := KeyID(key)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	if len(bundles) == 0 {
		return nil, errors.New("no bundles to verify")
	}
	ev, err := dsse.NewEnvelopeVerifier(&verifier{pub: key, keyID: keyID})
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}

	var (
		good      []Verified
		manifests []manifestInfo
		parts     []partInfo
		errs      []error
	)
	for _, in := range bundles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := in.data()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Name, err))
			continue
		}
		body, problems := openEnvelope(ctx, ev, keyID, data)
		if len(problems) == 0 {
			// One statement kind per predicate type; anything else takes the
			// bundle path, which names the predicate type it wants.
			switch predicateTypeOf(body) {
			case ManifestPredicateType:
				var m manifestInfo
				m, problems = checkManifest(in.Name, body)
				if len(problems) == 0 {
					manifests = append(manifests, m)
				}
			case PartPredicateType:
				var p partInfo
				p, problems = checkPart(ctx, in.Name, body)
				if len(problems) == 0 {
					parts = append(parts, p)
				}
			default:
				var v Verified
				v, problems = checkBundle(ctx, in.Name, body)
				if len(problems) == 0 {
					good = append(good, v)
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s: %w", in.Name, p))
		}
	}
	runs, problems := matchParts(manifests, parts)
	good = append(good, runs...)
	errs = append(errs, problems...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Replicas of a sharded agent each keep a chain of their own, told
	// apart by chain id; each chain is walked on its own.
	slices.SortStableFunc(good, func(a, b Verified) int {
		return cmp.Or(strings.Compare(a.Chain, b.Chain), cmp.Compare(a.Sequence, b.Sequence))
	})
	r := &Report{KeyID: keyID, Bundles: good}
	for i := 0; i < len(good); {
		j := i + 1
		for j < len(good) && good[j].Chain == good[i].Chain {
			j++
		}
		errs = append(errs, checkChain(good[i:j]))
		r.Chains = append(r.Chains, ChainSpan{ID: good[i].Chain, First: good[i].Sequence, Last: good[j-1].Sequence, Bundles: j - i})
		i = j
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.First, r.Last = r.Chains[0].First, r.Chains[0].Last
	for _, v := range good {
		r.Findings += v.Findings
	}
	return r, nil
}

// openEnvelope checks an envelope's payload type and that a signature by
// keyID verifies, and returns the decoded payload. With checkBundle it is
// the check of one single bundle on its own; problems do not name the
// file, Verify adds it.
func openEnvelope(ctx context.Context, ev *dsse.EnvelopeVerifier, keyID string, data []byte) ([]byte, []error) {
	fail := func(format string, args ...any) ([]byte, []error) {
		return nil, []error{fmt.Errorf(format, args...)}
	}

	// The envelope. The payload and signatures must be standard base64, the
	// encoding `base64 -d` in the documented openssl steps reads, even though
	// DSSE libraries also accept URL-safe base64.
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fail("not a DSSE envelope: %w", err)
	}
	if env.PayloadType != PayloadType {
		return fail("payload type is %q, want %q", env.PayloadType, PayloadType)
	}
	if env.Payload == "" {
		return fail("envelope has no payload")
	}
	if len(env.Signatures) == 0 {
		return fail("envelope has no signatures")
	}
	if _, err := base64.StdEncoding.DecodeString(env.Payload); err != nil {
		return fail("payload is not standard base64: %w", err)
	}
	var ids []string
	ours := false
	for i, s := range env.Signatures {
		if _, err := base64.StdEncoding.DecodeString(s.Sig); err != nil {
			return fail("signature %d is not standard base64: %w", i+1, err)
		}
		if s.KeyID == keyID {
			ours = true
		}
		id := s.KeyID
		if id == "" {
			id = "(no key id)"
		}
		ids = append(ids, id)
	}
	if !ours {
		return fail("signed by key %s, not by key %s", strings.Join(ids, ", "), keyID)
	}
	_, body, err := ev.VerifyAndDecode(ctx, &env)
	if err != nil {
		return fail("signature does not verify with key %s", keyID)
	}
	if err := ctx.Err(); err != nil {
		return fail("%w", err)
	}
	return body, nil
}

// checkBundle checks a single bundle's verified payload: the statement, the
// predicate and every subject digest.
func checkBundle(ctx context.Context, name string, body []byte) (Verified, []error) {
	var st statement
	if err := json.Unmarshal(body, &st); err != nil {
		return Verified{}, []error{fmt.Errorf("payload is not an in-toto statement: %w", err)}
	}
	if problems := checkStatement(&st); len(problems) > 0 {
		return Verified{}, problems
	}
	p := st.Predicate
	v := Verified{
		Name:          name,
		Chain:         p.Chain.ID,
		Sequence:      p.Chain.Sequence,
		Previous:      p.Chain.Previous,
		PayloadDigest: digestHex(body),
		RunID:         p.Run.ID,
		Service:       p.Service,
		Level:         p.Level,
		Findings:      len(p.Findings),
		Scopes:        len(st.Subject),
	}
	v.Started, _ = time.Parse(time.RFC3339, p.Run.Started)
	v.Finished, _ = time.Parse(time.RFC3339, p.Run.Finished)

	if problems := checkSubjects(ctx, st.Subject, p.Findings); len(problems) > 0 {
		return Verified{}, problems
	}
	return v, nil
}

// checkStatement lists every missing or malformed field the rest of
// verification depends on.
func checkStatement(st *statement) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if st.Type != StatementType {
		add("statement _type is %q, want %q", st.Type, StatementType)
	}
	if st.PredicateType != PredicateType {
		add("predicateType is %q, want %q", st.PredicateType, PredicateType)
	}
	if len(st.Subject) == 0 {
		add("statement has no subject")
	}
	p := st.Predicate
	if p == nil {
		add("statement has no predicate")
		return errs
	}
	errs = append(errs, checkRun(p.Run, p.Service, p.Level, p.Chain, p.Requirements)...)
	if p.Coverage == nil {
		add("predicate.coverage is missing")
	}
	if p.Findings == nil {
		add("predicate.findings is missing")
	}
	return errs
}

// checkRun lists every missing or malformed member of the run's metadata
// that bundles and manifests share.
func checkRun(run *runInfo, service string, level controls.Level, chain *chainLink, requirements []controls.Result) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if run == nil {
		add("predicate.run is missing")
	} else {
		if run.ID == "" {
			add("predicate.run.id is missing")
		}
		if _, err := time.Parse(time.RFC3339, run.Started); err != nil {
			add("predicate.run.started %q is not an RFC 3339 time", run.Started)
		}
		if _, err := time.Parse(time.RFC3339, run.Finished); err != nil {
			add("predicate.run.finished %q is not an RFC 3339 time", run.Finished)
		}
		if run.AgentVersion == "" {
			add("predicate.run.agent_version is missing")
		}
	}
	if service == "" {
		add("predicate.service is missing")
	}
	if !level.Valid() {
		add("predicate.level %q is not one of basic, substantial, high", level)
	}
	if chain == nil {
		add("predicate.chain is missing")
	} else if err := (Link{Chain: chain.ID, Sequence: chain.Sequence, Previous: chain.Previous}).validate(); err != nil {
		add("predicate.chain: %w", err)
	}
	if requirements == nil {
		add("predicate.requirements is missing")
	}
	return errs
}

// checkSubjects recomputes every scope's digest from the findings and
// compares it with the subjects.
func checkSubjects(ctx context.Context, subjects []subject, findings []json.RawMessage) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	want := map[string]string{}
	for i, s := range subjects {
		if err := validateSubject(s); err != nil {
			add("subject[%d] (%s): %w", i, s.Name, err)
			continue
		}
		if _, dup := want[s.Name]; dup {
			add("subject %s is listed twice", s.Name)
			continue
		}
		want[s.Name] = s.Digest["sha256"]
	}

	got := map[string]*scopeHash{}
	for i, raw := range findings {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return []error{err}
			}
		}
		canon, scope, err := canonicalFinding(raw)
		if err != nil {
			add("predicate.findings[%d]: %w", i, err)
			continue
		}
		sh := got[scope]
		if sh == nil {
			sh = &scopeHash{h: sha256.New()}
			got[scope] = sh
		}
		sh.h.Write(canon)
		sh.h.Write([]byte{'\n'})
		sh.n++
	}
	if len(errs) > 0 {
		return errs
	}

	for _, s := range subjects {
		w, ok := want[s.Name]
		if !ok {
			continue // reported above
		}
		sh := got[s.Name]
		if sh == nil {
			add("subject %s has no findings", s.Name)
			continue
		}
		if h := fmt.Sprintf("%x", sh.h.Sum(nil)); h != w {
			add("subject %s digest mismatch: payload says %s, findings hash to %s", s.Name, w, h)
		}
	}
	for _, scope := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[scope]; !ok {
			verb := "have"
			if got[scope].n == 1 {
				verb = "has"
			}
			add("%s of scope %s %s no subject", plural(got[scope].n, "finding", "findings"), scope, verb)
		}
	}
	return errs
}

// canonicalFinding returns a finding's canonical JSON, re-encoded from its
// decoded value (never its bytes as found), and its scope.
func canonicalFinding(raw []byte) ([]byte, string, error) {
	v, err := decodeValue(raw)
	if err != nil {
		return nil, "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "", errors.New("not a JSON object")
	}
	provider, _ := obj["provider"].(string)
	account, _ := obj["account"].(string)
	if provider == "" || account == "" {
		return nil, "", errors.New("provider and account must be non-empty strings; they name the finding's scope")
	}
	canon, err := encodeValue(obj)
	if err != nil {
		return nil, "", err
	}
	return canon, provider + ":" + account, nil
}

// checkChain walks the bundles of one chain sorted by sequence. Problems
// name the chain when it has an id.
func checkChain(v []Verified) error {
	var errs []error
	add := func(format string, args ...any) {
		if v[0].Chain != "" {
			format = "chain %s: " + format
			args = append([]any{v[0].Chain}, args...)
		}
		errs = append(errs, fmt.Errorf(format, args...))
	}
	for i := 1; i < len(v); i++ {
		prev, cur := v[i-1], v[i]
		switch {
		case cur.Sequence == prev.Sequence && cur.PayloadDigest == prev.PayloadDigest:
			add("sequence %d is given twice: %s and %s are the same bundle", cur.Sequence, prev.Name, cur.Name)
		case cur.Sequence == prev.Sequence:
			add("sequence %d is given twice with different contents: %s and %s (a forked chain)", cur.Sequence, prev.Name, cur.Name)
		case cur.Sequence == prev.Sequence+2:
			add("sequence %d is missing between %s and %s", prev.Sequence+1, prev.Name, cur.Name)
		case cur.Sequence > prev.Sequence+2:
			add("sequences %d to %d are missing between %s and %s", prev.Sequence+1, cur.Sequence-1, prev.Name, cur.Name)
		case cur.Previous != prev.PayloadDigest:
			add("chain broken at sequence %d (%s): previous is %s, but sequence %d (%s) hashes to %s",
				cur.Sequence, cur.Name, cur.Previous, prev.Sequence, prev.Name, prev.PayloadDigest)
		}
	}
	return errors.Join(errs...)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
