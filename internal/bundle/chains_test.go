package bundle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shardChain seals n chained bundles of chain id, named id/b1.json, ...
func shardChain(t testing.TB, s Signer, id string, n int) []Input {
	t.Helper()
	st := State{Chain: id}
	var out []Input
	for i := 1; i <= n; i++ {
		b := seal(t, s, st.Next(), i, []string{"111111111111"}, 2)
		if b.Chain != id {
			t.Fatalf("bundle chain %q, want %q", b.Chain, id)
		}
		st = b.State()
		out = append(out, Input{Name: fmt.Sprintf("%s/b%d.json", id, i), Data: b.Envelope})
	}
	return out
}

func TestChainIDIsSignedAndOmittedWhenUnsharded(t *testing.T) {
	s := newSigner(t)
	_, payload := decodeEnvelope(t, shardChain(t, s, "shard-3", 1)[0].Data)
	if !strings.Contains(string(payload), `"chain":{"id":"shard-3","sequence":1,"previous":""}`) {
		t.Errorf("payload lacks the chain id: %.300s", payload)
	}
	_, payload = decodeEnvelope(t, chain(t, s, 1)[0].Data)
	if !strings.Contains(string(payload), `"chain":{"sequence":1,"previous":""}`) {
		t.Errorf("an unsharded payload's chain is not as before: %.300s", payload)
	}
}

func TestVerifyWalksEachChainOnItsOwn(t *testing.T) {
	s := newSigner(t)
	a, b := shardChain(t, s, "shard-0", 3), shardChain(t, s, "shard-1", 3)
	rep, err := Verify(context.Background(), s.Public(), append(append([]Input{}, b...), a...))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Chains) != 2 || rep.Chains[0] != (ChainSpan{ID: "shard-0", First: 1, Last: 3, Bundles: 3}) || rep.Chains[1].ID != "shard-1" {
		t.Errorf("chains %+v", rep.Chains)
	}
	// A bundle dropped from one chain is reported against that chain.
	_, err = Verify(context.Background(), s.Public(), []Input{a[0], a[1], a[2], b[0], b[2]})
	want := "chain shard-1: sequence 2 is missing between shard-1/b1.json and shard-1/b3.json"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestBadChainIDsAreRefused(t *testing.T) {
	s := newSigner(t)
	for _, id := range []string{"Shard-0", "-x", "shard_0", strings.Repeat("a", 64)} {
		w, err := NewWriter(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Seal(context.Background(), testMeta(1), testResults, Link{Chain: id, Sequence: 1}, s)
		w.Close()
		want := fmt.Sprintf("chain id %q must be 1 to 63 lowercase letters, digits and '-', not starting with '-'", id)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v", id, err)
		}
	}
	p := filepath.Join(t.TempDir(), "chain.json")
	os.WriteFile(p, []byte(`{"chain":"A","sequence":0,"digest":""}`), 0o600)
	_, err := LoadState(p)
	if want := `chain state ` + p + ` is corrupt: chain id "A" must be`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want prefix %s", err, want)
	}
}
