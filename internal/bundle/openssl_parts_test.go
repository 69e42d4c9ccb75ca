package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// auditorDirWithParts is auditorDir with bundle 2 sealed as a manifest and
// parts, named as the directory exporter names them.
func auditorDirWithParts(t *testing.T) (dir string, parts []string) {
	t.Helper()
	dir = t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := GenerateKey(keys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.pub"), pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ev := filepath.Join(dir, "evidence")
	if err := os.Mkdir(ev, 0o755); err != nil {
		t.Fatal(err)
	}
	accounts := []string{"123456789012", "210987654321"}
	one := seal(t, s, Link{Sequence: 1}, 1, accounts, 2)
	two, ps := sealSplit(t, s, one.State().Next(), 2, accounts, 12, PartLimits{Findings: 7})
	if len(ps) < 3 {
		t.Fatalf("only %d parts", len(ps))
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(ev, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bundle-000000000001.dsse.json", one.Envelope)
	write("bundle-000000000002.dsse.json", two.Envelope)
	for _, p := range ps {
		write(p.Name, p.Data)
		parts = append(parts, filepath.Join(ev, p.Name))
	}
	return dir, parts
}

func TestDocumentedOpenSSLStepsForParts(t *testing.T) {
	requireTool(t, "openssl", true)
	script := docScript(t, "signature") + docScript(t, "parts")

	t.Run("a manifest and its parts verify", func(t *testing.T) {
		dir, parts := auditorDirWithParts(t)
		out, err := runScript(t, dir, script)
		if err != nil {
			t.Fatalf("documented steps failed: %v\n%s", err, out)
		}
		if n := strings.Count(out, "Verified OK"); n != 1+len(parts) {
			t.Errorf("%d signatures verified, want the manifest's and %d parts':\n%s", n, len(parts), out)
		}
	})

	t.Run("a missing part fails", func(t *testing.T) {
		dir, parts := auditorDirWithParts(t)
		if err := os.Remove(parts[1]); err != nil {
			t.Fatal(err)
		}
		if out, err := runScript(t, dir, script); err == nil {
			t.Errorf("documented steps accepted a run with a part missing:\n%s", out)
		}
	})

	t.Run("a part given twice in place of another fails", func(t *testing.T) {
		dir, parts := auditorDirWithParts(t)
		data, err := os.ReadFile(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(parts[1], data, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runScript(t, dir, script); err == nil {
			t.Errorf("documented steps accepted a duplicated part:\n%s", out)
		}
	})

	t.Run("a tampered part fails its signature", func(t *testing.T) {
		dir, parts := auditorDirWithParts(t)
		data, err := os.ReadFile(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		_, payload := decodeEnvelope(t, data)
		tampered := bytes.Replace(payload, []byte(`"status":"fail"`), []byte(`"status":"pass"`), 1)
		if err := os.WriteFile(parts[2], withPayload(t, data, tampered), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runScript(t, dir, script)
		if err == nil || !strings.Contains(out, "Verification failure") {
			t.Errorf("documented steps accepted a tampered part: %v\n%s", err, out)
		}
	})

	t.Run("a part re-signed with other content is not one the manifest lists", func(t *testing.T) {
		dir, parts := auditorDirWithParts(t)
		s, err := LoadFileSigner(filepath.Join(dir, "keys", PrivateKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		_, payload := decodeEnvelope(t, data)
		tampered := bytes.Replace(payload, []byte(`"status":"fail"`), []byte(`"status":"pass"`), 1)
		if err := os.WriteFile(parts[0], append(resign(t, s, tampered), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runScript(t, dir, script); err == nil {
			t.Errorf("documented steps accepted a part the manifest does not list:\n%s", out)
		}
	})
}
