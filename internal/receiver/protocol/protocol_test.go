package protocol

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

func TestReceiptsRoundTripAndTamperingIsCaught(t *testing.T) {
	dir := t.TempDir()
	priv, pub, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := bundle.LoadFileSigner(priv)
	key, _ := bundle.LoadPublicKey(pub)
	want := Receipt{Tenant: "acme", Sequence: 7, PayloadDigest: strings.Repeat("ab", 32), Previous: strings.Repeat("cd", 32),
		KeyID: "k", Received: "2026-03-02T02:05:00.000000Z", Chain: ChainLinked}
	data, err := SignReceipt(context.Background(), s, want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) || bytes.Count(data, []byte("\n")) != 1 {
		t.Errorf("receipt is not one line: %q", data)
	}
	want.Type = ReceiptType
	for _, k := range []any{key, nil} {
		got, err := ParseReceipt(data, nil)
		if k != nil {
			got, err = ParseReceipt(data, key)
		}
		if err != nil || got != want {
			t.Errorf("parse: %+v, %v", got, err)
		}
	}

	_, otherPub, _ := bundle.GenerateKey(t.TempDir())
	other, _ := bundle.LoadPublicKey(otherPub)
	otherID, _ := bundle.KeyID(other)
	if _, err := ParseReceipt(data, other); err == nil || err.Error() != "receipt: signature does not verify with key "+otherID {
		t.Errorf("other key: %v", err)
	}
	var env map[string]any
	json.Unmarshal(data, &env)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte(`"sequence":7`), []byte(`"sequence":8`), 1))
	tampered, _ := json.Marshal(env)
	if _, err := ParseReceipt(tampered, key); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("tampered: %v", err)
	}
	if _, err := ParseReceipt([]byte(`{"payloadType":"x","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`), nil); err == nil ||
		err.Error() != `receipt: payload type is "x", want "application/vnd.eucs-agent.receipt+json"` {
		t.Errorf("wrong type: %v", err)
	}
}

func TestReceiptsNameTheChainOfAShardOnly(t *testing.T) {
	priv, _, err := bundle.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := bundle.LoadFileSigner(priv)
	for _, tc := range []struct {
		chain, want string
	}{
		{"", `{"_type":"https://eucs-agent.dev/receipt/v1","tenant":"acme","sequence":1,`},
		{"shard-2", `{"_type":"https://eucs-agent.dev/receipt/v1","tenant":"acme","chain_id":"shard-2","sequence":1,`},
	} {
		r := Receipt{Tenant: "acme", ChainID: tc.chain, Sequence: 1, PayloadDigest: strings.Repeat("ab", 32), KeyID: "k",
			Received: "2026-03-02T02:05:00.000000Z", Chain: ChainStart}
		data, err := SignReceipt(context.Background(), s, r)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		json.Unmarshal(data, &env)
		payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
		if !strings.HasPrefix(string(payload), tc.want) {
			t.Errorf("chain %q: payload %s", tc.chain, payload)
		}
		if got, err := ParseReceipt(data, nil); err != nil || got.ChainID != tc.chain {
			t.Errorf("chain %q: parsed %+v, %v", tc.chain, got, err)
		}
	}
	if got := PartPath(strings.Repeat("ab", 32)); got != "/v1/parts/"+strings.Repeat("ab", 32) {
		t.Errorf("part path %s", got)
	}
}
