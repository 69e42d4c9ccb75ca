// Package cab delivers evidence bundles to a certification body (CAB) that
// runs eucs-receiver: over mutual TLS, in chain order, through a durable,
// bounded outbox on disk. Export only queues a bundle (written and fsynced
// before the run is reported done); Run delivers in the background with
// capped exponential backoff and jitter, honouring Retry-After; a bundle
// leaves the outbox only once the receiver has answered with a signed
// receipt, which is kept as the provider's proof of what the CAB got and
// when. The receiver is idempotent by payload digest, so a resend after a
// crash is harmless. A run split into parts is queued as its manifest; its
// parts stay where the agent fsynced them, in the evidence directory, and
// are uploaded when the receiver asks for them. docs/receiver.md describes
// the protocol.
package cab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/internal/atomicfile"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
)

// ErrOutboxFull is returned (wrapped) by Export when the outbox has reached
// max_outbox_bundles or max_outbox_bytes. The bundle is safe in the evidence
// directory and is queued from there once deliveries make room.
var ErrOutboxFull = errors.New("certification body outbox is full")

// maxRetryAfter caps how long a receiver's Retry-After can park delivery,
// so a misconfigured receiver cannot silence the agent for weeks.
const maxRetryAfter = time.Hour

// maxReceiptSize bounds what is read of a receiver's answer.
const maxReceiptSize = 1 << 20

// Exporter queues bundles for the certification body and delivers them.
// Its Stats are ready to be exposed as metrics.
type Exporter struct {
	cfg         Config
	log         *slog.Logger
	box         *outbox
	evidenceDir string
	receipts    string
	base        string // the receiver's URL without a trailing slash
	endpoint    string
	client      *http.Client
	token       secret
	receiverKey *ecdsa.PublicKey

	// mu serialises this process's writes to pending/ (Export and refills).
	mu     sync.Mutex
	notify chan struct{}

	// sleep and jitter are replaced in tests, which must not depend on
	// wall-clock time.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64

	fullEvents, delivered, setAside, failures, partsUploaded atomic.Uint64
	// refused is set while the last bundle offered did not fit, until
	// something leaves the outbox: a limit can bite before it is reached.
	refused atomic.Bool
	// lastDelivery is when the receiver last acknowledged a bundle, in
	// Unix nanoseconds; 0 before the first.
	lastDelivery atomic.Int64
}

// LastDelivery is when the receiver last acknowledged a bundle, whether
// Flush or the background deliverer sent it; zero before the first. The
// telemetry reports it as eucs_agent_last_successful_delivery_timestamp.
func (e *Exporter) LastDelivery() time.Time {
	if ns := e.lastDelivery.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Stats is a snapshot of the exporter's state, shaped for metrics.
type Stats struct {
	// Depth and DepthBytes measure the outbox (gauges).
	Depth      int
	DepthBytes int64
	// Full is true while the outbox is at one of its limits (gauge).
	Full bool
	// FullEvents counts bundles Export refused because the outbox was full.
	FullEvents uint64
	// Delivered counts acknowledged bundles, SetAside bundles the receiver
	// refused for good, Failures failed delivery attempts (counters).
	Delivered, SetAside, Failures uint64
	// PartsUploaded counts parts of split runs the receiver took (counter).
	PartsUploaded uint64
}

// secret keeps a bearer token out of logs and errors whatever prints it.
type secret string

func (secret) String() string                 { return "[redacted]" }
func (secret) GoString() string               { return "[redacted]" }
func (secret) LogValue() slog.Value           { return slog.StringValue("[redacted]") }
func (s secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// New opens the outbox and loads the TLS material, token and receipt key
// named by cfg (which must be defaulted and valid). evidenceDir is the
// directory exporter's path: bundles that did not fit in the outbox are
// queued from there later; empty turns that off.
func New(cfg Config, evidenceDir string, log *slog.Logger) (*Exporter, error) {
	log = log.With("exporter", "certification_body")
	cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
	if err != nil {
		// tls wraps the file name; it never quotes key material.
		return nil, fmt.Errorf("client_cert/client_key: %w", err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", cfg.CA)
		}
		tlsCfg.RootCAs = pool
	}
	var token secret
	switch {
	case cfg.TokenFile != "":
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token_file: %w", err)
		}
		if token = secret(strings.TrimSpace(string(b))); token == "" {
			return nil, fmt.Errorf("token_file: %s is empty", cfg.TokenFile)
		}
	case cfg.TokenEnv != "":
		if token = secret(strings.TrimSpace(os.Getenv(cfg.TokenEnv))); token == "" {
			return nil, fmt.Errorf("token_env: environment variable %s is unset or empty", cfg.TokenEnv)
		}
	}
	var receiverKey *ecdsa.PublicKey
	if cfg.ReceiverKey != "" {
		if receiverKey, err = bundle.LoadPublicKey(cfg.ReceiverKey); err != nil {
			return nil, fmt.Errorf("receiver_key: %w", err)
		}
	}
	box, removed, err := openOutbox(cfg.Outbox, cfg.MaxOutboxBundles, int64(cfg.MaxOutboxBytes))
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, p := range removed {
		log.Warn("removed a temporary file an interrupted write left in the outbox", "file", p)
	}
	if err := os.MkdirAll(cfg.Receipts, 0o750); err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	return &Exporter{
		cfg:         cfg,
		log:         log,
		box:         box,
		evidenceDir: evidenceDir,
		receipts:    cfg.Receipts,
		base:        strings.TrimSuffix(cfg.URL, "/"),
		endpoint:    strings.TrimSuffix(cfg.URL, "/") + protocol.PathBundles,
		client: &http.Client{
			Timeout: cfg.RequestTimeout,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				TLSClientConfig:       tlsCfg,
				TLSHandshakeTimeout:   cfg.RequestTimeout,
				ResponseHeaderTimeout: cfg.RequestTimeout,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   1,
				ForceAttemptHTTP2:     true,
			},
		},
		token:       token,
		receiverKey: receiverKey,
		notify:      make(chan struct{}, 1),
		sleep:       sleepCtx,
		jitter:      rand.Float64,
	}, nil
}

