package cab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
)

// fakeBundle is an envelope with the fields the outbox reads: a payload
// whose predicate.chain.sequence is seq. Signatures are the receiver's
// business and the fake receiver does not check them.
func fakeBundle(seq uint64) exporters.Bundle {
	payload := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","predicate":{"chain":{"sequence":%d,"previous":""},"pad":%q}}`, seq, strings.Repeat("x", 100))
	sum := sha256.Sum256([]byte(payload))
	return exporters.Bundle{Sequence: seq, Digest: fmt.Sprintf("%x", sum), Envelope: envelopeOf(payload)}
}

// envelopeOf wraps payload in an envelope with a dummy signature.
func envelopeOf(payload string) []byte {
	env, _ := json.Marshal(map[string]any{
		"payloadType": bundle.PayloadType,
		"payload":     base64.StdEncoding.EncodeToString([]byte(payload)),
		"signatures":  []map[string]string{{"keyid": "k", "sig": "AAAA"}},
	})
	return append(env, '\n')
}

// fakeReceiver speaks the receiver's protocol over mutual TLS: it keeps
// what it accepts by sequence (a resend gets the original receipt) and can
// be scripted to answer otherwise.
type fakeReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	signer bundle.Signer
	pub    string

	mu       sync.Mutex
	accepted []uint64          // in the order first accepted
	receipts map[uint64][]byte // by sequence
	requests int
	auth     []string
	// script, if set, may answer a request itself (status != 0).
	script func(n int, seq uint64, w http.ResponseWriter) bool
}

type pkiFiles struct {
	ca, cert, key string
	pool          *x509.CertPool
	caObj         *pki.CA
}

func newPKI(t *testing.T) pkiFiles {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("acme-agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := pkiFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "client.pem"), key: filepath.Join(dir, "client-key.pem"), pool: x509.NewCertPool(), caObj: ca}
	f.pool.AddCert(ca.Cert)
	for p, data := range map[string][]byte{f.ca: ca.CertPEM(), f.cert: client.CertPEM, f.key: client.KeyPEM} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func newFakeReceiver(t *testing.T, p pkiFiles) *fakeReceiver {
	t.Helper()
	dir := t.TempDir()
	priv, pub, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bundle.LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeReceiver{t: t, signer: s, pub: pub, receipts: map[uint64][]byte{}}
	server, err := p.caObj.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{sc}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *fakeReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != protocol.PathBundles || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	body, _ := io.ReadAll(req.Body)
	p, err := parseBundle(body)
	if err != nil {
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(protocol.Error{Message: err.Error(), Code: protocol.CodeMalformed})
		return
	}
	r.mu.Lock()
	r.requests++
	n := r.requests
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	script := r.script
	r.mu.Unlock()
	if script != nil && script(n, p.seq, w) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rc, ok := r.receipts[p.seq]; ok {
		w.WriteHeader(http.StatusOK)
		w.Write(rc)
		return
	}
	r.store(p)
	w.WriteHeader(http.StatusCreated)
	w.Write(r.receipts[p.seq])
}

// store accepts a bundle; callers hold r.mu.
func (r *fakeReceiver) store(p parsed) {
	rc, err := protocol.SignReceipt(context.Background(), r.signer, protocol.Receipt{Tenant: "acme", Sequence: p.seq, PayloadDigest: p.digest,
		KeyID: "k", Received: time.Now().UTC().Format(protocol.ReceivedLayout), Chain: protocol.ChainLinked})
	if err != nil {
		r.t.Error(err)
		return
	}
	r.receipts[p.seq] = rc
	r.accepted = append(r.accepted, p.seq)
}

func (r *fakeReceiver) got() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.accepted...)
}

