package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateRoundTripLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "chain.json")

	st, err := LoadState(p)
	if err != nil {
		t.Fatalf("missing state file: %v", err)
	}
	if st != (State{}) || st.Next() != (Link{Sequence: 1}) {
		t.Fatalf("missing state file gives %+v, next %+v; want the zero state and sequence 1", st, st.Next())
	}
	for i, want := range []State{
		{Sequence: 1, Digest: strings.Repeat("a", 64)},
		{Sequence: 2, Digest: strings.Repeat("b", 64)},
	} {
		if err := SaveState(p, want); err != nil {
			t.Fatal(err)
		}
		got, err := LoadState(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("save %d: loaded %+v, want %+v", i, got, want)
		}
		if next := got.Next(); next != (Link{Sequence: want.Sequence + 1, Previous: want.Digest}) {
			t.Errorf("next of %+v is %+v", got, next)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "chain.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state directory holds %v, want only chain.json", names)
	}
}

func TestBundleStateIsTheNextLinksSource(t *testing.T) {
	s := newSigner(t)
	b := seal(t, s, Link{Sequence: 1}, 1, []string{"111111111111"}, 1)
	if got := b.State().Next(); got != (Link{Sequence: 2, Previous: b.PayloadDigest}) {
		t.Errorf("next link after bundle 1 is %+v", got)
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "chain.json")
	digest := strings.Repeat("c", 64)
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty file", "", "not a JSON object"},
		{"truncated", `{"sequence":3,"dig`, "unexpected EOF"},
		{"not an object", `null`, "not a JSON object"},
		{"unknown field", `{"sequence":3,"digest":"` + digest + `","seq":4}`, `json: unknown field "seq"`},
		{"trailing data", `{"sequence":3,"digest":"` + digest + `"}{}`, "unexpected data after the JSON object"},
		{"negative sequence", `{"sequence":-1,"digest":""}`, "json: cannot unmarshal number -1 into Go struct field State.sequence of type uint64"},
		{"sequence without digest", `{"sequence":3}`, `digest "" of sequence 3 is not 64 lowercase hex characters`},
		{"digest without sequence", `{"digest":"` + digest + `"}`, `sequence is 0 but digest is "` + digest + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadState(p)
			want := "chain state " + p + " is corrupt: " + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("error:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}

func TestSaveStateRefusesAStateThatCouldNotBeLoaded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "chain.json")
	err := SaveState(p, State{Sequence: 2, Digest: "abc"})
	want := "save chain state " + p + `: digest "abc" of sequence 2 is not 64 lowercase hex characters`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("an invalid state was written")
	}
}
