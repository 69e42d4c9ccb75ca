package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/eucs-agent/eucs-agent/controls"
)

// A run too large for one bundle is sealed as parts and a manifest
// (docs/evidence-format.md, section 11): each part is a DSSE envelope like a
// bundle, holding a slice of the run's coverage and findings with its own
// per-scope subjects; the manifest is a DSSE envelope whose subjects are the
// parts' payload digests and whose predicate carries the run's metadata,
// roll-up and chain link. The chain runs through manifests, so a manifest
// pins its parts exactly as a bundle pins its findings. Sealing holds one
// part in memory at a time, which is what keeps a run over a million
// resources flat in memory.

// PartLimits bound each part of a run that is split. A run within both
// bounds is sealed as one bundle, exactly as Seal would seal it.
type PartLimits struct {
	// Findings is the most findings one part holds; 0 sets no bound by
	// count.
	Findings int
	// Bytes is the payload size parts aim at: a run whose payload would be
	// larger is split into parts of about this size (findings are dealt
	// out evenly by count, so a part may be a little larger). 0 sets no
	// bound by size.
	Bytes int64
}

// The part bounds the agent seals with unless configured otherwise. Sealing
// a part holds its payload and its envelope in memory, about 2.4 times the
// payload, so 16 MiB parts keep sealing under 40 MiB; and a receiver's
// request size limit is rarely below that.
const (
	DefaultPartFindings       = 50_000
	DefaultPartBytes    int64 = 16 << 20
)

// DefaultPartLimits returns the default part bounds.
func DefaultPartLimits() PartLimits {
	return PartLimits{Findings: DefaultPartFindings, Bytes: DefaultPartBytes}
}

// Part is one sealed, signed part of a split run.
type Part struct {
	// Sequence is the chain position of the run (its manifest's).
	Sequence uint64
	// Index is the part's position among Count parts, from 1.
	Index, Count int
	// Envelope is the part's DSSE envelope, one line of JSON and a
	// newline, exactly as signed and as it must be stored. It is only
	// valid until the put function it was handed to returns: the next part
	// is written into the same memory. Copy it to keep it.
	Envelope []byte
	// PayloadDigest is the lowercase hex SHA-256 of the part's payload;
	// the manifest lists it as the part's subject digest.
	PayloadDigest string
	// Findings counts the findings in the part.
	Findings int
}

// SealParts seals the run like Seal when it fits limits, and otherwise as
// parts and a manifest: it signs each part in turn, hands it to put (which
// must store it durably before returning) and forgets it, then signs the
// manifest and returns it as the Bundle, with Parts set. Only the manifest
// takes the chain position, so the caller stores it after every part and
// only then advances the chain state.
//
// A failed SealParts can be retried like Seal. The parts a failed attempt
// already handed to put are not evidence (no signed manifest names them);
// a retry hands new parts for the same positions.
func (w *Writer) SealParts(ctx context.Context, m Meta, results []controls.Result, link Link, s Signer, limits PartLimits, put func(context.Context, *Part) error) (*Bundle, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key, err := w.beginSeal(ctx, m, link, s)
	if err != nil {
		return nil, err
	}
	if limits.Findings < 0 || limits.Bytes < 0 {
		return nil, fmt.Errorf("part limits must not be negative, got %d findings and %d bytes", limits.Findings, limits.Bytes)
	}
	var chunks []*chunk
	if limits == w.limits && len(w.chunks) > 1 && (limits.Bytes == 0 || w.coverage.size/int64(len(w.chunks)) <= limits.Bytes/4) {
		// The findings were hashed in parts of these limits as they came;
		// the coverage, spread over them, adds little to each.
		chunks = w.chunks
	} else if n := w.partCount(limits, results); n > 1 {
		if chunks, err = w.evenChunks(n); err != nil {
			return nil, err
		}
	}
	if len(chunks) <= 1 {
		head, err := w.header(m, results, link)
		if err != nil {
			return nil, err
		}
		return w.sealOne(ctx, head, link, key)
	}
	if put == nil {
		return nil, fmt.Errorf("the run needs %d parts but there is nowhere to put them", len(chunks))
	}
	return w.sealParts(ctx, m, results, link, key, chunks, put)
}

