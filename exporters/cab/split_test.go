package cab

import (
	"context"
	"crypto/tls"
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

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/receiver"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// agentSim seals real runs into an evidence directory as the agent does:
// parts first, then the manifest, then the chain state.
type agentSim struct {
	t        *testing.T
	signer   bundle.Signer
	pub      string
	evidence *directory.Exporter
	dir      string
	state    bundle.State
}

func newAgentSim(t *testing.T) *agentSim {
	t.Helper()
	priv, pub, err := bundle.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := bundle.LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "evidence")
	ev, err := directory.New(directory.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	return &agentSim{t: t, signer: s, pub: pub, evidence: ev, dir: dir}
}

// run seals the next run in parts of two findings each (parts 1 is a
// single bundle) and returns it as the exporters see it.
func (a *agentSim) run(parts int) exporters.Bundle {
	a.t.Helper()
	ctx := context.Background()
	limits := bundle.PartLimits{Findings: 2}
	w, err := bundle.NewPartWriter(a.t.TempDir(), limits)
	if err != nil {
		a.t.Fatal(err)
	}
	defer w.Close()
	seq := a.state.Sequence + 1
	for i := range 2 * parts {
		if err := w.Finding(ctx, finding.Finding{Check: "aws.s3.versioning", Provider: "aws", Account: fmt.Sprintf("%012d", i%2),
			Region: "eu-west-1", Service: "s3", Resource: fmt.Sprintf("arn:aws:s3:::b-%d-%d", seq, i), Status: finding.Pass}); err != nil {
			a.t.Fatal(err)
		}
	}
	start := time.Date(2026, 3, 2, int(seq%24), 0, 0, 0, time.UTC)
	var paths []string
	b, err := w.SealParts(ctx, bundle.Meta{RunID: fmt.Sprintf("run-%d", seq), Started: start, Finished: start.Add(time.Minute),
		AgentVersion: "test", Service: "Example", Level: controls.High}, []controls.Result{}, a.state.Next(), a.signer, limits,
		func(ctx context.Context, p *bundle.Part) error {
			paths = append(paths, a.evidence.PartPath(p.Sequence, p.Index))
			return a.evidence.ExportPart(ctx, p.Sequence, p.Index, p.Envelope)
		})
	if err != nil {
		a.t.Fatal(err)
	}
	out := exporters.Bundle{Sequence: b.Sequence, Digest: b.PayloadDigest, Envelope: b.Envelope, Parts: paths}
	if err := a.evidence.Export(ctx, out); err != nil {
		a.t.Fatal(err)
	}
	a.state = b.State()
	return out
}

// realReceiver is eucs-receiver's handler with its SQLite store on
// loopback with mutual TLS, recording every request and able to fail
// chosen ones.
type realReceiver struct {
	srv        *httptest.Server
	store      store.Store
	receiptPub string

	mu   sync.Mutex
	reqs []string
	// fail, if set, may answer a request itself.
	fail func(n int, method, path string, w http.ResponseWriter) bool
}

func newRealReceiver(t *testing.T, p pkiFiles, agentPub string) *realReceiver {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rpriv, rpub, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := bundle.LoadFileSigner(rpriv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := receiver.KeyFromFile("acme", agentPub, time.Now().Add(-time.Hour), time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddTenant(ctx, store.Tenant{Name: "acme", ClientCertCN: "acme-agent", Created: time.Now()}, k); err != nil {
		t.Fatal(err)
	}
	r := &realReceiver{store: st, receiptPub: rpub}
	h := receiver.New(receiver.Config{Store: st, Signer: signer, Log: slog.New(slog.DiscardHandler)}).Handler()
	server, err := p.caObj.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		name := req.Method + " " + req.URL.Path
		if strings.HasPrefix(req.URL.Path, protocol.PathParts+"/") {
			name = req.Method + " part " + req.URL.Path[len(protocol.PathParts)+1:][:8]
		}
		r.reqs = append(r.reqs, name)
		n, fail := len(r.reqs), r.fail
		r.mu.Unlock()
		if fail != nil && fail(n, req.Method, req.URL.Path, w) {
			io.Copy(io.Discard, req.Body)
			return
		}
		h.ServeHTTP(w, req)
	}))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{sc}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *realReceiver) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// partDigests returns the short names the request log uses for a run's