// Name identifies the exporter.
func (e *Exporter) Name() string { return "certification_body" }

// String describes the exporter without its credentials: fmt would print
// unexported fields, the token among them, raw.
func (e *Exporter) String() string { return "certification_body exporter to " + e.cfg.URL }

// GoString does the same for %#v.
func (e *Exporter) GoString() string { return e.String() }

// evidenceName is the directory exporter's file name for a sequence, as
// docs/evidence-format.md fixes it (exporters do not import each other).
func evidenceName(seq uint64) string { return fmt.Sprintf("bundle-%012d.dsse.json", seq) }

// partName is the directory exporter's file name for part index (from 1)
// of the run with the given sequence.
func partName(seq uint64, index int) string {
	return fmt.Sprintf("bundle-%012d.part-%06d.dsse.json", seq, index)
}

// partPath is where the exporter reads part index of a split run: the
// evidence directory, where the agent stored and fsynced it before the
// manifest. The outbox does not copy parts; it queues the manifest, which
// names each by payload digest.
func (e *Exporter) partPath(seq uint64, index int) string {
	return filepath.Join(e.evidenceDir, partName(seq, index))
}

// ReceiptPath is where the receipt of the bundle with the given sequence is
// kept.
func (e *Exporter) ReceiptPath(seq uint64) string {
	return filepath.Join(e.receipts, fmt.Sprintf("receipt-%012d.dsse.json", seq))
}

