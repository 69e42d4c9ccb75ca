package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// buildBinaries builds eucs-agent and eucs-receiver into dir.
func buildBinaries(t *testing.T, dir string) (agentBin, receiverBin string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries with")
	}
	agentBin, receiverBin = filepath.Join(dir, "eucs-agent"), filepath.Join(dir, "eucs-receiver")
	cmd := exec.Command(gobin, "build", "-o", dir+string(os.PathSeparator),
		"github.com/eucs-agent/eucs-agent/cmd/eucs-agent", "github.com/eucs-agent/eucs-agent/cmd/eucs-receiver")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return agentBin, receiverBin
}

// tcpProxy stands between the agent and the receiver, so the receiver can
// move to a new port on restart and so the test can make a delivery's answer
// disappear: with swallow on, once a connection has sent a bundle's worth
// of bytes, nothing comes back to the agent (the receiver has stored the
// bundle; the agent never learns it).
type tcpProxy struct {
	ln      net.Listener
	target  atomic.Value // string
	swallow atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]bool
}

func newProxy(t *testing.T) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, conns: map[net.Conn]bool{}}
	p.target.Store("")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *tcpProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *tcpProxy) handle(c net.Conn) {
	target := p.target.Load().(string)
	s, err := net.DialTimeout("tcp", target, 5*time.Second)
	if target == "" || err != nil {
		c.Close()
		return
	}
	p.track(c, true)
	p.track(s, true)
	defer func() { c.Close(); s.Close(); p.track(c, false); p.track(s, false) }()
	var sent atomic.Int64
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if p.swallow.Load() {
					sent.Add(int64(n))
				}
				if _, werr := s.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		s.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 && !(p.swallow.Load() && sent.Load() > 20000) {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proc is a started binary with its output in files.
type proc struct {
	cmd    *exec.Cmd
	stdout *os.File
	stderr string
	done   chan error
}

func start(t *testing.T, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	out, err := os.CreateTemp(dir, name+"-*.stdout")
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.CreateTemp(dir, name+"-*.stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = out, errf, env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: out, stderr: errf.Name(), done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); out.Close(); errf.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string { b, _ := os.ReadFile(p.stderr); return string(b) }

// stop sends SIGTERM and waits.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("%s did not stop on SIGTERM", p.cmd.Path)
	}
}

var listenRe = regexp.MustCompile(`listening on https://(\S+)`)

// address waits for the receiver's "listening on" line.
func (p *proc) address(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.stdout.Name())
		if m := listenRe.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		select {
		case err := <-p.done:
			t.Fatalf("receiver exited: %v\n%s", err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("receiver did not start:\n%s", p.log())
	return ""
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func runCLI(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func clientFor(t *testing.T, ca *pki.CA, cn string) *http.Client {
	t.Helper()
	pair, err := ca.IssueClient(cn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// storedSequences asks the receiver, as the auditor, which sequences it holds.
func storedSequences(t *testing.T, c *http.Client, addr string) []uint64 {
	t.Helper()
	resp, err := c.Get("https://" + addr + "/v1/tenants/acme/bundles?limit=1000")
	if err != nil {
		return nil // stopped or restarting
	}
	defer resp.Body.Close()
	var out struct {
		Bundles []struct {
			Sequence uint64 `json:"sequence"`
			Received string `json:"received"`
			Chain    string `json:"chain"`
		} `json:"bundles"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, b := range out.Bundles {
		seqs = append(seqs, b.Sequence)
	}
	return seqs
}

// runFiles matches the evidence directory's bundles and manifests, not
// the parts beside them.
const runFiles = "bundle-????????????.dsse.json"

func countFiles(dir, pattern string) int {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return len(m)
}

func pendingSeqs(dir string) map[uint64]bool {
	out := map[uint64]bool{}
	m, _ := filepath.Glob(filepath.Join(dir, "outbox", "pending", "bundle-*.dsse.json"))
	for _, f := range m {
		var seq uint64
		fmt.Sscanf(filepath.Base(f), "bundle-%012d.dsse.json", &seq)
		out[seq] = true
	}
	return out
}

// cab is a certification body set up for an end-to-end test: a CA that
// signed the receiver's server certificate and the client certificate of
// tenant acme's agent (CN acme-agent), all in tlsDir with ca.pem; the
// receipt key; the agent's signing key; tenant acme registered with it and
// auditor alice, in the receiver's data directory.
type cab struct {
	dir, tlsDir, data       string
	receiverBin             string
	ca                      *pki.CA
	receiptPriv, receiptPub string
	agentPriv, agentPub     string
	auditor                 *http.Client
}

func newCAB(t *testing.T, dir, receiverBin string) *cab {
	t.Helper()
	c := &cab{dir: dir, tlsDir: filepath.Join(dir, "tls"), data: filepath.Join(dir, "cab"), receiverBin: receiverBin}
	var err error
	if c.ca, err = pki.NewCA("e2e CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	server, err := c.ca.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	agentCert, err := c.ca.IssueClient("acme-agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(c.tlsDir, 0o700)
	for name, data := range map[string][]byte{
		"ca.pem": c.ca.CertPEM(), "server.pem": server.CertPEM, "server-key.pem": server.KeyPEM,
		"agent.pem": agentCert.CertPEM, "agent-key.pem": agentCert.KeyPEM,
	} {
		writeFile(t, filepath.Join(c.tlsDir, name), data)
	}
	if c.receiptPriv, c.receiptPub, err = bundle.GenerateKey(c.tlsDir); err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(dir, "agent-key")
	os.MkdirAll(keyDir, 0o700)
	if c.agentPriv, c.agentPub, err = bundle.GenerateKey(keyDir); err != nil {
		t.Fatal(err)
	}
	runCLI(t, receiverBin, "tenant", "add", "acme", "--data", c.data, "--key", c.agentPub, "--client-cert-cn", "acme-agent")
	runCLI(t, receiverBin, "auditor", "add", "alice", "--data", c.data, "--client-cert-cn", "alice")
	c.auditor = clientFor(t, c.ca, "alice")
	return c
}

// startReceiver starts the receiver on a free loopback port, with extra
// flags, and returns it and its address once it listens.
func (c *cab) startReceiver(t *testing.T, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"--data", c.data, "--listen", "127.0.0.1:0",
		"--tls-cert", filepath.Join(c.tlsDir, "server.pem"), "--tls-key", filepath.Join(c.tlsDir, "server-key.pem"),
		"--client-ca", filepath.Join(c.tlsDir, "ca.pem"), "--receipt-key", c.receiptPriv, "--log-format", "text"}, extra...)
	p := start(t, c.dir, "receiver", os.Environ(), c.receiverBin, args...)
	return p, p.address(t)
}

// accountsYAML lists the estate's accounts for collectors.aws.accounts,
// each with the role the simulator lets the agent assume.
func accountsYAML(estate *awssim.Estate) string {
	var b strings.Builder
	for _, a := range estate.Accounts {
		fmt.Fprintf(&b, "      - {id: %q, role_arn: \"arn:aws:iam::%s:role/eucs-agent\"}\n", a.ID, a.ID)
	}
	return b.String()
}

// agentEnv is the agent's environment against the simulated estate: the
// first account's credentials and no shared AWS config or instance
// metadata.
func agentEnv(dir string, estate *awssim.Estate) []string {
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+awssim.AccessKeyFor(estate.Accounts[0].ID), "AWS_SECRET_ACCESS_KEY=simulated-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))
}

// TestEndToEnd runs both binaries on loopback with real mutual TLS: the
// agent delivers runs against the simulated AWS estate while the receiver
// is stopped and restarted and the agent is killed with SIGKILL in the
// middle of a delivery; in the end the receiver holds every bundle exactly
// once, in chain order, and the exported chain verifies with
// `eucs-agent verify`. Then each rejection gets its documented answer.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both binaries")
	}
	dir := t.TempDir()
	agentBin, receiverBin := buildBinaries(t, dir)

	// The CAB: its CA signs the receiver's server certificate and the
	// client certificates of the agent, another tenant's agent and an
	// auditor.
	c := newCAB(t, dir, receiverBin)
	globexDir := filepath.Join(dir, "globex-key")
	os.MkdirAll(globexDir, 0o700)
	_, globexPub, err := bundle.GenerateKey(globexDir)
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, receiverBin, "tenant", "add", "globex", "--data", c.data, "--key", globexPub, "--client-cert-cn", "globex-agent")
	ca, tlsDir, agentPriv, agentPub, receiptPub := c.ca, c.tlsDir, c.agentPriv, c.agentPub, c.receiptPub
	auditor, globex := c.auditor, clientFor(t, ca, "globex-agent")

	startReceiver := func() (*proc, string) { return c.startReceiver(t, "--max-bundle-bytes", "1048576") }
	recv, addr := startReceiver()
	proxy := newProxy(t)
	proxy.target.Store(addr)

	// The simulated AWS estate the agent collects from, and the agent.
	estate := awssim.Demo()
	sim := awssim.NewServer(estate).Start()
	defer sim.Close()
	work := filepath.Join(dir, "agent")
	cfgPath := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfgPath, []byte(fmt.Sprintf(`service: E2E Cloud Service
level: high
schedule: "@every 1s"
state_dir: %[1]s/state
signing:
  key: %[2]s
collectors:
  aws:
    regions: [eu-west-1]
    allowed_regions: [eu-west-1, eu-central-1]
    accounts:
%[3]s    endpoint_url: %[4]s
    s3_path_style: true
    max_attempts: 1
exporters:
  directory:
    path: %[1]s/evidence
  certification_body:
    url: https://%[5]s
    client_cert: %[6]s/agent.pem
    client_key: %[6]s/agent-key.pem
    ca: %[6]s/ca.pem
    receiver_key: %[7]s
    outbox: %[1]s/outbox
    receipts: %[1]s/receipts
    backoff_min: 20ms
    backoff_max: 300ms
    request_timeout: 5s
    flush_timeout: 20s
log:
  level: info
  format: text
`, work, agentPriv, accountsYAML(estate), sim.URL, proxy.ln.Addr(), tlsDir, receiptPub)))
	env := agentEnv(dir, estate)
	evidence := filepath.Join(work, "evidence")
	agent := start(t, dir, "agent", env, agentBin, "run", "--config", cfgPath)

	// 1. Runs are delivered while the receiver is up.
	waitFor(t, "two bundles at the receiver", 30*time.Second, func() bool { return len(storedSequences(t, auditor, addr)) >= 2 })

	// 2. The receiver goes away for several runs; the agent keeps sealing
	// and queues.
	recv.stop(t)
	before := countFiles(evidence, runFiles)
	waitFor(t, "three runs while the receiver is down", 30*time.Second, func() bool {
		return countFiles(evidence, runFiles) >= before+3
	})
	if len(pendingSeqs(work)) < 2 {
		t.Errorf("outbox holds %v while the receiver is down", pendingSeqs(work))
	}

	// 3. It comes back (on another port, behind the same address); the
	// backlog drains.
	recv, addr = startReceiver()
	proxy.target.Store(addr)
	waitFor(t, "the backlog to drain", 30*time.Second, func() bool {
		return len(storedSequences(t, auditor, addr)) >= before+3
	})

	// 4. A delivery's answer is lost and the agent is killed (SIGKILL)
	// while the receiver already holds the bundle.
	proxy.swallow.Store(true)
	var inFlight uint64
	waitFor(t, "a bundle stored by the receiver but not acknowledged to the agent", 30*time.Second, func() bool {
		stored := storedSequences(t, auditor, addr)
		pending := pendingSeqs(work)
		for _, s := range stored {
			if pending[s] {
				inFlight = s
				return true
			}
		}
		return false
	})
	agent.cmd.Process.Kill()
	<-agent.done
	if !pendingSeqs(work)[inFlight] {
		t.Fatalf("bundle %d left the outbox though its receipt never arrived", inFlight)
	}
	proxy.swallow.Store(false)
	proxy.closeAll()

	// 4b. While the agent is down, its next run is sealed here as the
	// agent seals a large one: a manifest and three parts, with the agent's
	// key and chain state, into its evidence directory. The restarted
	// agent's exporter finds it there (a run sealed just before a crash),
	// uploads the parts and delivers the manifest.
	splitSeq := sealSplitRun(t, agentPriv, filepath.Join(work, "state"), evidence)

	// 5. The agent restarts: the resend is answered with the original
	// receipt, and delivery goes on.
	agent = start(t, dir, "agent", env, agentBin, "run", "--config", cfgPath)
	waitFor(t, "the resent bundle to be acknowledged", 30*time.Second, func() bool { return !pendingSeqs(work)[inFlight] })
	agent.stop(t)
	if !strings.Contains(agent.log(), "receiver=\"already held (resend)\"") || !strings.Contains(agent.log(), fmt.Sprintf("sequence=%d", inFlight)) {
		t.Errorf("the restarted agent's log shows no resend of bundle %d:\n%s", inFlight, agent.log())
	}

	// 6. A one-shot collect with small part bounds seals one more run,
	// split into parts by the agent's own pipeline, and flushes the outbox.
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	splitCfg := filepath.Join(dir, "agent-split.yaml")
	writeFile(t, splitCfg, append(cfg, "parts: {max_findings: 40, max_bytes: 8KiB}\n"...))
	out, err := exec.Command(agentBin, "collect", "--config", splitCfg).CombinedOutput()
	if err != nil {
		t.Fatalf("collect: %v\n%s", err, out)
	}
	total := countFiles(evidence, runFiles)
	collectParts := countFiles(evidence, fmt.Sprintf("bundle-%012d.part-*.dsse.json", total))
	if collectParts < 2 {
		t.Fatalf("the run sealed with small part bounds has %d parts", collectParts)
	}
	if n := len(pendingSeqs(work)); n != 0 {
		t.Errorf("after collect's flush %d bundles are still queued", n)
	}

	// Every bundle exactly once, in order, chain intact.
	resp, err := auditor.Get("https://" + addr + "/v1/tenants/acme/bundles?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Bundles []struct {
			Sequence uint64 `json:"sequence"`
			Received string `json:"received"`
			Chain    string `json:"chain"`
			Parts    int    `json:"parts"`
		} `json:"bundles"`
	}
	json.NewDecoder(resp.Body).Decode(&listing)
	resp.Body.Close()
	if len(listing.Bundles) != total {
		t.Fatalf("receiver holds %d bundles, the agent sealed %d", len(listing.Bundles), total)
	}
	for i, b := range listing.Bundles {
		wantChain := protocol.ChainLinked
		if i == 0 {
			wantChain = protocol.ChainStart
		}
		if b.Sequence != uint64(i+1) || b.Chain != wantChain {
			t.Errorf("bundle %d: sequence %d chain %s", i+1, b.Sequence, b.Chain)
		}
		if wantParts := map[uint64]int{splitSeq: 3, uint64(total): collectParts}[b.Sequence]; b.Parts != wantParts {
			t.Errorf("bundle %d has %d parts, want %d", b.Sequence, b.Parts, wantParts)
		}
		if i > 0 && b.Received < listing.Bundles[i-1].Received {
			t.Errorf("bundle %d was received before bundle %d: delivery out of chain order", b.Sequence, b.Sequence-1)
		}
		if _, err := os.Stat(filepath.Join(work, "receipts", fmt.Sprintf("receipt-%012d.dsse.json", b.Sequence))); err != nil {
			t.Errorf("no receipt kept for bundle %d: %v", b.Sequence, err)
		}
	}

	// The auditor exports the chain and checks it offline.
	resp, err = auditor.Get("https://" + addr + "/v1/tenants/acme/chain")
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(dir, "export")
	var files []string
	parts := 0
	tr := tar.NewReader(resp.Body)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(exported, filepath.FromSlash(hdr.Name))
		os.MkdirAll(filepath.Dir(p), 0o750)
		b, _ := io.ReadAll(tr)
		writeFile(t, p, b)
		if strings.HasPrefix(filepath.Base(p), "bundle-") {
			files = append(files, p)
			if strings.Contains(filepath.Base(p), ".part-") {
				parts++
			}
			if orig, err := os.ReadFile(filepath.Join(evidence, filepath.Base(p))); err != nil || !bytes.Equal(orig, b) {
				t.Errorf("%s differs from the agent's evidence", filepath.Base(p))
			}
		}
	}
	resp.Body.Close()
	if parts != 3+collectParts || len(files) != total+parts {
		t.Errorf("the export holds %d files, %d of them parts; want %d bundles and %d parts", len(files), parts, total, 3+collectParts)
	}
	out, err = exec.Command(agentBin, append([]string{"verify", "--key", agentPub}, files...)...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), fmt.Sprintf("OK: %d bundles (sequences 1 to %d; 2 split into %d parts)", total, total, 3+collectParts)) {
		t.Errorf("eucs-agent verify on the exported chain: %v\n%s", err, out)
	}

	// Rejections from the real binary, each with its documented answer.
	post := func(c *http.Client, path string, body []byte) (int, string) {
		resp, err := c.Post("https://"+addr+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	agentClient := clientFor(t, ca, "acme-agent")
	b2, _ := os.ReadFile(filepath.Join(evidence, "bundle-000000000002.dsse.json"))
	var b2env dsse.Envelope
	json.Unmarshal(b2, &b2env)
	payload, _ := base64.StdEncoding.DecodeString(b2env.Payload)
	stored2 := protocolDigest(payload)
	forked := bytes.Replace(payload, []byte(`"run":{"id":"`), []byte(`"run":{"id":"forked-`), 1)
	agentSigner, err := bundle.LoadFileSigner(agentPriv)
	if err != nil {
		t.Fatal(err)
	}
	strangerDir := t.TempDir()
	strangerPriv, _, _ := bundle.GenerateKey(strangerDir)
	stranger, _ := bundle.LoadFileSigner(strangerPriv)
	strangerID, _ := stranger.KeyID()
	agentID, _ := agentSigner.KeyID()
	exact := func(code, msg string) string {
		b, _ := json.Marshal(protocol.Error{Message: msg, Code: code})
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
		body   []byte
		status int
		want   string
	}{
		{"malformed JSON", agentClient, protocol.PathBundles, []byte("{not json"), 400,
			exact("malformed_json", "the body is not a DSSE envelope: invalid character 'n' looking for beginning of object key string")},
		{"over the size limit", agentClient, protocol.PathBundles, bytes.Repeat([]byte("x"), 1048577), 413,
			exact("payload_too_large", "the body is larger than this receiver's limit of 1048576 bytes")},
		{"bad signature", agentClient, protocol.PathBundles, bytes.Replace(b2, []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1), 422,
			exact("bad_signature", "the signature does not verify with key "+agentID+" of tenant acme")},
		{"unknown key", agentClient, protocol.PathBundles, sign(t, stranger, forked), 403,
			exact("unknown_key", "the bundle is signed by key "+strangerID+", which is not registered for tenant acme")},
		{"wrong tenant", globex, "/v1/tenants/acme/bundles", b2, 403,
			exact("wrong_tenant", "this client certificate belongs to tenant globex, not acme")},
		{"fork", agentClient, protocol.PathBundles, sign(t, agentSigner, forked), 409,
			exact("fork", fmt.Sprintf("sequence 2 of tenant acme already holds a different bundle (payload digest %s); this one has payload digest %s: a forked chain", stored2, protocolDigest(forked)))},
	} {
		if status, got := post(tc.client, tc.path, tc.body); status != tc.status || got != tc.want {
			t.Errorf("%s: got %d %s\nwant %d %s", tc.name, status, got, tc.status, tc.want)
		}
	}
	if n := len(storedSequences(t, auditor, addr)); n != total {
		t.Errorf("after the rejections the receiver holds %d bundles, want %d", n, total)
	}
	recv.stop(t)

	// No secret in any log.
	agentKey, _ := os.ReadFile(agentPriv)
	for _, p := range []*proc{agent, recv} {
		for _, secret := range []string{"PRIVATE KEY", string(agentKey), "simulated-secret"} {
			if strings.Contains(p.log(), secret) {
				t.Errorf("%s logged a secret (%.20q…)", filepath.Base(p.cmd.Path), secret)
			}
		}
	}
}

func protocolDigest(payload []byte) string {
	var b bytes.Buffer
	b.WriteString(base64.StdEncoding.EncodeToString(payload))
	d, _, _ := protocol.PayloadDigest(&dsse.Envelope{Payload: b.String()})
	return d
}

func sign(t *testing.T, s bundle.Signer, payload []byte) []byte {
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

// sealSplitRun seals the agent's next run as a manifest and three parts
// with its key, writes them into its evidence directory as its directory
// exporter does (parts first), and advances its chain state, as the agent
// does for a run over its part bounds. It returns the run's sequence.
func sealSplitRun(t *testing.T, keyPath, stateDir, evidenceDir string) uint64 {
	t.Helper()
	ctx := context.Background()
	signer, err := bundle.LoadFileSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(stateDir, "chain.json")
	state, err := bundle.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	// SIGKILL may have struck between a bundle's file and the state that
	// follows it: the agent's own restart would find that bundle too.
	for {
		data, err := os.ReadFile(filepath.Join(evidenceDir, directory.FileName(state.Sequence+1)))
		if err != nil {
			break
		}
		var env dsse.Envelope
		json.Unmarshal(data, &env)
		payload, _ := base64.StdEncoding.DecodeString(env.Payload)
		state = bundle.State{Chain: state.Chain, Sequence: state.Sequence + 1, Digest: protocolDigest(payload)}
	}
	limits := bundle.PartLimits{Findings: 2}
	w, err := bundle.NewPartWriter(t.TempDir(), limits)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 6 {
		if err := w.Finding(ctx, finding.Finding{Check: "aws.s3.versioning", Provider: "aws", Account: fmt.Sprintf("%012d", 111111111111*(i%2+1)),
			Region: "eu-west-1", Service: "s3", Resource: fmt.Sprintf("arn:aws:s3:::e2e-split-%d", i), Status: finding.Pass,
			Requirements: []string{"OPS-05.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := directory.New(directory.Config{Path: evidenceDir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	b, err := w.SealParts(ctx, bundle.Meta{RunID: "e2e-split", Started: now.Add(-time.Minute), Finished: now, AgentVersion: "e2e",
		Service: "E2E Cloud Service", Level: controls.High}, []controls.Result{}, state.Next(), signer, limits,
		func(ctx context.Context, p *bundle.Part) error {
			return ev.ExportPart(ctx, p.Sequence, p.Index, p.Envelope)
		})
	if err != nil {
		t.Fatal(err)
	}
	if b.Parts != 3 {
		t.Fatalf("sealed %d parts", b.Parts)
	}
	if err := ev.Export(ctx, exporters.Bundle{Sequence: b.Sequence, Digest: b.PayloadDigest, Envelope: b.Envelope}); err != nil {
		t.Fatal(err)
	}
	if err := bundle.SaveState(statePath, b.State()); err != nil {
		t.Fatal(err)
	}
	return b.Sequence
}