// partCount is how many parts the run needs under limits: enough for both
// bounds, and never more than there are findings, since every part needs a
// finding for a subject. The single bundle's size is estimated from the
// spools, the roll-up and the subjects.
func (w *Writer) partCount(limits PartLimits, results []controls.Result) int {
	n := 1
	if limits.Findings > 0 {
		n = max(n, ceilDiv(w.count, limits.Findings))
	}
	if limits.Bytes > 0 {
		roll, _ := json.Marshal(results)
		size := int64(1024+len(roll)+160*len(w.scopes)) + arrayLen(w.coverage.size) + arrayLen(w.findings.size)
		n = max(n, int(min(int64(w.count), (size+limits.Bytes-1)/limits.Bytes)))
	}
	return min(n, w.count)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// arrayLen is the size of the JSON array appendLines makes of n spooled
// bytes: each line's newline becomes a comma, the last one is dropped, and
// the brackets are added.
func arrayLen(n int64) int64 {
	if n == 0 {
		return 2
	}
	return n + 1
}

// evenChunks deals the findings out into n chunks of nearly equal count,
// reading the spool back to hash each chunk's scopes. It serves sealing
// with other limits than the writer hashed for. Callers hold w.mu.
func (w *Writer) evenChunks(n int) ([]*chunk, error) {
	r := newLineReader(w.findings)
	chunks := make([]*chunk, n)
	for k := range n {
		c := &chunk{start: r.off, scopes: map[string]*scopeHash{}}
		if err := r.lines(w.count*(k+1)/n-w.count*k/n, c.add); err != nil {
			return nil, err
		}
		chunks[k] = c
	}
	return chunks, r.done(w.findings.size)
}

// add hashes one spooled finding line into its scope's digest.
func (c *chunk) add(line []byte) error {
	var kb [96]byte
	key, err := appendLineScope(kb[:0], line)
	if err != nil {
		return err
	}
	sh := c.scopes[string(key)] // no allocation for a lookup
	if sh == nil {
		sh = &scopeHash{h: sha256.New()}
		c.scopes[string(key)] = sh
	}
	sh.h.Write(line)
	sh.n++
	c.count++
	c.size += int64(len(line))
	return nil
}

// sealParts seals the run as one part per chunk and a manifest, the
// coverage dealt out evenly over the parts. Callers hold w.mu.
func (w *Writer) sealParts(ctx context.Context, m Meta, results []controls.Result, link Link, key sealKey, chunks []*chunk, put func(context.Context, *Part) error) (*Bundle, error) {
	n := len(chunks)
	coverage := newLineReader(w.coverage)
	digests := make([]string, 0, n)
	// One payload buffer and one envelope buffer serve every part: a part
	// is done with once put has stored it, so sealing a run of any size
	// holds one part's payload and envelope and leaves the garbage
	// collector nothing large to reclaim.
	var scratch []byte
	envBuf := []byte{} // not nil: appendEnvelope leaves room in a buffer that will be reused
	for k, c := range chunks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cOff := coverage.off
		if err := coverage.lines(w.covCount*(k+1)/n-w.covCount*k/n, func([]byte) error { return nil }); err != nil {
			return nil, err
		}
		p, buf, err := w.part(ctx, key, link.Sequence, m.RunID, k+1, n, c, cOff, coverage.off-cOff, scratch, envBuf)
		scratch = buf
		if err != nil {
			return nil, fmt.Errorf("seal part %d of %d: %w", k+1, n, err)
		}
		digests = append(digests, p.PayloadDigest)
		if err := put(ctx, p); err != nil {
			return nil, fmt.Errorf("store part %d of %d: %w", k+1, n, err)
		}
		envBuf = p.Envelope
	}
	if err := coverage.done(w.coverage.size); err != nil {
		return nil, err
	}

	payload, err := w.manifest(m, results, link, digests)
	if err != nil {
		return nil, err
	}
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
		Parts:         n,
	}, nil
}

