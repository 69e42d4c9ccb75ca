package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/exporters/directory"
)

// runCmd runs the CLI in-process and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		code, out, _ := runCmd(t, c.Name, "--help")
		if code != exitOK {
			t.Errorf("%s --help: exit %d", c.Name, code)
		}
		if !strings.Contains(out, "Usage: eucs-agent "+c.Name) {
			t.Errorf("%s --help printed %q", c.Name, out)
		}
	}
	if code, out, _ := runCmd(t, "help"); code != exitOK || !strings.Contains(out, "verify") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

func TestBadUsageExitsTwo(t *testing.T) {
	tests := [][]string{
		{"frobnicate"},
		{},
		{"collect", "--no-such-flag"},
		{"verify"},
		{"catalog", "--level", "medium"},
		{"validate", "--config", "testdata/does-not-exist.yaml"},
	}
	for _, args := range tests {
		if code, _, _ := runCmd(t, args...); code != exitBadUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitBadUsage)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	os.WriteFile(p, []byte("service: x\nlevel: medium\nsigning: {key: k.pem}\ncollectors: {aws: {regions: [mars-1]}}\n"), 0o600)
	code, _, errOut := runCmd(t, "validate", "--config", p)
	if code != exitBadUsage {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		`level: "medium" is not one of basic, substantial, high`,
		`collectors.aws.regions[0]: "mars-1" is not an AWS region name`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCatalogCountsEveryRequirement(t *testing.T) {
	tests := []struct {
		level string
		want  string
	}{
		{"high", "EUCS requirements applicable at level high: 529;"},
		{"basic", "EUCS requirements applicable at level basic: "},
	}
	for _, tt := range tests {
		code, out, _ := runCmd(t, "catalog", "--level", tt.level)
		if code != exitOK || !strings.Contains(out, tt.want) {
			t.Errorf("catalog --level %s: exit %d, %q", tt.level, code, firstLine(out))
		}
	}
	code, out, _ := runCmd(t, "catalog", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var rows []struct {
		ID, Automation string
		Checks         []string
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 529 {
		t.Errorf("%d rows", len(rows))
	}
	automated := 0
	for _, r := range rows {
		if (r.Automation == "automated") != (len(r.Checks) > 0) {
			t.Errorf("%s: automation %q with checks %v", r.ID, r.Automation, r.Checks)
		}
		if r.Automation == "automated" {
			automated++
		}
	}
	if automated == 0 {
		t.Error("no requirement is automated")
	}
}

// demoProviders are the clouds the demo's simulated estate covers.
var demoProviders = []string{"aws", "azure", "gcp"}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// TestDemoChainsAndVerifies is the newcomer's path: demo twice, then verify;
// then the three ways an auditor must catch a problem.
func TestDemoChainsAndVerifies(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	for i := 0; i < 3; i++ {
		code, stdout, stderr := runCmd(t, "demo", "--out", out)
		if code != exitOK {
			t.Fatalf("demo run %d: exit %d\n%s\n%s", i+1, code, stdout, stderr)
		}
		for _, want := range []string{"passed (satisfied)", "failed (not satisfied)", "not assessed", "verify --key"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("demo output lacks %q:\n%s", want, stdout)
			}
		}
	}
	pub := filepath.Join(out, "agent.pub")
	b1, b2, b3 := filepath.Join(out, directory.FileName(1)), filepath.Join(out, directory.FileName(2)), filepath.Join(out, directory.FileName(3))
	if code, stdout, stderr := runCmd(t, "verify", "--key", pub, b1, b2, b3); code != exitOK {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}

	payload := decodePayload(t, b2)
	var st struct {
		Predicate struct {
			Chain struct {
				Sequence uint64
				Previous string
			}
			Findings []struct {
				Provider, Account, Status, Reason, Check string
			}
		}
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Predicate.Chain.Sequence != 2 || len(st.Predicate.Chain.Previous) != 64 {
		t.Errorf("second bundle's chain: %+v", st.Predicate.Chain)
	}
	seen, providers := map[string]bool{}, map[string]bool{}
	for _, f := range st.Predicate.Findings {
		seen[f.Status] = true
		providers[f.Provider] = true
		if f.Status == "not_assessed" && f.Reason == "" {
			t.Errorf("not_assessed without reason: %+v", f)
		}
	}
	for _, s := range []string{"pass", "fail", "not_assessed"} {
		if !seen[s] {
			t.Errorf("demo bundle has no %s finding", s)
		}
	}
	for _, p := range demoProviders {
		if !providers[p] {
			t.Errorf("demo bundle has no finding from %s", p)
		}
	}

	t.Run("a dropped bundle is named", func(t *testing.T) {
		code, _, stderr := runCmd(t, "verify", "--key", pub, b1, b3)
		if code != exitFailed || !strings.Contains(stderr, "sequence 2 is missing") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("a tampered payload fails", func(t *testing.T) {
		tampered := filepath.Join(t.TempDir(), directory.FileName(2))
		p := decodePayload(t, b2)
		i := bytes.Index(p, []byte(`"status":"fail"`))
		if i < 0 {
			t.Fatal("no failing finding to tamper with")
		}
		copy(p[i:], `"status":"pass"`)
		writeEnvelopeWithPayload(t, b2, tampered, p)
		code, _, stderr := runCmd(t, "verify", "--key", pub, b1, tampered, b3)
		if code != exitFailed || !strings.Contains(stderr, "signature") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("another key fails", func(t *testing.T) {
		other := t.TempDir()
		if code, _, stderr := runCmd(t, "keygen", "--out", other); code != exitOK {
			t.Fatal(stderr)
		}
		code, _, stderr := runCmd(t, "verify", "--key", filepath.Join(other, "key.pub"), b1, b2, b3)
		if code != exitFailed || !strings.Contains(stderr, "key") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("no secret reaches a bundle", func(t *testing.T) {
		key, err := os.ReadFile(filepath.Join(out, ".demo-state", "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{b1, b2, b3} {
			env, _ := os.ReadFile(f)
			p := decodePayload(t, f)
			for _, secret := range []string{"simulated-secret", string(key), "PRIVATE KEY"} {
				if bytes.Contains(env, []byte(secret)) || bytes.Contains(p, []byte(secret)) {
					t.Errorf("%s contains a secret (%.20q…)", f, secret)
				}
			}
		}
	})
}

func decodePayload(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeEnvelopeWithPayload(t *testing.T, from, to string, payload []byte) {
	t.Helper()
	data, _ := os.ReadFile(from)
	var env map[string]any
	json.Unmarshal(data, &env)
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
	out, _ := json.Marshal(env)
	if err := os.WriteFile(to, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	code, stdout, stderr := runCmd(t, "demo", "-v", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "run sealed") {
		t.Fatalf("verbose demo logged no run: %q", stderr)
	}
	key, err := os.ReadFile(filepath.Join(out, ".demo-state", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"simulated-secret", "PRIVATE KEY", string(key)} {
		if strings.Contains(stderr, secret) || strings.Contains(stdout, secret) {
			t.Errorf("output contains a secret (%.20q…)", secret)
		}
	}
}
