package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

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
// The common case is written by appendFinding, a hand-rolled encoder that
// produces exactly what the encoding/json path below would, without
// reflection. Anything it does not know to be canonical (floats, numbers,
// structs, raw JSON, map keys that are not valid UTF-8) takes the
// encoding/json path, so the fast path is an optimisation, never a second
// definition of the format: tests compare the two on every value class.
func encodeFinding(buf *bytes.Buffer, f *finding.Finding) error {
	start := buf.Len()
	buf.Grow(1024) // room for a typical finding, so that appending does not reallocate
	b := buf.AvailableBuffer()
	if b, ok := appendFinding(b, f); ok {
		buf.Write(b) // b aliases buf's spare capacity when it fits, so this is usually no copy
		return nil
	}
	buf.Truncate(start)
	return encodeFindingJSON(buf, f)
}

// encodeFindingJSON is encodeFinding through encoding/json.
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
func encodeFindingJSON(buf *bytes.Buffer, f *finding.Finding) error {
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

// appendFinding appends f's canonical JSON and a newline to dst, the keys in
// the order of finding.Finding's JSON tags (alphabetical) with its omitempty
// rules. ok is false, and dst must be discarded, when f holds a value the
// fast path does not encode.
func appendFinding(dst []byte, f *finding.Finding) (_ []byte, ok bool) {
	dst = append(dst, `{"account":`...)
	dst = appendString(dst, f.Account)
	dst = append(dst, `,"check":`...)
	dst = appendString(dst, f.Check)
	if f.Detail != "" {
		dst = append(dst, `,"detail":`...)
		dst = appendString(dst, f.Detail)
	}
	if len(f.Observed) > 0 {
		dst = append(dst, `,"observed":`...)
		if dst, ok = appendMap(dst, f.Observed); !ok {
			return dst, false
		}
	}
	dst = append(dst, `,"provider":`...)
	dst = appendString(dst, f.Provider)
	if f.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, string(f.Reason))
	}
	dst = append(dst, `,"region":`...)
	dst = appendString(dst, f.Region)
	dst = append(dst, `,"requirements":`...)
	dst = appendStrings(dst, f.Requirements)
	dst = append(dst, `,"resource":`...)
	dst = appendString(dst, f.Resource)
	dst = append(dst, `,"service":`...)
	dst = appendString(dst, f.Service)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(f.Status))
	dst = append(dst, '}', '\n')
	return dst, true
}

// appendValue appends the canonical JSON of the value types collectors put
// into Observed; ok is false for any other type.
func appendValue(dst []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint64:
		return strconv.AppendUint(dst, v, 10), true
	case []string:
		return appendStrings(dst, v), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendValue(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case map[string]any:
		return appendMap(dst, v)
	}
	return dst, false
}

// appendMap appends m with its keys sorted bytewise, as encoding/json sorts
// them. A key that is not valid UTF-8 would sort differently once the
// verifier has decoded it to U+FFFD, so it is left to the slow path.
func appendMap(dst []byte, m map[string]any) (_ []byte, ok bool) {
	if m == nil {
		return append(dst, "null"...), true
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		if !utf8.ValidString(k) {
			return dst, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if dst, ok = appendValue(dst, m[k]); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// appendStrings appends ss as a JSON array; nil is null, as encoding/json
// writes it.
func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendString appends s as a canonical JSON string: the escaping of
// encoding/json with HTML escaping off (rule 3 of the canonical form), except
// that bytes that are not valid UTF-8 become the character U+FFFD itself
// rather than the escape \ufffd, since that is what the verifier's decode and
// re-encode yields.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainASCII marks the ASCII bytes a JSON string holds as they are: one
// table load per byte is the cheapest test in appendString's hot loop.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

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
