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

// Defaults for the parts of split runs that wait for their manifest.
const (
	// DefaultMaxPendingBytes bounds, per tenant, the parts received whose
	// manifest has not been stored yet: several runs of 60 parts of 16 MiB.
	DefaultMaxPendingBytes = 4 << 30
	// DefaultPendingTTL is how long a part waits for its manifest after
	// its last upload before it is removed.
	DefaultPendingTTL = 7 * 24 * time.Hour
)

// sweepEvery is how often part uploads also remove expired pending parts.
const sweepEvery = time.Minute

// Config wires a Server.
type Config struct {
	Store store.Store
	// Signer signs receipts with the receiver's key.
	Signer bundle.Signer
	// MaxBundleBytes bounds a submitted body (a bundle, a manifest or one
	// part); 0 means DefaultMaxBundleBytes.
	MaxBundleBytes int64
	// MaxPendingBytes bounds the bytes of a tenant's parts waiting for
	// their manifest; 0 means DefaultMaxPendingBytes.
	MaxPendingBytes int64
	// PendingTTL is how long a part waits for its manifest after its last
	// upload; 0 means DefaultPendingTTL.
	PendingTTL time.Duration
	Log        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the receiver's API.
type Server struct {
	store      store.Store
	signer     bundle.Signer
	maxBody    int64
	maxPending int64
	pendingTTL time.Duration
	log        *slog.Logger
	now        func() time.Time

	// locks serialise submissions per tenant and chain, so the chain checks
	// and the insert see one consistent chain, and part uploads per tenant,
	// so the pending parts' bound holds. (Several receivers sharing one
	// PostgreSQL database are still safe: the primary key on (tenant,
	// chain, sequence) decides, and the loser answers as for a resend or a
	// fork.)
	mu        sync.Mutex
	locks     map[string]*sync.Mutex
	lastSweep time.Time
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, signer: cfg.Signer, maxBody: cfg.MaxBundleBytes, maxPending: cfg.MaxPendingBytes,
		pendingTTL: cfg.PendingTTL, log: cfg.Log, now: cfg.Now, locks: map[string]*sync.Mutex{}}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBundleBytes
	}
	if s.maxPending <= 0 {
		s.maxPending = DefaultMaxPendingBytes
	}
	if s.pendingTTL <= 0 {
		s.pendingTTL = DefaultPendingTTL
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
	mux.HandleFunc("PUT "+protocol.PathParts+"/{digest}", s.putPart)
	mux.HandleFunc("PUT /v1/tenants/{tenant}/parts/{digest}", s.putPart)
	mux.HandleFunc("GET /v1/tenants/{tenant}/chains", s.listChains)
	mux.HandleFunc("GET /v1/tenants", s.listTenants)
	mux.HandleFunc("GET /v1/tenants/{tenant}", s.getTenant)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles", s.listBundles)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}", s.getBundle)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}/receipt", s.getReceipt)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}/parts", s.listParts)
	mux.HandleFunc("GET /v1/tenants/{tenant}/bundles/{seq}/parts/{index}", s.getPart)
	mux.HandleFunc("GET /v1/tenants/{tenant}/requirements/{id}", s.requirementHistory)
	mux.HandleFunc("GET /v1/tenants/{tenant}/gaps", s.listGaps)
	mux.HandleFunc("GET /v1/tenants/{tenant}/forks", s.listForks)
	mux.HandleFunc("GET /v1/tenants/{tenant}/chain", s.exportChain)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// apiError is an answer with the JSON error body.
type apiError struct {
	status  int
	code    string
	message string
	// missing goes with CodeMissingParts.
	missing []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, protocol.Error{Message: e.message, Code: e.code, Missing: e.missing})
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

