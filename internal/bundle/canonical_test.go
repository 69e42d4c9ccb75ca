package bundle

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// canonicalCases are findings whose encoding must be its own canonical form.
func canonicalCases() map[string]finding.Finding {
	base := func(mut func(*finding.Finding)) finding.Finding {
		f := finding.Finding{
			Account: "123456789012", Check: "aws.s3.versioning", Provider: "aws", Region: "eu-west-3",
			Requirements: []string{"OPS-07.1"}, Resource: "arn:aws:s3:::b", Service: "s3", Status: finding.Pass,
		}
		mut(&f)
		return f
	}
	return map[string]finding.Finding{
		"no observed": base(func(*finding.Finding) {}),
		"nested observed": base(func(f *finding.Finding) {
			f.Observed = map[string]any{
				"zeta":  []any{map[string]any{"y": 1, "b": []any{true, nil, "x"}}, int64(-9007199254740991)},
				"Alpha": map[string]any{"m": map[string]any{"k2": "v", "k1": uint8(7)}},
				"list":  []string{"b", "a"},
				"flags": map[string]bool{"on": true, "off": false},
				"ratio": 0.25,
			}
		}),
		"HTML and non-ASCII characters": base(func(f *finding.Finding) {
			f.Detail = `policy denies "s3:*" unless aws:SecureTransport <true> & région é, 日本`
			f.Observed = map[string]any{"<key>": "a&b", "é": "ü", "quote\"back\\slash": "tab\tnew\nline"}
		}),
		"control and line separator characters": base(func(f *finding.Finding) {
			f.Detail = "nul\x00 bell\x07 bs\b ff\f del\x7f ls\u2028 ps\u2029"
		}),
		"invalid UTF-8 cut mid-rune": base(func(f *finding.Finding) {
			f.Status, f.Reason = finding.NotAssessed, finding.APIError
			f.Detail = "operation error: caf\xc3"
			f.Observed = map[string]any{"raw\xff": "x\xe2\x82"}
		}),
		"observed struct with unsorted fields": base(func(f *finding.Finding) {
			f.Observed = map[string]any{"s": struct {
				Zed   string `json:"zed"`
				Alpha int    `json:"alpha"`
			}{"z", 1}}
		}),
		"observed raw JSON with spaces and unsorted keys": base(func(f *finding.Finding) {
			f.Observed = map[string]any{"doc": json.RawMessage(`{ "b": 1, "a": [ 2.50, 1e3 ] }`)}
		}),
		"large and fractional numbers": base(func(f *finding.Finding) {
			f.Observed = map[string]any{"big": uint64(18446744073709551615), "tiny": 1e-7, "huge": 1e21, "neg0": -0.0, "n": json.Number("12.50")}
		}),
	}
}

func TestEncodedFindingIsCanonical(t *testing.T) {
	for name, f := range canonicalCases() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeFinding(&buf, &f); err != nil {
				t.Fatal(err)
			}
			line := buf.Bytes()
			if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("encoding is not one line: %q", line)
			}
			enc := line[:len(line)-1]
			canon, err := canonicalJSON(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, canon) {
				t.Errorf("encoding is not canonical:\n enc   %s\n canon %s", enc, canon)
			}
			// What the verifier computes for the same finding inside a payload.
			v, _, err := canonicalFinding(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, v) {
				t.Errorf("verifier canonicalises to\n %s\nnot\n %s", v, enc)
			}
		})
	}
}

func TestCanonicalFormIsPinned(t *testing.T) {
	// The exact bytes of a finding with every character class that JSON
	// encoders disagree on. A Go upgrade that changes encoding/json output
	// would silently break verification of old bundles; this test makes it
	// loud instead.
	f := canonicalCases()["HTML and non-ASCII characters"]
	g := canonicalCases()["control and line separator characters"]
	var buf bytes.Buffer
	for _, f := range []finding.Finding{f, g} {
		if err := encodeFinding(&buf, &f); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "canonical.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("canonical encoding changed:\n got  %q\n want %q", buf.Bytes(), want)
	}
}

// FuzzEncodedFindingIsCanonical checks the writer's fast path against the
// verifier's re-encoding for arbitrary strings and numbers.
func FuzzEncodedFindingIsCanonical(f *testing.F) {
	f.Add("detail <&>", "arn:é", "key", "value", int64(1), 0.5)
	f.Add("caf\xc3", "\u2028", "\xff", "\x00\x7f", int64(-1), 1e300)
	f.Fuzz(func(t *testing.T, detail, resource, key, value string, n int64, x float64) {
		fd := finding.Finding{
			Account: "1", Check: "c", Provider: "aws", Status: finding.Fail, Detail: detail, Resource: resource,
			Observed: map[string]any{key: value, "n": n, "x": x, "nested": map[string]any{value: []any{key, n}}},
		}
		var buf bytes.Buffer
		if err := encodeFinding(&buf, &fd); err != nil {
			return // NaN and infinities are not JSON; refusing them is right
		}
		enc := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		v, _, err := canonicalFinding(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, v) {
			t.Errorf("not canonical:\n enc   %q\n canon %q", enc, v)
		}
	})
}