// Export queues b in the outbox: once it returns nil, b is on disk and will
// be delivered, whatever happens to the process. A bundle already handed
// over or already queued is a no-op. When the outbox is full it returns an
// error wrapping ErrOutboxFull and logs the alarm; b stays in the evidence
// directory and is queued from there when deliveries make room.
func (e *Exporter) Export(_ context.Context, b exporters.Bundle) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, err := e.box.cursor()
	if err != nil {
		return err
	}
	if b.Sequence <= cur.Sequence {
		e.log.Debug("bundle already handed to the receiver", "sequence", b.Sequence)
		return nil
	}
	if len(b.Parts) > 0 {
		if err := e.checkParts(b); err != nil {
			return err
		}
	}
	if same, err := sameFile(e.box.pendingPath(b.Sequence), b.Envelope); err == nil {
		if same {
			return nil
		}
		return fmt.Errorf("queue bundle %d: the outbox already holds a different bundle with this sequence; refusing to replace queued evidence", b.Sequence)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue bundle %d: %w", b.Sequence, err)
	}
	// Chain order: older bundles that did not fit earlier go first.
	if b.Sequence > 1 {
		if err := e.refill(b.Sequence-1, true); err != nil {
			e.log.Error("could not queue older bundles from the evidence directory", "error", err)
		}
	}
	items, err := e.box.list()
	if err != nil {
		return err
	}
	if !e.box.fits(items, int64(len(b.Envelope))) {
		n, size := usage(items)
		e.fullEvents.Add(1)
		e.refused.Store(true)
		e.log.Error("ALARM: the certification body outbox is full; the bundle stays in the evidence directory and is queued from there when the receiver catches up",
			"sequence", b.Sequence, "bundles", n, "bytes", size,
			"max_outbox_bundles", e.cfg.MaxOutboxBundles, "max_outbox_bytes", int64(e.cfg.MaxOutboxBytes))
		return fmt.Errorf("queue bundle %d: %w (%d bundles, %s; limits %d bundles, %s); it stays in the evidence directory",
			b.Sequence, ErrOutboxFull, n, ByteSize(size), e.cfg.MaxOutboxBundles, e.cfg.MaxOutboxBytes)
	}
	if err := e.box.put(b.Sequence, b.Envelope); err != nil {
		return err
	}
	e.refused.Store(false)
	e.wake()
	return nil
}

