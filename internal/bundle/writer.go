package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Meta describes the run a bundle seals.
type Meta struct {
	RunID string
	// Started and Finished are written in UTC, to the second.
	Started, Finished time.Time
	AgentVersion      string
	// Service is the cloud service under certification.
	Service string
	// Level is the target EUCS assurance level.
	Level controls.Level
}

// Link is the chain position of the bundle being sealed. Callers get it from
// State.Next, so that the sequence and the previous digest come from the
// same durable record.
type Link struct {
	// Chain is the chain's id: "" for an agent that assesses the whole
	// estate, ShardChain(i) for replica i of a sharded one. It is written
	// as predicate.chain.id, omitted when empty.
	Chain string
	// Sequence is the bundle's position in the chain, from 1.
	Sequence uint64
	// Previous is the lowercase hex SHA-256 of the previous bundle's payload,
	// empty for sequence 1.
	Previous string
}

// Bundle is one sealed, signed run.
type Bundle struct {
	// Envelope is the DSSE envelope: one line of JSON and a newline, exactly
	// as signed and as it must be stored.
	Envelope []byte
	// Chain is the id of the chain the bundle is in (Link.Chain).
	Chain string
	// Sequence is the bundle's chain position.
	Sequence uint64
	// PayloadDigest is the lowercase hex SHA-256 of the decoded payload; the
	// next bundle names it as its previous.
	PayloadDigest string
	// Findings and Scopes count the findings and subjects in the payload
	// (for a split run: in all of its parts).
	Findings, Scopes int
	// Parts is how many parts a split run was sealed in (Envelope is then
	// the run's manifest); 0 for a run sealed as one bundle.
	Parts int
}

// State is the chain state to save once b is safely stored.
func (b *Bundle) State() State {
	return State{Chain: b.Chain, Sequence: b.Sequence, Digest: b.PayloadDigest}
}

// Writer streams one run's findings and coverage into spool files and seals
// them into a Bundle. Each finding is encoded once, in canonical form, and
// that line is both appended to the spool and fed to its scope's SHA-256, so
// that memory does not grow with the number of findings. It implements
// finding.Sink and is safe for concurrent use.
//
// The findings are hashed in chunks cut by the writer's part limits: a run
// that fits one chunk is sealed as one bundle with that chunk's digests,
// and a larger run is sealed as parts, one per chunk, without reading its
// findings back to hash them again.
type Writer struct {
	bufs sync.Pool // *bytes.Buffer, so concurrent encoders do not allocate per finding

	mu       sync.Mutex
	findings *spool
	coverage *spool
	limits   PartLimits
	chunks   []*chunk        // the last one takes new findings
	scopes   map[string]bool // every scope of the run
	count    int
	covCount int
	err      error // first spool write error; the evidence is incomplete after it
	sealing  bool  // Seal has begun: later findings would be missing from the bundle
	sealed   bool
	closed   bool
}

// scopeHash is the running digest of one scope's canonical evidence.
type scopeHash struct {
	h hash.Hash
	n int
}

// chunk is a run of consecutive spooled findings, at most one part's worth,
// with the digest of each scope's findings within it.
type chunk struct {
	start, size int64 // byte range in the findings spool
	count       int
	scopes      map[string]*scopeHash
}

// full reports whether line would take c past limits. A chunk always takes
// at least one finding.
func (c *chunk) full(limits PartLimits, line int) bool {
	if c.count == 0 {
		return false
	}
	return (limits.Findings > 0 && c.count >= limits.Findings) || (limits.Bytes > 0 && c.size+int64(line) > limits.Bytes)
}

// digests returns the hex digest of every scope of c.
func (c *chunk) digests() map[string]string {
	out := make(map[string]string, len(c.scopes))
	for name, sh := range c.scopes {
		out[name] = fmt.Sprintf("%x", sh.h.Sum(nil))
	}
	return out
}

// spool is an append-only temporary file of JSON lines.
type spool struct {
	f    *os.File
	w    *bufio.Writer
	size int64
}