// testConfig is a defaulted config for the fake receiver with backoff
// small enough that retrying tests are quick.
func testConfig(t *testing.T, p pkiFiles, url string) Config {
	dir := t.TempDir()
	cfg := Config{URL: url, ClientCert: p.cert, ClientKey: p.key, CA: p.ca,
		Outbox: filepath.Join(dir, "outbox"), Receipts: filepath.Join(dir, "receipts"),
		BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond, RequestTimeout: 10 * time.Second}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newExporter(t *testing.T, cfg Config, evidence string) (*Exporter, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	e, err := New(cfg, evidence, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return e, logs
}

// runUntil runs the delivery loop until cond holds, then stops it.
func runUntil(t *testing.T, e *Exporter, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached; the delivery loop is stuck")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func seqs(n ...uint64) []uint64 { return n }

func TestEvidenceNamesMatchTheDirectoryExporter(t *testing.T) {
	for _, seq := range []uint64{1, 42, 999999999999} {
		if evidenceName(seq) != directory.FileName(seq) {
			t.Errorf("%d: %s vs %s", seq, evidenceName(seq), directory.FileName(seq))
		}
	}
}

func TestExportIsDurableAndDeliveryKeepsChainOrderAcrossRestarts(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	cfg.ReceiverKey = r.pub
	e, _ := newExporter(t, cfg, "")
	ctx := context.Background()
	for seq := uint64(1); seq <= 3; seq++ {
		if err := e.Export(ctx, fakeBundle(seq)); err != nil {
			t.Fatal(err)
		}
		// On disk before Export returns: what a run reports as done is queued.
		if got, err := os.ReadFile(e.box.pendingPath(seq)); err != nil || !bytes.Equal(got, fakeBundle(seq).Envelope) {
			t.Fatalf("bundle %d not in the outbox after Export: %v", seq, err)
		}
	}
	// Exporting a queued bundle again is harmless.
	if err := e.Export(ctx, fakeBundle(2)); err != nil {
		t.Fatal(err)
	}
	// A different bundle under a queued sequence is refused.
	other := fakeBundle(2)
	other.Envelope = bytes.Replace(other.Envelope, []byte(`"AAAA"`), []byte(`"BBBB"`), 1)
	if err := e.Export(ctx, other); err == nil || !strings.Contains(err.Error(), "refusing to replace queued evidence") {
		t.Errorf("different bundle 2: %v", err)
	}

	// The process "dies" here; a new one picks the outbox up.
	e2, _ := newExporter(t, cfg, "")
	if e2.Depth() != 3 {
		t.Fatalf("depth after restart %d", e2.Depth())
	}
	if !e2.LastDelivery().IsZero() {
		t.Errorf("last delivery %v before any", e2.LastDelivery())
	}
	before := time.Now()
	runUntil(t, e2, func() bool { return e2.Depth() == 0 })
	// The background deliverer (Run, not Flush) sets the time the
	// telemetry reports as the last successful delivery.
	if at := e2.LastDelivery(); at.Before(before) || at.After(time.Now()) {
		t.Errorf("last delivery %v, want within this delivery pass (after %v)", at, before)
	}
	if got := r.got(); !equal(got, seqs(1, 2, 3)) {
		t.Errorf("receiver got %v", got)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		rc, err := os.ReadFile(e2.ReceiptPath(seq))
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := bundle.LoadPublicKey(r.pub)
		if rr, err := protocol.ParseReceipt(rc, pub); err != nil || rr.Sequence != seq || rr.PayloadDigest != fakeBundle(seq).Digest {
			t.Errorf("receipt %d: %+v, %v", seq, rr, err)
		}
	}
	// A bundle already delivered is not queued again.
	if err := e2.Export(ctx, fakeBundle(3)); err != nil || e2.Depth() != 0 {
		t.Errorf("re-export of a delivered bundle: %v, depth %d", err, e2.Depth())
	}
	if s := e2.Stats(); s.Delivered != 3 || s.Full || s.Depth != 0 {
		t.Errorf("stats %+v", s)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAResendOfAnAcceptedBundleIsSuccess(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	// The receiver stores the bundle but its answer is lost (the agent
	// crashed, or the connection broke): the agent must resend, and the
	// receiver's original receipt completes the delivery.
	r.script = func(n int, seq uint64, w http.ResponseWriter) bool {
		if n != 1 {
			return false
		}
		r.mu.Lock()
		pb, _ := parseBundle(fakeBundle(seq).Envelope)
		r.store(pb)
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	cfg := testConfig(t, p, r.srv.URL)
	e, _ := newExporter(t, cfg, "")
	if err := e.Export(context.Background(), fakeBundle(1)); err != nil {
		t.Fatal(err)
	}
	runUntil(t, e, func() bool { return e.Depth() == 0 })
	if got := r.got(); !equal(got, seqs(1)) {
		t.Errorf("receiver stored %v", got)
	}
	rc, _ := os.ReadFile(e.ReceiptPath(1))
	r.mu.Lock()
	orig := r.receipts[1]
	r.mu.Unlock()
	if !bytes.Equal(rc, orig) {
		t.Error("the kept receipt is not the receiver's original")
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	r.script = func(n int, seq uint64, w http.ResponseWriter) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2, 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			return false
		}
		return true
	}
	cfg := testConfig(t, p, r.srv.URL)
	cfg.BackoffMin, cfg.BackoffMax = time.Second, 4*time.Second
	e, _ := newExporter(t, cfg, "")
	var mu sync.Mutex
	var waits []time.Duration
	e.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	e.jitter = func() float64 { return 1 }
	if err := e.Export(context.Background(), fakeBundle(1)); err != nil {
		t.Fatal(err)
	}
	runUntil(t, e, func() bool { return e.Depth() == 0 })
	mu.Lock()
	defer mu.Unlock()
	// Retry-After as sent; then exponential from backoff_min.
	if want := []time.Duration{7 * time.Second, 2 * time.Second, 4 * time.Second}; fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if s := e.Stats(); s.Failures != 3 || s.Delivered != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestBackoffIsCappedWithJitter(t *testing.T) {
	e := &Exporter{cfg: Config{BackoffMin: time.Second, BackoffMax: time.Minute}}
	for _, tc := range []struct {
		attempt  int
		jitter   float64
		min, max time.Duration
	}{
		{0, 0, time.Second, time.Second},
		{0, 1, time.Second, time.Second},
		{3, 0, 4 * time.Second, 4 * time.Second},
		{3, 1, 8 * time.Second, 8 * time.Second},
		{10, 0, 30 * time.Second, 30 * time.Second},
		{10, 1, time.Minute, time.Minute},
		{100, 0.5, 45 * time.Second, 45 * time.Second},
	} {
		e.jitter = func() float64 { return tc.jitter }
		if d := e.delay(tc.attempt, 0); d < tc.min || d > tc.max {
			t.Errorf("attempt %d jitter %v: %v", tc.attempt, tc.jitter, d)
		}
	}
	if d := e.delay(0, 3*time.Hour); d != maxRetryAfter {
		t.Errorf("a huge Retry-After gives %v", d)
	}
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{{"120", 2 * time.Minute}, {"", 0}, {"soon", 0}, {"-5", 0}} {
		if got := retryAfter(tc.header); got != tc.want {
			t.Errorf("Retry-After %q: %v", tc.header, got)
		}
	}
	if got := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 58*time.Minute || got > time.Hour {
		t.Errorf("Retry-After as a date: %v", got)
	}
}

// writeEvidence writes bundles as the directory exporter does.
func writeEvidence(t *testing.T, dir string, seqs ...uint64) {
	t.Helper()
	d, err := directory.New(directory.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seqs {
		if err := d.Export(context.Background(), fakeBundle(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAFullOutboxAlarmsAndIsRefilledFromTheEvidenceDirectory(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	cfg.MaxOutboxBundles = 2
	evidence := filepath.Join(t.TempDir(), "evidence")
	e, logs := newExporter(t, cfg, evidence)
	ctx := context.Background()
	for seq := uint64(1); seq <= 5; seq++ {
		writeEvidence(t, evidence, seq) // the agent writes evidence first
		err := e.Export(ctx, fakeBundle(seq))
		if seq <= 2 {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		want := fmt.Sprintf("queue bundle %d: certification body outbox is full (2 bundles, ", seq)
		if !errors.Is(err, ErrOutboxFull) || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; limits 2 bundles, 1GiB); it stays in the evidence directory") {
			t.Errorf("export %d: %v", seq, err)
		}
	}
	s := e.Stats()
	if !s.Full || s.Depth != 2 || s.FullEvents != 3 || !e.Full() {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="ALARM: the certification body outbox is full`) {
		t.Errorf("no alarm in the log:\n%s", logs)
	}
	// Deliveries make room; the rest comes from the evidence directory, in
	// order.
	runUntil(t, e, func() bool { return len(r.got()) == 5 && e.Depth() == 0 })
	if got := r.got(); !equal(got, seqs(1, 2, 3, 4, 5)) {
		t.Errorf("receiver got %v", got)
	}
	if e.Full() {
		t.Error("still full")
	}
	// A new run after the backlog queues normally.
	writeEvidence(t, evidence, 6)
	if err := e.Export(ctx, fakeBundle(6)); err != nil || e.Depth() != 1 {
		t.Errorf("export 6: %v, depth %d", err, e.Depth())
	}
}

func TestBytesLimit(t *testing.T) {
	p := newPKI(t)
	cfg := testConfig(t, p, "https://127.0.0.1:1")
	size := int64(len(fakeBundle(1).Envelope))
	cfg.MaxOutboxBytes = ByteSize(2*size + size/2)
	e, _ := newExporter(t, cfg, "")
	ctx := context.Background()
	for seq := uint64(1); seq <= 3; seq++ {
		err := e.Export(ctx, fakeBundle(seq))
		if (seq == 3) != errors.Is(err, ErrOutboxFull) {
			t.Errorf("export %d: %v", seq, err)
		}
	}
	if s := e.Stats(); s.DepthBytes != 2*size || !s.Full {
		t.Errorf("stats %+v", s)
	}
}

func TestLeftoversOfACrashAreCleanedAndADamagedFileIsReplaced(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	evidence := filepath.Join(t.TempDir(), "evidence")
	writeEvidence(t, evidence, 1, 2)
	pending := filepath.Join(cfg.Outbox, pendingDir)
	if err := os.MkdirAll(pending, 0o750); err != nil {
		t.Fatal(err)
	}
	// kill -9 in the middle of atomicfile.Write: a temporary file that was
	// never renamed into place.
	tmp := filepath.Join(pending, ".bundle-000000000002.dsse.json.tmp-12345")
	os.WriteFile(tmp, fakeBundle(2).Envelope[:40], 0o640)
	// A damaged bundle (a disk that lies about fsync, a hand edit).
	full := fakeBundle(1).Envelope
	os.WriteFile(filepath.Join(pending, evidenceName(1)), full[:len(full)/2], 0o640)

	e, logs := newExporter(t, cfg, evidence)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	runUntil(t, e, func() bool { return len(r.got()) == 2 && e.Depth() == 0 })
	if got := r.got(); !equal(got, seqs(1, 2)) {
		t.Errorf("receiver got %v", got)
	}
	if _, err := os.Stat(filepath.Join(cfg.Outbox, corruptDir, evidenceName(1))); err != nil {
		t.Errorf("damaged file not kept aside: %v", err)
	}
	for _, want := range []string{"removed a temporary file an interrupted write left in the outbox", "outbox file is unreadable; moved aside", "re-queued the bundle from the evidence directory"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestARefusedBundleIsSetAsideAndTheRestFlows(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	r.script = func(n int, seq uint64, w http.ResponseWriter) bool {
		if seq != 2 {
			return false
		}
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(protocol.Error{Message: "sequence 2 of tenant acme already holds a different bundle", Code: protocol.CodeFork})
		return true
	}
	cfg := testConfig(t, p, r.srv.URL)
	e, logs := newExporter(t, cfg, "")
	for seq := uint64(1); seq <= 3; seq++ {
		if err := e.Export(context.Background(), fakeBundle(seq)); err != nil {
			t.Fatal(err)
		}
	}
	runUntil(t, e, func() bool { return e.Depth() == 0 })
	if got := r.got(); !equal(got, seqs(1, 3)) {
		t.Errorf("receiver got %v", got)
	}
	reason, err := os.ReadFile(filepath.Join(cfg.Outbox, rejectedDir, evidenceName(2)+".error"))
	if err != nil || strings.TrimSpace(string(reason)) != "HTTP 409: fork: sequence 2 of tenant acme already holds a different bundle" {
		t.Errorf("reason %q, %v", reason, err)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"the receiver refused the bundle for good; moved aside\"") {
		t.Error("no error logged")
	}
	if s := e.Stats(); s.SetAside != 1 || s.Delivered != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestAReceiptThatDoesNotVerifyKeepsTheBundleQueued(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	_, otherPub, err := bundle.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReceiverKey = otherPub // not the key the receiver signs with
	e, _ := newExporter(t, cfg, "")
	if err := e.Export(context.Background(), fakeBundle(1)); err != nil {
		t.Fatal(err)
	}
	err = e.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "receipt: signature does not verify with key") {
		t.Errorf("flush: %v", err)
	}
	if e.Depth() != 1 {
		t.Error("the bundle left the outbox without a valid receipt")
	}
	if _, err := os.Stat(e.ReceiptPath(1)); !os.IsNotExist(err) {
		t.Error("an unverified receipt was kept")
	}
}

func TestFlushIsOneBoundedPass(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	e, _ := newExporter(t, cfg, "")
	for seq := uint64(1); seq <= 3; seq++ {
		if err := e.Export(context.Background(), fakeBundle(seq)); err != nil {
			t.Fatal(err)
		}
	}
	r.script = func(n int, seq uint64, w http.ResponseWriter) bool {
		if seq == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	err := e.Flush(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "deliver bundle 2 (2 left in the outbox for the next run): bundle 2: receiver answered HTTP 503") {
		t.Errorf("flush: %v", err)
	}
	if got := r.got(); !equal(got, seqs(1)) || e.Depth() != 2 {
		t.Errorf("receiver got %v, depth %d", got, e.Depth())
	}
	r.mu.Lock()
	r.script = nil
	r.mu.Unlock()
	if err := e.Flush(context.Background()); err != nil || e.Depth() != 0 {
		t.Errorf("second flush: %v, depth %d", err, e.Depth())
	}
	// Only one deliverer per outbox: a Flush while Run holds the lock does
	// nothing.
	unlock, ok, err := e.box.lock()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer unlock()
	e.Export(context.Background(), fakeBundle(4))
	if err := e.Flush(context.Background()); err != nil || e.Depth() != 1 {
		t.Errorf("flush beside another deliverer: %v, depth %d", err, e.Depth())
	}
}

func TestTheTokenNeverReachesLogsOrErrors(t *testing.T) {
	const token = "tok-S3CRET-value-42"
	t.Setenv("EUCS_TEST_CAB_TOKEN", token)
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	r.script = func(n int, seq uint64, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(protocol.Error{Message: "bad token", Code: "unauthorized"})
		return true
	}
	cfg := testConfig(t, p, r.srv.URL)
	cfg.TokenEnv = "EUCS_TEST_CAB_TOKEN"
	e, logs := newExporter(t, cfg, "")
	e.Export(context.Background(), fakeBundle(1))
	ferr := e.Flush(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	e.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	e.Run(ctx)
	r.mu.Lock()
	sent := append([]string(nil), r.auth...)
	r.mu.Unlock()
	if len(sent) == 0 || sent[0] != "Bearer "+token {
		t.Fatalf("the token was not sent: %q", sent)
	}
	everything := fmt.Sprintf("%v\n%s\n%v %+v %#v %s", ferr, logs, e, e, e, e.token)
	if strings.Contains(everything, token) {
		t.Errorf("the token leaked:\n%s", everything)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(ferr.Error(), "HTTP 401") {
		t.Errorf("a refused identity is not an error: %v\n%s", ferr, logs)
	}

	// Problems loading it name the variable, never a value.
	cfg.TokenEnv = "EUCS_TEST_CAB_TOKEN_UNSET"
	if _, err := New(cfg, "", slog.New(slog.DiscardHandler)); err == nil || err.Error() != "token_env: environment variable EUCS_TEST_CAB_TOKEN_UNSET is unset or empty" {
		t.Errorf("unset token: %v", err)
	}
}

func TestConfigProblemsAreReportedWithTheirPath(t *testing.T) {
	c := Config{URL: "https://user:pw@cab.example.eu", TokenFile: "t", TokenEnv: "T", Outbox: " ", MaxOutboxBytes: -1, RequestTimeout: -time.Second}
	c.SetDefaults()
	want := strings.Join([]string{
		"url: must not carry credentials; use token_file or token_env",
		"client_cert: must name the agent's client certificate (PEM) for mutual TLS",
		"client_key: must name the client certificate's private key (PEM) for mutual TLS",
		"token_env: set together with token_file; choose one",
		"outbox: must name a directory",
		"max_outbox_bytes: must be positive, got -1",
		"request_timeout: must be positive, got -1s",
	}, "\n")
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	for in, want := range map[string]ByteSize{"1024": 1024, "512MiB": 512 << 20, "2GiB": 2 << 30, "100 MB": 100e6, "1KB": 1000} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	var c2 Config
	if err := yaml.Unmarshal([]byte("max_outbox_bytes: 2GiB\nmax_outbox_bundles: 10\nbackoff_max: 1m\n"), &c2); err != nil ||
		c2.MaxOutboxBytes != 2<<30 || c2.MaxOutboxBundles != 10 || c2.BackoffMax != time.Minute {
		t.Errorf("yaml: %+v, %v", c2, err)
	}
	if err := yaml.Unmarshal([]byte("max_outbox_bytes: [1]\n"), &c2); err == nil || err.Error() != "line 1: a size must be a number or a string like 512MiB" {
		t.Errorf("yaml list: %v", err)
	}
	if _, err := ParseByteSize("lots"); err == nil || err.Error() != `"lots" is not a size (bytes, or a whole number with KB, MB, GB, KiB, MiB or GiB)` {
		t.Errorf("lots: %v", err)
	}
}