// ExpirePending removes the parts that have waited longer than the
// configured time for their manifest. The server calls it itself now and
// then as parts arrive; serve calls it periodically too.
func (s *Server) ExpirePending(ctx context.Context) (int, error) {
	n, err := s.store.ExpirePendingParts(ctx, s.now().Add(-s.pendingTTL))
	if n > 0 {
		s.log.Warn("removed parts whose manifest never arrived", "parts", n, "waited", s.pendingTTL.String())
	}
	return n, err
}

// sweepSometimes runs ExpirePending at most once per sweepEvery.
func (s *Server) sweepSometimes(ctx context.Context) {
	s.mu.Lock()
	due := s.now().Sub(s.lastSweep) >= sweepEvery
	if due {
		s.lastSweep = s.now()
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.ExpirePending(ctx); err != nil {
		s.log.Error("could not remove expired parts", "error", err)
	}
}

// submit accepts one bundle, or a split run's manifest.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	status, body, aerr, err := s.accept(w, r)
	s.answer(w, r, status, body, aerr, err, "bundle rejected")
}

// answer writes what a submission handler decided.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, body []byte, aerr *apiError, err error, rejected string) {
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if aerr != nil {
		lvl := slog.LevelWarn
		if aerr.code == protocol.CodeMissingParts {
			// The normal first answer to a manifest: the agent uploads
			// the parts it names and sends it again.
			lvl = slog.LevelInfo
		}
		s.log.Log(r.Context(), lvl, rejected, "code", aerr.code, "status", aerr.status, "reason", aerr.message, "client", clientCN(r))
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

// submitter maps the client certificate to the tenant that submits, and
// checks the tenant a path names.
func (s *Server) submitter(r *http.Request) (string, *apiError, error) {
	id, aerr, err := s.identify(r)
	if err != nil || aerr != nil {
		return "", aerr, err
	}
	if id.Kind != store.KindTenant {
		return "", fail(http.StatusForbidden, protocol.CodeNotATenant, "auditor %s may read evidence but not submit it", id.Name), nil
	}
	if named := r.PathValue("tenant"); named != "" && named != id.Name {
		return "", fail(http.StatusForbidden, protocol.CodeWrongTenant, "this client certificate belongs to tenant %s, not %s", id.Name, named), nil
	}
	return id.Name, nil, nil
}

// signed is an envelope whose signature verified with a key of the tenant.
type signed struct {
	data    []byte
	key     store.Key
	pub     *ecdsa.PublicKey
	payload []byte
	digest  string
}

// readSigned reads a body of at most maxBody bytes, decodes the DSSE
// envelope and verifies its signature with a key of the tenant valid at
// received.
func (s *Server) readSigned(w http.ResponseWriter, r *http.Request, tenant string, received time.Time) (signed, *apiError, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return signed{}, fail(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "the body is larger than this receiver's limit of %d bytes", s.maxBody), nil
	}
	if err != nil {
		return signed{}, fail(http.StatusBadRequest, protocol.CodeMalformed, "could not read the body: %v", err), nil
	}
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		return signed{}, fail(http.StatusBadRequest, protocol.CodeMalformed, "the body is %v", err), nil
	}
	if env.PayloadType != bundle.PayloadType {
		return signed{}, fail(http.StatusBadRequest, protocol.CodeMalformed, "payloadType is %q, want %q", env.PayloadType, bundle.PayloadType), nil
	}
	// The key: one of the tenant's, named by a signature, valid now.
	key, pub, aerr, err := s.signingKey(r.Context(), tenant, protocol.KeyIDs(env), received)
	if err != nil || aerr != nil {
		return signed{}, aerr, err
	}
	payload, err := protocol.VerifyEnvelope(env, pub)
	if err != nil {
		return signed{}, fail(http.StatusUnprocessableEntity, protocol.CodeBadSignature, "the signature does not verify with key %s of tenant %s", key.KeyID, tenant), nil
	}
	sum := sha256.Sum256(payload)
	return signed{data: data, key: key, pub: pub, payload: payload, digest: hex.EncodeToString(sum[:])}, nil, nil
}

