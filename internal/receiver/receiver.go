// Package receiver is a certification body's end of the evidence feed: an
// HTTPS API (mutual TLS) that accepts agents' bundles for the tenant their
// client certificate maps to, verifies each (signature by a key registered
// and valid for that tenant, subject digests, chain against what is
// stored), stores it and answers with a signed receipt; and a read API for
// the CAB's auditors. docs/receiver.md is the contract.
package receiver

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// DefaultMaxBundleBytes is the largest body accepted unless configured:
// room for a run over a very large estate.
const DefaultMaxBundleBytes = 256 << 20

// Config wires a Server.
type Config struct {
	Store store.Store
	// Signer signs receipts with the receiver's key.
	Signer bundle.Signer
	// MaxBundleBytes bounds a submitted body; 0 means DefaultMaxBundleBytes.
	MaxBundleBytes int64
	Log            *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the receiver's API.
type Server struct {
	store   store.Store
	signer  bundle.Signer
	maxBody int64
	log     *slog.Logger
	now     func() time.Time

	// locks serialises submissions per tenant, so the chain checks and the
	// insert see one consistent chain. (Several receivers sharing one
	// PostgreSQL database are still safe: the primary key on the sequence
	// decides, and the loser answers as for a resend or a fork.)
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, signer: cfg.Signer, maxBody: cfg.MaxBundleBytes, log: cfg.Log, now: cfg.Now, locks: map[string]*sync.Mutex{}}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBundleBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathBundles, s.submit)
	mux.HandleFunc("POST /v1/tenants/{tenant}/bundles", s.submit)
	mux.HandleFunc("GET /v1/tenants", s.listTenants)
	mux.HandleFunc("GET /v1/tenants/{tenant}", s.getTenant)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles", s.listBundles)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}", s.getBundle)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}/receipt", s.getReceipt)
	mux.HandleFunc("GET /v1/tenants/{tenant}/requirements/{id}", s.requirementHistory)
	mux.HandleFunc("GET /v1/tenants/{tenant}/gaps", s.listGaps)
	mux.HandleFunc("GET /v1/tenants/{tenant}/forks", s.listForks)
	mux.HandleFunc("GET /v1/tenants/{tenant}/chain", s.exportChain)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, protocol.CodeNotFound, "no such API endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// apiError is an answer with the JSON error body.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, protocol.Error{Message: e.message, Code: e.code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// internal logs err and answers 500 without details: storage errors may
// name paths and databases the client has no business seeing.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, fail(http.StatusInternalServerError, protocol.CodeInternal, "the receiver could not complete the request; the cause is in its log"))
}

// identify maps the verified client certificate to a tenant or auditor.
func (s *Server) identify(r *http.Request) (store.Identity, *apiError, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return store.Identity{}, fail(http.StatusUnauthorized, protocol.CodeUnknownClient, "a client certificate is required"), nil
	}
	cert := r.TLS.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	id, err := s.store.Identify(r.Context(), cert.Subject.CommonName, hex.EncodeToString(sum[:]))
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}, fail(http.StatusForbidden, protocol.CodeUnknownClient,
			"the client certificate (CN %q) is not registered to a tenant or an auditor", cert.Subject.CommonName), nil
	}
	if err != nil {
		return store.Identity{}, nil, err
	}
	return id, nil, nil
}

func (s *Server) tenantLock(name string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[name] = l
	}
	return l
}

// submit accepts one bundle.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	status, body, aerr, err := s.accept(w, r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if aerr != nil {
		s.log.Warn("bundle rejected", "code", aerr.code, "status", aerr.status, "reason", aerr.message, "client", clientCN(r))
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func clientCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

