package receiver

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
)

func (w *world) putPart(who string, digest string, env []byte) (int, []byte) {
	w.t.Helper()
	return w.do(who, http.MethodPut, protocol.PartPath(digest), env)
}

// upload puts every part of r and fails the test unless each is taken.
func (w *world) upload(who string, r run) {
	w.t.Helper()
	for i, p := range r.parts {
		if status, body := w.putPart(who, r.digests[i], p); status != http.StatusCreated && status != http.StatusOK {
			w.t.Fatalf("part %d: %d %s", i+1, status, body)
		}
	}
}

// wantMissing checks a missing_parts answer exactly.
func wantMissing(t *testing.T, status int, body []byte, seq uint64, of string, total int, missing ...string) {
	t.Helper()
	what := "parts have"
	if len(missing) == 1 {
		what = "part has"
	}
	want, _ := json.Marshal(protocol.Error{Code: "missing_parts", Missing: missing, Message: fmt.Sprintf(
		"the manifest of sequence %d of %s names %d parts; %d of those %s not been received: upload each with PUT /v1/parts/{payload digest} (listed in missing), then send the manifest again",
		seq, of, total, len(missing), what)})
	if status != 424 || strings.TrimSpace(string(body)) != string(want) {
		t.Errorf("got %d %s\nwant 424 %s", status, body, want)
	}
}

func partAck(t *testing.T, body []byte) protocol.PartAck {
	t.Helper()
	var a protocol.PartAck
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("part answer %s: %v", body, err)
	}
	return a
}