func newSpool(dir, pattern string) (*spool, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create evidence spool: %w", err)
	}
	// A large buffer keeps the system calls per finding negligible; the
	// spool is written by one goroutine at a time (under Writer.mu).
	return &spool{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *spool) write(line []byte) error {
	n, err := s.w.Write(line)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("write evidence spool %s: %w", s.f.Name(), err)
	}
	return nil
}

// flush writes what is buffered to the file, for reading it back.
func (s *spool) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write evidence spool %s: %w", s.f.Name(), err)
	}
	return nil
}

func (s *spool) close() error {
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// NewWriter starts a run's evidence spool in dir, which must exist. The spool
// holds evidence in clear, so its files are created mode 0600; Close removes
// them. Findings are hashed in chunks of DefaultPartLimits (see
// NewPartWriter).
func NewWriter(dir string) (*Writer, error) {
	return NewPartWriter(dir, DefaultPartLimits())
}

// NewPartWriter is NewWriter for a run that will be sealed with
// SealParts(..., limits, ...): findings are hashed part by part as they
// arrive, so that sealing a large run writes each part without reading its
// findings twice. Sealing with other limits works too, at the cost of that
// second reading.
func NewPartWriter(dir string, limits PartLimits) (*Writer, error) {
	if limits.Findings < 0 || limits.Bytes < 0 {
		return nil, fmt.Errorf("part limits must not be negative, got %d findings and %d bytes", limits.Findings, limits.Bytes)
	}
	fs, err := newSpool(dir, "findings-*.spool")
	if err != nil {
		return nil, err
	}
	cs, err := newSpool(dir, "coverage-*.spool")
	if err != nil {
		fs.close()
		return nil, err
	}
	w := &Writer{findings: fs, coverage: cs, limits: limits, scopes: map[string]bool{}}
	w.bufs.New = func() any { return new(bytes.Buffer) }
	return w, nil
}

// usable reports why the writer cannot take more evidence, if it cannot.
// Callers hold w.mu.
func (w *Writer) usable() error {
	switch {
	case w.closed:
		return errors.New("bundle writer is closed")
	case w.sealing:
		return errors.New("bundle writer is sealed; evidence arriving after Seal cannot be included")
	case w.err != nil:
		return fmt.Errorf("evidence spool failed earlier: %w", w.err)
	}
	return nil
}

// Finding validates f, encodes it canonically and appends it to the spool.
//
// It deliberately ignores ctx cancellation: a collector whose context ran out
// reports that as not_assessed findings with reason timed_out, through the
// same expired context, and that honest record must not be dropped.
func (w *Writer) Finding(_ context.Context, f finding.Finding) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("refuse invalid finding: %w", err)
	}
	buf := w.bufs.Get().(*bytes.Buffer)
	defer w.bufs.Put(buf)
	buf.Reset()
	if err := encodeFinding(buf, &f); err != nil {
		return err
	}
	line := buf.Bytes()
	// The scope name is built on the stack: looking a map up by
	// string(bytes) does not allocate, and this runs for every finding.
	var kb [96]byte
	key := append(append(append(kb[:0], f.Provider...), ':'), f.Account...)

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	c := w.current(len(line))
	sh := c.scopes[string(key)]
	if sh == nil {
		sh = &scopeHash{h: sha256.New()}
		c.scopes[string(key)] = sh
		w.scopes[string(key)] = true
	}
	// Spool and hash under one lock: the scope digest covers the findings in
	// exactly the order they appear in the payload.
	if err := w.findings.write(line); err != nil {
		w.err = err
		return err
	}
	sh.h.Write(line)
	sh.n++
	c.count++
	c.size += int64(len(line))
	w.count++
	return nil
}

// current returns the chunk a finding line of n bytes goes into, starting a
// new one when the last is full. Callers hold w.mu.
func (w *Writer) current(n int) *chunk {
	if len(w.chunks) > 0 {
		if c := w.chunks[len(w.chunks)-1]; !c.full(w.limits, n) {
			return c
		}
	}
	c := &chunk{start: w.findings.size, scopes: map[string]*scopeHash{}}
	w.chunks = append(w.chunks, c)
	return c
}

