package bundle

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// withPayload replaces an envelope's payload, keeping its signature.
func withPayload(t *testing.T, data, payload []byte) []byte {
	t.Helper()
	env, _ := decodeEnvelope(t, data)
	env.Payload = base64.StdEncoding.EncodeToString(payload)
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replaceOnce replaces the first old in b, failing if there is none.
func replaceOnce(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not found", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func TestTamperingIsDetected(t *testing.T) {
	s := newSigner(t)
	other := newSigner(t)
	in := chain(t, s, 3)
	_, p1 := decodeEnvelope(t, in[0].Data)
	_, p2 := decodeEnvelope(t, in[1].Data)
	_, p3 := decodeEnvelope(t, in[2].Data)

	tests := []struct {
		name   string
		key    crypto.PublicKey
		inputs func(t *testing.T) []Input
		want   func(t *testing.T) string
	}{
		{
			name: "one payload byte flipped breaks the signature",
			inputs: func(t *testing.T) []Input {
				p := bytes.Clone(p2)
				p[len(p)/2] ^= 0x01
				return []Input{in[0], {Name: "b2.json", Data: withPayload(t, in[1].Data, p)}, in[2]}
			},
			want: func(*testing.T) string { return "b2.json: signature does not verify with key " + s.keyID },
		},
		{
			name: "a changed finding re-signed with the right key fails its subject digest",
			inputs: func(t *testing.T) []Input {
				p := replaceOnce(t, p1, `"status":"fail"`, `"status":"pass"`)
				return []Input{{Name: "b1.json", Data: resign(t, s, p)}}
			},
			want: func(t *testing.T) string {
				p := replaceOnce(t, p1, `"status":"fail"`, `"status":"pass"`)
				return fmt.Sprintf("b1.json: subject aws:111111111111 digest mismatch: payload says %s, findings hash to %s",
					subjectDigest(t, p1, "aws:111111111111"), jqDigest(t, p, "aws:111111111111"))
			},
		},
		{
			name: "the middle bundle of three dropped",
			inputs: func(*testing.T) []Input {
				return []Input{in[0], in[2]}
			},
			want: func(*testing.T) string { return "sequence 2 is missing between b1.json and b3.json" },
		},
		{
			name: "verifying with another key names both keys",
			key:  other.Public(),
			inputs: func(*testing.T) []Input {
				return []Input{in[0]}
			},
			want: func(*testing.T) string {
				return fmt.Sprintf("b1.json: signed by key %s, not by key %s", s.keyID, other.keyID)
			},
		},
		{
			name: "a key id forged to the verifier's key still needs its signature",
			key:  other.Public(),
			inputs: func(t *testing.T) []Input {
				return []Input{{Name: "b1.json", Data: replaceOnce(t, in[0].Data, s.keyID, other.keyID)}}
			},
			want: func(*testing.T) string { return "b1.json: signature does not verify with key " + other.keyID },
		},
		{
			name: "a bundle given twice",
			inputs: func(*testing.T) []Input {
				return []Input{in[0], in[1], {Name: "copy-of-b2.json", Data: in[1].Data}, in[2]}
			},
			want: func(*testing.T) string {
				return "sequence 2 is given twice: b2.json and copy-of-b2.json are the same bundle"
			},
		},
		{
			name: "two different bundles claiming one sequence",
			inputs: func(t *testing.T) []Input {
				fork := seal(t, s, Link{Sequence: 2, Previous: digestHex(p1)}, 9, []string{"111111111111"}, 1)
				return []Input{in[0], in[1], {Name: "fork.json", Data: fork.Envelope}}
			},
			want: func(*testing.T) string {
				return "sequence 2 is given twice with different contents: b2.json and fork.json (a forked chain)"
			},
		},
		{
			name: "a bundle linked to the wrong predecessor",
			inputs: func(t *testing.T) []Input {
				// Sealed as sequence 3 but against bundle 1's digest, as if
				// bundles were reordered or state was rolled back.
				bad := seal(t, s, Link{Sequence: 3, Previous: digestHex(p1)}, 3, []string{"111111111111"}, 1)
				return []Input{in[0], in[1], {Name: "b3.json", Data: bad.Envelope}}
			},
			want: func(*testing.T) string {
				return fmt.Sprintf("chain broken at sequence 3 (b3.json): previous is %s, but sequence 2 (b2.json) hashes to %s", digestHex(p1), digestHex(p2))
			},
		},
		{
			name: "several missing sequences",
			inputs: func(t *testing.T) []Input {
				far := seal(t, s, Link{Sequence: 7, Previous: digestHex(p3)}, 7, []string{"111111111111"}, 1)
				return []Input{in[0], {Name: "b7.json", Data: far.Envelope}}
			},
			want: func(*testing.T) string { return "sequences 2 to 6 are missing between b1.json and b7.json" },
		},
		{
			name: "findings whose scope has no subject",
			inputs: func(t *testing.T) []Input {
				p := dropSubject(t, p1, 1)
				return []Input{{Name: "b1.json", Data: resign(t, s, p)}}
			},
			want: func(*testing.T) string { return "b1.json: 3 findings of scope aws:222222222222 have no subject" },
		},
		{
			name: "a subject without findings",
			inputs: func(t *testing.T) []Input {
				extra := `{"name":"aws:999999999999","digest":{"sha256":"` + strings.Repeat("0", 64) + `"}},`
				p := replaceOnce(t, p1, `"subject":[`, `"subject":[`+extra)
				return []Input{{Name: "b1.json", Data: resign(t, s, p)}}
			},
			want: func(*testing.T) string { return "b1.json: subject aws:999999999999 has no findings" },
		},
		{
			name: "a subject listed twice",
			inputs: func(t *testing.T) []Input {
				var st map[string]any
				if err := json.Unmarshal(p1, &st); err != nil {
					t.Fatal(err)
				}
				sub := st["subject"].([]any)
				st["subject"] = append(sub, sub[0])
				p, err := json.Marshal(st)
				if err != nil {
					t.Fatal(err)
				}
				return []Input{{Name: "b1.json", Data: resign(t, s, p)}}
			},
			want: func(*testing.T) string { return "b1.json: subject aws:111111111111 is listed twice" },
		},
		{
			name: "problems in several files are all reported",
			inputs: func(t *testing.T) []Input {
				return []Input{
					{Name: "b1.json", Data: withPayload(t, in[0].Data, append(bytes.Clone(p1), ' '))},
					{Name: "b2.json", Data: withPayload(t, in[1].Data, append(bytes.Clone(p2), ' '))},
				}
			},
			want: func(*testing.T) string {
				return "b1.json: signature does not verify with key " + s.keyID + "\nb2.json: signature does not verify with key " + s.keyID
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == nil {
				key = s.Public()
			}
			rep, err := Verify(context.Background(), key, tt.inputs(t))
			want := tt.want(t)
			if err == nil || err.Error() != want {
				t.Errorf("error:\n%v\nwant:\n%s", err, want)
			}
			if rep != nil {
				t.Errorf("got a report with an error: %v", rep)
			}
		})
	}
}

// dropSubject removes subject i from a payload.
func dropSubject(t *testing.T, payload []byte, i int) []byte {
	t.Helper()
	var st map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		t.Fatal(err)
	}
	sub := st["subject"].([]any)
	st["subject"] = append(sub[:i:i], sub[i+1:]...)
	out, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMalformedInputGivesAClearError(t *testing.T) {
	s := newSigner(t)
	good := chain(t, s, 1)[0].Data
	_, payload := decodeEnvelope(t, good)
	signed := func(p string) []byte { return resign(t, s, []byte(p)) }
	validPred := func(t *testing.T, edit func(map[string]any)) []byte {
		var st map[string]any
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&st); err != nil {
			t.Fatal(err)
		}
		edit(st)
		p, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return resign(t, s, p)
	}

	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string
	}{
		{
			name: "not JSON",
			data: func(*testing.T) []byte { return []byte("hello") },
			want: "x.json: not a DSSE envelope: invalid character 'h' looking for beginning of value",
		},
		{
			name: "empty file",
			data: func(*testing.T) []byte { return nil },
			want: "x.json: not a DSSE envelope: unexpected end of JSON input",
		},
		{
			name: "wrong payload type",
			data: func(t *testing.T) []byte {
				return replaceOnce(t, good, `"payloadType":"application/vnd.in-toto+json"`, `"payloadType":"text/plain"`)
			},
			want: `x.json: payload type is "text/plain", want "application/vnd.in-toto+json"`,
		},
		{
			name: "no payload",
			data: func(*testing.T) []byte {
				return []byte(`{"payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"k","sig":"AA=="}]}`)
			},
			want: "x.json: envelope has no payload",
		},
		{
			name: "no signatures",
			data: func(t *testing.T) []byte {
				env, _ := decodeEnvelope(t, good)
				env.Signatures = nil
				out, _ := json.Marshal(env)
				return out
			},
			want: "x.json: envelope has no signatures",
		},
		{
			name: "payload not base64",
			data: func(*testing.T) []byte {
				return []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"not base64!","signatures":[{"keyid":"k","sig":"AA=="}]}`)
			},
			want: "x.json: payload is not standard base64: illegal base64 data at input byte 3",
		},
		{
			name: "URL-safe base64 is not what openssl steps read",
			data: func(t *testing.T) []byte {
				env, p := decodeEnvelope(t, good)
				env.Payload = base64.RawURLEncoding.EncodeToString(append(p, 0xfb, 0xff))
				out, _ := json.Marshal(env)
				return out
			},
			want: "x.json: payload is not standard base64: illegal base64 data at input byte ",
		},
		{
			name: "signature not base64",
			data: func(t *testing.T) []byte {
				env, _ := decodeEnvelope(t, good)
				env.Signatures[0].Sig = "%%%"
				out, _ := json.Marshal(env)
				return out
			},
			want: "x.json: signature 1 is not standard base64: illegal base64 data at input byte 0",
		},
		{
			name: "no key id",
			data: func(t *testing.T) []byte {
				env, _ := decodeEnvelope(t, good)
				env.Signatures[0].KeyID = ""
				out, _ := json.Marshal(env)
				return out
			},
			want: "x.json: signed by key (no key id), not by key " + s.keyID,
		},
		{
			name: "signed payload that is not JSON",
			data: func(*testing.T) []byte { return signed("hello") },
			want: "x.json: payload is not an in-toto statement: invalid character 'h' looking for beginning of value",
		},
		{
			name: "signed statement missing everything",
			data: func(*testing.T) []byte { return signed(`{"_type":"https://in-toto.io/Statement/v0.1"}`) },
			want: "x.json: statement _type is \"https://in-toto.io/Statement/v0.1\", want \"https://in-toto.io/Statement/v1\"\n" +
				"x.json: predicateType is \"\", want \"https://eucs-agent.dev/evidence/v1\"\n" +
				"x.json: statement has no subject\n" +
				"x.json: statement has no predicate",
		},
		{
			name: "signed predicate missing its fields",
			data: func(*testing.T) []byte {
				return signed(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://eucs-agent.dev/evidence/v1",` +
					`"subject":[{"name":"aws:1","digest":{"sha256":"` + strings.Repeat("0", 64) + `"}}],` +
					`"predicate":{"run":{"started":"yesterday"},"level":"gold"}}`)
			},
			want: "x.json: predicate.run.id is missing\n" +
				"x.json: predicate.run.started \"yesterday\" is not an RFC 3339 time\n" +
				"x.json: predicate.run.finished \"\" is not an RFC 3339 time\n" +
				"x.json: predicate.run.agent_version is missing\n" +
				"x.json: predicate.service is missing\n" +
				"x.json: predicate.level \"gold\" is not one of basic, substantial, high\n" +
				"x.json: predicate.chain is missing\n" +
				"x.json: predicate.requirements is missing\n" +
				"x.json: predicate.coverage is missing\n" +
				"x.json: predicate.findings is missing",
		},
		{
			name: "signed predicate of the wrong shape",
			data: func(*testing.T) []byte {
				return signed(`{"_type":"https://in-toto.io/Statement/v1","predicate":{"chain":{"sequence":"one"}}}`)
			},
			want: "x.json: payload is not an in-toto statement: json: cannot unmarshal string into Go struct field chainLink.predicate.chain.sequence of type uint64",
		},
		{
			name: "a subject digest that is not sha256 hex",
			data: func(t *testing.T) []byte {
				return validPred(t, func(st map[string]any) {
					st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": "ABC"}
				})
			},
			want: "x.json: subject[0] (aws:111111111111): digest is not valid hex-encoded string (sha256: ABC)",
		},
		{
			name: "a subject with only a sha512 digest",
			data: func(t *testing.T) []byte {
				return validPred(t, func(st map[string]any) {
					st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha512": strings.Repeat("ab", 64)}
				})
			},
			want: "x.json: subject[0] (aws:111111111111): no sha256 digest",
		},
		{
			name: "an uppercase subject digest",
			data: func(t *testing.T) []byte {
				return validPred(t, func(st map[string]any) {
					st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("AB", 32)}
				})
			},
			want: fmt.Sprintf("x.json: subject[0] (aws:111111111111): sha256 digest %q is not 64 lowercase hex characters", strings.Repeat("AB", 32)),
		},
		{
			name: "a finding without a scope",
			data: func(t *testing.T) []byte {
				return validPred(t, func(st map[string]any) {
					f := st["predicate"].(map[string]any)["findings"].([]any)
					delete(f[1].(map[string]any), "account")
					f[2] = "a string"
				})
			},
			want: "x.json: predicate.findings[1]: provider and account must be non-empty strings; they name the finding's scope\n" +
				"x.json: predicate.findings[2]: not a JSON object",
		},
		{
			name: "the first bundle names a previous one",
			data: func(t *testing.T) []byte {
				return validPred(t, func(st map[string]any) {
					st["predicate"].(map[string]any)["chain"] = map[string]any{"sequence": 1, "previous": "abc"}
				})
			},
			want: `x.json: predicate.chain: chain sequence 1 starts the chain and has no previous bundle, got previous "abc"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(context.Background(), s.Public(), []Input{{Name: "x.json", Data: tt.data(t)}})
			if err == nil {
				t.Fatalf("no error, want:\n%s", tt.want)
			}
			got := err.Error()
			if strings.HasSuffix(tt.want, "byte ") {
				// The offset depends on the random payload; the message does not.
				got = strings.TrimRight(got, "0123456789")
			}
			if got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestVerifyRejectsUnusableKeysAndEmptyInput(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t)
	tests := []struct {
		name   string
		key    crypto.PublicKey
		inputs []Input
		want   string
	}{
		{"no key", nil, []Input{{Name: "a"}}, "verification key: no public key"},
		{"an Ed25519 key", edPub, []Input{{Name: "a"}}, "verification key: key is Ed25519, want ECDSA P-256"},
		{"no bundles", s.Public(), nil, "no bundles to verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(context.Background(), tt.key, tt.inputs)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestVerifyStopsWhenCancelled(t *testing.T) {
	s := newSigner(t)
	in := chain(t, s, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, s.Public(), in); err != context.Canceled {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// FuzzVerify feeds arbitrary envelopes and payloads to Verify: whatever the
// input, it must return an error or a report, never panic.
func FuzzVerify(f *testing.F) {
	s := newSigner(f)
	good := chain(f, s, 1)[0].Data
	_, payload := decodeEnvelope(f, good)
	f.Add(good, false)
	f.Add(payload, true)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":""}]}`), false)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicate":{"findings":[null,1,{"provider":1}]}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asPayload bool) {
		if asPayload {
			// Signed, so that the statement checks behind the signature run.
			data = resign(t, s, data)
		}
		rep, err := Verify(context.Background(), s.Public(), []Input{{Name: "f.json", Data: data}})
		if (rep == nil) == (err == nil) {
			t.Fatalf("report %v and error %v", rep, err)
		}
	})
}