func (e *Exporter) wake() {
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// refill queues bundles from the evidence directory that follow the last
// one handed over or queued, in order, up to limit, while they fit. With
// skipHoles it lists the directory to step over missing files (evidence
// deleted by hand); without, it stops at the first missing one, which keeps
// the delivery loop from listing a large directory after every delivery.
// Callers hold e.mu.
func (e *Exporter) refill(limit uint64, skipHoles bool) error {
	if e.evidenceDir == "" {
		return nil
	}
	cur, err := e.box.cursor()
	if err != nil {
		return err
	}
	items, err := e.box.list()
	if err != nil {
		return err
	}
	next := cur.Sequence + 1
	if len(items) > 0 && items[len(items)-1].seq >= next {
		next = items[len(items)-1].seq + 1
	}
	for next <= limit {
		data, err := os.ReadFile(filepath.Join(e.evidenceDir, evidenceName(next)))
		if errors.Is(err, fs.ErrNotExist) {
			if !skipHoles {
				return nil
			}
			n, ok, err := e.nextInEvidence(next, limit)
			if err != nil || !ok {
				return err
			}
			e.log.Warn("the evidence directory lacks bundles; the receiver will record the gap", "from", next, "to", n-1)
			next = n
			continue
		}
		if err != nil {
			return fmt.Errorf("read evidence: %w", err)
		}
		if !e.box.fits(items, int64(len(data))) {
			return nil
		}
		p, err := parseBundle(data)
		if err != nil || p.seq != next {
			e.log.Error("evidence file is not the bundle its name says; not queued", "file", evidenceName(next), "error", err)
			next++
			continue
		}
		if err := e.box.put(next, data); err != nil {
			return err
		}
		e.log.Info("queued a bundle from the evidence directory", "sequence", next)
		items = append(items, item{seq: next, path: e.box.pendingPath(next), size: int64(len(data))})
		next++
	}
	return nil
}

// checkParts makes sure the parts Export is handed are the evidence
// directory's files the delivery will read.
func (e *Exporter) checkParts(b exporters.Bundle) error {
	if e.evidenceDir == "" {
		return fmt.Errorf("queue bundle %d: it is split into %d parts, and this exporter has no evidence directory to read them from", b.Sequence, len(b.Parts))
	}
	for i, p := range b.Parts {
		if want := e.partPath(b.Sequence, i+1); filepath.Clean(p) != filepath.Clean(want) {
			return fmt.Errorf("queue bundle %d: part %d is %s, but the exporter reads it from %s", b.Sequence, i+1, p, want)
		}
	}
	return nil
}

// nextInEvidence finds the smallest sequence in the evidence directory that
// is at least from and at most limit.
func (e *Exporter) nextInEvidence(from, limit uint64) (uint64, bool, error) {
	entries, err := os.ReadDir(e.evidenceDir)
	if err != nil {
		return 0, false, fmt.Errorf("list evidence: %w", err)
	}
	best, found := uint64(0), false
	for _, en := range entries {
		seq, ok := parseName(en.Name())
		if ok && seq >= from && seq <= limit && (!found || seq < best) {
			best, found = seq, true
		}
	}
	return best, found, nil
}

// Stats reports the outbox and delivery counters.
func (e *Exporter) Stats() Stats {
	items, err := e.box.list()
	if err != nil {
		e.log.Error("could not measure the outbox", "error", err)
	}
	n, size := usage(items)
	return Stats{
		Depth: n, DepthBytes: size,
		Full:       n >= e.cfg.MaxOutboxBundles || size >= int64(e.cfg.MaxOutboxBytes) || e.refused.Load(),
		FullEvents: e.fullEvents.Load(), Delivered: e.delivered.Load(),
		SetAside: e.setAside.Load(), Failures: e.failures.Load(), PartsUploaded: e.partsUploaded.Load(),
	}
}

// Depth is the number of bundles waiting in the outbox.
func (e *Exporter) Depth() int { return e.Stats().Depth }

// Full reports whether the outbox is at one of its limits.
func (e *Exporter) Full() bool { return e.Stats().Full }

// Run delivers queued bundles until ctx ends. Only one process delivers an
// outbox at a time; another agent's Run waits for the lock.
func (e *Exporter) Run(ctx context.Context) error {
	unlock, err := e.waitLock(ctx)
	if err != nil || unlock == nil {
		return err
	}
	defer unlock()
	e.log.Info("delivery to the certification body started", "url", e.cfg.URL, "pending", e.Depth())
	attempt := 0
	first := true
	for ctx.Err() == nil {
		e.mu.Lock()
		err := e.refill(math.MaxUint64, first)
		e.mu.Unlock()
		first = false
		if err != nil {
			e.log.Error("could not queue bundles from the evidence directory", "error", err)
		}
		items, err := e.box.list()
		if err != nil {
			e.log.Error("could not list the outbox", "error", err)
			e.sleep(ctx, e.delay(attempt, 0))
			attempt++
			continue
		}
		if len(items) == 0 {
			e.idle(ctx)
			continue
		}
		r := e.deliver(ctx, items[0])
		if r.kind != retry {
			attempt = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		d := e.delay(attempt, r.retryAfter)
		attempt++
		lvl := slog.LevelWarn
		if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
			// The receiver does not accept our identity or key: an operator
			// has to act, and the outbox fills until then.
			lvl = slog.LevelError
		}
		e.log.Log(ctx, lvl, "delivery failed; the bundle stays in the outbox", "sequence", items[0].seq,
			"attempt", attempt, "retry_in", d.String(), "error", r.err)
		e.sleep(ctx, d)
	}
	e.log.Info("delivery to the certification body stopped", "pending", e.Depth())
	return nil
}

// waitLock takes the delivery lock, polling while another process holds it.
// It returns a nil unlock if ctx ends first.
func (e *Exporter) waitLock(ctx context.Context) (func(), error) {
	warned := false
	for {
		unlock, ok, err := e.box.lock()
		if err != nil {
			return nil, err
		}
		if ok {
			return unlock, nil
		}
		if !warned {
			e.log.Warn("another process is delivering this outbox; waiting for it", "outbox", e.cfg.Outbox)
			warned = true
		}
		if err := e.sleep(ctx, e.cfg.BackoffMax); err != nil {
			return nil, nil
		}
	}
}

// idle waits for Export to queue something, or for a while, after which
// the loop looks at the outbox and the evidence directory again (another
// process may have queued bundles).
func (e *Exporter) idle(ctx context.Context) {
	t := time.NewTimer(e.cfg.BackoffMax)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-e.notify:
	case <-t.C:
	}
}

// delay is the wait before the next attempt: the receiver's Retry-After if
// it sent one, else exponential from backoff_min, capped at backoff_max,
// with jitter so that many agents do not return at the same instant.
func (e *Exporter) delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxRetryAfter)
	}
	d := e.cfg.BackoffMax
	if attempt < 40 {
		if x := e.cfg.BackoffMin << attempt; x > 0 && x < d {
			d = x
		}
	}
	// Equal jitter: between half and all of d, never below backoff_min.
	return max(d/2+time.Duration(e.jitter()*float64(d/2)), e.cfg.BackoffMin)
}

