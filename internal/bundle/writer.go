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
	"io"
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
	// Sequence is the bundle's chain position.
	Sequence uint64
	// PayloadDigest is the lowercase hex SHA-256 of the decoded payload; the
	// next bundle names it as its previous.
	PayloadDigest string
	// Findings and Scopes count the findings and subjects in the payload.
	Findings, Scopes int
}

// State is the chain state to save once b is safely stored.
func (b *Bundle) State() State { return State{Sequence: b.Sequence, Digest: b.PayloadDigest} }

// Writer streams one run's findings and coverage into spool files and seals
// them into a Bundle. Each finding is encoded once, in canonical form, and
// that line is both appended to the spool and fed to its scope's SHA-256, so
// that memory does not grow with the number of findings. It implements
// finding.Sink and is safe for concurrent use.
type Writer struct {
	bufs sync.Pool // *bytes.Buffer, so concurrent encoders do not allocate per finding

	mu       sync.Mutex
	findings *spool
	coverage *spool
	scopes   map[string]*scopeHash
	count    int
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
	return &spool{f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (s *spool) write(line []byte) error {
	n, err := s.w.Write(line)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("write evidence spool %s: %w", s.f.Name(), err)
	}
	return nil
}

// appendArray appends the spooled lines to buf as a JSON array. Spool lines
// are compact JSON, which never contains a raw newline, so every newline is a
// separator and becomes a comma in place: no second copy of the evidence.
func (s *spool) appendArray(buf *bytes.Buffer) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write evidence spool %s: %w", s.f.Name(), err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read evidence spool %s: %w", s.f.Name(), err)
	}
	buf.WriteByte('[')
	start := buf.Len()
	n, err := io.Copy(buf, s.f)
	if err != nil {
		return fmt.Errorf("read evidence spool %s: %w", s.f.Name(), err)
	}
	if n != s.size {
		return fmt.Errorf("read evidence spool %s: %d bytes written but %d read back; was it changed during the run?", s.f.Name(), s.size, n)
	}
	if n > 0 {
		b := buf.Bytes()[start:]
		for i, c := range b {
			if c == '\n' {
				b[i] = ','
			}
		}
		buf.Truncate(buf.Len() - 1) // the last separator
	}
	buf.WriteByte(']')
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
// them.
func NewWriter(dir string) (*Writer, error) {
	fs, err := newSpool(dir, "findings-*.spool")
	if err != nil {
		return nil, err
	}
	cs, err := newSpool(dir, "coverage-*.spool")
	if err != nil {
		fs.close()
		return nil, err
	}
	w := &Writer{findings: fs, coverage: cs, scopes: map[string]*scopeHash{}}
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
	scope := f.Scope()

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	// Spool and hash under one lock: the scope digest covers the findings in
	// exactly the order they appear in the payload.
	if err := w.findings.write(line); err != nil {
		w.err = err
		return err
	}
	sh := w.scopes[scope]
	if sh == nil {
		sh = &scopeHash{h: sha256.New()}
		w.scopes[scope] = sh
	}
	sh.h.Write(line)
	sh.n++
	w.count++
	return nil
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
	switch {
	case w.closed:
		return nil, errors.New("bundle writer is closed")
	case w.sealed:
		return nil, errors.New("bundle writer is already sealed")
	case w.err != nil:
		return nil, fmt.Errorf("evidence is incomplete: %w", w.err)
	}
	w.sealing = true

	if err := errors.Join(m.validate(), link.validate()); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("no signer")
	}
	if w.count == 0 {
		return nil, errors.New("the run produced no findings; there is nothing to seal")
	}
	keyID, err := s.KeyID()
	if err != nil {
		return nil, fmt.Errorf("signer key id: %w", err)
	}
	pub, err := p256Public(s.Public())
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	if want, err := KeyID(pub); err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	} else if keyID != want {
		return nil, fmt.Errorf("signer reports key id %q but its public key has key id %s", keyID, want)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	payload, err := w.payload(m, results, link)
	if err != nil {
		return nil, err
	}
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	env, err := es.SignPayload(ctx, PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign bundle with key %s: %w", keyID, err)
	}
	if err := checkOwnSignature(env, pub, keyID, payload); err != nil {
		return nil, err
	}
	out, err := encodeEnvelope(env)
	if err != nil {
		return nil, err
	}
	w.sealed = true
	return &Bundle{
		Envelope:      out,
		Sequence:      link.Sequence,
		PayloadDigest: digestHex(payload),
		Findings:      w.count,
		Scopes:        len(w.scopes),
	}, nil
}