// runDigests returns the digest of each scope over the whole run: the one
// chunk's, or, when the run has several, recomputed from the spool. Callers
// hold w.mu.
func (w *Writer) runDigests() (map[string]string, error) {
	if len(w.chunks) == 1 {
		return w.chunks[0].digests(), nil
	}
	whole := &chunk{scopes: map[string]*scopeHash{}}
	r := newLineReader(w.findings)
	if err := r.lines(w.count, whole.add); err != nil {
		return nil, err
	}
	return whole.digests(), r.done(w.findings.size)
}

// Coverage appends c to the coverage spool. Like Finding, it keeps the record
// even if ctx is done.
func (w *Writer) Coverage(_ context.Context, c finding.Coverage) error {
	buf := w.bufs.Get().(*bytes.Buffer)
	defer w.bufs.Put(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encode coverage of %s:%s %s %s: %w", c.Provider, c.Account, c.Region, c.Service, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.coverage.write(buf.Bytes()); err != nil {
		w.err = err
		return err
	}
	w.covCount++
	return nil
}

// Seal stops the writer taking evidence, assembles the in-toto statement
// (one subject per scope, the predicate with run metadata, roll-up, coverage,
// chain link and every spooled finding), signs it through
// dsse.EnvelopeSigner, checks the signature with the signer's own public key
// and returns the bundle. link is the position being sealed (State.Next).
//
// A failed Seal can be retried (say, after a KMS timeout); a successful one
// cannot be repeated, so one run can never occupy two chain positions. A run
// without findings cannot be sealed: an in-toto statement needs a subject.
func (w *Writer) Seal(ctx context.Context, m Meta, results []controls.Result, link Link, s Signer) (*Bundle, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key, err := w.beginSeal(ctx, m, link, s)
	if err != nil {
		return nil, err
	}
	head, err := w.header(m, results, link)
	if err != nil {
		return nil, err
	}
	return w.sealOne(ctx, head, link, key)
}

// sealKey is the signer of a Seal with the public key and key id every
// signature it makes is checked against.
type sealKey struct {
	s     Signer
	pub   *ecdsa.PublicKey
	keyID string
}

// beginSeal stops the writer taking evidence and checks everything a seal
// needs before any work is done. Callers hold w.mu.
func (w *Writer) beginSeal(ctx context.Context, m Meta, link Link, s Signer) (sealKey, error) {
	switch {
	case w.closed:
		return sealKey{}, errors.New("bundle writer is closed")
	case w.sealed:
		return sealKey{}, errors.New("bundle writer is already sealed")
	case w.err != nil:
		return sealKey{}, fmt.Errorf("evidence is incomplete: %w", w.err)
	}
	w.sealing = true

	if err := errors.Join(m.validate(), link.validate()); err != nil {
		return sealKey{}, err
	}
	if s == nil {
		return sealKey{}, errors.New("no signer")
	}
	if w.count == 0 {
		return sealKey{}, errors.New("the run produced no findings; there is nothing to seal")
	}
	keyID, err := s.KeyID()
	if err != nil {
		return sealKey{}, fmt.Errorf("signer key id: %w", err)
	}
	pub, err := p256Public(s.Public())
	if err != nil {
		return sealKey{}, fmt.Errorf("signer: %w", err)
	}
	if want, err := KeyID(pub); err != nil {
		return sealKey{}, fmt.Errorf("signer: %w", err)
	} else if keyID != want {
		return sealKey{}, fmt.Errorf("signer reports key id %q but its public key has key id %s", keyID, want)
	}
	if err := ctx.Err(); err != nil {
		return sealKey{}, err
	}
	if err := errors.Join(w.findings.flush(), w.coverage.flush()); err != nil {
		return sealKey{}, err
	}
	return sealKey{s: s, pub: pub, keyID: keyID}, nil
}