// header is what the receiver reads from a verified payload itself, before
// or besides the full verification: the statement kind, the manifest's
// parts, the chain link and id, the roll-up, and a part's place.
type header struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate struct {
		Chain *struct {
			ID       string `json:"id"`
			Sequence uint64 `json:"sequence"`
		} `json:"chain"`
		Requirements []store.RequirementStatus `json:"requirements"`
		// A part's.
		Sequence uint64 `json:"sequence"`
		Part     *struct {
			Index int `json:"index"`
			Count int `json:"count"`
		} `json:"part"`
	} `json:"predicate"`
}

func parseHeader(payload []byte) (header, error) {
	var h header
	err := json.Unmarshal(payload, &h)
	return h, err
}

// chainID is the predicate's chain.id, "" when absent.
func (h header) chainID() string {
	if h.Predicate.Chain == nil {
		return ""
	}
	return h.Predicate.Chain.ID
}

// partDigests returns a manifest's part digests in part order, false if a
// subject carries none that could be one (full verification says why).
func (h header) partDigests() ([]string, bool) {
	out := make([]string, 0, len(h.Subject))
	for _, sub := range h.Subject {
		d := sub.Digest["sha256"]
		if !isDigest(d) {
			return nil, false
		}
		out = append(out, d)
	}
	return out, len(out) > 0
}

// isDigest reports whether d is a lowercase hex SHA-256.
func isDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	for _, c := range []byte(d) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ofTenant names a chain in messages: "tenant acme", or "chain shard-1 of
// tenant acme" for a sharded agent's.
func ofTenant(tenant, chain string) string {
	if chain == "" {
		return "tenant " + tenant
	}
	return "chain " + chain + " of tenant " + tenant
}

// accept runs the checks in the order that makes each rejection's reason
// the most useful one, and stores nothing unless all pass. It returns the
// status and receipt to answer with, a rejection, or an internal error.
func (s *Server) accept(w http.ResponseWriter, r *http.Request) (int, []byte, *apiError, error) {
	ctx := r.Context()
	tenant, aerr, err := s.submitter(r)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	received := s.now().UTC()
	env, aerr, err := s.readSigned(w, r, tenant, received)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	// A payload that is not even a statement is the full verification's
	// to describe; everything else is read from it here.
	h, herr := parseHeader(env.payload)
	if herr == nil {
		if err := bundle.ValidateChainID(h.chainID()); err != nil {
			return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeBadChainID,
				"predicate.chain.id %q is not a chain id: 1 to 63 lowercase letters, digits or '-', not starting with '-'", h.chainID()), nil
		}
		switch h.PredicateType {
		case bundle.ManifestPredicateType:
			return s.acceptManifest(ctx, tenant, env, h, received)
		case bundle.PartPredicateType:
			return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle,
				"this is a part of a split run: upload it with PUT %s, then send its manifest here", protocol.PartPath(env.digest)), nil
		}
	}

	// The whole bundle, exactly as an auditor's `eucs-agent verify` checks
	// it: statement, predicate, subject digests recomputed from findings.
	rep, err := bundle.Verify(ctx, env.pub, []bundle.Input{{Name: "bundle", Data: env.data}})
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle, "the bundle is signed but not sound: %s", oneLine(err, "bundle: ")), nil
	}
	if herr != nil {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle, "the bundle is signed but not sound: predicate.requirements: %v", herr), nil
	}
	return s.fileLocked(ctx, tenant, h.chainID(), env, rep.Bundles[0], received, h.Predicate.Requirements, nil)
}