// checkOwnSignature verifies what the signer returned before it leaves the
// agent, so a signer returning the wrong encoding (raw r||s instead of DER,
// say) fails the run instead of producing evidence no auditor can verify.
func checkOwnSignature(env *dsse.Envelope, pub *ecdsa.PublicKey, keyID string, payload []byte) error {
	if len(env.Signatures) != 1 {
		return fmt.Errorf("sign bundle: got %d signatures, want 1", len(env.Signatures))
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		return fmt.Errorf("sign bundle: %w", err)
	}
	if !ecdsa.VerifyASN1(pub, paeDigest(PayloadType, payload), sig) {
		return fmt.Errorf("sign bundle: the signature does not verify with the signer's own key %s (is it ASN.1 DER ECDSA over SHA-256?)", keyID)
	}
	return nil
}

// encodeEnvelope writes env as one line of JSON and a newline, members in
// the documented order. It is json.Marshal's output, but json.Marshal would
// scan the base64 payload (the largest thing in the bundle) byte by byte
// for characters to escape, and base64 has none.
func encodeEnvelope(env *dsse.Envelope) ([]byte, error) {
	sigs, err := json.Marshal(env.Signatures)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	typ, err := json.Marshal(env.PayloadType)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(env.Payload) + len(sigs) + len(typ) + 64)
	b.WriteString(`{"payloadType":`)
	b.Write(typ)
	b.WriteString(`,"payload":"`)
	b.WriteString(env.Payload)
	b.WriteString(`","signatures":`)
	b.Write(sigs)
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// paeDigest is SHA-256(dsse.PAE(payloadType, payload)) computed without
// copying the payload a second time.
func paeDigest(payloadType string, payload []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	h.Write(payload)
	return h.Sum(nil)
}

// payload assembles the statement. Callers hold w.mu.
func (w *Writer) payload(m Meta, results []controls.Result, link Link) ([]byte, error) {
	subjects := make([]subject, 0, len(w.scopes))
	for _, name := range slices.Sorted(maps.Keys(w.scopes)) {
		sub := subject{Name: name, Digest: map[string]string{"sha256": fmt.Sprintf("%x", w.scopes[name].h.Sum(nil))}}
		if err := validateSubject(sub); err != nil {
			return nil, fmt.Errorf("subject %q: %w", name, err)
		}
		subjects = append(subjects, sub)
	}
	if results == nil {
		results = []controls.Result{} // an empty roll-up is [], never null
	}

	var p bytes.Buffer
	p.Grow(int(w.findings.size+w.coverage.size) + 1<<12 + 256*len(results) + 128*len(subjects))
	enc := json.NewEncoder(&p)
	enc.SetEscapeHTML(false)
	put := func(prefix string, v any) error {
		p.WriteString(prefix)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode statement: %w", err)
		}
		p.Truncate(p.Len() - 1) // Encode's newline
		return nil
	}
	// Field order follows the in-toto spec's examples; findings come last so
	// that the run's metadata is at the top of a decoded payload.
	err := errors.Join(
		put(`{"_type":`, StatementType),
		put(`,"subject":`, subjects),
		put(`,"predicateType":`, PredicateType),
		put(`,"predicate":{"run":`, runInfo{
			ID:           m.RunID,
			Started:      m.Started.UTC().Format(time.RFC3339),
			Finished:     m.Finished.UTC().Format(time.RFC3339),
			AgentVersion: m.AgentVersion,
		}),
		put(`,"service":`, m.Service),
		put(`,"level":`, m.Level),
		put(`,"chain":`, chainLink{Sequence: link.Sequence, Previous: link.Previous}),
		put(`,"requirements":`, results),
	)
	if err != nil {
		return nil, err
	}
	p.WriteString(`,"coverage":`)
	if err := w.coverage.appendArray(&p); err != nil {
		return nil, err
	}
	p.WriteString(`,"findings":`)
	if err := w.findings.appendArray(&p); err != nil {
		return nil, err
	}
	p.WriteString(`}}`)
	return p.Bytes(), nil
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