// sealOne seals the whole run as one bundle whose payload starts with head
// (see header). Callers hold w.mu.
func (w *Writer) sealOne(ctx context.Context, head []byte, link Link, key sealKey) (*Bundle, error) {
	size := int64(len(head)+len(`,"coverage":`)+len(`,"findings":`)+len(`}}`)) + arrayLen(w.coverage.size) + arrayLen(w.findings.size)
	payload := make([]byte, 0, size)
	payload = append(payload, head...)
	payload = append(payload, `,"coverage":`...)
	payload, err := appendLines(payload, w.coverage, 0, w.coverage.size)
	if err != nil {
		return nil, err
	}
	payload = append(payload, `,"findings":`...)
	if payload, err = appendLines(payload, w.findings, 0, w.findings.size); err != nil {
		return nil, err
	}
	payload = append(payload, `}}`...)
	env, err := signEnvelope(ctx, key, payload)
	if err != nil {
		return nil, err
	}
	w.sealed = true
	return &Bundle{
		Envelope:      env,
		Chain:         link.Chain,
		Sequence:      link.Sequence,
		PayloadDigest: digestHex(payload),
		Findings:      w.count,
		Scopes:        len(w.scopes),
	}, nil
}

// signEnvelope signs payload as a DSSE envelope with one signature and
// returns the envelope as stored: one line of JSON and a newline, members
// in the documented order (exactly json.Marshal's output for a
// dsse.Envelope). The signature is checked with the signer's own public key
// before it is used.
//
// The agent's own file key signs the PAE digest hashed straight from the
// payload, a copy of the whole payload fewer than building the PAE. Any
// other signer (a KMS that wants the message, a wrapper that overrides
// Sign) gets the PAE through Signer.Sign; the shortcut is taken for the
// concrete type only, so that a wrapper embedding a file signer is never
// bypassed.
func signEnvelope(ctx context.Context, key sealKey, payload []byte) ([]byte, error) {
	return appendEnvelope(ctx, nil, key, payload)
}

// appendEnvelope is signEnvelope writing the envelope into dst's storage
// when it is large enough (a part's envelope buffer, reused).
func appendEnvelope(ctx context.Context, dst []byte, key sealKey, payload []byte) ([]byte, error) {
	digest := paeDigest(PayloadType, payload)
	var (
		sig []byte
		err error
	)
	if fs, ok := key.s.(*fileSigner); ok {
		sig, err = fs.SignDigest(ctx, digest)
	} else {
		sig, err = key.s.Sign(ctx, dsse.PAE(PayloadType, payload))
	}
	if err != nil {
		return nil, fmt.Errorf("sign bundle with key %s: %w", key.keyID, err)
	}
	if !ecdsa.VerifyASN1(key.pub, digest, sig) {
		return nil, fmt.Errorf("sign bundle: the signature does not verify with the signer's own key %s (is it ASN.1 DER ECDSA over SHA-256?)", key.keyID)
	}
	sigs, err := json.Marshal([]dsse.Signature{{KeyID: key.keyID, Sig: base64.StdEncoding.EncodeToString(sig)}})
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	typ, err := json.Marshal(PayloadType)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	// json.Marshal would also scan the base64 payload, the largest thing in
	// the envelope, byte by byte for characters to escape; base64 has none,
	// so it is encoded straight into an envelope of exactly the right size.
	const (
		head = `{"payloadType":`
		mid  = `,"payload":"`
		tail = `","signatures":`
	)
	n64 := base64.StdEncoding.EncodedLen(len(payload))
	size := len(head) + len(typ) + len(mid) + n64 + len(tail) + len(sigs) + 2
	out := dst[:0]
	if cap(out) < size {
		if dst != nil {
			size += size / 8 // a reused buffer: room for the next, slightly larger part
		}
		out = make([]byte, 0, size)
	}
	out = append(append(append(out, head...), typ...), mid...)
	out = out[:len(out)+n64]
	base64.StdEncoding.Encode(out[len(out)-n64:], payload)
	out = append(append(append(out, tail...), sigs...), '}', '\n')
	return out, nil
}

// paeDigest is SHA-256(dsse.PAE(payloadType, payload)) computed without
// copying the payload a second time.
func paeDigest(payloadType string, payload []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	h.Write(payload)
	return h.Sum(nil)
}

