package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// The data directory's layout. Everything is a PEM file a CAB can replace
// with its own PKI's.
const (
	caCertFile     = "tls/ca.pem"
	caKeyFile      = "tls/ca-key.pem"
	serverCertFile = "tls/server.pem"
	serverKeyFile  = "tls/server-key.pem"
	receiptKeyFile = "receipt/key.pem"
	receiptPubFile = "receipt/key.pub"
)

// postgresEnv is read when --postgres-dsn is not given, so a password need
// not appear in the process list.
const postgresEnv = "EUCS_RECEIVER_POSTGRES_DSN"

// storeFlags selects the storage; every command that touches it has them.
type storeFlags struct {
	data     *string
	postgres *string
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		data:     fs.String("data", "cab", "data directory: TLS material, receipt key, bundle files and (without --postgres-dsn) the SQLite index"),
		postgres: fs.String("postgres-dsn", "", "keep the index in PostgreSQL (a pgx URL or DSN) instead of SQLite; default $"+postgresEnv),
	}
}

func (f storeFlags) dsn() string {
	if *f.postgres != "" {
		return *f.postgres
	}
	return os.Getenv(postgresEnv)
}

func (f storeFlags) open(ctx context.Context) (store.Store, string, error) {
	if dsn := f.dsn(); dsn != "" {
		s, err := store.OpenPostgres(ctx, dsn, *f.data)
		return s, "PostgreSQL", err
	}
	s, err := store.OpenSQLite(ctx, *f.data)
	return s, "SQLite " + filepath.Join(*f.data, store.IndexFile), err
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", "[serve] --data DIR [--listen :8443] [--postgres-dsn DSN]", stdout, stderr)
	sf := addStoreFlags(fs)
	listen := fs.String("listen", ":8443", "address to listen on (host:port; port 0 picks a free one)")
	certFile := fs.String("tls-cert", "", "server certificate (PEM); default DATA/"+serverCertFile)
	keyFile := fs.String("tls-key", "", "server certificate's key (PEM); default DATA/"+serverKeyFile)
	clientCA := fs.String("client-ca", "", "CA bundle (PEM) client certificates must chain to; default DATA/"+caCertFile)
	receiptKey := fs.String("receipt-key", "", "receipt signing key (PKCS#8 ECDSA P-256); default DATA/"+receiptKeyFile)
	maxBytes := fs.Int64("max-bundle-bytes", receiver.DefaultMaxBundleBytes, "largest bundle, manifest or part accepted, in bytes")
	maxPending := fs.Int64("max-pending-bytes", receiver.DefaultMaxPendingBytes, "most bytes of parts a tenant may have waiting for their manifests")
	pendingTTL := fs.Duration("pending-expiry", receiver.DefaultPendingTTL, "how long a part waits for its manifest after its last upload before it is removed")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "json", "json or text")
	var hosts multiFlag
	fs.Var(&hosts, "host", "on first start, also name this host in the generated server certificate (repeatable)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	if *maxBytes <= 0 || *maxPending <= 0 || *pendingTTL <= 0 {
		fmt.Fprintln(stderr, "--max-bundle-bytes, --max-pending-bytes and --pending-expiry must be positive")
		return exitBadUsage
	}
	data := *sf.data
	at := func(flagValue, rel string) string {
		if flagValue != "" {
			return flagValue
		}
		return filepath.Join(data, rel)
	}
	// A fresh data directory is initialised, so that `eucs-receiver --data
	// DIR` works on a new machine; given files are never generated.
	if *certFile == "" && *keyFile == "" && *clientCA == "" && *receiptKey == "" {
		if _, err := os.Stat(filepath.Join(data, serverCertFile)); errors.Is(err, iofs.ErrNotExist) {
			if err := initData(data, hosts, stdout); err != nil {
				fmt.Fprintf(stderr, "init %s: %v\n", data, err)
				return exitFailed
			}
		}
	}

	cert, err := tls.LoadX509KeyPair(at(*certFile, serverCertFile), at(*keyFile, serverKeyFile))
	if err != nil {
		fmt.Fprintf(stderr, "--tls-cert/--tls-key: %v\n", err)
		return exitBadUsage
	}
	caPEM, err := os.ReadFile(at(*clientCA, caCertFile))
	if err != nil {
		fmt.Fprintf(stderr, "--client-ca: %v\n", err)
		return exitBadUsage
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		fmt.Fprintf(stderr, "--client-ca: %s holds no PEM certificate\n", at(*clientCA, caCertFile))
		return exitBadUsage
	}
	signer, err := bundle.LoadFileSigner(at(*receiptKey, receiptKeyFile))
	if err != nil {
		fmt.Fprintf(stderr, "--receipt-key: %v\n", err)
		return exitBadUsage
	}
	st, kind, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer st.Close()

	srv := receiver.New(receiver.Config{Store: st, Signer: signer, MaxBundleBytes: *maxBytes,
		MaxPendingBytes: *maxPending, PendingTTL: *pendingTTL, Log: log})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "--listen: %v\n", err)
		return exitFailed
	}
	hs := &http.Server{
		Handler: srv.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      10 * time.Minute, // a whole chain's export
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	keyID, _ := signer.KeyID()
	// Tests and scripts read this line for the address when --listen asked
	// for port 0.
	fmt.Fprintf(stdout, "eucs-receiver listening on https://%s (index: %s, receipt key %s)\n", ln.Addr(), kind, keyID)
	log.Info("receiver started", "addr", ln.Addr().String(), "index", kind, "receipt_key", keyID, "max_bundle_bytes", *maxBytes,
		"max_pending_bytes", *maxPending, "pending_expiry", pendingTTL.String())

	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	// Parts whose manifest never came are removed even when no part
	// arrives to trigger it.
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if _, err := srv.ExpirePending(ctx); err != nil && ctx.Err() == nil {
				log.Error("could not remove expired parts", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	select {
	case err := <-errc:
		log.Error("receiver failed", "error", err)
		return exitFailed
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("shutdown", "error", err)
		return exitFailed
	}
	log.Info("receiver stopped")
	return exitOK
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