// part seals chunk c with the cLen coverage bytes at cOff as part index of
// count. The payload is assembled in scratch (grown to exactly its size when
// too small, and returned for the next part), straight from the spools, and
// the envelope is written into envBuf's storage when it fits, so that one
// part's payload and envelope are all a seal holds in memory.
func (w *Writer) part(ctx context.Context, key sealKey, seq uint64, runID string, index, count int, c *chunk, cOff, cLen int64, scratch, envBuf []byte) (*Part, []byte, error) {
	subjects, err := subjectsOf(c.digests())
	if err != nil {
		return nil, scratch, err
	}
	var head bytes.Buffer
	err = encodeMembers(&head,
		member{`{"_type":`, StatementType},
		member{`,"subject":`, subjects},
		member{`,"predicateType":`, PartPredicateType},
		member{`,"predicate":{"run":`, partRun{ID: runID}},
		member{`,"sequence":`, seq},
		member{`,"part":`, partPosition{Index: index, Count: count}},
	)
	if err != nil {
		return nil, scratch, err
	}
	size := int64(head.Len()+len(`,"coverage":`)+len(`,"findings":`)+len(`}}`)) + arrayLen(cLen) + arrayLen(c.size)
	payload := scratch[:0]
	if int64(cap(payload)) < size {
		// Parts differ in size by a few percent; room for that keeps the
		// next, slightly larger part from allocating a buffer again.
		payload = make([]byte, 0, size+size/8)
	}
	payload = append(payload, head.Bytes()...)
	payload = append(payload, `,"coverage":`...)
	if payload, err = appendLines(payload, w.coverage, cOff, cLen); err != nil {
		return nil, scratch, err
	}
	payload = append(payload, `,"findings":`...)
	if payload, err = appendLines(payload, w.findings, c.start, c.size); err != nil {
		return nil, payload, err
	}
	payload = append(payload, `}}`...)
	env, err := appendEnvelope(ctx, envBuf, key, payload)
	if err != nil {
		return nil, payload, err
	}
	return &Part{Sequence: seq, Index: index, Count: count, Envelope: env, PayloadDigest: digestHex(payload), Findings: c.count}, payload, nil
}

// manifest assembles the manifest statement of a run split into parts with
// the given payload digests. Callers hold w.mu.
func (w *Writer) manifest(m Meta, results []controls.Result, link Link, digests []string) ([]byte, error) {
	subjects := make([]subject, len(digests))
	for i, d := range digests {
		subjects[i] = subject{Name: partSubjectName(i + 1), Digest: map[string]string{"sha256": d}}
		if err := validateSubject(subjects[i]); err != nil {
			return nil, fmt.Errorf("subject %q: %w", subjects[i].Name, err)
		}
	}
	if results == nil {
		results = []controls.Result{}
	}
	var p bytes.Buffer
	err := encodeMembers(&p,
		member{`{"_type":`, StatementType},
		member{`,"subject":`, subjects},
		member{`,"predicateType":`, ManifestPredicateType},
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
		member{`,"parts":`, partsSummary{Count: len(digests), Findings: w.count, Coverage: w.covCount, Scopes: len(w.scopes)}},
	)
	if err != nil {
		return nil, err
	}
	p.WriteString(`}}`)
	return p.Bytes(), nil
}

// member is one prefix and JSON value of a statement being assembled.
type member struct {
	prefix string
	value  any
}

// encodeMembers writes each member's prefix and its value as compact JSON
// without HTML escaping, the way every statement is written.
func encodeMembers(p *bytes.Buffer, members ...member) error {
	enc := json.NewEncoder(p)
	enc.SetEscapeHTML(false)
	for _, m := range members {
		p.WriteString(m.prefix)
		if err := enc.Encode(m.value); err != nil {
			return fmt.Errorf("encode statement: %w", err)
		}
		p.Truncate(p.Len() - 1) // Encode's newline
	}
	return nil
}