func TestASplitRunIsStoredOnceEveryPartIsUploaded(t *testing.T) {
	w := newWorld(t, 0)
	a1, _ := w.acme.next()
	if status, body := w.submit("acme-agent", a1); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	split := w.acme.nextSplit(3)

	// The manifest first: the receiver names every part it lacks.
	status, body := w.submit("acme-agent", split.manifest)
	wantMissing(t, status, body, 2, "tenant acme", 3, split.digests...)

	status, body = w.putPart("acme-agent", split.digests[0], split.parts[0])
	want := protocol.PartAck{Tenant: "acme", PayloadDigest: split.digests[0], Size: int64(len(split.parts[0])), Status: "pending"}
	if status != http.StatusCreated || partAck(t, body) != want {
		t.Errorf("part 1: %d %s", status, body)
	}
	// Uploading it again is harmless.
	if status, body = w.putPart("acme-agent", split.digests[0], split.parts[0]); status != http.StatusOK || partAck(t, body) != want {
		t.Errorf("part 1 again: %d %s", status, body)
	}
	status, body = w.submit("acme-agent", split.manifest)
	wantMissing(t, status, body, 2, "tenant acme", 3, split.digests[1:]...)

	w.upload("acme-agent", split)
	status, body = w.submit("acme-agent", split.manifest)
	if status != http.StatusCreated {
		t.Fatalf("manifest with every part: %d %s", status, body)
	}
	r := w.receiptOf(body)
	if r.Sequence != 2 || r.PayloadDigest != split.digest || r.Chain != protocol.ChainLinked || r.ChainID != "" {
		t.Errorf("receipt %+v", r)
	}
	if strings.Contains(string(decodePayload(t, body)), "chain_id") {
		t.Errorf("an unsharded receipt names a chain id: %s", decodePayload(t, body))
	}
	// A resend gets the original receipt; a part sent again is stored.
	if status, again := w.submit("acme-agent", split.manifest); status != http.StatusOK || !bytes.Equal(again, body) {
		t.Errorf("resend: %d %s", status, again)
	}
	status, body = w.putPart("acme-agent", split.digests[2], split.parts[2])
	if status != http.StatusOK || partAck(t, body).Status != "stored" {
		t.Errorf("a stored part again: %d %s", status, body)
	}
	if n, _ := w.store.PendingBytes(context.Background(), "acme"); n != 0 {
		t.Errorf("%d bytes still pending", n)
	}

	// The next run chains to the manifest.
	a3, _ := w.acme.next()
	status, body = w.submit("acme-agent", a3)
	if status != http.StatusCreated || w.receiptOf(body).Chain != protocol.ChainLinked {
		t.Fatalf("bundle 3: %d %s", status, body)
	}

	// The read API shows and serves the parts.
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles", nil)
	if status != 200 || !strings.Contains(string(body), `"findings":6,"parts":3,`) {
		t.Errorf("listing: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/2/parts", nil)
	var listing struct {
		Parts []PartView `json:"parts"`
	}
	json.Unmarshal(body, &listing)
	if status != 200 || len(listing.Parts) != 3 || listing.Parts[1] != (PartView{Index: 2, PayloadDigest: split.digests[1], Size: int64(len(split.parts[1]))}) {
		t.Errorf("parts of 2: %d %s", status, body)
	}
	for i, p := range split.parts {
		if status, body := w.do("acme-agent", http.MethodGet, fmt.Sprintf("/v1/tenants/acme/bundles/2/parts/%d", i+1), nil); status != 200 || !bytes.Equal(body, p) {
			t.Errorf("part %d: %d", i+1, status)
		}
	}
	if status, body := w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/2", nil); status != 200 || !bytes.Equal(body, split.manifest) {
		t.Errorf("manifest: %d", status)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/2/parts/4", nil)
	wantError(t, status, body, 404, "not_found", "bundle 2 of tenant acme has 3 parts")
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/1/parts/1", nil)
	wantError(t, status, body, 404, "not_found", "bundle 1 of tenant acme has no parts (it is a single bundle)")
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/2/parts/x", nil)
	wantError(t, status, body, 400, "bad_request", `"x" is not a part number`)

	// The export holds the parts under the evidence directory's names and
	// verifies as `eucs-agent verify` checks it.
	files, key := exportOf(t, w, "/v1/tenants/acme/chain", "acme/")
	var names []string
	var inputs []bundle.Input
	for _, f := range files {
		names = append(names, f.name)
		inputs = append(inputs, bundle.Input{Name: f.name, Data: f.data})
	}
	wantNames := "acme/bundle-000000000001.dsse.json acme/bundle-000000000002.dsse.json acme/bundle-000000000002.part-000001.dsse.json " +
		"acme/bundle-000000000002.part-000002.dsse.json acme/bundle-000000000002.part-000003.dsse.json acme/bundle-000000000003.dsse.json"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("exported %v", names)
	}
	rep, err := bundle.Verify(context.Background(), key, inputs)
	if err != nil || rep.First != 1 || rep.Last != 3 || len(rep.Bundles) != 3 || rep.Bundles[1].Parts != 3 {
		t.Errorf("exported chain: %v, %v", rep, err)
	}
}

type exported struct {
	name string
	data []byte
}

