package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// fill writes n findings for each account into w, and one coverage record
// per account.
func fill(t testing.TB, w *Writer, accounts []string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		for _, a := range accounts {
			if err := w.Finding(ctx, testFinding(a, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, a := range accounts {
		if err := w.Coverage(ctx, finding.Coverage{Account: a, Provider: "aws", Region: "eu-west-1", Service: "s3", Status: finding.Assessed}); err != nil {
			t.Fatal(err)
		}
	}
}

// sealSplit seals run with the given part limits and returns the manifest
// (or single bundle) and the parts, as inputs named like the directory
// exporter names them.
func sealSplit(t testing.TB, s Signer, link Link, run int, accounts []string, n int, limits PartLimits) (*Bundle, []Input) {
	t.Helper()
	return sealSplitWith(t, s, link, run, accounts, n, limits, limits)
}

// sealSplitWith is sealSplit with a writer hashing for writerLimits: when
// they are not the sealing limits, the findings are read back and hashed
// again at seal time.
func sealSplitWith(t testing.TB, s Signer, link Link, run int, accounts []string, n int, writerLimits, limits PartLimits) (*Bundle, []Input) {
	t.Helper()
	w, err := NewPartWriter(t.TempDir(), writerLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fill(t, w, accounts, n)
	var parts []Input
	b, err := w.SealParts(context.Background(), testMeta(run), testResults, link, s, limits, func(_ context.Context, p *Part) error {
		if p.Sequence != link.Sequence || p.Index != len(parts)+1 {
			t.Errorf("part handed out as %d/%d of sequence %d, want part %d of sequence %d", p.Index, p.Count, p.Sequence, len(parts)+1, link.Sequence)
		}
		parts = append(parts, Input{Name: fmt.Sprintf("bundle-%012d.part-%06d.dsse.json", p.Sequence, p.Index), Data: bytes.Clone(p.Envelope)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, parts
}

func TestSmallRunIsSealedExactlyAsSealWould(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222"}
	one := seal(t, s, Link{Sequence: 1}, 1, accounts, 5)
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	for _, a := range accounts {
		for i := range 5 {
			if err := w.Finding(ctx, testFinding(a, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Coverage(ctx, finding.Coverage{Account: a, Provider: "aws", Region: "eu-west-1", Service: "s3", Status: finding.Assessed}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := w.SealParts(ctx, testMeta(1), testResults, Link{Sequence: 1}, s, DefaultPartLimits(), func(context.Context, *Part) error {
		t.Error("a run within the bounds was split")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, p1 := decodeEnvelope(t, one.Envelope)
	_, p2 := decodeEnvelope(t, b.Envelope)
	if !bytes.Equal(p1, p2) {
		t.Errorf("SealParts payload differs from Seal's:\n%s\n%s", p1, p2)
	}
	if b.Parts != 0 || b.PayloadDigest != one.PayloadDigest || b.Findings != 10 || b.Scopes != 2 {
		t.Errorf("bundle %+v, want no parts and Seal's digest %s", b, one.PayloadDigest)
	}
}

func TestLargeRunIsSplitIntoPartsThatVerify(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222", "333333333333"}
	b, parts := sealSplit(t, s, Link{Sequence: 1}, 1, accounts, 12, PartLimits{Findings: 10})
	if b.Parts != 4 || len(parts) != 4 {
		t.Fatalf("36 findings at 10 a part: got a manifest of %d parts and %d parts handed out, want 4", b.Parts, len(parts))
	}
	total := 0
	for _, p := range parts {
		_, payload := decodeEnvelope(t, p.Data)
		var st struct {
			PredicateType string        `json:"predicateType"`
			Predicate     partPredicate `json:"predicate"`
		}
		if err := json.Unmarshal(payload, &st); err != nil {
			t.Fatal(err)
		}
		if st.PredicateType != PartPredicateType || len(st.Predicate.Findings) > 10 {
			t.Errorf("%s: %s with %d findings", p.Name, st.PredicateType, len(st.Predicate.Findings))
		}
		total += len(st.Predicate.Findings)
	}
	if total != 36 {
		t.Errorf("parts hold %d findings, want 36", total)
	}
	in := append([]Input{{Name: "bundle-000000000001.dsse.json", Data: b.Envelope}}, parts...)
	rep, err := Verify(context.Background(), s.Public(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.String(), "1 bundle (sequence 1; 1 split into 4 parts), 36 findings, signed by key "+s.keyID; got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	if v := rep.Bundles[0]; v.Parts != 4 || v.Scopes != 3 || v.PayloadDigest != b.PayloadDigest || v.Name != in[0].Name {
		t.Errorf("verified %+v", v)
	}
}

func TestPartsAreTheSameWhetherHashedOnArrivalOrAtSeal(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222", "333333333333"}
	for name, limits := range map[string]PartLimits{
		"by count":          {Findings: 7},
		"by size":           {Bytes: 3000},
		"by count and size": {Findings: 9, Bytes: 5000},
	} {
		t.Run(name, func(t *testing.T) {
			b1, p1 := sealSplitWith(t, s, Link{Sequence: 1}, 1, accounts, 15, limits, limits)
			b2, p2 := sealSplitWith(t, s, Link{Sequence: 1}, 1, accounts, 15, DefaultPartLimits(), limits)
			for _, tc := range []struct {
				b     *Bundle
				parts []Input
			}{{b1, p1}, {b2, p2}} {
				if tc.b.Parts < 2 || tc.b.Parts != len(tc.parts) {
					t.Fatalf("%d parts in the manifest, %d handed out", tc.b.Parts, len(tc.parts))
				}
				rep, err := Verify(context.Background(), s.Public(), append(tc.parts, Input{Name: "m", Data: tc.b.Envelope}))
				if err != nil {
					t.Fatal(err)
				}
				if rep.Findings != 45 {
					t.Errorf("%d findings verified, want 45", rep.Findings)
				}
				for _, p := range tc.parts {
					_, payload := decodeEnvelope(t, p.Data)
					var st struct {
						Predicate partPredicate `json:"predicate"`
					}
					if err := json.Unmarshal(payload, &st); err != nil {
						t.Fatal(err)
					}
					if limits.Findings > 0 && len(st.Predicate.Findings) > limits.Findings {
						t.Errorf("%s holds %d findings, bound %d", p.Name, len(st.Predicate.Findings), limits.Findings)
					}
				}
			}
		})
	}
}

func TestSplitRunsChainWithSingleBundles(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222"}
	one := seal(t, s, Link{Sequence: 1}, 1, accounts, 2)
	two, parts := sealSplit(t, s, one.State().Next(), 2, accounts, 20, PartLimits{Bytes: 4096})
	if two.Parts < 2 {
		t.Fatalf("a 4 KiB part bound made %d parts", two.Parts)
	}
	three := seal(t, s, two.State().Next(), 3, accounts, 2)
	in := []Input{{Name: "b3", Data: three.Envelope}, {Name: "b1", Data: one.Envelope}, {Name: "b2", Data: two.Envelope}}
	in = append(in, parts...)
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	rep, err := Verify(context.Background(), s.Public(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 1 || rep.Last != 3 || len(rep.Bundles) != 3 || rep.Findings != 8+40 {
		t.Errorf("report %v", rep)
	}
}

func TestPartBoundBySize(t *testing.T) {
	s := newSigner(t)
	const bound = 8 << 10
	_, parts := sealSplit(t, s, Link{Sequence: 1}, 1, []string{"111111111111"}, 200, PartLimits{Bytes: bound})
	for _, p := range parts {
		_, payload := decodeEnvelope(t, p.Data)
		// Findings are dealt out evenly by count, so a part may pass the
		// bound by up to about one finding.
		if len(payload) > bound+1024 {
			t.Errorf("%s: payload of %d bytes, bound %d", p.Name, len(payload), bound)
		}
	}
}

func TestSplitRunTamperingIsDetected(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222"}
	limits := PartLimits{Findings: 8}
	man, parts := sealSplit(t, s, Link{Sequence: 1}, 1, accounts, 12, limits) // 24 findings, 3 parts
	_, otherParts := sealSplit(t, s, Link{Sequence: 1}, 2, accounts, 12, limits)
	m := Input{Name: "bundle-000000000001.dsse.json", Data: man.Envelope}
	_, mp := decodeEnvelope(t, man.Envelope)
	digest := func(in Input) string {
		_, p := decodeEnvelope(t, in.Data)
		return digestHex(p)
	}

	tests := []struct {
		name   string
		inputs func(t *testing.T) []Input
		want   []string // lines the error must contain
	}{
		{
			name:   "a part dropped",
			inputs: func(*testing.T) []Input { return []Input{m, parts[0], parts[2]} },
			want:   []string{fmt.Sprintf("%s: part 2 of 3 (payload digest %s) is missing", m.Name, digest(parts[1]))},
		},
		{
			name: "a part swapped for the same part of another run",
			inputs: func(*testing.T) []Input {
				return []Input{m, parts[0], {Name: parts[1].Name, Data: otherParts[1].Data}, parts[2]}
			},
			want: []string{
				fmt.Sprintf("%s: part 2 of 3 (payload digest %s) is missing", m.Name, digest(parts[1])),
				parts[1].Name + ": part 2 of 3 of sequence 1 (run run-2) is listed by no manifest given",
			},
		},
		{
			name:   "a part given without its manifest",
			inputs: func(*testing.T) []Input { return []Input{parts[1]} },
			want:   []string{parts[1].Name + ": part 2 of 3 of sequence 1 (run run-1) is listed by no manifest given"},
		},
		{
			name: "a part given twice",
			inputs: func(*testing.T) []Input {
				return []Input{m, parts[0], parts[1], {Name: "copy", Data: parts[1].Data}, parts[2]}
			},
			want: []string{"part 2 of sequence 1 is given twice: " + parts[1].Name + " and copy are the same part"},
		},
		{
			name: "one byte of the manifest flipped",
			inputs: func(t *testing.T) []Input {
				p := bytes.Clone(mp)
				p[len(p)/2] ^= 1
				return append([]Input{{Name: m.Name, Data: withPayload(t, m.Data, p)}}, parts...)
			},
			want: []string{m.Name + ": signature does not verify with key " + s.keyID},
		},
		{
			name: "the manifest re-signed with its parts listed out of order",
			inputs: func(t *testing.T) []Input {
				p := bytes.Replace(mp, []byte(`"part-000001"`), []byte(`"part-00000X"`), 1)
				p = bytes.Replace(p, []byte(`"part-000002"`), []byte(`"part-000001"`), 1)
				p = bytes.Replace(p, []byte(`"part-00000X"`), []byte(`"part-000002"`), 1)
				return append([]Input{{Name: m.Name, Data: resign(t, s, p)}}, parts...)
			},
			want: []string{m.Name + `: subject[0] is "part-000002", want "part-000001": a manifest lists its parts in order`},
		},
		{
			name: "the manifest re-signed to list another run's part",
			inputs: func(t *testing.T) []Input {
				p := bytes.Replace(mp, []byte(digest(parts[2])), []byte(digest(otherParts[2])), 1)
				return []Input{{Name: m.Name, Data: resign(t, s, p)}, parts[0], parts[1], otherParts[2]}
			},
			want: []string{fmt.Sprintf("%s: lists %s as part 3 of 3 of sequence 1 (run run-1), but the part says it is part 3 of 3 of sequence 1 (run run-2)", m.Name, otherParts[2].Name)},
		},
		{
			name: "a finding of a part changed and the part re-signed",
			inputs: func(t *testing.T) []Input {
				_, pp := decodeEnvelope(t, parts[0].Data)
				pp = replaceOnce(t, pp, `"status":"fail"`, `"status":"pass"`)
				return []Input{m, {Name: parts[0].Name, Data: resign(t, s, pp)}, parts[1], parts[2]}
			},
			want: []string{parts[0].Name + ": subject aws:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(context.Background(), s.Public(), tt.inputs(t))
			if err == nil {
				t.Fatal("verified")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not say\n%s", err, w)
				}
			}
		})
	}

	t.Run("part files renamed into each other still verify: names are not evidence", func(t *testing.T) {
		in := []Input{m, {Name: parts[1].Name, Data: parts[0].Data}, {Name: parts[0].Name, Data: parts[1].Data}, parts[2]}
		if _, err := Verify(context.Background(), s.Public(), in); err != nil {
			t.Error(err)
		}
	})
}

func TestFailedSealPartsCanBeRetried(t *testing.T) {
	s := newSigner(t)
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fill(t, w, []string{"111111111111"}, 30)
	ctx := context.Background()
	calls := 0
	_, err = w.SealParts(ctx, testMeta(1), testResults, Link{Sequence: 1}, s, PartLimits{Findings: 10}, func(context.Context, *Part) error {
		calls++
		if calls == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil || err.Error() != "store part 2 of 3: disk full" {
		t.Fatalf("error %v, want store part 2 of 3: disk full", err)
	}
	var parts []Input
	b, err := w.SealParts(ctx, testMeta(1), testResults, Link{Sequence: 1}, s, PartLimits{Findings: 10}, func(_ context.Context, p *Part) error {
		parts = append(parts, Input{Name: fmt.Sprint(p.Index), Data: bytes.Clone(p.Envelope)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, s.Public(), append(parts, Input{Name: "m", Data: b.Envelope})); err != nil {
		t.Error(err)
	}
	if _, err := w.SealParts(ctx, testMeta(1), testResults, Link{Sequence: 1}, s, PartLimits{Findings: 10}, nil); err == nil || err.Error() != "bundle writer is already sealed" {
		t.Errorf("sealing again: %v", err)
	}
}

func TestVerifyOpensInputsLazily(t *testing.T) {
	s := newSigner(t)
	b, parts := sealSplit(t, s, Link{Sequence: 1}, 1, []string{"111111111111"}, 30, PartLimits{Findings: 10})
	var in []Input
	opened := 0
	for _, p := range append(parts, Input{Name: "m", Data: b.Envelope}) {
		in = append(in, Input{Name: p.Name, Open: func() ([]byte, error) { opened++; return p.Data, nil }})
	}
	in = append(in, Input{Name: "gone", Open: func() ([]byte, error) { return nil, errors.New("no such file") }})
	_, err := Verify(context.Background(), s.Public(), in)
	if err == nil || err.Error() != "gone: no such file" {
		t.Errorf("error %v, want gone: no such file", err)
	}
	if opened != 4 {
		t.Errorf("opened %d inputs, want 4", opened)
	}
}

func TestLineScopeReadsTheTopLevelMembers(t *testing.T) {
	for name, tc := range map[string]struct {
		f    finding.Finding
		want string
	}{
		"nested provider and account keys come first": {
			f: finding.Finding{Account: "111111111111", Check: "c", Provider: "aws", Status: finding.Pass,
				Observed: map[string]any{"account": "999", "nested": map[string]any{"provider": "gcp", "x": []any{"}", "{"}}}},
			want: "aws:111111111111",
		},
		"escaped characters": {
			f:    finding.Finding{Account: "a\"b\\c\u2028", Check: "c", Provider: "p\tq", Status: finding.Pass, Detail: `"}`},
			want: "p\tq:a\"b\\c\u2028",
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeFinding(&buf, &tc.f); err != nil {
				t.Fatal(err)
			}
			got, err := appendLineScope(nil, buf.Bytes())
			if err != nil || string(got) != tc.want {
				t.Errorf("lineScope = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "{}", "[1]", `{"account":"1"`, `{"account":1,"provider":"aws"}`} {
		if got, err := appendLineScope(nil, []byte(bad)); err == nil {
			t.Errorf("appendLineScope(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSealOfARunHashedInChunksIsTheSingleBundle(t *testing.T) {
	s := newSigner(t)
	accounts := []string{"111111111111", "222222222222"}
	one := seal(t, s, Link{Sequence: 1}, 1, accounts, 6)
	w, err := NewPartWriter(t.TempDir(), PartLimits{Findings: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	for _, a := range accounts {
		for i := range 6 {
			if err := w.Finding(ctx, testFinding(a, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Coverage(ctx, finding.Coverage{Account: a, Provider: "aws", Region: "eu-west-1", Service: "s3", Status: finding.Assessed}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := w.Seal(ctx, testMeta(1), testResults, Link{Sequence: 1}, s)
	if err != nil {
		t.Fatal(err)
	}
	if b.PayloadDigest != one.PayloadDigest || b.Parts != 0 {
		t.Errorf("Seal of a run hashed in chunks made payload %s (%d parts), want the single bundle's %s", b.PayloadDigest, b.Parts, one.PayloadDigest)
	}
}
