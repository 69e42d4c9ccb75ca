package bundle

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// The fast encoder must write exactly what the encoding/json path writes:
// the small-run bundle stays byte-for-byte what it was, and the canonical
// form keeps one definition.

// encodeBoth returns the fast path's line (or nil when it declines) and the
// encoding/json path's line.
func encodeBoth(t testing.TB, f *finding.Finding) (fast, slow []byte) {
	t.Helper()
	if b, ok := appendFinding(nil, f); ok {
		fast = b
	}
	var buf bytes.Buffer
	if err := encodeFindingJSON(&buf, f); err != nil {
		t.Fatalf("encoding/json path: %v", err)
	}
	return fast, buf.Bytes()
}

func TestFastEncoderMatchesEncodingJSON(t *testing.T) {
	for name, f := range canonicalCases() {
		t.Run(name, func(t *testing.T) {
			fast, slow := encodeBoth(t, &f)
			if fast != nil && !bytes.Equal(fast, slow) {
				t.Errorf("fast path\n %q\nencoding/json\n %q", fast, slow)
			}
		})
	}
	t.Run("random findings", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		declined := 0
		for i := range 5000 {
			f := randomFinding(rng)
			fast, slow := encodeBoth(t, &f)
			if fast == nil {
				declined++
				continue
			}
			if !bytes.Equal(fast, slow) {
				t.Fatalf("finding %d: fast path\n %q\nencoding/json\n %q", i, fast, slow)
			}
		}
		// Only the rare invalid-UTF-8 map keys decline; if most findings
		// did, the test would prove little.
		if declined > 500 {
			t.Errorf("the fast path declined %d of 5000 findings", declined)
		}
	})
}

func TestFastEncoderDeclinesWhatItCannotWrite(t *testing.T) {
	for name, obs := range map[string]map[string]any{
		"float":             {"x": 0.5},
		"struct":            {"s": struct{ A int }{1}},
		"invalid UTF-8 key": {"k\xff": "v"},
		"nested float":      {"a": []any{map[string]any{"b": 1.5}}},
	} {
		t.Run(name, func(t *testing.T) {
			f := finding.Finding{Account: "1", Check: "c", Provider: "aws", Status: finding.Pass, Observed: obs}
			if _, ok := appendFinding(nil, &f); ok {
				t.Error("fast path accepted a value it cannot guarantee to encode canonically")
			}
			var buf bytes.Buffer
			if err := encodeFinding(&buf, &f); err != nil {
				t.Fatal(err)
			}
			if v, _, err := canonicalFinding(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); err != nil || !bytes.Equal(v, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) {
				t.Errorf("fallback is not canonical: %s (%v)", buf.Bytes(), err)
			}
		})
	}
}

// FuzzFastEncoderMatchesEncodingJSON feeds arbitrary strings through both
// encoders.
func FuzzFastEncoderMatchesEncodingJSON(f *testing.F) {
	f.Add("detail <&>", "arn:é", "key", "value")
	f.Add("caf\xc3", "\u2028\u2029", "k", "\x00\x7f\x1f\"\\")
	f.Add("\ufffd", "\xed\xa0\x80", "é", "\xf0\x9f\x98")
	f.Fuzz(func(t *testing.T, detail, resource, key, value string) {
		fd := finding.Finding{
			Account: "1", Check: "c", Provider: "aws", Status: finding.Fail, Detail: detail, Resource: resource,
			Requirements: []string{value},
			Observed:     map[string]any{key: value, "n": int64(len(value)), "nested": map[string]any{value: []any{key, true, nil}}},
		}
		fast, slow := encodeBoth(t, &fd)
		if fast != nil && !bytes.Equal(fast, slow) {
			t.Errorf("fast path\n %q\nencoding/json\n %q", fast, slow)
		}
	})
}

// randomFinding draws a finding from the value classes collectors emit, with
// strings that mix every character class the escaping rules distinguish.
func randomFinding(rng *rand.Rand) finding.Finding {
	pieces := []string{"a", "Z", "0", " ", "<", ">", "&", "/", "\"", "\\", "\n", "\t", "\r", "\b", "\f", "\x00", "\x1f",
		"\x7f", "é", "日本", "😀", "\u2028", "\u2029", "\ufffd", "\xc3", "\xff", "\xe2\x82", "\\ufffd", "arn:aws:s3:::"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	// Map keys that are not valid UTF-8 make the fast path decline; keep
	// them rare so that the comparison covers the fast path.
	key := func() string {
		k := str()
		if rng.IntN(50) > 0 {
			k = strings.ToValidUTF8(k, "?")
		}
		return k
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch n := rng.IntN(9); {
		case n == 0:
			return nil
		case n == 1:
			return rng.IntN(2) == 0
		case n == 2:
			return rng.IntN(1<<20) - 1<<19
		case n == 3:
			return int64(rng.Uint64())
		case n == 4:
			return []string{str(), str()}
		case n == 5 && depth < 3:
			l := make([]any, rng.IntN(4))
			for i := range l {
				l[i] = value(depth + 1)
			}
			return l
		case n == 6 && depth < 3:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[key()] = value(depth + 1)
			}
			return m
		default:
			return str()
		}
	}
	f := finding.Finding{
		Account: str(), Check: str(), Detail: str(), Provider: str(), Region: str(), Resource: str(), Service: str(),
		Status: finding.Status(str()), Reason: finding.Reason(str()),
	}
	if rng.IntN(4) > 0 {
		f.Requirements = []string{str(), str()}
	}
	if rng.IntN(4) > 0 {
		f.Observed = map[string]any{}
		for range rng.IntN(6) {
			f.Observed[key()] = value(0)
		}
	}
	return f
}
