package bundle

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The auditor's steps are tested exactly as documented: each shell block
// marked `<!-- tested: NAME -->` in docs/evidence-format.md is extracted and
// run with sh -e, so the document cannot drift from the format.
const formatDoc = "../../docs/evidence-format.md"

// docScript returns the fenced sh block that follows the marker for name.
func docScript(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(formatDoc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- tested: " + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)```")
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%s has no shell block marked %q", formatDoc, name)
	}
	return string(m[1])
}

// requireTool skips when an auditor tool is missing locally, but fails in CI,
// which installs it: a silently skipped openssl test proves nothing.
func requireTool(t *testing.T, name string, ci bool) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if ci && os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI=true: CI must install it to test the documented verification steps", name)
		}
		t.Skipf("%s is not installed; skipping the documented %s steps (with CI=true this is a failure)", name, name)
	}
}

// runScript runs a documented script in dir and returns its combined output.
func runScript(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// auditorDir lays out what an auditor has: agent.pub and a two-bundle chain
// under evidence/ with the directory exporter's names.
func auditorDir(t *testing.T) (dir string, payloads [][]byte) {
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
	if err := os.Mkdir(filepath.Join(dir, "evidence"), 0o755); err != nil {
		t.Fatal(err)
	}
	var st State
	for i := 1; i <= 2; i++ {
		b := seal(t, s, st.Next(), i, []string{"123456789012", "210987654321"}, 4)
		st = b.State()
		name := filepath.Join(dir, "evidence", fmt.Sprintf("bundle-%012d.dsse.json", i))
		if err := os.WriteFile(name, b.Envelope, 0o644); err != nil {
			t.Fatal(err)
		}
		_, p := decodeEnvelope(t, b.Envelope)
		payloads = append(payloads, p)
	}
	return dir, payloads
}

func TestDocumentedOpenSSLSteps(t *testing.T) {
	requireTool(t, "openssl", true)
	script := docScript(t, "signature")
	bundle2 := filepath.Join("evidence", "bundle-000000000002.dsse.json")

	t.Run("a sealed bundle verifies", func(t *testing.T) {
		dir, payloads := auditorDir(t)
		out, err := runScript(t, dir, script)
		if err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("documented steps failed: %v\n%s", err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "payload.json"))
		if err != nil || !bytes.Equal(got, payloads[1]) {
			t.Errorf("step 3 decoded a different payload (%v)", err)
		}
	})

	t.Run("a tampered payload fails", func(t *testing.T) {
		dir, payloads := auditorDir(t)
		p := filepath.Join(dir, bundle2)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tampered := bytes.Replace(payloads[1], []byte(`"status":"fail"`), []byte(`"status":"pass"`), 1)
		if err := os.WriteFile(p, withPayload(t, data, tampered), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runScript(t, dir, script)
		if err == nil || !strings.Contains(out, "Verification failure") {
			t.Errorf("documented steps accepted a tampered payload: %v\n%s", err, out)
		}
	})

	t.Run("another key is refused at the key id step", func(t *testing.T) {
		dir, _ := auditorDir(t)
		other, _ := auditorDir(t)
		pub, err := os.ReadFile(filepath.Join(other, "agent.pub"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "agent.pub"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runScript(t, dir, script); err == nil {
			t.Errorf("documented steps accepted a bundle signed by another key:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "sig.der")); err == nil {
			t.Errorf("the steps went past the key id check")
		}
	})

	t.Run("the chain link names the previous payload", func(t *testing.T) {
		dir, payloads := auditorDir(t)
		out, err := runScript(t, dir, script+docScript(t, "chain"))
		if err != nil {
			t.Fatalf("documented chain steps failed: %v\n%s", err, out)
		}
		prev := digestHex(payloads[0])
		want := prev + "\n" + `"chain":{"sequence":2,"previous":"` + prev + `"}` + "\n"
		if !strings.HasSuffix(out, want) {
			t.Errorf("chain steps printed\n%s\nwant it to end with\n%s", out, want)
		}
	})
}

func TestDocumentedJqSubjectDigest(t *testing.T) {
	requireTool(t, "openssl", true)
	// jq is a convenience the format does not depend on: skip without it.
	requireTool(t, "jq", false)
	dir, payloads := auditorDir(t)
	out, err := runScript(t, dir, docScript(t, "signature")+docScript(t, "subject-digest"))
	if err != nil {
		t.Fatalf("documented steps failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := subjectDigest(t, payloads[1], "aws:123456789012")
	if n := len(lines); n < 2 || lines[n-2] != want || lines[n-1] != want {
		t.Errorf("jq recipe printed\n%s\nwant the subject digest %s twice", out, want)
	}
}