// Flush makes one delivery pass, bounded by flush_timeout: it delivers
// queued bundles in order until the outbox is empty or one fails, and
// leaves the rest for the next run. It does nothing if another process is
// delivering this outbox.
func (e *Exporter) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.FlushTimeout)
	defer cancel()
	unlock, ok, err := e.box.lock()
	if err != nil {
		return err
	}
	if !ok {
		e.log.Info("another process is delivering this outbox; not flushing")
		return nil
	}
	defer unlock()
	e.mu.Lock()
	err = e.refill(math.MaxUint64, true)
	e.mu.Unlock()
	if err != nil {
		e.log.Error("could not queue bundles from the evidence directory", "error", err)
	}
	for {
		items, err := e.box.list()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		r := e.deliver(ctx, items[0])
		if r.kind == retry {
			return fmt.Errorf("deliver bundle %d (%d left in the outbox for the next run): %w", items[0].seq, len(items), r.err)
		}
		e.mu.Lock()
		err = e.refill(math.MaxUint64, false)
		e.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// outcome of one delivery attempt.
type outcome int

const (
	acked   outcome = iota // receipt stored, bundle out of the outbox
	setAway                // refused for good or unreadable: moved aside, cursor past it
	retry                  // try again later; nothing changed
)

type result struct {
	kind       outcome
	status     int
	retryAfter time.Duration
	err        error
}

// deliver sends one bundle and acts on the answer.
func (e *Exporter) deliver(ctx context.Context, it item) result {
	data, err := os.ReadFile(it.path)
	if errors.Is(err, fs.ErrNotExist) {
		return result{kind: acked} // delivered by someone else meanwhile
	}
	if err != nil {
		e.failures.Add(1)
		return result{kind: retry, err: fmt.Errorf("read %s: %w", it.path, err)}
	}
	p, err := parseBundle(data)
	if err == nil && p.seq != it.seq {
		err = fmt.Errorf("the file is named for sequence %d but the bundle is sequence %d", it.seq, p.seq)
	}
	if err != nil {
		// A damaged file (the atomic write rules out torn writes, but not a
		// disk that corrupts, or a hand edit). The evidence directory keeps
		// the original, which an operator can re-queue.
		dst, merr := e.box.moveAside(it, corruptDir, err.Error())
		if merr != nil {
			return result{kind: retry, err: merr}
		}
		e.setAside.Add(1)
		e.log.Error("outbox file is unreadable; moved aside", "sequence", it.seq, "file", dst, "error", err)
		e.requeue(it.seq)
		return result{kind: setAway}
	}

	if len(p.parts) > 0 {
		return e.deliverSplit(ctx, it, data, p)
	}
	a := e.post(ctx, it, data, p)
	return e.settle(it, p, a)
}

// answer is the receiver's answer to one request, or why there was none.
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration
	err        error // no answer (connection, timeout, reading it)
}