// acceptManifest accepts a split run's manifest once the tenant holds every
// part it names: it verifies manifest and parts together, exactly as
// `eucs-agent verify` does, reading one part at a time.
func (s *Server) acceptManifest(ctx context.Context, tenant string, env signed, h header, received time.Time) (int, []byte, *apiError, error) {
	chain := h.chainID()
	digests, ok := h.partDigests()
	if ok && h.Predicate.Chain != nil {
		seq := h.Predicate.Chain.Sequence
		// A resend of a stored manifest gets the original receipt, without
		// reading its parts again: the payload digest pins them.
		stored, err := s.store.Bundle(ctx, tenant, chain, seq)
		if err == nil && stored.PayloadDigest == env.digest {
			return http.StatusOK, stored.Receipt, nil, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, nil, nil, err
		}
		if aerr, err := s.missingParts(ctx, tenant, chain, seq, digests); err != nil || aerr != nil {
			return 0, nil, aerr, err
		}
	}

	inputs := []bundle.Input{{Name: "manifest", Data: env.data}}
	for i, d := range digests {
		inputs = append(inputs, bundle.Input{Name: fmt.Sprintf("part %d", i+1), Open: func() ([]byte, error) {
			return s.store.PartEnvelope(ctx, tenant, d)
		}})
	}
	rep, err := bundle.Verify(ctx, env.pub, inputs)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		if ok && h.Predicate.Chain != nil {
			// A part may have expired since it was looked for.
			if aerr, merr := s.missingParts(ctx, tenant, chain, h.Predicate.Chain.Sequence, digests); merr != nil || aerr != nil {
				return 0, nil, aerr, merr
			}
		}
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidBundle, "the manifest and its parts are signed but not sound: %s", oneLine(err, "")), nil
	}
	parts := make([]store.PartRef, len(digests))
	for i, d := range digests {
		parts[i] = store.PartRef{Index: i + 1, PayloadDigest: d}
	}
	return s.fileLocked(ctx, tenant, chain, env, rep.Bundles[0], received, h.Predicate.Requirements, parts)
}

// missingParts answers CodeMissingParts when the tenant lacks parts a
// manifest names.
func (s *Server) missingParts(ctx context.Context, tenant, chain string, seq uint64, digests []string) (*apiError, error) {
	missing, err := s.store.MissingParts(ctx, tenant, digests)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	what := "parts have"
	if len(missing) == 1 {
		what = "part has"
	}
	aerr := fail(http.StatusFailedDependency, protocol.CodeMissingParts,
		"the manifest of sequence %d of %s names %d parts; %d of those %s not been received: upload each with PUT %s/{payload digest} (listed in missing), then send the manifest again",
		seq, ofTenant(tenant, chain), len(digests), len(missing), what, protocol.PathParts)
	aerr.missing = missing
	return aerr, nil
}

