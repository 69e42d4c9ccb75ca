package bundle

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// newSigner returns an in-memory P-256 signer.
func newSigner(t testing.TB) *fileSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &fileSigner{key: key, keyID: id}
}

// testFinding is a finding of account acct, varied by i.
func testFinding(acct string, i int) finding.Finding {
	f := finding.Finding{
		Account:      acct,
		Check:        "aws.s3.default_encryption",
		Detail:       "bucket encrypts new objects with SSE-KMS <aws/s3> & more",
		Observed:     map[string]any{"sse": "aws:kms", "index": i, "rules": []any{map[string]any{"z": true, "a": "é"}}},
		Provider:     "aws",
		Region:       "eu-west-1",
		Requirements: []string{"CKM-03.1", "CKM-04.2"},
		Resource:     fmt.Sprintf("arn:aws:s3:::bucket-%d", i),
		Service:      "s3",
		Status:       finding.Pass,
	}
	if i%3 == 1 {
		f.Status, f.Detail = finding.Fail, "bucket has no default encryption"
	}
	if i%3 == 2 {
		f.Status, f.Reason, f.Observed = finding.NotAssessed, finding.AccessDenied, nil
		f.Detail = "GetBucketEncryption: AccessDenied"
	}
	return f
}

// testMeta is the metadata of run n.
func testMeta(n int) Meta {
	start := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC).Add(time.Duration(n) * 24 * time.Hour)
	return Meta{
		RunID:        fmt.Sprintf("run-%d", n),
		Started:      start,
		Finished:     start.Add(90 * time.Second),
		AgentVersion: "1.0.0-test",
		Service:      "Example Cloud Storage",
		Level:        controls.Substantial,
	}
}

var testResults = []controls.Result{
	{ID: "CKM-03.1", Level: controls.Basic, Status: controls.NotSatisfied, Checks: []string{"aws.s3.default_encryption"}, Pass: 1, Fail: 1, NotAssessed: 1},
	{ID: "OIS-01.1", Level: controls.Basic, Status: controls.Manual},
}

// seal writes findings for each account (n per account) and seals them.
func seal(t testing.TB, s Signer, link Link, run int, accounts []string, n int) *Bundle {
	t.Helper()
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	for _, a := range accounts {
		for i := range n {
			if err := w.Finding(ctx, testFinding(a, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Coverage(ctx, finding.Coverage{Account: a, Provider: "aws", Region: "eu-west-1", Service: "s3", Status: finding.Assessed}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := w.Seal(ctx, testMeta(run), testResults, link, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chain seals n chained bundles named b1.json, b2.json, ...
func chain(t testing.TB, s Signer, n int) []Input {
	t.Helper()
	var st State
	var out []Input
	for i := 1; i <= n; i++ {
		b := seal(t, s, st.Next(), i, []string{"111111111111", "222222222222"}, 3)
		st = b.State()
		out = append(out, Input{Name: fmt.Sprintf("b%d.json", i), Data: b.Envelope})
	}
	return out
}

// decodeEnvelope returns the envelope and its decoded payload.
func decodeEnvelope(t testing.TB, data []byte) (dsse.Envelope, []byte) {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return env, payload
}

// resign signs payload with s as Seal would, bypassing every check.
func resign(t testing.TB, s Signer, payload []byte) []byte {
	t.Helper()
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jqDigest recomputes a scope's digest the way the documented jq recipe
// does, written independently of the package: every finding of the scope,
// keys sorted recursively, compact, one per line.
func jqDigest(t testing.TB, payload []byte, scope string) string {
	t.Helper()
	var st struct {
		Predicate struct {
			Findings []map[string]any `json:"findings"`
		} `json:"predicate"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, f := range st.Predicate.Findings {
		if f["provider"].(string)+":"+f["account"].(string) != scope {
			continue
		}
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
		h.Write(line.Bytes())
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// subjectDigest returns the digest the payload's subject claims for scope.
func subjectDigest(t testing.TB, payload []byte, scope string) string {
	t.Helper()
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Subject {
		if s.Name == scope {
			return s.Digest["sha256"]
		}
	}
	t.Fatalf("no subject %s", scope)
	return ""
}