// parts, in order.
func partDigests(t *testing.T, b exporters.Bundle) []string {
	t.Helper()
	p, err := parseBundle(b.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range p.parts {
		out = append(out, d[:8])
	}
	return out
}

func TestASplitRunIsDeliveredPartsThenManifestInChainOrder(t *testing.T) {
	p := newPKI(t)
	agent := newAgentSim(t)
	r := newRealReceiver(t, p, agent.pub)
	cfg := testConfig(t, p, r.srv.URL)
	cfg.ReceiverKey = r.receiptPub
	e, logs := newExporter(t, cfg, agent.dir)
	ctx := context.Background()
	runs := []exporters.Bundle{agent.run(1), agent.run(3), agent.run(1)}
	for _, b := range runs {
		if err := e.Export(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Only the manifest is queued; the parts stay in the evidence directory.
	if s := e.Stats(); s.Depth != 3 || s.DepthBytes != int64(len(runs[0].Envelope)+len(runs[1].Envelope)+len(runs[2].Envelope)) {
		t.Errorf("outbox %+v", s)
	}
	runUntil(t, e, func() bool { return e.Depth() == 0 })

	d := partDigests(t, runs[1])
	want := []string{"POST /v1/bundles", "POST /v1/bundles", "PUT part " + d[0], "PUT part " + d[1], "PUT part " + d[2], "POST /v1/bundles", "POST /v1/bundles"}
	if got := r.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests\n got %v\nwant %v", got, want)
	}
	list, err := r.store.Bundles(ctx, "acme", "", 0, 10)
	if err != nil || len(list) != 3 || list[1].Parts != 3 || list[2].Chain != protocol.ChainLinked {
		t.Fatalf("receiver holds %+v, %v", list, err)
	}
	for i := range 3 {
		if _, err := os.Stat(e.ReceiptPath(uint64(i + 1))); err != nil {
			t.Errorf("receipt %d: %v", i+1, err)
		}
	}
	if s := e.Stats(); s.Delivered != 3 || s.PartsUploaded != 3 || s.SetAside != 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), `msg="uploading the parts of a split run" exporter=certification_body sequence=2 parts=3 missing=3`) {
		t.Errorf("log lacks the upload:\n%s", logs)
	}
}

func TestASplitRunResumesAfterACrashWithoutUploadingPartsTwice(t *testing.T) {
	p := newPKI(t)
	agent := newAgentSim(t)
	r := newRealReceiver(t, p, agent.pub)
	cfg := testConfig(t, p, r.srv.URL)
	cfg.ReceiverKey = r.receiptPub
	// The agent sealed while the exporter was off: delivery backfills from
	// the evidence directory.
	agent.run(1)
	split := agent.run(4)
	agent.run(1)
	d := partDigests(t, split)
	// The third part's upload dies with the connection.
	r.fail = func(n int, method, path string, w http.ResponseWriter) bool {
		if method == http.MethodPut && strings.Contains(path, d[2]) {
			panic(http.ErrAbortHandler)
		}
		return false
	}
	e, _ := newExporter(t, cfg, agent.dir)
	if err := e.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "deliver bundle 2 (2 left in the outbox for the next run): send part 3 of bundle 2: ") {
		t.Errorf("flush: %v", err)
	}
	// The process dies (nothing more than the outbox on disk survives); a
	// new one picks up. The receiver asks only for what it lacks.
	r.mu.Lock()
	r.fail, r.reqs = nil, nil
	r.mu.Unlock()
	e2, _ := newExporter(t, cfg, agent.dir)
	if err := e2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/bundles", "PUT part " + d[2], "PUT part " + d[3], "POST /v1/bundles", "POST /v1/bundles"}
	if got := r.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests after the restart\n got %v\nwant %v", got, want)
	}
	list, err := r.store.Bundles(context.Background(), "acme", "", 0, 10)
	if err != nil || len(list) != 3 || list[1].Parts != 4 {
		t.Fatalf("receiver holds %+v, %v", list, err)
	}
	if e2.Depth() != 0 || e2.Stats().PartsUploaded != 2 {
		t.Errorf("stats %+v", e2.Stats())
	}
}

