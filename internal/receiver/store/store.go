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
	// ErrPartsMissing: PutBundle was given a manifest naming a part that is
	// neither pending nor stored for the tenant (it expired, or was never
	// uploaded).
	ErrPartsMissing = errors.New("parts missing")
)

// AllChains, where a method takes a chain id to filter by, selects every
// chain of the tenant. It is not a valid chain id, so it cannot clash with
// one.
const AllChains = "*"

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

// Bundle is the index record of one stored evidence bundle, or of a split
// run's manifest (Parts > 0).
type Bundle struct {
	Tenant string
	// ChainID is the chain the bundle is in: "" for an unsharded agent's,
	// the replica's chain id for a sharded one. Sequences, gaps and forks
	// are per (tenant, chain).
	ChainID       string
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
	// Parts is how many parts a split run has (the envelope is then its
	// manifest); 0 for a single bundle.
	Parts    int
	Size     int64
	Received time.Time
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
	ChainID     string
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
	ChainID       string
	Sequence      uint64
	OfferedDigest string
	StoredDigest  string
	KeyID         string
	FirstSeen     time.Time
	LastSeen      time.Time
	Attempts      int
}

// PartRef is one part of a split run: its index (from 1) among the run's
// parts and its payload digest, the manifest's subject for it. Size is
// filled in when it is read back.
type PartRef struct {
	Index         int
	PayloadDigest string
	Size          int64
}

// PendingPart is a part uploaded ahead of its manifest. It waits, keyed by
// (tenant, payload digest), until a manifest of the tenant claims it or it
// expires.
type PendingPart struct {
	Tenant        string
	PayloadDigest string
	KeyID         string
	Size          int64
	// Received is when it was uploaded; every upload of it again moves
	// it, which keeps a part alive while its agent retries.
	Received time.Time
}

// PartState is where a part stands at the receiver.
type PartState int

// Part states.
const (
	PartAbsent  PartState = iota // never received, or expired
	PartPending                  // received; no stored manifest names it yet
	PartStored                   // a stored manifest names it
)

// ChainSummary describes one chain of a tenant.
type ChainSummary struct {
	ChainID      string
	Bundles      int
	First, Last  uint64
	LastReceived time.Time
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
	// (tenant, chain, sequence) is already stored. For a split run's
	// manifest, parts lists its parts: the same transaction claims each
	// from the tenant's pending parts (or finds it already stored), and
	// fails with ErrPartsMissing if one is neither.
	PutBundle(ctx context.Context, b Bundle, envelope []byte, reqs []RequirementStatus, parts []PartRef) error
	// Bundle reads one index record; ErrNotFound if absent.
	Bundle(ctx context.Context, tenant, chain string, seq uint64) (Bundle, error)
	// Bundles lists a chain's records with sequence > after, in order, at
	// most limit.
	Bundles(ctx context.Context, tenant, chain string, after uint64, limit int) ([]Bundle, error)
	// Envelope reads a stored bundle's bytes (a split run's manifest).
	Envelope(ctx context.Context, tenant, chain string, seq uint64) ([]byte, error)
	// Parts lists a stored split run's parts in order; none for a single
	// bundle, ErrNotFound if the bundle is not stored.
	Parts(ctx context.Context, tenant, chain string, seq uint64) ([]PartRef, error)
	// Chains lists a tenant's chains, by id.
	Chains(ctx context.Context, tenant string) ([]ChainSummary, error)
	// History is a requirement's status over the bundles of one chain of
	// a tenant in chain order, or with AllChains over every chain in order
	// of run end.
	History(ctx context.Context, tenant, chain, requirement string) ([]HistoryEntry, error)
	// Gaps lists the sequences missing from a chain between 1 and the
	// highest stored.
	Gaps(ctx context.Context, tenant, chain string) ([]Gap, error)
	// RecordFork notes a fork attempt (repeats count up Attempts).
	RecordFork(ctx context.Context, f Fork) error
	// Forks lists the fork attempts on one chain, or with AllChains on
	// every chain of the tenant.
	Forks(ctx context.Context, tenant, chain string) ([]Fork, error)

	// PutPart keeps a part uploaded ahead of its manifest: its bytes (the
	// first envelope received for a payload digest is kept), then its
	// pending record. A part pending already has its time moved on; a part
	// a stored manifest names is left as it is. It returns the part's state
	// after the call and whether this call added it.
	PutPart(ctx context.Context, p PendingPart, envelope []byte) (PartState, bool, error)
	// PartState says whether a tenant holds a part, by payload digest.
	PartState(ctx context.Context, tenant, digest string) (PartState, error)
	// MissingParts returns those of digests that the tenant holds neither
	// pending nor stored, in the order given.
	MissingParts(ctx context.Context, tenant string, digests []string) ([]string, error)
	// PartEnvelope reads a part's bytes by payload digest, pending or
	// stored; ErrNotFound if the tenant holds no such part.
	PartEnvelope(ctx context.Context, tenant, digest string) ([]byte, error)
	// PendingBytes sums the sizes of a tenant's pending parts.
	PendingBytes(ctx context.Context, tenant string) (int64, error)
	// ExpirePendingParts removes the pending parts (of every tenant) last
	// received before t, and their files, and returns how many.
	ExpirePendingParts(ctx context.Context, before time.Time) (int, error)

	Close() error
}
