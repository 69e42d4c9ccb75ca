package receiver

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// chain seals real bundles, as the agent does, with one signer.
type chain struct {
	t      *testing.T
	signer bundle.Signer
	pub    string // key.pub path
	state  bundle.State
	// variant changes the findings, so that two chains differ.
	variant string
}

// sharded returns a chain with id that signs with c's key, as a replica of
// a sharded agent does.
func (c *chain) sharded(id string) *chain {
	return &chain{t: c.t, signer: c.signer, pub: c.pub, state: bundle.State{Chain: id}, variant: c.variant + "-" + id}
}

func newChain(t *testing.T, variant string) *chain {
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
	return &chain{t: t, signer: s, pub: pub, variant: variant}
}

func (c *chain) keyID() string { id, _ := c.signer.KeyID(); return id }

// next seals the next bundle and advances the chain.
func (c *chain) next() (env []byte, digest string) {
	c.t.Helper()
	run := c.nextSplit(1)
	return run.manifest, run.digest
}

// run is a sealed run: a single bundle (no parts) or a manifest and parts.
type run struct {
	manifest []byte
	digest   string
	parts    [][]byte
	digests  []string
}

// nextSplit seals the next run with two findings per part in n parts; n 1
// is a single bundle.
func (c *chain) nextSplit(n int) run {
	c.t.Helper()
	limits := bundle.PartLimits{Findings: 2}
	w, err := bundle.NewPartWriter(c.t.TempDir(), limits)
	if err != nil {
		c.t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	seq := c.state.Sequence + 1
	status := finding.Pass
	if seq%2 == 0 {
		status = finding.Fail
	}
	for i := range n {
		suffix := ""
		if i > 0 {
			suffix = fmt.Sprintf("-%d", i)
		}
		for _, f := range []finding.Finding{
			{Check: "aws.s3.default_encryption", Provider: "aws", Account: "111111111111", Region: "eu-west-1", Service: "s3",
				Resource: "arn:aws:s3:::" + c.variant + suffix, Status: status, Requirements: []string{"CKM-03.1"}},
			{Check: "aws.iam.root_mfa", Provider: "aws", Account: "222222222222", Region: "global", Service: "iam",
				Resource: "arn:aws:iam::222222222222:root" + suffix, Status: finding.NotAssessed, Reason: finding.AccessDenied, Requirements: []string{"IAM-09.1"}},
		} {
			if err := w.Finding(ctx, f); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	rs := controls.Satisfied
	if status == finding.Fail {
		rs = controls.NotSatisfied
	}
	results := []controls.Result{{ID: "CKM-03.1", Level: controls.Basic, Status: rs, Checks: []string{"aws.s3.default_encryption"}, Pass: 1}}
	start := time.Date(2026, 3, 2, int(seq%24), 0, 0, 0, time.UTC)
	var out run
	b, err := w.SealParts(ctx, bundle.Meta{RunID: fmt.Sprintf("run-%d", seq), Started: start, Finished: start.Add(time.Minute),
		AgentVersion: "test", Service: "Example", Level: controls.High}, results, c.state.Next(), c.signer, limits,
		func(_ context.Context, p *bundle.Part) error {
			out.parts = append(out.parts, bytes.Clone(p.Envelope))
			out.digests = append(out.digests, p.PayloadDigest)
			return nil
		})
	if err != nil {
		c.t.Fatal(err)
	}
	if b.Parts != len(out.parts) || (n > 1) != (b.Parts == n) {
		c.t.Fatalf("sealed %d parts, want %d", b.Parts, n)
	}
	c.state = b.State()
	out.manifest, out.digest = b.Envelope, b.PayloadDigest
	return out
}

// world is a receiver on loopback with real mutual TLS.
type world struct {
	t        *testing.T
	srv      *httptest.Server
	store    store.Store
	receipt  *ecdsa.PublicKey
	now      time.Time
	nowMu    sync.Mutex
	clients  map[string]*http.Client
	logs     *bytes.Buffer
	acme     *chain
	globex   *chain
	receiver *Server
}

var t0 = time.Date(2026, 3, 2, 2, 5, 0, 0, time.UTC)

func newWorld(t *testing.T, maxBody int64) *world {
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
	receiptPub, err := bundle.LoadPublicKey(rpub)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, store: st, receipt: receiptPub, now: t0, clients: map[string]*http.Client{}, logs: &bytes.Buffer{}}
	w.receiver = New(Config{Store: st, Signer: signer, MaxBundleBytes: maxBody, Log: slog.New(slog.NewTextHandler(w.logs, nil)),
		Now: func() time.Time { w.nowMu.Lock(); defer w.nowMu.Unlock(); return w.now }})

	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	w.srv = httptest.NewUnstartedServer(w.receiver.Handler())
	w.srv.TLS = &tls.Config{Certificates: []tls.Certificate{sc}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	for _, cn := range []string{"acme-agent", "globex-agent", "alice", "mallory"} {
		p, err := ca.IssueClient(cn, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		w.clients[cn] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cc}}}}
	}

	w.acme, w.globex = newChain(t, "acme"), newChain(t, "globex")
	for _, tc := range []struct {
		name, cn string
		c        *chain
	}{{"acme", "acme-agent", w.acme}, {"globex", "globex-agent", w.globex}} {
		k, err := KeyFromFile(tc.name, tc.c.pub, t0.Add(-time.Hour), time.Time{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddTenant(ctx, store.Tenant{Name: tc.name, ClientCertCN: tc.cn, Created: t0}, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddAuditor(ctx, store.Auditor{Name: "alice", ClientCertCN: "alice", Created: t0}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) setNow(t time.Time) { w.nowMu.Lock(); w.now = t; w.nowMu.Unlock() }

func (w *world) do(who, method, path string, body []byte) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := w.clients[who].Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, data
}

func (w *world) submit(who string, env []byte) (int, []byte) {
	w.t.Helper()
	return w.do(who, http.MethodPost, protocol.PathBundles, env)
}

// wantError checks an answer's status and its exact JSON body.
func wantError(t *testing.T, status int, body []byte, wantStatus int, code, message string) {
	t.Helper()
	want, _ := json.Marshal(protocol.Error{Message: message, Code: code})
	if status != wantStatus || strings.TrimSpace(string(body)) != string(want) {
		t.Errorf("got %d %s\nwant %d %s", status, body, wantStatus, want)
	}
}

func (w *world) receiptOf(body []byte) protocol.Receipt {
	w.t.Helper()
	r, err := protocol.ParseReceipt(body, w.receipt)
	if err != nil {
		w.t.Fatalf("receipt: %v\n%s", err, body)
	}
	return r
}

func TestAcceptsAChainWithReceiptsAndResends(t *testing.T) {
	w := newWorld(t, 0)
	var receipts [][]byte
	for i := 1; i <= 3; i++ {
		env, digest := w.acme.next()
		status, body := w.submit("acme-agent", env)
		if status != http.StatusCreated {
			t.Fatalf("bundle %d: %d %s", i, status, body)
		}
		r := w.receiptOf(body)
		wantChain := protocol.ChainLinked
		if i == 1 {
			wantChain = protocol.ChainStart
		}
		want := protocol.Receipt{Type: protocol.ReceiptType, Tenant: "acme", Sequence: uint64(i), PayloadDigest: digest,
			Previous: r.Previous, KeyID: w.acme.keyID(), Received: "2026-03-02T02:05:00.000000Z", Chain: wantChain}
		if r != want {
			t.Errorf("receipt %d:\n got %+v\nwant %+v", i, r, want)
		}
		receipts = append(receipts, body)
		// An identical resend is a success with the original receipt.
		w.setNow(t0.Add(time.Hour))
		status, again := w.submit("acme-agent", env)
		if status != http.StatusOK || !bytes.Equal(again, body) {
			t.Errorf("resend of %d: %d, same receipt %v", i, status, bytes.Equal(again, body))
		}
		w.setNow(t0)
	}
	list, err := w.store.Bundles(context.Background(), "acme", "", 0, 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("stored %d bundles, %v", len(list), err)
	}
	// The receipt is served back to the tenant and to auditors.
	for _, who := range []string{"acme-agent", "alice"} {
		status, body := w.do(who, http.MethodGet, "/v1/tenants/acme/bundles/2/receipt", nil)
		if status != http.StatusOK || !bytes.Equal(body, receipts[1]) {
			t.Errorf("%s reads receipt 2: %d %s", who, status, body)
		}
	}
}

func TestRejectionsStoreNothingAndSayWhy(t *testing.T) {
	w := newWorld(t, 0)
	a1, _ := w.acme.next()
	a2, a2digest := w.acme.next()
	for _, env := range [][]byte{a1, a2} {
		if status, body := w.submit("acme-agent", env); status != http.StatusCreated {
			t.Fatalf("%d %s", status, body)
		}
	}

	t.Run("malformed JSON", func(t *testing.T) {
		status, body := w.submit("acme-agent", []byte(`{"payloadType":`))
		wantError(t, status, body, 400, "malformed_json", "the body is not a DSSE envelope: unexpected end of JSON input")
	})
	t.Run("not a DSSE envelope", func(t *testing.T) {
		status, body := w.submit("acme-agent", []byte(`{"hello":"world"}`))
		wantError(t, status, body, 400, "malformed_json", "the body is not a DSSE envelope: no payloadType")
	})
	t.Run("bad signature", func(t *testing.T) {
		env, _ := w.acme.next()
		w.acme.state = bundle.State{Sequence: 2, Digest: a2digest} // not stored: reuse the position
		tampered := bytes.Replace(env, []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1)
		status, body := w.submit("acme-agent", tampered)
		wantError(t, status, body, 422, "bad_signature", "the signature does not verify with key "+w.acme.keyID()+" of tenant acme")
	})
	t.Run("signed but unsound", func(t *testing.T) {
		// A finding changed and the payload re-signed: the signature holds,
		// the subject digest does not.
		env, _ := w.acme.next()
		w.acme.state = bundle.State{Sequence: 2, Digest: a2digest}
		payload := decodePayload(t, env)
		payload = bytes.Replace(payload, []byte(`"status":"pass"`), []byte(`"status":"fail"`), 1)
		status, body := w.submit("acme-agent", resign(t, w.acme.signer, payload))
		var e protocol.Error
		json.Unmarshal(body, &e)
		if status != 422 || e.Code != "invalid_bundle" || !strings.HasPrefix(e.Message, "the bundle is signed but not sound: subject aws:111111111111 digest mismatch") {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		stranger := newChain(t, "acme")
		env, _ := stranger.next()
		status, body := w.submit("acme-agent", env)
		wantError(t, status, body, 403, "unknown_key", "the bundle is signed by key "+stranger.keyID()+", which is not registered for tenant acme")
	})
	t.Run("another tenant's key", func(t *testing.T) {
		env, _ := w.globex.next()
		w.globex.state = bundle.State{}
		status, body := w.submit("acme-agent", env)
		wantError(t, status, body, 403, "unknown_key", "the bundle is signed by key "+w.globex.keyID()+", which is not registered for tenant acme")
	})
	t.Run("wrong tenant", func(t *testing.T) {
		env, _ := w.globex.next()
		w.globex.state = bundle.State{}
		status, body := w.do("acme-agent", http.MethodPost, "/v1/tenants/globex/bundles", env)
		wantError(t, status, body, 403, "wrong_tenant", "this client certificate belongs to tenant acme, not globex")
		status, body = w.do("acme-agent", http.MethodGet, "/v1/tenants/globex/bundles", nil)
		wantError(t, status, body, 403, "wrong_tenant", "this client certificate belongs to tenant acme, not globex")
		status, body = w.do("acme-agent", http.MethodGet, "/v1/tenants/globex/chain", nil)
		wantError(t, status, body, 403, "wrong_tenant", "this client certificate belongs to tenant acme, not globex")
	})
	t.Run("unregistered client certificate", func(t *testing.T) {
		status, body := w.submit("mallory", a1)
		wantError(t, status, body, 403, "unknown_client", `the client certificate (CN "mallory") is not registered to a tenant or an auditor`)
		status, body = w.do("mallory", http.MethodGet, "/v1/tenants", nil)
		wantError(t, status, body, 403, "unknown_client", `the client certificate (CN "mallory") is not registered to a tenant or an auditor`)
	})
	t.Run("auditors do not submit", func(t *testing.T) {
		status, body := w.submit("alice", a1)
		wantError(t, status, body, 403, "not_a_tenant", "auditor alice may read evidence but not submit it")
	})
	t.Run("fork", func(t *testing.T) {
		// Same key, same position, other contents: a forked chain.
		fork := &chain{t: t, signer: w.acme.signer, state: bundle.State{Sequence: 1, Digest: w.storedDigest("acme", 1)}, variant: "forked"}
		env, digest := fork.next()
		status, body := w.submit("acme-agent", env)
		wantError(t, status, body, 409, "fork", fmt.Sprintf(
			"sequence 2 of tenant acme already holds a different bundle (payload digest %s); this one has payload digest %s: a forked chain", a2digest, digest))
		// The attempt is on record for auditors; the bundle is not stored.
		status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/forks", nil)
		if status != 200 || !strings.Contains(string(body), `"offered_digest":"`+digest+`"`) {
			t.Errorf("forks: %d %s", status, body)
		}
	})
	t.Run("broken chain", func(t *testing.T) {
		fork := &chain{t: t, signer: w.acme.signer, state: bundle.State{Sequence: 2, Digest: strings.Repeat("ab", 32)}, variant: "broken"}
		env, _ := fork.next()
		status, body := w.submit("acme-agent", env)
		wantError(t, status, body, 409, "broken_chain", fmt.Sprintf(
			"bundle 3 names previous %s, but the stored bundle 2 of tenant acme has payload digest %s", strings.Repeat("ab", 32), a2digest))
	})
	t.Run("over the size limit", func(t *testing.T) {
		small := newWorld(t, 1024)
		env, _ := small.acme.next()
		status, body := small.submit("acme-agent", env)
		wantError(t, status, body, 413, "payload_too_large", "the body is larger than this receiver's limit of 1024 bytes")
	})

	// Nothing of the above was stored.
	list, err := w.store.Bundles(context.Background(), "acme", "", 0, 10)
	if err != nil || len(list) != 2 || list[1].PayloadDigest != a2digest {
		t.Errorf("acme holds %+v, %v", list, err)
	}
	if g, _ := w.store.Bundles(context.Background(), "globex", "", 0, 10); len(g) != 0 {
		t.Errorf("globex holds %d bundles", len(g))
	}
	if strings.Contains(w.logs.String(), "PRIVATE KEY") {
		t.Error("a private key reached the log")
	}
}

func (w *world) storedDigest(tenant string, seq uint64) string {
	b, err := w.store.Bundle(context.Background(), tenant, "", seq)
	if err != nil {
		w.t.Fatal(err)
	}
	return b.PayloadDigest
}

func decodePayload(t *testing.T, env []byte) []byte {
	t.Helper()
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func resign(t *testing.T, s bundle.Signer, payload []byte) []byte {
	t.Helper()
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), bundle.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(env)
	return out
}

func TestGapsAreStoredFlaggedAndFilled(t *testing.T) {
	w := newWorld(t, 0)
	var envs [][]byte
	for i := 0; i < 5; i++ {
		env, _ := w.acme.next()
		envs = append(envs, env)
	}
	for _, i := range []int{0, 1, 4} {
		if status, body := w.submit("acme-agent", envs[i]); status != http.StatusCreated {
			t.Fatalf("%d %s", status, body)
		}
	}
	status, body := w.do("alice", http.MethodGet, "/v1/tenants/acme/gaps", nil)
	if status != 200 || strings.TrimSpace(string(body)) != `{"gaps":[{"from":3,"to":4}],"tenant":"acme"}` {
		t.Errorf("gaps: %d %s", status, body)
	}
	b5, _ := w.store.Bundle(context.Background(), "acme", "", 5)
	if b5.Chain != protocol.ChainGap || w.receiptOf(b5.Receipt).Chain != protocol.ChainGap {
		t.Errorf("bundle 5 chain %q", b5.Chain)
	}
	// The missing runs arrive late (the agent's outbox was full): the gap
	// closes, each link checked against both neighbours.
	for _, i := range []int{2, 3} {
		if status, body := w.submit("acme-agent", envs[i]); status != http.StatusCreated {
			t.Fatalf("%d %s", status, body)
		}
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/gaps", nil)
	if status != 200 || strings.TrimSpace(string(body)) != `{"gaps":[],"tenant":"acme"}` {
		t.Errorf("gaps after backfill: %d %s", status, body)
	}
}

func TestKeyRotationWindowsAndRevocation(t *testing.T) {
	w := newWorld(t, 0)
	ctx := context.Background()
	a1, _ := w.acme.next()
	if status, body := w.submit("acme-agent", a1); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	// The agent rotates to a new key; the chain continues under it.
	next := newChain(t, "acme")
	next.state = w.acme.state
	k2, err := KeyFromFile("acme", next.pub, t0.Add(time.Hour), time.Time{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.AddKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	a2, _ := next.next()
	status, body := w.submit("acme-agent", a2)
	wantError(t, status, body, 403, "key_not_valid", "key "+next.keyID()+" of tenant acme is not valid before 2026-03-02T03:05:00Z (now 2026-03-02T02:05:00Z)")

	w.setNow(t0.Add(2 * time.Hour))
	if err := w.store.RevokeKey(ctx, "acme", w.acme.keyID(), t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	status, body = w.submit("acme-agent", a2)
	if status != http.StatusCreated {
		t.Fatalf("after not_before: %d %s", status, body)
	}
	if r := w.receiptOf(body); r.KeyID != next.keyID() {
		t.Errorf("receipt names key %s", r.KeyID)
	}
	old := &chain{t: t, signer: w.acme.signer, state: next.state, variant: "old"}
	a3, _ := old.next()
	status, body = w.submit("acme-agent", a3)
	wantError(t, status, body, 403, "key_not_valid", "key "+w.acme.keyID()+" of tenant acme was revoked at 2026-03-02T03:35:00Z")
}

func TestAuditorsReadHistoryAndExportAVerifiableChain(t *testing.T) {
	w := newWorld(t, 0)
	for i := 0; i < 3; i++ {
		env, _ := w.acme.next()
		if status, body := w.submit("acme-agent", env); status != http.StatusCreated {
			t.Fatalf("%d %s", status, body)
		}
	}
	g1, _ := w.globex.next()
	if status, body := w.submit("globex-agent", g1); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}

	status, body := w.do("alice", http.MethodGet, "/v1/tenants", nil)
	if status != 200 || !strings.Contains(string(body), `"name":"acme"`) || !strings.Contains(string(body), `"name":"globex"`) {
		t.Errorf("auditor's tenants: %d %s", status, body)
	}
	status, body = w.do("acme-agent", http.MethodGet, "/v1/tenants", nil)
	if status != 200 || strings.Contains(string(body), "globex") {
		t.Errorf("a tenant sees another: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/requirements/CKM-03.1", nil)
	var h struct {
		History []HistoryView `json:"history"`
	}
	json.Unmarshal(body, &h)
	if status != 200 || len(h.History) != 3 || h.History[0].Status != "satisfied" || h.History[1].Status != "not_satisfied" || h.History[1].RunFinished != "2026-03-02T02:01:00Z" {
		t.Errorf("history: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles?after=1&limit=1", nil)
	if status != 200 || !strings.Contains(string(body), `"sequence":2`) || !strings.Contains(string(body), `"next_after":2`) {
		t.Errorf("page: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/nobody/bundles", nil)
	wantError(t, status, body, 404, "not_found", "no tenant nobody")

	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/chain", nil)
	if status != 200 {
		t.Fatalf("chain: %d %s", status, body)
	}
	var inputs []bundle.Input
	var keyPEM []byte
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		switch {
		case strings.HasPrefix(hdr.Name, "acme/bundle-"):
			inputs = append(inputs, bundle.Input{Name: hdr.Name, Data: data})
		case strings.HasPrefix(hdr.Name, "acme/keys/"):
			keyPEM = data
		case !strings.HasPrefix(hdr.Name, "acme/"):
			t.Errorf("another tenant's file in acme's export: %s", hdr.Name)
		}
	}
	pub, err := parsePublicKey(string(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(context.Background(), pub, inputs)
	if err != nil || rep.First != 1 || rep.Last != 3 {
		t.Errorf("exported chain: %v, %v", rep, err)
	}
}
