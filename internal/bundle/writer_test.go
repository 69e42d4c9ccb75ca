package bundle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

func TestConcurrentFindingsSealAndVerify(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	accounts := []string{"111111111111", "222222222222", "333333333333"}
	const perAccount = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(accounts))
	// Two goroutines per account, so that one scope's findings interleave
	// with another's and with themselves.
	for _, a := range accounts {
		for half := range 2 {
			wg.Go(func() {
				for i := half; i < perAccount; i += 2 {
					if err := w.Finding(ctx, testFinding(a, i)); err != nil {
						errs <- err
						return
					}
				}
				errs <- w.Coverage(ctx, finding.Coverage{Account: a, Provider: "aws", Region: "eu-west-1", Service: fmt.Sprint("s3-", half), Status: finding.Assessed})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	b, err := w.Seal(ctx, testMeta(1), testResults, State{}.Next(), s)
	if err != nil {
		t.Fatal(err)
	}
	if b.Sequence != 1 || b.Findings != len(accounts)*perAccount || b.Scopes != len(accounts) {
		t.Errorf("bundle sequence %d, findings %d, scopes %d; want 1, %d, %d", b.Sequence, b.Findings, b.Scopes, len(accounts)*perAccount, len(accounts))
	}
	if !strings.HasSuffix(string(b.Envelope), "}\n") || strings.Count(string(b.Envelope), "\n") != 1 {
		t.Errorf("envelope is not one line of JSON and a newline")
	}

	rep, err := Verify(ctx, s.Public(), []Input{{Name: "b1.json", Data: b.Envelope}})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Findings != b.Findings || rep.First != 1 || rep.Last != 1 || len(rep.Bundles) != 1 || rep.Bundles[0].PayloadDigest != b.PayloadDigest {
		t.Errorf("report %+v does not match bundle %+v", rep, b)
	}
	if got, want := rep.String(), "1 bundle (sequence 1), 600 findings, signed by key "+s.keyID; got != want {
		t.Errorf("report string %q, want %q", got, want)
	}

	env, payload := decodeEnvelope(t, b.Envelope)
	if env.PayloadType != PayloadType || len(env.Signatures) != 1 || env.Signatures[0].KeyID != s.keyID {
		t.Errorf("envelope type %q, signatures %+v", env.PayloadType, env.Signatures)
	}
	if got := digestHex(payload); got != b.PayloadDigest {
		t.Errorf("payload digest %s, bundle says %s", got, b.PayloadDigest)
	}

	// The statement, read with a generic decoder as a third party would.
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	pred := st["predicate"].(map[string]any)
	got := map[string]any{
		"_type":         st["_type"],
		"predicateType": st["predicateType"],
		"run":           pred["run"],
		"service":       pred["service"],
		"level":         pred["level"],
		"chain":         pred["chain"],
		"requirements":  len(pred["requirements"].([]any)),
		"coverage":      len(pred["coverage"].([]any)),
		"findings":      len(pred["findings"].([]any)),
	}
	want := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": "https://eucs-agent.dev/evidence/v1",
		"run":           map[string]any{"id": "run-1", "started": "2026-03-02T02:00:00Z", "finished": "2026-03-02T02:01:30Z", "agent_version": "1.0.0-test"},
		"service":       "Example Cloud Storage",
		"level":         "substantial",
		"chain":         map[string]any{"sequence": float64(1), "previous": ""},
		"requirements":  len(testResults),
		"coverage":      2 * len(accounts),
		"findings":      len(accounts) * perAccount,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statement (-want +got):\n%s", diff)
	}

	// One subject per scope, sorted, each digest equal to the jq recipe's.
	subjects := st["subject"].([]any)
	if len(subjects) != len(accounts) {
		t.Fatalf("%d subjects, want %d", len(subjects), len(accounts))
	}
	for i, a := range accounts {
		sub := subjects[i].(map[string]any)
		scope := "aws:" + a
		if sub["name"] != scope {
			t.Errorf("subject %d is %v, want %s", i, sub["name"], scope)
		}
		if got, want := sub["digest"].(map[string]any)["sha256"], jqDigest(t, payload, scope); got != want {
			t.Errorf("subject %s digest %v, jq-style recomputation %s", scope, got, want)
		}
	}

	// The predicate's findings decode back to what was written.
	var typed struct {
		Predicate struct {
			Findings     []finding.Finding `json:"findings"`
			Requirements []controls.Result `json:"requirements"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &typed); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testResults, typed.Predicate.Requirements); diff != "" {
		t.Errorf("requirements (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, f := range typed.Predicate.Findings {
		seen[f.Scope()+" "+f.Resource] = true
	}
	if len(seen) != len(accounts)*perAccount {
		t.Errorf("%d distinct findings in the payload, want %d", len(seen), len(accounts)*perAccount)
	}
}

func TestFilesOutOfOrderVerifyInChainOrder(t *testing.T) {
	s := newSigner(t)
	in := chain(t, s, 3)
	rep, err := Verify(context.Background(), s.Public(), []Input{in[2], in[0], in[1]})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range rep.Bundles {
		names = append(names, b.Name)
	}
	if diff := cmp.Diff([]string{"b1.json", "b2.json", "b3.json"}, names); diff != "" {
		t.Errorf("report order (-want +got):\n%s", diff)
	}
	if got, want := rep.String(), "3 bundles (sequences 1 to 3), 18 findings, signed by key "+s.keyID; got != want {
		t.Errorf("report %q, want %q", got, want)
	}
}

func TestAChainCanBeVerifiedFromTheMiddle(t *testing.T) {
	s := newSigner(t)
	in := chain(t, s, 4)
	rep, err := Verify(context.Background(), s.Public(), in[1:])
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 2 || rep.Last != 4 {
		t.Errorf("report spans %d to %d, want 2 to 4", rep.First, rep.Last)
	}
}

func TestSpoolIsPrivateAndRemovedOnClose(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finding(context.Background(), testFinding("111111111111", 0)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("spool directory holds %d files, want 2", len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("spool file %s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("spool directory still holds %d files after Close", len(entries))
	}
	if err := w.Finding(context.Background(), testFinding("111111111111", 1)); err == nil || err.Error() != "bundle writer is closed" {
		t.Errorf("Finding after Close: %v", err)
	}
}

func TestFindingsAreKeptEvenWhenTheirContextIsDone(t *testing.T) {
	// A collector that timed out reports not_assessed findings through its
	// expired context; losing them would hide the gap from the auditor.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := testFinding("111111111111", 2)
	f.Reason = finding.TimedOut
	if err := w.Finding(ctx, f); err != nil {
		t.Fatalf("Finding with a done context: %v", err)
	}
}

func TestWriterErrors(t *testing.T) {
	s := newSigner(t)
	ctx := context.Background()
	other := newSigner(t)

	tests := []struct {
		name string
		run  func(w *Writer) error
		want string
	}{
		{
			name: "invalid finding is refused",
			run: func(w *Writer) error {
				f := testFinding("111111111111", 0)
				f.Status = "ok"
				return w.Finding(ctx, f)
			},
			want: `refuse invalid finding: finding aws.s3.default_encryption on "arn:aws:s3:::bucket-0": status "ok" is not one of pass, fail, not_applicable, not_assessed`,
		},
		{
			name: "a run without findings cannot be sealed",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, s)
				return err
			},
			want: "the run produced no findings; there is nothing to seal",
		},
		{
			name: "every metadata problem is reported at once",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, Meta{Level: "gold"}, nil, Link{Sequence: 0}, s)
				return err
			},
			want: "run id is empty\nrun start time is not set\nrun finish time is not set\nagent version is empty\nservice is empty\n" +
				`level "gold" is not one of basic, substantial, high` + "\nchain sequence is 0; sequences start at 1",
		},
		{
			name: "run cannot finish before it starts",
			run: func(w *Writer) error {
				m := testMeta(1)
				m.Finished = m.Started.Add(-1)
				_, err := w.Seal(ctx, m, nil, Link{Sequence: 1}, s)
				return err
			},
			want: "run finished (2026-03-02T01:59:59Z) before it started (2026-03-02T02:00:00Z)",
		},
		{
			name: "the first bundle has no previous",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1, Previous: strings.Repeat("a", 64)}, s)
				return err
			},
			want: `chain sequence 1 starts the chain and has no previous bundle, got previous "` + strings.Repeat("a", 64) + `"`,
		},
		{
			name: "later bundles need a previous digest",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 2}, s)
				return err
			},
			want: `chain sequence 2 needs the previous bundle's payload digest (64 lowercase hex), got ""`,
		},
		{
			name: "a signer whose key id does not match its key",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, mixedSigner{s, other})
				return err
			},
			want: fmt.Sprintf("signer reports key id %q but its public key has key id %s", other.keyID, s.keyID),
		},
		{
			name: "a signer returning a raw signature",
			run: func(w *Writer) error {
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, rawSigner{s})
				return err
			},
			want: "sign bundle: the signature does not verify with the signer's own key " + s.keyID + " (is it ASN.1 DER ECDSA over SHA-256?)",
		},
		{
			name: "sealing twice",
			run: func(w *Writer) error {
				if _, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, s); err != nil {
					return err
				}
				_, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 2, Previous: strings.Repeat("a", 64)}, s)
				return err
			},
			want: "bundle writer is already sealed",
		},
		{
			name: "findings after sealing",
			run: func(w *Writer) error {
				if _, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, s); err != nil {
					return err
				}
				return w.Finding(ctx, testFinding("111111111111", 9))
			},
			want: "bundle writer is sealed; evidence arriving after Seal cannot be included",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if tt.name != "a run without findings cannot be sealed" {
				if err := w.Finding(ctx, testFinding("111111111111", 0)); err != nil {
					t.Fatal(err)
				}
			}
			err = tt.run(w)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestFailedSealCanBeRetried(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Finding(ctx, testFinding("111111111111", 0)); err != nil {
		t.Fatal(err)
	}
	flaky := &flakySigner{Signer: s, fail: 1}
	if _, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, flaky); err == nil || !strings.Contains(err.Error(), "kms unavailable") {
		t.Fatalf("first Seal: %v, want the signer's error", err)
	}
	b, err := w.Seal(ctx, testMeta(1), nil, Link{Sequence: 1}, flaky)
	if err != nil {
		t.Fatalf("retried Seal: %v", err)
	}
	if _, err := Verify(ctx, s.Public(), []Input{{Name: "b1.json", Data: b.Envelope}}); err != nil {
		t.Fatal(err)
	}
}

// mixedSigner signs with one key but reports another's id.
type mixedSigner struct{ sign, id *fileSigner }

func (m mixedSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	return m.sign.Sign(ctx, data)
}
func (m mixedSigner) KeyID() (string, error)   { return m.id.KeyID() }
func (m mixedSigner) Public() crypto.PublicKey { return m.sign.Public() }

// rawSigner returns the IEEE P1363 form r||s instead of ASN.1 DER, a
// classic KMS integration bug.
type rawSigner struct{ *fileSigner }

func (r rawSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	sr, ss, err := ecdsa.Sign(rand.Reader, r.key, sum[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	sr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

// flakySigner fails its first fail calls.
type flakySigner struct {
	Signer
	fail int
}

func (f *flakySigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("kms unavailable")
	}
	return f.Signer.Sign(ctx, data)
}

func TestEnvelopeIsWhatJSONMarshalWouldWrite(t *testing.T) {
	b := seal(t, newSigner(t), Link{Sequence: 1}, 1, []string{"111111111111"}, 3)
	env, _ := decodeEnvelope(t, b.Envelope)
	want, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(string(b.Envelope), "\n"); got != string(want) {
		t.Errorf("envelope\n%s\nwant\n%s", got, want)
	}
}