// accept runs the checks in the order that makes each rejection's reason
// the most useful one, and stores nothing unless all pass. It returns the
// status and receipt to answer with, a rejection, or an internal error.
func (s *Server) accept(w http.ResponseWriter, r *http.Request) (int, []byte, *apiError, error) {
	ctx := r.Context()
	id, aerr, err := s.identify(r)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	if id.Kind != store.KindTenant {
		return 0, nil, fail(http.StatusForbidden, protocol.CodeNotATenant, "auditor %s may read evidence but not submit it", id.Name), nil
	}
	tenant := id.Name
	if named := r.PathValue("tenant"); named != "" && named != tenant {
		return 0, nil, fail(http.StatusForbidden, protocol.CodeWrongTenant, "this client certificate belongs to tenant %s, not %s", tenant, named), nil
	}

	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return 0, nil, fail(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "the body is larger than this receiver's limit of %d bytes", s.maxBody), nil
	}
	if err != nil {
		return 0, nil, fail(http.StatusBadRequest, protocol.CodeMalformed, "could not read the body: %v", err), nil
	}
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		return 0, nil, fail(http.StatusBadRequest, protocol.CodeMalformed, "the body is %v", err), nil
	}
	if env.PayloadType != bundle.PayloadType {
		return 0, nil, fail(http.StatusBadRequest, protocol.CodeMalformed, "payloadType is %q, want %q", env.PayloadType, bundle.PayloadType), nil
	}

	// The key: one of the tenant's, named by a signature, valid now.
	received := s.now().UTC()
	key, pub, aerr, err := s.signingKey(ctx, tenant, protocol.KeyIDs(env), received)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	if _, err := protocol.VerifyEnvelope(env, pub); err != nil {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeBadSignature, "the signature does not verify with key %s of tenant %s", key.KeyID, tenant), nil
	}
	// The whole bundle, exactly as an auditor's `eucs-agent verify` checks
	// it: statement, predicate, subject digests recomputed from findings.
	rep, err := bundle.Verify(ctx, pub, []bundle.Input{{Name: "bundle", Data: data}})
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle, "the bundle is signed but not sound: %s", oneLine(err)), nil
	}
	v := rep.Bundles[0]
	reqs, err := requirements(env.Payload)
	if err != nil {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle, "the bundle is signed but not sound: predicate.requirements: %v", err), nil
	}

	l := s.tenantLock(tenant)
	l.Lock()
	defer l.Unlock()
	status, body, aerr, err := s.file(ctx, tenant, key.KeyID, v, received, data, reqs)
	if errors.Is(err, store.ErrSequenceTaken) {
		// Another receiver sharing the database stored this sequence
		// meanwhile: look again, which answers as for a resend or a fork.
		status, body, aerr, err = s.file(ctx, tenant, key.KeyID, v, received, data, reqs)
	}
	return status, body, aerr, err
}

// signingKey finds the tenant key a signature names and checks it is valid
// at t. Keys of other tenants are never considered, so a bundle signed for
// another tenant is simply an unknown key here.
func (s *Server) signingKey(ctx context.Context, tenant string, ids []string, t time.Time) (store.Key, *ecdsa.PublicKey, *apiError, error) {
	keys, err := s.store.Keys(ctx, tenant)
	if err != nil {
		return store.Key{}, nil, nil, err
	}
	var invalid []string
	for _, id := range ids {
		for _, k := range keys {
			if k.KeyID != id {
				continue
			}
			if !k.ValidAt(t) {
				invalid = append(invalid, describeValidity(k, t))
				continue
			}
			pub, err := parsePublicKey(k.PublicKeyPEM)
			if err != nil {
				return store.Key{}, nil, nil, fmt.Errorf("stored key %s of tenant %s: %w", k.KeyID, tenant, err)
			}
			return k, pub, nil, nil
		}
	}
	if len(invalid) > 0 {
		return store.Key{}, nil, fail(http.StatusForbidden, protocol.CodeKeyNotValid, "%s", strings.Join(invalid, "; ")), nil
	}
	named := strings.Join(ids, ", ")
	if named == "" {
		named = "(no key id)"
	}
	return store.Key{}, nil, fail(http.StatusForbidden, protocol.CodeUnknownKey, "the bundle is signed by key %s, which is not registered for tenant %s", named, tenant), nil
}

func describeValidity(k store.Key, t time.Time) string {
	at := t.Format(time.RFC3339)
	switch {
	case !k.RevokedAt.IsZero() && !t.Before(k.RevokedAt):
		return fmt.Sprintf("key %s of tenant %s was revoked at %s", k.KeyID, k.Tenant, k.RevokedAt.Format(time.RFC3339))
	case t.Before(k.NotBefore):
		return fmt.Sprintf("key %s of tenant %s is not valid before %s (now %s)", k.KeyID, k.Tenant, k.NotBefore.Format(time.RFC3339), at)
	default:
		return fmt.Sprintf("key %s of tenant %s expired at %s (now %s)", k.KeyID, k.Tenant, k.NotAfter.Format(time.RFC3339), at)
	}
}