func TestASplitRunThatCannotBeDeliveredIsSetAside(t *testing.T) {
	p := newPKI(t)
	agent := newAgentSim(t)
	r := newRealReceiver(t, p, agent.pub)
	cfg := testConfig(t, p, r.srv.URL)
	e, logs := newExporter(t, cfg, agent.dir)
	ctx := context.Background()
	runs := []exporters.Bundle{agent.run(1), agent.run(3), agent.run(1)}
	for _, b := range runs {
		if err := e.Export(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Someone removed a part from the evidence directory.
	if err := os.Remove(runs[1].Parts[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reason, err := os.ReadFile(filepath.Join(cfg.Outbox, rejectedDir, evidenceName(2)+".error"))
	if want := fmt.Sprintf("part 2 of 3 (%s) is not in the evidence directory", runs[1].Parts[1]); err != nil || strings.TrimSpace(string(reason)) != want {
		t.Errorf("reason %q, want %q (%v)", reason, want, err)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="the split run cannot be delivered; moved aside, the receiver will record the gap" exporter=certification_body sequence=2`) {
		t.Errorf("not logged:\n%s", logs)
	}
	gaps, err := r.store.Gaps(ctx, "acme", "")
	if err != nil || fmt.Sprint(gaps) != "[{2 2}]" {
		t.Errorf("receiver gaps %v, %v", gaps, err)
	}
	if s := e.Stats(); s.SetAside != 1 || s.Delivered != 2 || s.Depth != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestExportChecksWhereAsplitRunsPartsAre(t *testing.T) {
	p := newPKI(t)
	agent := newAgentSim(t)
	split := agent.run(2)
	cfg := testConfig(t, p, "https://127.0.0.1:1")
	e, _ := newExporter(t, cfg, "")
	if err := e.Export(context.Background(), split); err == nil ||
		err.Error() != "queue bundle 1: it is split into 2 parts, and this exporter has no evidence directory to read them from" {
		t.Errorf("without an evidence directory: %v", err)
	}
	other := t.TempDir()
	e, _ = newExporter(t, testConfig(t, p, "https://127.0.0.1:1"), other)
	want := fmt.Sprintf("queue bundle 1: part 1 is %s, but the exporter reads it from %s", split.Parts[0], filepath.Join(other, partName(1, 1)))
	if err := e.Export(context.Background(), split); err == nil || err.Error() != want {
		t.Errorf("parts elsewhere: %v\nwant %s", err, want)
	}
	if e.Depth() != 0 {
		t.Error("queued anyway")
	}
}

func TestPartNamesMatchTheDirectoryExporter(t *testing.T) {
	for _, seq := range []uint64{1, 42} {
		for _, i := range []int{1, 60} {
			if partName(seq, i) != directory.PartFileName(seq, i) {
				t.Errorf("%d %d: %s vs %s", seq, i, partName(seq, i), directory.PartFileName(seq, i))
			}
		}
	}
}

func TestAShardsReceiptMustNameItsChain(t *testing.T) {
	p := newPKI(t)
	r := newFakeReceiver(t, p)
	cfg := testConfig(t, p, r.srv.URL)
	e, _ := newExporter(t, cfg, "")
	// The fake receiver's receipts name no chain; this bundle is shard-1's.
	b := fakeBundle(1)
	payload := `{"_type":"https://in-toto.io/Statement/v1","predicate":{"chain":{"id":"shard-1","sequence":1,"previous":""}}}`
	b.Envelope = envelopeOf(payload)
	if err := e.Export(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(context.Background()); err == nil || !strings.HasSuffix(err.Error(), `bundle 1: receipt is for chain "", not for chain "shard-1"`) {
		t.Errorf("flush: %v", err)
	}
	if e.Depth() != 1 {
		t.Error("the bundle left the outbox on a receipt for another chain")
	}
}
