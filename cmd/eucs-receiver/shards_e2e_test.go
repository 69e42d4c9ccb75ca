package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// TestShardedReplicasEndToEnd runs three replicas of one agent, as the Helm
// chart's StatefulSet does: one config, one signing key, one client
// certificate, each replica with its own state and evidence and its shard
// index on the command line. The receiver keeps one chain per replica that
// has scopes, the replica that owns none seals nothing and succeeds, each
// chain holds only its own accounts, and the auditor's exports of every
// chain verify together with `eucs-agent verify`.
func TestShardedReplicasEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both binaries")
	}
	const replicas = 3
	dir := t.TempDir()
	agentBin, receiverBin := buildBinaries(t, dir)

	c := newCAB(t, dir, receiverBin)
	_, addr := c.startReceiver(t)

	estate := awssim.Demo()
	sim := awssim.NewServer(estate).Start()
	defer sim.Close()
	owners := map[int][]string{}
	for _, a := range estate.Accounts {
		for i := range replicas {
			if (&collectors.Shard{Index: i, Count: replicas}).Owns(a.ID) {
				owners[i] = append(owners[i], a.ID)
			}
		}
	}
	if len(owners) < 2 || len(owners) == replicas {
		t.Fatalf("the demo accounts hash to %v: the test wants at least two replicas with accounts and one without", owners)
	}
	env := agentEnv(dir, estate)

	// Each replica: the same settings, its own volume (as a StatefulSet's
	// claim), its ordinal on the command line. Two runs each.
	for i := range replicas {
		work := filepath.Join(dir, fmt.Sprintf("replica-%d", i))
		cfg := filepath.Join(work, "agent.yaml")
		os.MkdirAll(work, 0o700)
		writeFile(t, cfg, []byte(fmt.Sprintf(`service: E2E Cloud Service
state_dir: %[1]s/state
signing: {key: %[2]s}
collectors:
  aws:
    regions: [eu-west-1]
    accounts:
%[3]s    endpoint_url: %[4]s
    s3_path_style: true
    max_attempts: 1
exporters:
  directory: {path: %[1]s/evidence}
  certification_body:
    url: https://%[5]s
    client_cert: %[6]s/agent.pem
    client_key: %[6]s/agent-key.pem
    ca: %[6]s/ca.pem
    receiver_key: %[7]s
    outbox: %[1]s/outbox
    receipts: %[1]s/receipts
    flush_timeout: 20s
log: {level: warn}
`, work, c.agentPriv, accountsYAML(estate), sim.URL, addr, c.tlsDir, c.receiptPub)))
		for run := range 2 {
			cmd := exec.Command(agentBin, "collect", "--config", cfg, "--shard-index", fmt.Sprint(i), "--shard-count", fmt.Sprint(replicas))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("replica %d run %d: %v\n%s", i, run+1, err, out)
			}
			if sealed := strings.Contains(string(out), "Bundle "+fmt.Sprint(run+1)+" sealed"); sealed != (len(owners[i]) > 0) {
				t.Errorf("replica %d (accounts %v) run %d:\n%s", i, owners[i], run+1, out)
			}
		}
	}

	// The receiver's chains: one per replica with accounts, none for the
	// replica without.
	resp, err := c.auditor.Get("https://" + addr + "/v1/tenants/acme/chains")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Chains []struct {
			ChainID     string `json:"chain_id"`
			Bundles     int    `json:"bundles"`
			First, Last uint64
			Gaps, Forks int
		} `json:"chains"`
	}
	json.NewDecoder(resp.Body).Decode(&listing)
	resp.Body.Close()
	var want []string
	for i := range replicas {
		if len(owners[i]) > 0 {
			want = append(want, bundle.ShardChain(i))
		}
	}
	if len(listing.Chains) != len(want) {
		t.Fatalf("receiver holds chains %+v, want %v", listing.Chains, want)
	}
	for k, c := range listing.Chains {
		if c.ChainID != want[k] || c.Bundles != 2 || c.First != 1 || c.Last != 2 || c.Gaps != 0 || c.Forks != 0 {
			t.Errorf("chain %d: %+v, want %s with sequences 1 to 2, no gaps or forks", k, c, want[k])
		}
	}

	// The auditor exports every chain and verifies them together; each
	// chain holds its own replica's accounts only.
	var files []string
	for _, id := range want {
		resp, err := c.auditor.Get("https://" + addr + "/v1/tenants/acme/chain?chain=" + id)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(resp.Body)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			if !strings.HasPrefix(filepath.Base(hdr.Name), "bundle-") {
				continue
			}
			p := filepath.Join(dir, "export", id, filepath.Base(hdr.Name))
			os.MkdirAll(filepath.Dir(p), 0o750)
			writeFile(t, p, b)
			files = append(files, p)
			var index int
			fmt.Sscanf(id, "shard-%d", &index)
			payload := string(decodeEnvelopePayload(t, b))
			for _, a := range estate.Accounts {
				mine := strings.Contains(strings.Join(owners[index], " "), a.ID)
				if has := strings.Contains(payload, `"account":"`+a.ID+`"`); has != mine {
					t.Errorf("%s %s: holds account %s: %v, want %v", id, hdr.Name, a.ID, has, mine)
				}
			}
		}
		resp.Body.Close()
	}
	out, err := exec.Command(agentBin, append([]string{"verify", "--key", c.agentPub}, files...)...).CombinedOutput()
	wantOK := fmt.Sprintf("OK: 4 bundles (2 chains: %s: sequences 1 to 2, %s: sequences 1 to 2)", want[0], want[1])
	if err != nil || !strings.HasPrefix(string(out), wantOK) {
		t.Errorf("verify of every replica's chain: %v\n%s\nwant %s", err, out, wantOK)
	}
}

// decodeEnvelopePayload returns a DSSE envelope's decoded payload.
func decodeEnvelopePayload(t *testing.T, env []byte) []byte {
	t.Helper()
	var e struct{ Payload []byte }
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	return e.Payload
}