// send makes one request with the exporter's headers and reads at most
// maxReceiptSize of the answer.
func (e *Exporter) send(ctx context.Context, method, url string, body io.Reader, size int64, idempotencyKey string) answer {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, body)
	if err != nil {
		return answer{err: err}
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+string(e.token))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReceiptSize))
	if err != nil {
		return answer{status: resp.StatusCode, err: fmt.Errorf("read the receiver's answer: %w", err)}
	}
	return answer{status: resp.StatusCode, body: b, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// post sends a bundle or manifest.
func (e *Exporter) post(ctx context.Context, it item, data []byte, p parsed) answer {
	a := e.send(ctx, http.MethodPost, e.endpoint, bytes.NewReader(data), int64(len(data)), p.digest)
	if a.err != nil {
		a.err = fmt.Errorf("send bundle %d: %w", it.seq, a.err)
	}
	return a
}

// refusedForGood reports the statuses that refuse the bundle itself:
// resending cannot help.
func refusedForGood(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusConflict ||
		status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity
}

// settle acts on the receiver's answer to a bundle or manifest.
func (e *Exporter) settle(it item, p parsed, a answer) result {
	switch s := a.status; {
	case a.err != nil:
		e.failures.Add(1)
		return result{kind: retry, status: s, err: a.err}
	case s == http.StatusOK || s == http.StatusCreated:
		return e.ack(it, p, a.body, s)
	case refusedForGood(s):
		// The bundle itself is refused (malformed, bad signature, fork,
		// too large): resending cannot help, and holding it would block
		// every later bundle. Set it aside; the receiver records the gap.
		return e.setAsideRefused(it, p, s, fmt.Sprintf("HTTP %d: %s", s, describe(a.body)))
	default:
		e.failures.Add(1)
		return result{kind: retry, status: s, retryAfter: a.retryAfter,
			err: fmt.Errorf("bundle %d: receiver answered HTTP %d: %s", it.seq, s, describe(a.body))}
	}
}

// setAsideRefused moves a bundle the receiver refused for good (status),
// or a split run that cannot be delivered (status 0), to rejected/ and
// moves the cursor past it.
func (e *Exporter) setAsideRefused(it item, p parsed, status int, reason string) result {
	dst, err := e.box.moveAside(it, rejectedDir, reason)
	if err != nil {
		return result{kind: retry, status: status, err: err}
	}
	e.setAside.Add(1)
	e.refused.Store(false)
	if err := e.box.advance(it.seq, p.digest); err != nil {
		e.log.Error("could not advance the outbox cursor", "error", err)
	}
	if status == 0 {
		e.log.Error("the split run cannot be delivered; moved aside, the receiver will record the gap", "sequence", it.seq, "reason", reason, "file", dst)
	} else {
		e.log.Error("the receiver refused the bundle for good; moved aside", "sequence", it.seq, "status", status, "reason", reason, "file", dst)
	}
	return result{kind: setAway, status: status}
}

// deliverSplit delivers a run split into parts. It sends the manifest
// first: the receiver answers missing_parts with the parts it lacks (all of
// them the first time; after a crash, only those not uploaded yet), the
// exporter uploads exactly those, streamed from the evidence directory one
// at a time, and sends the manifest again. A receiver that holds every
// part answers the manifest with its receipt, as for a bundle.
func (e *Exporter) deliverSplit(ctx context.Context, it item, data []byte, p parsed) result {
	for round := 0; ; round++ {
		a := e.post(ctx, it, data, p)
		missing, ok := missingParts(a)
		if !ok {
			return e.settle(it, p, a)
		}
		if round > 0 {
			// Uploaded and still missing: a receiver behind a balancer
			// whose nodes do not share storage, or parts expiring at once.
			e.failures.Add(1)
			return result{kind: retry, status: a.status, retryAfter: a.retryAfter,
				err: fmt.Errorf("bundle %d: the receiver still lacks %d parts after they were uploaded", it.seq, len(missing))}
		}
		e.log.Info("uploading the parts of a split run", "sequence", it.seq, "parts", len(p.parts), "missing", len(missing))
		for _, d := range missing {
			if r, done := e.uploadPart(ctx, it, p, d); done {
				return r
			}
		}
	}
}

// missingParts reads a missing_parts answer.
func missingParts(a answer) ([]string, bool) {
	if a.err != nil || a.status != protocol.StatusMissingParts {
		return nil, false
	}
	var pe protocol.Error
	if err := json.Unmarshal(a.body, &pe); err != nil || pe.Code != protocol.CodeMissingParts || len(pe.Missing) == 0 {
		return nil, false
	}
	return pe.Missing, true
}

// uploadPart streams one part the receiver asked for. done is true when
// delivery of the run ends here (to be retried later, or set aside).
func (e *Exporter) uploadPart(ctx context.Context, it item, p parsed, digest string) (result, bool) {
	index := slices.Index(p.parts, digest) + 1
	if index == 0 {
		e.failures.Add(1)
		return result{kind: retry, err: fmt.Errorf("bundle %d: the receiver asks for part %s, which the manifest does not name", it.seq, digest)}, true
	}
	if e.evidenceDir == "" {
		return e.setAsideRefused(it, p, 0, fmt.Sprintf("the run is split into %d parts, and this exporter has no evidence directory to read them from", len(p.parts))), true
	}
	path := e.partPath(it.seq, index)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The evidence directory lost it: the run cannot be delivered whole.
		return e.setAsideRefused(it, p, 0, fmt.Sprintf("part %d of %d (%s) is not in the evidence directory", index, len(p.parts), path)), true
	}
	if err != nil {
		e.failures.Add(1)
		return result{kind: retry, err: fmt.Errorf("bundle %d: %w", it.seq, err)}, true
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		e.failures.Add(1)
		return result{kind: retry, err: fmt.Errorf("bundle %d: %w", it.seq, err)}, true
	}
	a := e.send(ctx, http.MethodPut, e.base+protocol.PartPath(digest), f, info.Size(), digest)
	switch s := a.status; {
	case a.err != nil:
		e.failures.Add(1)
		return result{kind: retry, status: s, err: fmt.Errorf("send part %d of bundle %d: %w", index, it.seq, a.err)}, true
	case s == http.StatusOK || s == http.StatusCreated:
		e.partsUploaded.Add(1)
		e.log.Debug("part uploaded", "sequence", it.seq, "part", index, "of", len(p.parts), "status", s)
		return result{}, false
	case refusedForGood(s):
		return e.setAsideRefused(it, p, s, fmt.Sprintf("part %d of %d (%s): HTTP %d: %s", index, len(p.parts), path, s, describe(a.body))), true
	default:
		e.failures.Add(1)
		return result{kind: retry, status: s, retryAfter: a.retryAfter,
			err: fmt.Errorf("part %d of bundle %d: receiver answered HTTP %d: %s", index, it.seq, s, describe(a.body))}, true
	}
}

