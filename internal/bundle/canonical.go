package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Canonical JSON is what subject digests are computed over (see
// docs/evidence-format.md): object keys sorted by their UTF-8 bytes, no
// insignificant whitespace, no HTML escaping, numbers exactly as written,
// strings escaped the way encoding/json escapes them. The verifier never
// trusts the byte layout of a payload: it decodes every finding and
// re-encodes it with canonicalJSON, so the writer must produce exactly that.

// encodeFinding appends f's canonical JSON and a newline to buf: the line
// that is spooled, hashed into its scope's digest and copied into the
// payload.
//
// finding.Finding's fields are declared in alphabetical order and Observed is
// a map (which encoding/json sorts), so json.Encoder already yields the
// canonical form for the values collectors put into Observed. Two things
// would break that, and both fall back to a decode/re-encode round trip,
// which is canonical by construction:
//   - an Observed value of a type whose encoding is not canonical (a struct
//     with unsorted fields, a json.RawMessage, a Marshaler), and
//   - invalid UTF-8 anywhere (finding.ErrorDetail can cut a rune in half):
//     encoding/json writes it as the escape \ufffd, which decodes to U+FFFD
//     and re-encodes as the raw character, so the first encoding is not a
//     fixed point.
func encodeFinding(buf *bytes.Buffer, f *finding.Finding) error {
	start := buf.Len()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		buf.Truncate(start)
		return fmt.Errorf("encode finding %s on %q: %w", f.Check, f.Resource, err)
	}
	line := buf.Bytes()[start:]
	if plainValue(f.Observed) && !bytes.Contains(line, []byte(`\ufffd`)) {
		return nil
	}
	canon, err := canonicalJSON(line)
	if err != nil {
		buf.Truncate(start)
		return fmt.Errorf("encode finding %s on %q: %w", f.Check, f.Resource, err)
	}
	buf.Truncate(start)
	buf.Write(canon)
	buf.WriteByte('\n')
	return nil
}

// plainValue reports whether encoding/json is known to encode v canonically:
// scalars, and slices and string-keyed maps of them. Anything else takes the
// slow, always-correct path.
func plainValue(v any) bool {
	switch v := v.(type) {
	case nil, string, bool, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64,
		[]string, []int, []int64, []bool,
		map[string]string, map[string]int, map[string]int64, map[string]bool:
		return true
	case []any:
		for _, e := range v {
			if !plainValue(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !plainValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// canonicalJSON decodes one JSON value and re-encodes it canonically.
func canonicalJSON(data []byte) ([]byte, error) {
	v, err := decodeValue(data)
	if err != nil {
		return nil, err
	}
	return encodeValue(v)
}

// decodeValue decodes exactly one JSON value, keeping numbers as their
// literal text (UseNumber) so that no value is rounded through float64.
func decodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// encodeValue encodes a decoded value: encoding/json sorts map keys, and
// HTML escaping is off so that <, > and & stay as they are.
func encodeValue(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