// exportOf downloads a chain export as the auditor and returns its
// envelopes under dir and the tenant's key.
func exportOf(t *testing.T, w *world, path, dir string) ([]exported, any) {
	t.Helper()
	status, body := w.do("alice", http.MethodGet, path, nil)
	if status != 200 {
		t.Fatalf("export: %d %s", status, body)
	}
	var out []exported
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
		rest, ok := strings.CutPrefix(hdr.Name, dir)
		switch {
		case ok && strings.HasPrefix(rest, "bundle-"):
			out = append(out, exported{hdr.Name, data})
		case strings.Contains(hdr.Name, "/keys/"):
			keyPEM = data
		}
	}
	pub, err := parsePublicKey(string(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return out, pub
}

func TestPartAndManifestRejectionsSayWhy(t *testing.T) {
	w := newWorld(t, 0)
	split := w.acme.nextSplit(3)
	single, _ := w.globex.next()
	singleDigest := protocolDigest(t, single)

	for _, tc := range []struct {
		name, who, path string
		body            []byte
		status          int
		code, message   string
	}{
		{"not a digest", "acme-agent", "/v1/parts/xyz", split.parts[0], 400, "bad_request",
			`"xyz" is not a payload digest (64 lowercase hex digits)`},
		{"the path names another part", "acme-agent", protocol.PartPath(split.digests[1]), split.parts[0], 400, "digest_mismatch",
			fmt.Sprintf("the part's payload digest is %s, not %s as the path says", split.digests[0], split.digests[1])},
		{"a bundle is not a part", "globex-agent", protocol.PartPath(singleDigest), single, 422, "invalid_part",
			`predicateType is "https://eucs-agent.dev/evidence/v1", want "https://eucs-agent.dev/evidence-part/v1": bundles and manifests go to POST /v1/bundles`},
		{"a part is not a bundle", "acme-agent", protocol.PathBundles, split.parts[0], 422, "invalid_bundle",
			"this is a part of a split run: upload it with PUT /v1/parts/" + split.digests[0] + ", then send its manifest here"},
		{"another tenant's part", "globex-agent", protocol.PartPath(split.digests[0]), split.parts[0], 403, "unknown_key",
			"the bundle is signed by key " + w.acme.keyID() + ", which is not registered for tenant globex"},
		{"auditors upload nothing", "alice", protocol.PartPath(split.digests[0]), split.parts[0], 403, "not_a_tenant",
			"auditor alice may read evidence but not submit it"},
		{"wrong tenant", "acme-agent", "/v1/tenants/globex/parts/" + split.digests[0], split.parts[0], 403, "wrong_tenant",
			"this client certificate belongs to tenant acme, not globex"},
		{"bad signature", "acme-agent", protocol.PartPath(split.digests[0]), bytes.Replace(split.parts[0], []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1), 422, "bad_signature",
			"the signature does not verify with key " + w.acme.keyID() + " of tenant acme"},
		{"not JSON", "acme-agent", protocol.PartPath(split.digests[0]), []byte("{"), 400, "malformed_json",
			"the body is not a DSSE envelope: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPut
			if tc.path == protocol.PathBundles {
				method = http.MethodPost
			}
			status, body := w.do(tc.who, method, tc.path, tc.body)
			wantError(t, status, body, tc.status, tc.code, tc.message)
		})
	}
	if n, _ := w.store.PendingBytes(context.Background(), "acme"); n != 0 {
		t.Errorf("a refused part is pending: %d bytes", n)
	}

	t.Run("a part over the size limit", func(t *testing.T) {
		small := newWorld(t, 1024)
		big := small.acme.nextSplit(2)
		status, body := small.putPart("acme-agent", big.digests[0], append(big.parts[0], bytes.Repeat([]byte(" "), 1024)...))
		wantError(t, status, body, 413, "payload_too_large", "the body is larger than this receiver's limit of 1024 bytes")
	})

	t.Run("parts over the pending bound", func(t *testing.T) {
		w := newWorld(t, 0)
		run := w.acme.nextSplit(2)
		limit := int64(len(run.parts[0]) + len(run.parts[1])/2)
		w.receiver.maxPending = limit
		w.upload("acme-agent", run.partial(1))
		status, body := w.putPart("acme-agent", run.digests[1], run.parts[1])
		wantError(t, status, body, 507, "pending_full", fmt.Sprintf(
			"tenant acme has %d bytes of parts waiting for their manifests; this part's %d bytes would pass this receiver's limit of %d: "+
				"send the manifests of the parts already uploaded, or wait for unclaimed parts to expire (168h0m0s after their last upload)",
			len(run.parts[0]), len(run.parts[1]), limit))
		// A part already held is taken again whatever the bound.
		if status, body := w.putPart("acme-agent", run.digests[0], run.parts[0]); status != 200 {
			t.Errorf("a held part again: %d %s", status, body)
		}
	})

	t.Run("parts expire when their manifest does not come", func(t *testing.T) {
		w := newWorld(t, 0)
		run := w.acme.nextSplit(2)
		w.upload("acme-agent", run)
		w.setNow(t0.Add(DefaultPendingTTL + time.Minute))
		if n, err := w.receiver.ExpirePending(context.Background()); err != nil || n != 2 {
			t.Fatalf("expired %d, %v", n, err)
		}
		// The agent's manifest is refused until it uploads them again.
		status, body := w.submit("acme-agent", run.manifest)
		wantMissing(t, status, body, 1, "tenant acme", 2, run.digests...)
		w.upload("acme-agent", run)
		if status, body := w.submit("acme-agent", run.manifest); status != http.StatusCreated {
			t.Errorf("after the upload again: %d %s", status, body)
		}
		if !strings.Contains(w.logs.String(), `msg="removed parts whose manifest never arrived" parts=2`) {
			t.Errorf("expiry not logged:\n%s", w.logs)
		}
	})

	t.Run("a part that does not verify on its own", func(t *testing.T) {
		w := newWorld(t, 0)
		run := w.acme.nextSplit(2)
		// Part 2's finding is altered and the part re-signed under its new
		// digest: the signature holds, its subject digest does not.
		payload := bytes.Replace(decodePayload(t, run.parts[1]), []byte(`"status":"pass"`), []byte(`"status":"fail"`), 1)
		forged := resign(t, w.acme.signer, payload)
		status, body := w.putPart("acme-agent", protocolDigest(t, forged), forged)
		var e protocol.Error
		json.Unmarshal(body, &e)
		if status != 422 || e.Code != "invalid_part" || !strings.HasPrefix(e.Message, "the part is signed but not sound: subject aws:111111111111 digest mismatch: payload says ") {
			t.Errorf("%d %s", status, body)
		}
		if n, _ := w.store.PendingBytes(context.Background(), "acme"); n != 0 {
			t.Errorf("the unsound part is pending: %d bytes", n)
		}
	})

	t.Run("a manifest and parts that do not verify together", func(t *testing.T) {
		w := newWorld(t, 0)
		run := w.acme.nextSplit(2)
		other := w.acme.nextSplit(3)
		// The manifest of sequence 1 is re-signed to name part 2 of
		// sequence 2 as its own part 2: every part is sound on its own and
		// every signature holds, but the part is not the manifest's.
		manifest := resign(t, w.acme.signer, bytes.Replace(decodePayload(t, run.manifest), []byte(run.digests[1]), []byte(other.digests[1]), 1))
		w.upload("acme-agent", run.partial(1))
		if status, body := w.putPart("acme-agent", other.digests[1], other.parts[1]); status != http.StatusCreated {
			t.Fatalf("part 2 of sequence 2: %d %s", status, body)
		}
		status, body := w.submit("acme-agent", manifest)
		var e protocol.Error
		json.Unmarshal(body, &e)
		if status != 422 || e.Code != "invalid_bundle" || !strings.HasPrefix(e.Message, "the manifest and its parts are signed but not sound: ") ||
			!strings.Contains(e.Message, "but the part says it is part 2 of 3 of sequence 2") {
			t.Errorf("%d %s", status, body)
		}
		if list, _ := w.store.Bundles(context.Background(), "acme", "", 0, 10); len(list) != 0 {
			t.Errorf("stored %+v", list)
		}
	})
}