// fileLocked files a verified bundle or manifest under the chain's lock.
func (s *Server) fileLocked(ctx context.Context, tenant, chain string, env signed, v bundle.Verified, received time.Time, reqs []store.RequirementStatus, parts []store.PartRef) (int, []byte, *apiError, error) {
	l := s.tenantLock(tenant + "\x00" + chain)
	l.Lock()
	defer l.Unlock()
	status, body, aerr, err := s.file(ctx, tenant, chain, env, v, received, reqs, parts)
	if errors.Is(err, store.ErrSequenceTaken) {
		// Another receiver sharing the database stored this sequence
		// meanwhile: look again, which answers as for a resend or a fork.
		status, body, aerr, err = s.file(ctx, tenant, chain, env, v, received, reqs, parts)
	}
	if errors.Is(err, store.ErrPartsMissing) {
		// A part expired between verification and storing.
		digests := make([]string, len(parts))
		for i, p := range parts {
			digests[i] = p.PayloadDigest
		}
		if aerr, merr := s.missingParts(ctx, tenant, chain, v.Sequence, digests); merr != nil || aerr != nil {
			return 0, nil, aerr, merr
		}
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

// file checks the bundle against its stored chain and stores it. Callers
// hold the chain's lock.
func (s *Server) file(ctx context.Context, tenant, chain string, env signed, v bundle.Verified, received time.Time, reqs []store.RequirementStatus, parts []store.PartRef) (int, []byte, *apiError, error) {
	keyID := env.key.KeyID
	stored, err := s.store.Bundle(ctx, tenant, chain, v.Sequence)
	switch {
	case err == nil && stored.PayloadDigest == v.PayloadDigest:
		// A resend (the agent crashed before keeping the receipt, or the
		// answer was lost): the original receipt, nothing stored twice.
		return http.StatusOK, stored.Receipt, nil, nil
	case err == nil:
		if ferr := s.store.RecordFork(ctx, store.Fork{Tenant: tenant, ChainID: chain, Sequence: v.Sequence, OfferedDigest: v.PayloadDigest,
			StoredDigest: stored.PayloadDigest, KeyID: keyID, FirstSeen: received}); ferr != nil {
			return 0, nil, nil, ferr
		}
		return 0, nil, fail(http.StatusConflict, protocol.CodeFork,
			"sequence %d of %s already holds a different bundle (payload digest %s); this one has payload digest %s: a forked chain",
			v.Sequence, ofTenant(tenant, chain), stored.PayloadDigest, v.PayloadDigest), nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, nil, err
	}

	link := protocol.ChainStart
	if v.Sequence > 1 {
		link = protocol.ChainGap
		prev, err := s.store.Bundle(ctx, tenant, chain, v.Sequence-1)
		switch {
		case err == nil && prev.PayloadDigest != v.Previous:
			return 0, nil, fail(http.StatusConflict, protocol.CodeBrokenChain,
				"bundle %d names previous %s, but the stored bundle %d of %s has payload digest %s",
				v.Sequence, v.Previous, v.Sequence-1, ofTenant(tenant, chain), prev.PayloadDigest), nil
		case err == nil:
			link = protocol.ChainLinked
		case !errors.Is(err, store.ErrNotFound):
			return 0, nil, nil, err
		}
	}
	next, err := s.store.Bundle(ctx, tenant, chain, v.Sequence+1)
	switch {
	case err == nil && next.Previous != v.PayloadDigest:
		return 0, nil, fail(http.StatusConflict, protocol.CodeBrokenChain,
			"the stored bundle %d of %s names previous %s, but this bundle %d has payload digest %s",
			v.Sequence+1, ofTenant(tenant, chain), next.Previous, v.Sequence, v.PayloadDigest), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return 0, nil, nil, err
	}

	receipt, err := protocol.SignReceipt(ctx, s.signer, protocol.Receipt{
		Tenant: tenant, ChainID: chain, Sequence: v.Sequence, PayloadDigest: v.PayloadDigest, Previous: v.Previous,
		KeyID: keyID, Received: received.Format(protocol.ReceivedLayout), Chain: link,
	})
	if err != nil {
		return 0, nil, nil, err
	}
	rec := store.Bundle{
		Tenant: tenant, ChainID: chain, Sequence: v.Sequence, PayloadDigest: v.PayloadDigest, Previous: v.Previous, KeyID: keyID,
		RunID: v.RunID, RunStarted: v.Started, RunFinished: v.Finished, Service: v.Service, Level: string(v.Level),
		Findings: v.Findings, Received: received, Chain: link, Receipt: receipt,
	}
	if err := s.store.PutBundle(ctx, rec, env.data, reqs, parts); err != nil {
		return 0, nil, nil, err
	}
	lvl := slog.LevelInfo
	if link == protocol.ChainGap {
		// A missed run is itself evidence of a monitoring lapse.
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "bundle stored", "tenant", tenant, "chain_id", chain, "sequence", v.Sequence, "digest", v.PayloadDigest,
		"chain", link, "findings", v.Findings, "parts", len(parts))
	return http.StatusCreated, receipt, nil, nil
}

// putPart accepts one part of a split run ahead of its manifest. It checks
// that the tenant's key signed it, that it is a part, and that its payload
// digest is the one in the path; the full check of the part against its
// run comes with the manifest.
func (s *Server) putPart(w http.ResponseWriter, r *http.Request) {
	status, body, aerr, err := s.acceptPart(w, r)
	s.answer(w, r, status, body, aerr, err, "part rejected")
}

func (s *Server) acceptPart(w http.ResponseWriter, r *http.Request) (int, []byte, *apiError, error) {
	ctx := r.Context()
	tenant, aerr, err := s.submitter(r)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	digest := r.PathValue("digest")
	if !isDigest(digest) {
		return 0, nil, fail(http.StatusBadRequest, protocol.CodeBadRequest, "%q is not a payload digest (64 lowercase hex digits)", digest), nil
	}
	s.sweepSometimes(ctx)
	received := s.now().UTC()
	env, aerr, err := s.readSigned(w, r, tenant, received)
	if err != nil || aerr != nil {
		return 0, nil, aerr, err
	}
	if env.digest != digest {
		return 0, nil, fail(http.StatusBadRequest, protocol.CodeDigestMismatch, "the part's payload digest is %s, not %s as the path says", env.digest, digest), nil
	}
	h, err := parseHeader(env.payload)
	if err != nil {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidPart, "the part is signed but its payload is not an in-toto statement: %v", err), nil
	}
	if h.PredicateType != bundle.PartPredicateType {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidPart,
			"predicateType is %q, want %q: bundles and manifests go to POST %s", h.PredicateType, bundle.PartPredicateType, protocol.PathBundles), nil
	}
	if p := h.Predicate.Part; h.Predicate.Sequence == 0 || p == nil || p.Index < 1 || p.Index > p.Count {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidPart,
			"the part does not say which part of which sequence it is (predicate.sequence, predicate.part.index and count)"), nil
	}
	// The part is checked on its own now (its subject digests against its
	// findings), so that pending storage never holds a part that could not
	// verify; its place in the run is checked when the manifest arrives.
	if err := bundle.CheckPart(ctx, env.payload); err != nil {
		return 0, nil, fail(http.StatusUnprocessableEntity, protocol.CodeInvalidPart,
			"the part is signed but not sound: %s", strings.ReplaceAll(err.Error(), "\n", "; ")), nil
	}

	l := s.tenantLock(tenant)
	l.Lock()
	defer l.Unlock()
	state, err := s.store.PartState(ctx, tenant, digest)
	if err != nil {
		return 0, nil, nil, err
	}
	if state == store.PartAbsent {
		pending, err := s.store.PendingBytes(ctx, tenant)
		if err != nil {
			return 0, nil, nil, err
		}
		if pending+int64(len(env.data)) > s.maxPending {
			return 0, nil, fail(http.StatusInsufficientStorage, protocol.CodePendingFull,
				"tenant %s has %d bytes of parts waiting for their manifests; this part's %d bytes would pass this receiver's limit of %d: send the manifests of the parts already uploaded, or wait for unclaimed parts to expire (%s after their last upload)",
				tenant, pending, len(env.data), s.maxPending, s.pendingTTL), nil
		}
	}
	state, created, err := s.store.PutPart(ctx, store.PendingPart{Tenant: tenant, PayloadDigest: digest, KeyID: env.key.KeyID,
		Size: int64(len(env.data)), Received: received}, env.data)
	if err != nil {
		return 0, nil, nil, err
	}
	ack := protocol.PartAck{Tenant: tenant, PayloadDigest: digest, Size: int64(len(env.data)), Status: protocol.PartPending}
	if state == store.PartStored {
		ack.Status = protocol.PartStored
	}
	body, err := json.Marshal(ack)
	if err != nil {
		return 0, nil, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.log.Debug("part received", "tenant", tenant, "digest", digest, "sequence", h.Predicate.Sequence,
		"part", h.Predicate.Part.Index, "of", h.Predicate.Part.Count, "status", ack.Status, "new", created)
	return status, append(body, '\n'), nil, nil
}

// oneLine joins a multi-line verification error, dropping prefix (the
// input's name) where a line starts with it.
func oneLine(err error, prefix string) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(lines, "; ")
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
