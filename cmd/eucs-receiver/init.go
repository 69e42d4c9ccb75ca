package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
)

// Validities of what init makes. They are for trying the receiver out; a
// CAB in production brings certificates from its own PKI.
const (
	caValidity     = 5 * 365 * 24 * time.Hour
	serverValidity = 397 * 24 * time.Hour
	clientValidity = 397 * 24 * time.Hour
)

func cmdInit(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("init", "init --data DIR [--host NAME]...", stdout, stderr)
	data := fs.String("data", "cab", "data directory to create")
	var hosts multiFlag
	fs.Var(&hosts, "host", "a DNS name or IP address agents reach the receiver by (repeatable; localhost and loopback are always included)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if err := initData(*data, hosts, stdout); err != nil {
		fmt.Fprintf(stderr, "init: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// initData writes a self-signed CA, a server certificate it signed and the
// receipt key into dir. It refuses to overwrite anything: replacing the
// receipt key or the CA under running agents would break them.
func initData(dir string, hosts []string, stdout io.Writer) error {
	files := []string{caCertFile, caKeyFile, serverCertFile, serverKeyFile, receiptKeyFile, receiptPubFile}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, d := range []string{"tls", "receipt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	ca, err := pki.NewCA("eucs-receiver CA", caValidity)
	if err != nil {
		return err
	}
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	names = append(names, hosts...)
	server, err := ca.IssueServer(names, serverValidity)
	if err != nil {
		return err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		rel  string
		data []byte
		perm os.FileMode
	}{
		{caCertFile, ca.CertPEM(), 0o644},
		{caKeyFile, caKey, 0o600},
		{serverCertFile, server.CertPEM, 0o644},
		{serverKeyFile, server.KeyPEM, 0o600},
	} {
		if err := writeNew(filepath.Join(dir, f.rel), f.data, f.perm); err != nil {
			return err
		}
	}
	if _, _, err := bundle.GenerateKey(filepath.Join(dir, "receipt")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Initialised %s (for trying the receiver out; use your own PKI in production):
  CA certificate:     %s  (agents: exporters.certification_body.ca; it also signs client certificates)
  server certificate: %s  for %v
  receipt public key: %s  (agents: exporters.certification_body.receiver_key)
Next: register a tenant and issue its agent a client certificate:
  eucs-receiver tenant add NAME --data %s --key agent.pub
  eucs-receiver client-cert --data %s --cn NAME --out DIR
`, dir, filepath.Join(dir, caCertFile), filepath.Join(dir, serverCertFile), names, filepath.Join(dir, receiptPubFile), dir, dir)
	return nil
}

// writeNew writes a file that must not exist yet and fsyncs it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func cmdClientCert(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("client-cert", "client-cert --data DIR --cn NAME --out DIR", stdout, stderr)
	data := fs.String("data", "cab", "data directory made by init (its CA signs the certificate)")
	cn := fs.String("cn", "", "the certificate's common name: a tenant's or auditor's --client-cert-cn")
	out := fs.String("out", ".", "directory to write CN.pem and CN-key.pem (0600) to")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if err := receiver.CheckName(*cn); err != nil {
		fmt.Fprintf(stderr, "client-cert: --cn: %v\n", err)
		return exitBadUsage
	}
	ca, err := pki.LoadCA(filepath.Join(*data, caCertFile), filepath.Join(*data, caKeyFile))
	if err != nil {
		fmt.Fprintf(stderr, "client-cert: %v\n", err)
		return exitFailed
	}
	pair, err := ca.IssueClient(*cn, clientValidity)
	if err != nil {
		fmt.Fprintf(stderr, "client-cert: %v\n", err)
		return exitFailed
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		fmt.Fprintf(stderr, "client-cert: %v\n", err)
		return exitFailed
	}
	certPath, keyPath := filepath.Join(*out, *cn+".pem"), filepath.Join(*out, *cn+"-key.pem")
	if err := writeNew(certPath, pair.CertPEM, 0o644); err != nil {
		fmt.Fprintf(stderr, "client-cert: %v\n", err)
		return exitFailed
	}
	if err := writeNew(keyPath, pair.KeyPEM, 0o600); err != nil {
		os.Remove(certPath)
		fmt.Fprintf(stderr, "client-cert: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "client certificate: %s\nprivate key:        %s (keep it on the agent's host)\n", certPath, keyPath)
	return exitOK
}
