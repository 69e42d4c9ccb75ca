// Package store keeps a receiver's tenants, keys, auditors and evidence: an
// index in SQL (embedded SQLite by default, PostgreSQL for a certification
// body that runs one) and the bundle bytes as files, each written
// atomically before its index row, so a crash never leaves a row without
// its bundle. Both databases sit behind one Store interface and pass the
// same tests.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such tenant, key, bundle or receipt.
	ErrNotFound = errors.New("not found")
	// ErrExists: a tenant, auditor or key with that name, id or client
	// certificate mapping is already registered.
	ErrExists = errors.New("already exists")
	// ErrSequenceTaken: PutBundle lost a race for a sequence; the caller
	// re-reads the stored bundle to tell a resend from a fork.
	ErrSequenceTaken = errors.New("sequence already stored")
)

// Tenant is a cloud service under certification, registered by the CAB.
// Its agents authenticate with a client certificate matched by SHA-256
// fingerprint or, failing that, by common name.
type Tenant struct {
	Name                  string
	ClientCertCN          string
	ClientCertFingerprint string
	Created               time.Time
}

// Auditor is a person or tool of the CAB that may read every tenant's
// evidence, identified like a tenant by its client certificate.
type Auditor struct {
	Name                  string
	ClientCertCN          string
	ClientCertFingerprint string
	Created               time.Time
}

// Key is one agent signing key of a tenant with its validity window. Zero
// NotAfter means open-ended, zero RevokedAt not revoked.
type Key struct {
	Tenant       string
	KeyID        string
	PublicKeyPEM string
	NotBefore    time.Time
	NotAfter     time.Time
	RevokedAt    time.Time
	Added        time.Time
}

// ValidAt reports whether the key may sign evidence received at t.
func (k Key) ValidAt(t time.Time) bool {
	return !t.Before(k.NotBefore) &&
		(k.NotAfter.IsZero() || t.Before(k.NotAfter)) &&
		(k.RevokedAt.IsZero() || t.Before(k.RevokedAt))
}

// Identity is who a client certificate belongs to.
type Identity struct {
	// Kind is "tenant" or "auditor".
	Kind string
	Name string
}

// Identity kinds.
const (
	KindTenant  = "tenant"
	KindAuditor = "auditor"
)

// Bundle is the index record of one stored evidence bundle.
type Bundle struct {
	Tenant        string
	Sequence      uint64
	PayloadDigest string
	Previous      string
	KeyID         string
	RunID         string
	RunStarted    time.Time
	RunFinished   time.Time
	Service       string
	Level         string
	Findings      int
	Size          int64
	Received      time.Time
	// Chain is protocol.ChainStart, ChainLinked or ChainGap, as at receipt.
	Chain string
	// Receipt is the signed receipt envelope the agent was given.
	Receipt []byte
}

// RequirementStatus is one requirement's roll-up in one bundle.
type RequirementStatus struct {
	Requirement   string `json:"id"`
	Status        string `json:"status"`
	Pass          int    `json:"pass"`
	Fail          int    `json:"fail"`
	NotApplicable int    `json:"not_applicable"`
	NotAssessed   int    `json:"not_assessed"`
}

// HistoryEntry is a requirement's status in one bundle of a tenant.
type HistoryEntry struct {
	Sequence    uint64
	RunFinished time.Time
	RequirementStatus
}

// Gap is a range of sequences missing from a tenant's chain, inclusive.
type Gap struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Fork records an attempt to file a different bundle under a sequence that
// was already taken. The offered bundle itself is not stored.
type Fork struct {
	Tenant        string
	Sequence      uint64
	OfferedDigest string
	StoredDigest  string
	KeyID         string
	FirstSeen     time.Time
	LastSeen      time.Time
	Attempts      int
}

// Store is the receiver's storage.
type Store interface {
	// AddTenant registers a tenant together with its first key.
	AddTenant(ctx context.Context, t Tenant, first Key) error
	// AddKey registers another key of an existing tenant (rotation).
	AddKey(ctx context.Context, k Key) error
	// RevokeKey ends a key's validity at at.
	RevokeKey(ctx context.Context, tenant, keyID string, at time.Time) error
	Tenant(ctx context.Context, name string) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)
	Keys(ctx context.Context, tenant string) ([]Key, error)
	AddAuditor(ctx context.Context, a Auditor) error
	Auditors(ctx context.Context) ([]Auditor, error)
	// Identify maps a client certificate to a tenant or auditor, by
	// fingerprint first, then by common name; ErrNotFound if neither.
	Identify(ctx context.Context, cn, fingerprint string) (Identity, error)

	// PutBundle stores the envelope bytes, then its index record and
	// requirement roll-up in one transaction. ErrSequenceTaken if the
	// sequence is already stored.
	PutBundle(ctx context.Context, b Bundle, envelope []byte, reqs []RequirementStatus) error
	// Bundle reads one index record; ErrNotFound if absent.
	Bundle(ctx context.Context, tenant string, seq uint64) (Bundle, error)
	// Bundles lists records with sequence > after, in order, at most limit.
	Bundles(ctx context.Context, tenant string, after uint64, limit int) ([]Bundle, error)
	// Envelope reads a stored bundle's bytes.
	Envelope(ctx context.Context, tenant string, seq uint64) ([]byte, error)
	// History is a requirement's status over a tenant's bundles, in order.
	History(ctx context.Context, tenant, requirement string) ([]HistoryEntry, error)
	// Gaps lists the sequences missing between 1 and the highest stored.
	Gaps(ctx context.Context, tenant string) ([]Gap, error)
	// RecordFork notes a fork attempt (repeats count up Attempts).
	RecordFork(ctx context.Context, f Fork) error
	Forks(ctx context.Context, tenant string) ([]Fork, error)

	Close() error
}