// requeue puts the evidence directory's copy of a bundle back into the
// outbox after the outbox's copy turned out to be unreadable.
func (e *Exporter) requeue(seq uint64) {
	if e.evidenceDir == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(e.evidenceDir, evidenceName(seq)))
	if err == nil {
		var p parsed
		if p, err = parseBundle(data); err == nil && p.seq != seq {
			err = fmt.Errorf("the evidence file holds sequence %d", p.seq)
		}
	}
	if err == nil {
		e.mu.Lock()
		err = e.box.put(seq, data)
		e.mu.Unlock()
	}
	if err != nil {
		e.log.Error("could not re-queue the bundle from the evidence directory", "sequence", seq, "error", err)
		return
	}
	e.log.Info("re-queued the bundle from the evidence directory", "sequence", seq)
}

// ack checks and stores the receipt, advances the cursor and only then
// removes the bundle from the outbox.
func (e *Exporter) ack(it item, p parsed, body []byte, status int) result {
	r, err := protocol.ParseReceipt(body, e.receiverKey)
	if err == nil && (r.PayloadDigest != p.digest || r.Sequence != p.seq) {
		err = fmt.Errorf("receipt is for sequence %d digest %s, not for sequence %d digest %s", r.Sequence, r.PayloadDigest, p.seq, p.digest)
	}
	if err == nil && r.ChainID != p.chain {
		err = fmt.Errorf("receipt is for chain %q, not for chain %q", r.ChainID, p.chain)
	}
	if err != nil {
		// Without a receipt we can trust, the bundle stays queued; the
		// receiver answers a resend with the same receipt, so retrying is
		// harmless.
		e.failures.Add(1)
		return result{kind: retry, status: status, err: fmt.Errorf("bundle %d: %w", it.seq, err)}
	}
	if err := atomicfile.Write(e.ReceiptPath(it.seq), body, 0o640); err != nil {
		e.failures.Add(1)
		return result{kind: retry, status: status, err: fmt.Errorf("store receipt: %w", err)}
	}
	if err := e.box.advance(it.seq, p.digest); err != nil {
		e.failures.Add(1)
		return result{kind: retry, status: status, err: err}
	}
	if err := e.box.remove(it); err != nil {
		e.failures.Add(1)
		return result{kind: retry, status: status, err: err}
	}
	e.delivered.Add(1)
	e.lastDelivery.Store(time.Now().UnixNano())
	e.refused.Store(false)
	how := "accepted"
	if status == http.StatusOK {
		how = "already held (resend)"
	}
	e.log.Info("bundle delivered to the certification body", "sequence", it.seq, "digest", p.digest,
		"receiver", how, "received", r.Received, "chain", r.Chain, "receipt", e.ReceiptPath(it.seq))
	return result{kind: acked, status: status}
}

// describe renders the receiver's JSON error for logs, or a bounded excerpt
// of whatever else it sent.
func describe(body []byte) string {
	var pe protocol.Error
	if err := json.Unmarshal(body, &pe); err == nil && pe.Code != "" {
		return pe.Error()
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return strconv.Quote(s)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