// header assembles the statement of a single bundle up to its coverage:
// subjects, predicate type and the predicate's run metadata, chain link and
// roll-up. Coverage and findings follow from the spools (sealOne). Callers
// hold w.mu.
func (w *Writer) header(m Meta, results []controls.Result, link Link) ([]byte, error) {
	digests, err := w.runDigests()
	if err != nil {
		return nil, err
	}
	subjects, err := subjectsOf(digests)
	if err != nil {
		return nil, err
	}
	if results == nil {
		results = []controls.Result{} // an empty roll-up is [], never null
	}
	var p bytes.Buffer
	p.Grow(1<<12 + 256*len(results) + 128*len(subjects))
	// Field order follows the in-toto spec's examples; findings come last so
	// that the run's metadata is at the top of a decoded payload.
	err = encodeMembers(&p,
		member{`{"_type":`, StatementType},
		member{`,"subject":`, subjects},
		member{`,"predicateType":`, PredicateType},
		member{`,"predicate":{"run":`, runInfo{
			ID:           m.RunID,
			Started:      m.Started.UTC().Format(time.RFC3339),
			Finished:     m.Finished.UTC().Format(time.RFC3339),
			AgentVersion: m.AgentVersion,
		}},
		member{`,"service":`, m.Service},
		member{`,"level":`, m.Level},
		member{`,"chain":`, chainLink{ID: link.Chain, Sequence: link.Sequence, Previous: link.Previous}},
		member{`,"requirements":`, results},
	)
	if err != nil {
		return nil, err
	}
	return p.Bytes(), nil
}

// subjectsOf returns one subject per scope digest, sorted by name.
func subjectsOf(digests map[string]string) ([]subject, error) {
	subjects := make([]subject, 0, len(digests))
	for _, name := range slices.Sorted(maps.Keys(digests)) {
		sub := subject{Name: name, Digest: map[string]string{"sha256": digests[name]}}
		if err := validateSubject(sub); err != nil {
			return nil, fmt.Errorf("subject %q: %w", name, err)
		}
		subjects = append(subjects, sub)
	}
	return subjects, nil
}

// validate lists every problem with m at once.
func (m Meta) validate() error {
	var errs []error
	if m.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if m.Started.IsZero() {
		errs = append(errs, errors.New("run start time is not set"))
	}
	if m.Finished.IsZero() {
		errs = append(errs, errors.New("run finish time is not set"))
	}
	if !m.Started.IsZero() && m.Finished.Before(m.Started) {
		errs = append(errs, fmt.Errorf("run finished (%s) before it started (%s)", m.Finished.UTC().Format(time.RFC3339), m.Started.UTC().Format(time.RFC3339)))
	}
	if m.AgentVersion == "" {
		errs = append(errs, errors.New("agent version is empty"))
	}
	if m.Service == "" {
		errs = append(errs, errors.New("service is empty"))
	}
	if !m.Level.Valid() {
		errs = append(errs, fmt.Errorf("level %q is not one of basic, substantial, high", m.Level))
	}
	return errors.Join(errs...)
}

// validate checks the link against the chain rules the verifier enforces.
func (l Link) validate() error {
	if err := ValidateChainID(l.Chain); err != nil {
		return err
	}
	switch {
	case l.Sequence == 0:
		return errors.New("chain sequence is 0; sequences start at 1")
	case l.Sequence == 1 && l.Previous != "":
		return fmt.Errorf("chain sequence 1 starts the chain and has no previous bundle, got previous %q", l.Previous)
	case l.Sequence > 1 && !isDigest(l.Previous):
		return fmt.Errorf("chain sequence %d needs the previous bundle's payload digest (64 lowercase hex), got %q", l.Sequence, l.Previous)
	}
	return nil
}

// Close removes the spool files. It is safe to call more than once and after
// Seal; the returned Bundle does not depend on them.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := errors.Join(w.findings.close(), w.coverage.close()); err != nil {
		return fmt.Errorf("remove evidence spool: %w", err)
	}
	return nil
}