// partial is r with only its first n parts.
func (r run) partial(n int) run {
	r.parts, r.digests = r.parts[:n], r.digests[:n]
	return r
}

func protocolDigest(t *testing.T, env []byte) string {
	t.Helper()
	e, err := protocol.DecodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := protocol.PayloadDigest(e)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEachShardKeepsItsOwnChain(t *testing.T) {
	w := newWorld(t, 0)
	ctx := context.Background()
	shard0, shard1 := w.acme.sharded("shard-0"), w.acme.sharded("shard-1")
	// Every replica starts at sequence 1 under the same tenant and key.
	for _, c := range []*chain{w.acme, shard0, shard1} {
		env, digest := c.next()
		status, body := w.submit("acme-agent", env)
		if status != http.StatusCreated {
			t.Fatalf("%s 1: %d %s", c.state.Chain, status, body)
		}
		want := protocol.Receipt{Type: protocol.ReceiptType, Tenant: "acme", ChainID: c.state.Chain, Sequence: 1, PayloadDigest: digest,
			KeyID: w.acme.keyID(), Received: "2026-03-02T02:05:00.000000Z", Chain: protocol.ChainStart}
		if r := w.receiptOf(body); r != want {
			t.Errorf("receipt:\n got %+v\nwant %+v", r, want)
		}
	}
	s0b2, _ := shard0.next()
	s0b3, _ := shard0.next()
	if status, body := w.submit("acme-agent", s0b3); status != http.StatusCreated || w.receiptOf(body).Chain != protocol.ChainGap {
		t.Fatalf("shard-0 3: %d %s", status, body)
	}
	split := shard1.nextSplit(2)
	w.upload("acme-agent", split)
	status, body := w.submit("acme-agent", split.manifest)
	if status != http.StatusCreated {
		t.Fatalf("shard-1 manifest: %d %s", status, body)
	}
	if r := w.receiptOf(body); r.ChainID != "shard-1" || r.Sequence != 2 || r.Chain != protocol.ChainLinked {
		t.Errorf("shard-1 2: %+v", r)
	}

	// Forks and broken links are per chain, and say which.
	fork := &chain{t: t, signer: w.acme.signer, state: bundle.State{Chain: "shard-1"}, variant: "forked"}
	forked, forkedDigest := fork.next()
	status, body = w.submit("acme-agent", forked)
	wantError(t, status, body, 409, "fork", fmt.Sprintf(
		"sequence 1 of chain shard-1 of tenant acme already holds a different bundle (payload digest %s); this one has payload digest %s: a forked chain",
		w.storedDigestOf("acme", "shard-1", 1), forkedDigest))
	broken := &chain{t: t, signer: w.acme.signer, state: bundle.State{Chain: "shard-0", Sequence: 1, Digest: strings.Repeat("ab", 32)}, variant: "broken"}
	env, _ := broken.next()
	status, body = w.submit("acme-agent", env)
	wantError(t, status, body, 409, "broken_chain", fmt.Sprintf(
		"bundle 2 names previous %s, but the stored bundle 1 of chain shard-0 of tenant acme has payload digest %s",
		strings.Repeat("ab", 32), w.storedDigestOf("acme", "shard-0", 1)))

	// A chain id must be usable as a key and a path.
	bad := bytes.Replace(decodePayload(t, s0b2), []byte(`"chain":{"id":"shard-0",`), []byte(`"chain":{"id":"Shard_0",`), 1)
	status, body = w.submit("acme-agent", resign(t, w.acme.signer, bad))
	wantError(t, status, body, 422, "bad_chain_id", `predicate.chain.id "Shard_0" is not a chain id: 1 to 63 lowercase letters, digits or '-', not starting with '-'`)

	// The read API lists the chains and reads one at a time.
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/chains", nil)
	var chains struct {
		Chains []ChainView `json:"chains"`
	}
	json.Unmarshal(body, &chains)
	var got []string
	for _, c := range chains.Chains {
		got = append(got, fmt.Sprintf("%q:%d-%d/%d gaps %d forks %d", c.ChainID, c.First, c.Last, c.Bundles, c.Gaps, c.Forks))
	}
	if want := `"":1-1/1 gaps 0 forks 0 "shard-0":1-3/2 gaps 1 forks 0 "shard-1":1-2/2 gaps 0 forks 1`; status != 200 || strings.Join(got, " ") != want {
		t.Errorf("chains: %d %s\n got %s\nwant %s", status, body, strings.Join(got, " "), want)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/gaps?chain=shard-0", nil)
	if strings.TrimSpace(string(body)) != `{"chain_id":"shard-0","gaps":[{"from":2,"to":2}],"tenant":"acme"}` {
		t.Errorf("shard-0 gaps: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/gaps", nil)
	if strings.TrimSpace(string(body)) != `{"gaps":[],"tenant":"acme"}` {
		t.Errorf("unsharded gaps: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles?chain=shard-1", nil)
	if status != 200 || !strings.HasPrefix(string(body), `{"tenant":"acme","chain_id":"shard-1","bundles":[{"chain_id":"shard-1","sequence":1,`) || strings.Count(string(body), `"sequence"`) != 2 {
		t.Errorf("shard-1 bundles: %d %s", status, body)
	}
	status, body = w.do("acme-agent", http.MethodGet, "/v1/tenants/acme/bundles/2/receipt?chain=shard-1", nil)
	if status != 200 || w.receiptOf(body).PayloadDigest != split.digest {
		t.Errorf("shard-1 receipt 2: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/2", nil)
	wantError(t, status, body, 404, "not_found", "tenant acme has no bundle 2")
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles/9?chain=shard-0", nil)
	wantError(t, status, body, 404, "not_found", "chain shard-0 of tenant acme has no bundle 9")
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/bundles?chain=Shard-0", nil)
	wantError(t, status, body, 400, "bad_request", `chain="Shard-0" is not a chain id (1 to 63 lowercase letters, digits or '-', not starting with '-')`)
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/forks", nil)
	if status != 200 || !strings.Contains(string(body), `"forks":[{"chain_id":"shard-1","sequence":1,`) {
		t.Errorf("forks of every chain: %d %s", status, body)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/forks?chain=", nil)
	if strings.TrimSpace(string(body)) != `{"forks":[],"tenant":"acme"}` {
		t.Errorf("unsharded forks: %d %s", status, body)
	}
	// History spans every chain unless one is chosen; each entry names its chain.
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/requirements/CKM-03.1", nil)
	var h struct {
		History []HistoryView `json:"history"`
	}
	json.Unmarshal(body, &h)
	got = got[:0]
	for _, e := range h.History {
		got = append(got, fmt.Sprintf("%s/%d", e.ChainID, e.Sequence))
	}
	if want := "/1 shard-0/1 shard-1/1 shard-1/2 shard-0/3"; status != 200 || strings.Join(got, " ") != want {
		t.Errorf("history: %d %s\n got %s\nwant %s", status, body, strings.Join(got, " "), want)
	}
	status, body = w.do("alice", http.MethodGet, "/v1/tenants/acme/requirements/CKM-03.1?chain=shard-1", nil)
	if status != 200 || strings.Count(string(body), `"chain_id":"shard-1"`) != 2 || strings.Contains(string(body), "shard-0") {
		t.Errorf("shard-1 history: %d %s", status, body)
	}

	// Each chain exports on its own and verifies.
	files, key := exportOf(t, w, "/v1/tenants/acme/chain?chain=shard-1", "acme/chains/shard-1/")
	var inputs []bundle.Input
	for _, f := range files {
		inputs = append(inputs, bundle.Input{Name: f.name, Data: f.data})
	}
	rep, err := bundle.Verify(ctx, key, inputs)
	if err != nil || len(inputs) != 4 || rep.First != 1 || rep.Last != 2 || rep.Bundles[0].Chain != "shard-1" {
		t.Errorf("shard-1 export (%d files): %v, %v", len(inputs), rep, err)
	}
	if files, _ := exportOf(t, w, "/v1/tenants/acme/chain", "acme/"); len(files) != 1 || files[0].name != "acme/bundle-000000000001.dsse.json" {
		t.Errorf("unsharded export: %v", files)
	}
}

func (w *world) storedDigestOf(tenant, chain string, seq uint64) string {
	b, err := w.store.Bundle(context.Background(), tenant, chain, seq)
	if err != nil {
		w.t.Fatal(err)
	}
	return b.PayloadDigest
}
