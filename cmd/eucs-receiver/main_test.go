package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		code, out, _ := runCmd(t, c.Name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: eucs-receiver") {
			t.Errorf("%s --help: exit %d, %q", c.Name, code, out)
		}
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != exitBadUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestInitTenantsAndAuditors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "cab")
	code, out, errOut := runCmd(t, "init", "--data", data, "--host", "cab.example.eu")
	if code != exitOK || !strings.Contains(out, "receipt public key: "+filepath.Join(data, receiptPubFile)) {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	server, err := pki.LoadCert(filepath.Join(data, serverCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := server.VerifyHostname("cab.example.eu"); err != nil {
		t.Error(err)
	}
	if err := server.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if info, err := os.Stat(filepath.Join(data, caKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode: %v %v", info.Mode(), err)
	}
	if code, _, errOut := runCmd(t, "init", "--data", data); code != exitFailed || !strings.Contains(errOut, "already exists; refusing to overwrite it") {
		t.Errorf("second init: %d %s", code, errOut)
	}

	_, pub, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		code    int
		stdout  string
		stderr  string
		nothing bool
	}{
		{args: []string{"tenant", "add", "acme", "--data", data, "--key", pub}, code: exitOK, stdout: "tenant acme added: client certificates with CN acme, key "},
		{args: []string{"tenant", "add", "acme", "--data", data, "--key", pub}, code: exitFailed, stderr: "tenant add: add tenant acme: already exists"},
		{args: []string{"tenant", "add", "../etc", "--data", data, "--key", pub}, code: exitBadUsage, stderr: `tenant add: name "../etc" must be 1 to 63 letters`},
		{args: []string{"tenant", "add", "globex", "--data", data}, code: exitBadUsage, stderr: "tenant add: needs --key agent.pub"},
		{args: []string{"tenant", "add", "globex", "--data", data, "--key", pub, "--client-cert-cn", "x", "--client-cert-fingerprint", "ab"}, code: exitBadUsage, stderr: "give --client-cert-cn or --client-cert-fingerprint, not both"},
		{args: []string{"tenant", "add", "globex", "--data", data, "--key", pub, "--client-cert-fingerprint", "zz"}, code: exitBadUsage, stderr: `--client-cert-fingerprint: "zz" is not a SHA-256 fingerprint (64 hex digits)`},
		{args: []string{"tenant", "add", "globex", "--data", data, "--key", filepath.Join(dir, bundle.PrivateKeyFile)}, code: exitBadUsage, stderr: `PEM block is "PRIVATE KEY", want "PUBLIC KEY"`},
		{args: []string{"tenant", "add-key", "acme", "--data", data, "--key", pub, "--not-before", "2026-01-01", "--not-after", "2025-01-01"}, code: exitBadUsage, stderr: "--not-after 2025-01-01T00:00:00Z is not after --not-before 2026-01-01T00:00:00Z"},
		{args: []string{"tenant", "add-key", "acme", "--data", data, "--key", pub, "--not-before", "soon"}, code: exitBadUsage, stderr: `--not-before: "soon" is not an RFC 3339 time`},
		{args: []string{"tenant", "revoke-key", "acme", "--data", data, "--key-id", "nope"}, code: exitFailed, stderr: "key nope of tenant acme: not found"},
		{args: []string{"auditor", "add", "alice", "--data", data}, code: exitBadUsage, stderr: "auditor add: needs --client-cert-cn or --client-cert-fingerprint"},
		{args: []string{"auditor", "add", "alice", "--data", data, "--client-cert-cn", "acme"}, code: exitFailed, stderr: "that client certificate already maps to tenant acme"},
		{args: []string{"auditor", "add", "alice", "--data", data, "--client-cert-cn", "alice"}, code: exitOK, stdout: "auditor alice added"},
		{args: []string{"client-cert", "--data", data, "--cn", "acme", "--out", filepath.Join(dir, "certs")}, code: exitOK, stdout: "client certificate: "},
		{args: []string{"tenant", "list", "--data", data}, code: exitOK, stdout: "acme    CN=acme"},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%v:\nexit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", tc.args, code, tc.code, out, tc.stdout, errOut, tc.stderr)
		}
	}
	cert, err := pki.LoadCert(filepath.Join(dir, "certs", "acme.pem"))
	if err != nil || cert.Subject.CommonName != "acme" {
		t.Errorf("client cert: %v %v", cert, err)
	}
}

func TestServeRefusesBoundsThatAreNotPositive(t *testing.T) {
	for _, flag := range []string{"--max-bundle-bytes=0", "--max-pending-bytes=-1", "--pending-expiry=0s"} {
		code, _, errOut := runCmd(t, "serve", "--data", filepath.Join(t.TempDir(), "cab"), flag)
		if code != exitBadUsage || errOut != "--max-bundle-bytes, --max-pending-bytes and --pending-expiry must be positive\n" {
			t.Errorf("%s: exit %d, %q", flag, code, errOut)
		}
	}
}