// appendLines appends the n spooled bytes at off as a JSON array, the way
// spool.appendArray does for a whole spool: every newline becomes a comma
// in place and the last one is dropped.
func appendLines(dst []byte, s *spool, off, n int64) ([]byte, error) {
	dst = slices.Grow(dst, int(n)+2)
	dst = append(dst, '[')
	if n > 0 {
		start := len(dst)
		dst = dst[:start+int(n)]
		if _, err := s.f.ReadAt(dst[start:], off); err != nil {
			return nil, fmt.Errorf("read evidence spool %s: %w", s.f.Name(), err)
		}
		b := dst[start:]
		for i := bytes.IndexByte(b, '\n'); i >= 0; {
			b[i] = ','
			j := bytes.IndexByte(b[i+1:], '\n')
			if j < 0 {
				break
			}
			i += 1 + j
		}
		dst = dst[:len(dst)-1]
	}
	return append(dst, ']'), nil
}

// lineReader reads a spool's lines in order, remembering the offset it has
// reached.
type lineReader struct {
	s   *spool
	r   *bufio.Reader
	off int64
	buf []byte // a line longer than r's buffer, assembled
}

func newLineReader(s *spool) *lineReader {
	return &lineReader{s: s, r: bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 1<<20)}
}

// lines calls fn with each of the next n lines, newline included. The
// slice is only valid during the call.
func (l *lineReader) lines(n int, fn func([]byte) error) error {
	for range n {
		line, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.buf = append(l.buf[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = l.r.ReadSlice('\n')
				l.buf = append(l.buf, line...)
			}
			line = l.buf
		}
		if err != nil {
			return fmt.Errorf("read evidence spool %s at byte %d: %w", l.s.f.Name(), l.off, err)
		}
		l.off += int64(len(line))
		if err := fn(line); err != nil {
			return fmt.Errorf("evidence spool %s at byte %d: %w", l.s.f.Name(), l.off-int64(len(line)), err)
		}
	}
	return nil
}

// done checks that every spooled byte was read: the parts hold the whole
// run, nothing more and nothing less.
func (l *lineReader) done(size int64) error {
	if l.off != size {
		return fmt.Errorf("read evidence spool %s: %d bytes written but %d sealed; was it changed during the run?", l.s.f.Name(), size, l.off)
	}
	return nil
}

// errNotAFinding is appendLineScope's complaint about a line it cannot read.
var errNotAFinding = errors.New("spooled line is not a finding object")

// appendLineScope appends the scope of a spooled finding, "provider:account",
// to dst: its top-level provider and account. The line is compact JSON as
// encodeFinding writes it, so a small scanner that skips the other members
// (observed may nest objects with keys of any name) reads it without
// decoding the whole finding.
func appendLineScope(dst, line []byte) ([]byte, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return dst, errNotAFinding
	}
	var account, provider []byte
	for i := 1; i < len(line)-1; {
		if line[i] == ',' {
			i++
		}
		kEnd, ok := skipString(line, i)
		if !ok || kEnd >= len(line) || line[kEnd] != ':' {
			return dst, errNotAFinding
		}
		key := line[i:kEnd]
		vEnd, ok := skipValue(line, kEnd+1)
		if !ok {
			return dst, errNotAFinding
		}
		switch string(key) {
		case `"account"`, `"provider"`:
			v, err := jsonStringBytes(line[kEnd+1 : vEnd])
			if err != nil {
				return dst, fmt.Errorf("%s: %w", key, err)
			}
			if string(key) == `"account"` {
				account = v
			} else {
				provider = v
			}
		}
		i = vEnd
	}
	if len(account) == 0 || len(provider) == 0 {
		return dst, errors.New("finding has no provider or account")
	}
	return append(append(append(dst, provider...), ':'), account...), nil
}

// jsonStringBytes returns the value of a JSON string token: the bytes
// between the quotes when there are no escapes (the usual case, without
// copying), the decoded value otherwise.
func jsonStringBytes(tok []byte) ([]byte, error) {
	if len(tok) >= 2 && tok[0] == '"' && bytes.IndexByte(tok, '\\') < 0 {
		return tok[1 : len(tok)-1], nil
	}
	var v string
	if err := json.Unmarshal(tok, &v); err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// skipString returns the index just past the JSON string starting at i.
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the compact JSON value starting at
// i.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		return j, j > i
	}
}