// file checks the bundle against the tenant's stored chain and stores it.
// Callers hold the tenant's lock.
func (s *Server) file(ctx context.Context, tenant, keyID string, v bundle.Verified, received time.Time, data []byte, reqs []store.RequirementStatus) (int, []byte, *apiError, error) {
	stored, err := s.store.Bundle(ctx, tenant, v.Sequence)
	switch {
	case err == nil && stored.PayloadDigest == v.PayloadDigest:
		// A resend (the agent crashed before keeping the receipt, or the
		// answer was lost): the original receipt, nothing stored twice.
		return http.StatusOK, stored.Receipt, nil, nil
	case err == nil:
		if ferr := s.store.RecordFork(ctx, store.Fork{Tenant: tenant, Sequence: v.Sequence, OfferedDigest: v.PayloadDigest,
			StoredDigest: stored.PayloadDigest, KeyID: keyID, FirstSeen: received}); ferr != nil {
			return 0, nil, nil, ferr
		}
		return 0, nil, fail(http.StatusConflict, protocol.CodeFork,
			"sequence %d of tenant %s already holds a different bundle (payload digest %s); this one has payload digest %s: a forked chain",
			v.Sequence, tenant, stored.PayloadDigest, v.PayloadDigest), nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, nil, err
	}

	chain := protocol.ChainStart
	if v.Sequence > 1 {
		chain = protocol.ChainGap
		prev, err := s.store.Bundle(ctx, tenant, v.Sequence-1)
		switch {
		case err == nil && prev.PayloadDigest != v.Previous:
			return 0, nil, fail(http.StatusConflict, protocol.CodeBrokenChain,
				"bundle %d names previous %s, but the stored bundle %d of tenant %s has payload digest %s",
				v.Sequence, v.Previous, v.Sequence-1, tenant, prev.PayloadDigest), nil
		case err == nil:
			chain = protocol.ChainLinked
		case !errors.Is(err, store.ErrNotFound):
			return 0, nil, nil, err
		}
	}
	next, err := s.store.Bundle(ctx, tenant, v.Sequence+1)
	switch {
	case err == nil && next.Previous != v.PayloadDigest:
		return 0, nil, fail(http.StatusConflict, protocol.CodeBrokenChain,
			"the stored bundle %d of tenant %s names previous %s, but this bundle %d has payload digest %s",
			v.Sequence+1, tenant, next.Previous, v.Sequence, v.PayloadDigest), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return 0, nil, nil, err
	}

	receipt, err := protocol.SignReceipt(ctx, s.signer, protocol.Receipt{
		Tenant: tenant, Sequence: v.Sequence, PayloadDigest: v.PayloadDigest, Previous: v.Previous,
		KeyID: keyID, Received: received.Format(protocol.ReceivedLayout), Chain: chain,
	})
	if err != nil {
		return 0, nil, nil, err
	}
	rec := store.Bundle{
		Tenant: tenant, Sequence: v.Sequence, PayloadDigest: v.PayloadDigest, Previous: v.Previous, KeyID: keyID,
		RunID: v.RunID, RunStarted: v.Started, RunFinished: v.Finished, Service: v.Service, Level: string(v.Level),
		Findings: v.Findings, Received: received, Chain: chain, Receipt: receipt,
	}
	if err := s.store.PutBundle(ctx, rec, data, reqs); err != nil {
		return 0, nil, nil, err
	}
	lvl := slog.LevelInfo
	if chain == protocol.ChainGap {
		// A missed run is itself evidence of a monitoring lapse.
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "bundle stored", "tenant", tenant, "sequence", v.Sequence, "digest", v.PayloadDigest, "chain", chain, "findings", v.Findings)
	return http.StatusCreated, receipt, nil, nil
}

// requirements reads the predicate's requirement roll-up for the status
// history.
func requirements(payloadB64 string) ([]store.RequirementStatus, error) {
	payload, err := base64.StdEncoding.DecodeString(payloadB64)
	if err != nil {
		return nil, err
	}
	var st struct {
		Predicate struct {
			Requirements []store.RequirementStatus `json:"requirements"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	return st.Predicate.Requirements, nil
}

// oneLine joins a multi-line verification error.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimPrefix(err.Error(), "bundle: "), "\nbundle: ", "; ")
}

// parsePublicKey reads a stored tenant key. Keys were checked to be ECDSA
// P-256 when they were registered (bundle.LoadPublicKey).
func parsePublicKey(p string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return pub, nil
}
