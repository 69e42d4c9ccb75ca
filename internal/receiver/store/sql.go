package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver (pure Go)

	"github.com/eucs-agent/eucs-agent/internal/atomicfile"
)

// timeLayout stores times as fixed-width UTC text, which sorts as time in
// both databases and reads plainly in either's shell.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// dialect is what differs between the databases.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

// db implements Store over database/sql.
type db struct {
	sql     *sql.DB
	dialect dialect
	// root is the data directory; the blob paths in the index are
	// relative to it: bundles/<tenant>/… and parts/<tenant>/….
	root string
}

// IndexFile is the SQLite index's name inside the data directory.
const IndexFile = "index.db"

// OpenSQLite opens (creating if needed) the embedded store in dataDir:
// dataDir/index.db and dataDir/bundles/.
func OpenSQLite(ctx context.Context, dataDir string) (Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// WAL lets the admin commands read and write while the server runs;
	// busy_timeout makes them wait for each other instead of failing;
	// synchronous FULL makes a committed receipt survive a power loss;
	// _txlock=immediate takes the write lock at BEGIN, so two writers
	// never deadlock upgrading read locks.
	dsn := "file:" + filepath.Join(dataDir, IndexFile) +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	s, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dataDir, err)
	}
	// One connection: SQLite has one writer anyway, and this keeps every
	// statement of the server in one well-ordered queue.
	s.SetMaxOpenConns(1)
	return open(ctx, s, sqlite, dataDir)
}

// OpenPostgres opens the store with its index in PostgreSQL (a pgx DSN or
// URL) and bundle bytes in dataDir/bundles/. Several receivers may share
// one database if they share dataDir too. The DSN, which may hold a
// password, never appears in an error.
func OpenPostgres(ctx context.Context, dsn, dataDir string) (Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, errors.New("open store: the PostgreSQL DSN is not valid")
	}
	s.SetMaxOpenConns(8)
	s.SetConnMaxIdleTime(5 * time.Minute)
	return open(ctx, s, postgres, dataDir)
}

func open(ctx context.Context, s *sql.DB, d dialect, dataDir string) (Store, error) {
	st := &db{sql: s, dialect: d, root: dataDir}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: connect to the %s index: %w", d, redact(err))
	}
	if err := st.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(st.root, "bundles"), 0o750); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

func (d dialect) String() string {
	if d == postgres {
		return "PostgreSQL"
	}
	return "SQLite"
}

// redact keeps a password out of driver errors that quote the DSN.
var passwordRe = regexp.MustCompile(`(?i)(password=|://[^:/@\s]*:)[^@\s]*`)

func redact(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(passwordRe.ReplaceAllString(err.Error(), "${1}[redacted]"))
}

// schema is portable SQL: both databases read it as is. Sequences are
// BIGINT (chain sequences stay far below 2^63); times are timeLayout text.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS tenants (
		name TEXT PRIMARY KEY,
		client_cert_cn TEXT NOT NULL,
		client_cert_fingerprint TEXT NOT NULL,
		created TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS auditors (
		name TEXT PRIMARY KEY,
		client_cert_cn TEXT NOT NULL,
		client_cert_fingerprint TEXT NOT NULL,
		created TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS tenant_keys (
		tenant TEXT NOT NULL REFERENCES tenants(name),
		key_id TEXT NOT NULL,
		public_key TEXT NOT NULL,
		not_before TEXT NOT NULL,
		not_after TEXT NOT NULL,
		revoked_at TEXT NOT NULL,
		added TEXT NOT NULL,
		PRIMARY KEY (tenant, key_id))`,
	// A bundle's key is (tenant, chain_id, sequence): the replicas of a
	// sharded agent share a tenant but each keeps a chain of its own.
	// chain_id is "" for an unsharded agent. chain is the link state at
	// receipt (start, linked, gap).
	`CREATE TABLE IF NOT EXISTS bundles (
		tenant TEXT NOT NULL REFERENCES tenants(name),
		chain_id TEXT NOT NULL,
		sequence BIGINT NOT NULL,
		payload_digest TEXT NOT NULL,
		previous TEXT NOT NULL,
		key_id TEXT NOT NULL,
		run_id TEXT NOT NULL,
		run_started TEXT NOT NULL,
		run_finished TEXT NOT NULL,
		service TEXT NOT NULL,
		level TEXT NOT NULL,
		findings BIGINT NOT NULL,
		parts BIGINT NOT NULL,
		size BIGINT NOT NULL,
		blob TEXT NOT NULL,
		received TEXT NOT NULL,
		chain TEXT NOT NULL,
		receipt TEXT NOT NULL,
		PRIMARY KEY (tenant, chain_id, sequence))`,
	// The parts of a stored split run, in order. The files are
	// content-addressed by payload digest under parts/<tenant>/.
	`CREATE TABLE IF NOT EXISTS bundle_parts (
		tenant TEXT NOT NULL,
		chain_id TEXT NOT NULL,
		sequence BIGINT NOT NULL,
		idx BIGINT NOT NULL,
		payload_digest TEXT NOT NULL,
		size BIGINT NOT NULL,
		blob TEXT NOT NULL,
		PRIMARY KEY (tenant, chain_id, sequence, idx))`,
	`CREATE INDEX IF NOT EXISTS bundle_parts_digest ON bundle_parts (tenant, payload_digest)`,
	// Parts uploaded ahead of their manifest; received moves on with every
	// upload, and rows older than the receiver's expiry are removed.
	`CREATE TABLE IF NOT EXISTS pending_parts (
		tenant TEXT NOT NULL REFERENCES tenants(name),
		payload_digest TEXT NOT NULL,
		key_id TEXT NOT NULL,
		size BIGINT NOT NULL,
		blob TEXT NOT NULL,
		received TEXT NOT NULL,
		PRIMARY KEY (tenant, payload_digest))`,
	`CREATE INDEX IF NOT EXISTS pending_parts_received ON pending_parts (received)`,
	`CREATE TABLE IF NOT EXISTS requirement_status (
		tenant TEXT NOT NULL,
		chain_id TEXT NOT NULL,
		sequence BIGINT NOT NULL,
		requirement TEXT NOT NULL,
		status TEXT NOT NULL,
		pass BIGINT NOT NULL,
		fail BIGINT NOT NULL,
		not_applicable BIGINT NOT NULL,
		not_assessed BIGINT NOT NULL,
		PRIMARY KEY (tenant, requirement, chain_id, sequence))`,
	`CREATE TABLE IF NOT EXISTS forks (
		tenant TEXT NOT NULL,
		chain_id TEXT NOT NULL,
		sequence BIGINT NOT NULL,
		offered_digest TEXT NOT NULL,
		stored_digest TEXT NOT NULL,
		key_id TEXT NOT NULL,
		first_seen TEXT NOT NULL,
		last_seen TEXT NOT NULL,
		attempts BIGINT NOT NULL,
		PRIMARY KEY (tenant, chain_id, sequence, offered_digest))`,
}

func (s *db) migrate(ctx context.Context) error {
	for _, stmt := range schema {
		if _, err := s.sql.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create the %s schema: %w", s.dialect, redact(err))
		}
	}
	return nil
}

// q rewrites ? placeholders into PostgreSQL's $1, $2, ….
func (s *db) q(query string) string {
	if s.dialect != postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTS(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(timeLayout, s)
	return t
}

// isUnique reports a primary key or unique constraint violation.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505") ||
		strings.Contains(m, "duplicate key value")
}

// inTx runs f in a transaction.
func (s *db) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return redact(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return redact(tx.Commit())
}

// mappingTaken reports whether a client certificate mapping is used by any
// tenant or auditor, so one certificate can never mean two identities.
func (s *db) mappingTaken(ctx context.Context, tx *sql.Tx, cn, fp string) (string, error) {
	for _, table := range []string{"tenants", "auditors"} {
		var name string
		err := tx.QueryRowContext(ctx, s.q(`SELECT name FROM `+table+
			` WHERE (client_cert_cn <> '' AND client_cert_cn = ?) OR (client_cert_fingerprint <> '' AND client_cert_fingerprint = ?)`), cn, fp).Scan(&name)
		if err == nil {
			return fmt.Sprintf("%s %s", strings.TrimSuffix(table, "s"), name), nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", redact(err)
		}
	}
	return "", nil
}

func (s *db) AddTenant(ctx context.Context, t Tenant, first Key) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if who, err := s.mappingTaken(ctx, tx, t.ClientCertCN, t.ClientCertFingerprint); err != nil {
			return err
		} else if who != "" {
			return fmt.Errorf("add tenant %s: %w: that client certificate already maps to %s", t.Name, ErrExists, who)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM auditors WHERE name = ?`), t.Name).Scan(&n); err != nil {
			return redact(err)
		}
		if n > 0 {
			return fmt.Errorf("add tenant %s: %w: an auditor has that name", t.Name, ErrExists)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenants (name, client_cert_cn, client_cert_fingerprint, created) VALUES (?, ?, ?, ?)`),
			t.Name, t.ClientCertCN, t.ClientCertFingerprint, ts(t.Created))
		if isUnique(err) {
			return fmt.Errorf("add tenant %s: %w", t.Name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add tenant %s: %w", t.Name, redact(err))
		}
		first.Tenant = t.Name
		return s.insertKey(ctx, tx, first)
	})
}

func (s *db) insertKey(ctx context.Context, tx *sql.Tx, k Key) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenant_keys (tenant, key_id, public_key, not_before, not_after, revoked_at, added) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		k.Tenant, k.KeyID, k.PublicKeyPEM, ts(k.NotBefore), ts(k.NotAfter), ts(k.RevokedAt), ts(k.Added))
	if isUnique(err) {
		return fmt.Errorf("add key %s to tenant %s: %w", k.KeyID, k.Tenant, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add key %s to tenant %s: %w", k.KeyID, k.Tenant, redact(err))
	}
	return nil
}

func (s *db) AddKey(ctx context.Context, k Key) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM tenants WHERE name = ?`), k.Tenant).Scan(&n); err != nil {
			return redact(err)
		}
		if n == 0 {
			return fmt.Errorf("tenant %s: %w", k.Tenant, ErrNotFound)
		}
		return s.insertKey(ctx, tx, k)
	})
}

func (s *db) RevokeKey(ctx context.Context, tenant, keyID string, at time.Time) error {
	res, err := s.sql.ExecContext(ctx, s.q(`UPDATE tenant_keys SET revoked_at = ? WHERE tenant = ? AND key_id = ?`), ts(at), tenant, keyID)
	if err != nil {
		return fmt.Errorf("revoke key %s of tenant %s: %w", keyID, tenant, redact(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %s of tenant %s: %w", keyID, tenant, ErrNotFound)
	}
	return nil
}

func (s *db) Tenant(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	var created string
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT name, client_cert_cn, client_cert_fingerprint, created FROM tenants WHERE name = ?`), name).
		Scan(&t.Name, &t.ClientCertCN, &t.ClientCertFingerprint, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("tenant %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, redact(err)
	}
	t.Created = parseTS(created)
	return t, nil
}

func (s *db) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT name, client_cert_cn, client_cert_fingerprint, created FROM tenants ORDER BY name`)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		var created string
		if err := rows.Scan(&t.Name, &t.ClientCertCN, &t.ClientCertFingerprint, &created); err != nil {
			return nil, redact(err)
		}
		t.Created = parseTS(created)
		out = append(out, t)
	}
	return out, redact(rows.Err())
}

func (s *db) Keys(ctx context.Context, tenant string) ([]Key, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT tenant, key_id, public_key, not_before, not_after, revoked_at, added FROM tenant_keys WHERE tenant = ? ORDER BY not_before, key_id`), tenant)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var nb, na, rv, added string
		if err := rows.Scan(&k.Tenant, &k.KeyID, &k.PublicKeyPEM, &nb, &na, &rv, &added); err != nil {
			return nil, redact(err)
		}
		k.NotBefore, k.NotAfter, k.RevokedAt, k.Added = parseTS(nb), parseTS(na), parseTS(rv), parseTS(added)
		out = append(out, k)
	}
	return out, redact(rows.Err())
}

func (s *db) AddAuditor(ctx context.Context, a Auditor) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if who, err := s.mappingTaken(ctx, tx, a.ClientCertCN, a.ClientCertFingerprint); err != nil {
			return err
		} else if who != "" {
			return fmt.Errorf("add auditor %s: %w: that client certificate already maps to %s", a.Name, ErrExists, who)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM tenants WHERE name = ?`), a.Name).Scan(&n); err != nil {
			return redact(err)
		}
		if n > 0 {
			return fmt.Errorf("add auditor %s: %w: a tenant has that name", a.Name, ErrExists)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO auditors (name, client_cert_cn, client_cert_fingerprint, created) VALUES (?, ?, ?, ?)`),
			a.Name, a.ClientCertCN, a.ClientCertFingerprint, ts(a.Created))
		if isUnique(err) {
			return fmt.Errorf("add auditor %s: %w", a.Name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add auditor %s: %w", a.Name, redact(err))
		}
		return nil
	})
}

func (s *db) Auditors(ctx context.Context) ([]Auditor, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT name, client_cert_cn, client_cert_fingerprint, created FROM auditors ORDER BY name`)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Auditor
	for rows.Next() {
		var a Auditor
		var created string
		if err := rows.Scan(&a.Name, &a.ClientCertCN, &a.ClientCertFingerprint, &created); err != nil {
			return nil, redact(err)
		}
		a.Created = parseTS(created)
		out = append(out, a)
	}
	return out, redact(rows.Err())
}

func (s *db) Identify(ctx context.Context, cn, fingerprint string) (Identity, error) {
	// A fingerprint names exactly one certificate, so it wins over a
	// common name that another certificate might share.
	for _, by := range []struct{ col, v string }{{"client_cert_fingerprint", fingerprint}, {"client_cert_cn", cn}} {
		if by.v == "" {
			continue
		}
		for _, kind := range []string{KindTenant, KindAuditor} {
			var name string
			err := s.sql.QueryRowContext(ctx, s.q(`SELECT name FROM `+kind+`s WHERE `+by.col+` = ?`), by.v).Scan(&name)
			if err == nil {
				return Identity{Kind: kind, Name: name}, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return Identity{}, redact(err)
			}
		}
	}
	return Identity{}, fmt.Errorf("client certificate %q: %w", cn, ErrNotFound)
}

// blobPath is content-addressed, so a file left by a crash before its
// index row can never be mistaken for a different bundle at that sequence.
// A named chain's bundles have a directory of their own.
func blobPath(tenant, chain string, seq uint64, digest string) string {
	name := fmt.Sprintf("bundle-%012d-%s.dsse.json", seq, digest)
	if chain == "" {
		return filepath.Join("bundles", tenant, name)
	}
	return filepath.Join("bundles", tenant, "chains", chain, name)
}

// partPath is where a tenant's part is kept, pending or stored: by payload
// digest, so that it never moves when a manifest claims it.
func partPath(tenant, digest string) string {
	return filepath.Join("parts", tenant, "part-"+digest+".dsse.json")
}

// writeBlob writes bytes durably at rel (under the data directory).
func (s *db) writeBlob(rel string, data []byte) error {
	abs := filepath.Join(s.root, rel)
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return err
	}
	return atomicfile.Write(abs, data, 0o640)
}

// readBlob reads the file an index row names.
func (s *db) readBlob(rel, what string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(s.root, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is indexed but its file %s is missing", what, rel)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return data, nil
}

// describe names a bundle in errors: "bundle 3 of acme", "bundle 3 of
// acme chain shard-1".
func describe(tenant, chain string, seq uint64) string {
	if chain == "" {
		return fmt.Sprintf("bundle %d of %s", seq, tenant)
	}
	return fmt.Sprintf("bundle %d of %s chain %s", seq, tenant, chain)
}

func (s *db) PutBundle(ctx context.Context, b Bundle, envelope []byte, reqs []RequirementStatus, parts []PartRef) error {
	what := describe(b.Tenant, b.ChainID, b.Sequence)
	rel := blobPath(b.Tenant, b.ChainID, b.Sequence, b.PayloadDigest)
	// The bytes are durable before the row that points at them exists.
	if err := s.writeBlob(rel, envelope); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	b.Parts = len(parts)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO bundles (tenant, chain_id, sequence, payload_digest, previous, key_id, run_id, run_started, run_finished, service, level, findings, parts, size, blob, received, chain, receipt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			b.Tenant, b.ChainID, int64(b.Sequence), b.PayloadDigest, b.Previous, b.KeyID, b.RunID, ts(b.RunStarted), ts(b.RunFinished),
			b.Service, b.Level, b.Findings, b.Parts, int64(len(envelope)), rel, ts(b.Received), b.Chain, string(b.Receipt))
		if isUnique(err) {
			return ErrSequenceTaken
		}
		if err != nil {
			return redact(err)
		}
		if err := s.claimParts(ctx, tx, b, parts); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO requirement_status (tenant, chain_id, sequence, requirement, status, pass, fail, not_applicable, not_assessed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return redact(err)
		}
		defer stmt.Close()
		for _, r := range reqs {
			if _, err := stmt.ExecContext(ctx, b.Tenant, b.ChainID, int64(b.Sequence), r.Requirement, r.Status, r.Pass, r.Fail, r.NotApplicable, r.NotAssessed); err != nil {
				return fmt.Errorf("requirement %s: %w", r.Requirement, redact(err))
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrSequenceTaken), errors.Is(err, ErrPartsMissing):
		return fmt.Errorf("store %s: %w", what, err)
	case err != nil:
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}

// claimParts moves a manifest's parts from the tenant's pending parts to
// the run, in the transaction that stores the manifest. A part a stored
// run already names (the same bytes, content-addressed) is taken as it is.
func (s *db) claimParts(ctx context.Context, tx *sql.Tx, b Bundle, parts []PartRef) error {
	var missing []string
	for _, p := range parts {
		var size int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT size FROM pending_parts WHERE tenant = ? AND payload_digest = ?`), b.Tenant, p.PayloadDigest).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, s.q(`SELECT size FROM bundle_parts WHERE tenant = ? AND payload_digest = ? LIMIT 1`), b.Tenant, p.PayloadDigest).Scan(&size)
		}
		if errors.Is(err, sql.ErrNoRows) {
			missing = append(missing, p.PayloadDigest)
			continue
		}
		if err != nil {
			return redact(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM pending_parts WHERE tenant = ? AND payload_digest = ?`), b.Tenant, p.PayloadDigest); err != nil {
			return redact(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bundle_parts (tenant, chain_id, sequence, idx, payload_digest, size, blob) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			b.Tenant, b.ChainID, int64(b.Sequence), p.Index, p.PayloadDigest, size, partPath(b.Tenant, p.PayloadDigest)); err != nil {
			return fmt.Errorf("part %d: %w", p.Index, redact(err))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrPartsMissing, strings.Join(missing, ", "))
	}
	return nil
}

const bundleCols = `tenant, chain_id, sequence, payload_digest, previous, key_id, run_id, run_started, run_finished, service, level, findings, parts, size, received, chain, receipt`

type scanner interface{ Scan(dest ...any) error }

func scanBundle(r scanner) (Bundle, error) {
	var b Bundle
	var seq, size int64
	var started, finished, received, receipt string
	if err := r.Scan(&b.Tenant, &b.ChainID, &seq, &b.PayloadDigest, &b.Previous, &b.KeyID, &b.RunID, &started, &finished,
		&b.Service, &b.Level, &b.Findings, &b.Parts, &size, &received, &b.Chain, &receipt); err != nil {
		return Bundle{}, err
	}
	b.Sequence, b.Size = uint64(seq), size
	b.RunStarted, b.RunFinished, b.Received = parseTS(started), parseTS(finished), parseTS(received)
	b.Receipt = []byte(receipt)
	return b, nil
}

func (s *db) Bundle(ctx context.Context, tenant, chain string, seq uint64) (Bundle, error) {
	b, err := scanBundle(s.sql.QueryRowContext(ctx, s.q(`SELECT `+bundleCols+` FROM bundles WHERE tenant = ? AND chain_id = ? AND sequence = ?`), tenant, chain, int64(seq)))
	if errors.Is(err, sql.ErrNoRows) {
		return Bundle{}, fmt.Errorf("%s: %w", describe(tenant, chain, seq), ErrNotFound)
	}
	if err != nil {
		return Bundle{}, redact(err)
	}
	return b, nil
}

func (s *db) Bundles(ctx context.Context, tenant, chain string, after uint64, limit int) ([]Bundle, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT `+bundleCols+` FROM bundles WHERE tenant = ? AND chain_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`), tenant, chain, int64(after), limit)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Bundle
	for rows.Next() {
		b, err := scanBundle(rows)
		if err != nil {
			return nil, redact(err)
		}
		out = append(out, b)
	}
	return out, redact(rows.Err())
}

func (s *db) Envelope(ctx context.Context, tenant, chain string, seq uint64) ([]byte, error) {
	var rel string
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT blob FROM bundles WHERE tenant = ? AND chain_id = ? AND sequence = ?`), tenant, chain, int64(seq)).Scan(&rel)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", describe(tenant, chain, seq), ErrNotFound)
	}
	if err != nil {
		return nil, redact(err)
	}
	return s.readBlob(rel, describe(tenant, chain, seq))
}

func (s *db) Parts(ctx context.Context, tenant, chain string, seq uint64) ([]PartRef, error) {
	if _, err := s.Bundle(ctx, tenant, chain, seq); err != nil {
		return nil, err
	}
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT idx, payload_digest, size FROM bundle_parts WHERE tenant = ? AND chain_id = ? AND sequence = ? ORDER BY idx`), tenant, chain, int64(seq))
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []PartRef
	for rows.Next() {
		var p PartRef
		if err := rows.Scan(&p.Index, &p.PayloadDigest, &p.Size); err != nil {
			return nil, redact(err)
		}
		out = append(out, p)
	}
	return out, redact(rows.Err())
}

func (s *db) Chains(ctx context.Context, tenant string) ([]ChainSummary, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT chain_id, COUNT(*), MIN(sequence), MAX(sequence), MAX(received) FROM bundles WHERE tenant = ? GROUP BY chain_id ORDER BY chain_id`), tenant)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []ChainSummary
	for rows.Next() {
		var c ChainSummary
		var first, last int64
		var received string
		if err := rows.Scan(&c.ChainID, &c.Bundles, &first, &last, &received); err != nil {
			return nil, redact(err)
		}
		c.First, c.Last, c.LastReceived = uint64(first), uint64(last), parseTS(received)
		out = append(out, c)
	}
	return out, redact(rows.Err())
}

func (s *db) History(ctx context.Context, tenant, chain, requirement string) ([]HistoryEntry, error) {
	// One chain reads in chain order; all of them interleave by when each
	// run ended.
	order := `r.sequence`
	if chain == AllChains {
		order = `b.run_finished, r.chain_id, r.sequence`
	}
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT r.chain_id, r.sequence, b.run_finished, r.requirement, r.status, r.pass, r.fail, r.not_applicable, r.not_assessed
		FROM requirement_status r JOIN bundles b ON b.tenant = r.tenant AND b.chain_id = r.chain_id AND b.sequence = r.sequence
		WHERE r.tenant = ? AND r.requirement = ? AND (? = '`+AllChains+`' OR r.chain_id = ?) ORDER BY `+order), tenant, requirement, chain, chain)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var seq int64
		var finished string
		if err := rows.Scan(&h.ChainID, &seq, &finished, &h.Requirement, &h.Status, &h.Pass, &h.Fail, &h.NotApplicable, &h.NotAssessed); err != nil {
			return nil, redact(err)
		}
		h.Sequence, h.RunFinished = uint64(seq), parseTS(finished)
		out = append(out, h)
	}
	return out, redact(rows.Err())
}

func (s *db) Gaps(ctx context.Context, tenant, chain string) ([]Gap, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT prev + 1, sequence - 1 FROM (
			SELECT sequence, LAG(sequence, 1, 0) OVER (ORDER BY sequence) AS prev FROM bundles WHERE tenant = ? AND chain_id = ?
		) t WHERE sequence > prev + 1 ORDER BY sequence`), tenant, chain)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var from, to int64
		if err := rows.Scan(&from, &to); err != nil {
			return nil, redact(err)
		}
		out = append(out, Gap{From: uint64(from), To: uint64(to)})
	}
	return out, redact(rows.Err())
}

func (s *db) RecordFork(ctx context.Context, f Fork) error {
	_, err := s.sql.ExecContext(ctx, s.q(`INSERT INTO forks (tenant, chain_id, sequence, offered_digest, stored_digest, key_id, first_seen, last_seen, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (tenant, chain_id, sequence, offered_digest) DO UPDATE SET last_seen = excluded.last_seen, attempts = forks.attempts + 1`),
		f.Tenant, f.ChainID, int64(f.Sequence), f.OfferedDigest, f.StoredDigest, f.KeyID, ts(f.FirstSeen), ts(f.FirstSeen))
	if err != nil {
		return fmt.Errorf("record fork at %s: %w", describe(f.Tenant, f.ChainID, f.Sequence), redact(err))
	}
	return nil
}

func (s *db) Forks(ctx context.Context, tenant, chain string) ([]Fork, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT tenant, chain_id, sequence, offered_digest, stored_digest, key_id, first_seen, last_seen, attempts
		FROM forks WHERE tenant = ? AND (? = '`+AllChains+`' OR chain_id = ?) ORDER BY chain_id, sequence, first_seen`), tenant, chain, chain)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []Fork
	for rows.Next() {
		var f Fork
		var seq int64
		var first, last string
		if err := rows.Scan(&f.Tenant, &f.ChainID, &seq, &f.OfferedDigest, &f.StoredDigest, &f.KeyID, &first, &last, &f.Attempts); err != nil {
			return nil, redact(err)
		}
		f.Sequence, f.FirstSeen, f.LastSeen = uint64(seq), parseTS(first), parseTS(last)
		out = append(out, f)
	}
	return out, redact(rows.Err())
}

func (s *db) PartState(ctx context.Context, tenant, digest string) (PartState, error) {
	for _, c := range []struct {
		table string
		state PartState
	}{{"bundle_parts", PartStored}, {"pending_parts", PartPending}} {
		var n int
		err := s.sql.QueryRowContext(ctx, s.q(`SELECT 1 FROM `+c.table+` WHERE tenant = ? AND payload_digest = ? LIMIT 1`), tenant, digest).Scan(&n)
		if err == nil {
			return c.state, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return PartAbsent, redact(err)
		}
	}
	return PartAbsent, nil
}

func (s *db) PutPart(ctx context.Context, p PendingPart, envelope []byte) (PartState, bool, error) {
	what := fmt.Sprintf("part %s of %s", p.PayloadDigest, p.Tenant)
	state, err := s.PartState(ctx, p.Tenant, p.PayloadDigest)
	if err != nil {
		return PartAbsent, false, fmt.Errorf("store %s: %w", what, err)
	}
	if state == PartStored {
		return PartStored, false, nil
	}
	rel := partPath(p.Tenant, p.PayloadDigest)
	if state == PartAbsent {
		// Content-addressed: a file already there (an upload whose row was
		// never committed, or a part that expired) holds a valid envelope of
		// the same payload, and is kept.
		if _, err := os.Stat(filepath.Join(s.root, rel)); errors.Is(err, fs.ErrNotExist) {
			if err := s.writeBlob(rel, envelope); err != nil {
				return PartAbsent, false, fmt.Errorf("store %s: %w", what, err)
			}
		} else if err != nil {
			return PartAbsent, false, fmt.Errorf("store %s: %w", what, err)
		}
	}
	res, err := s.sql.ExecContext(ctx, s.q(`INSERT INTO pending_parts (tenant, payload_digest, key_id, size, blob, received) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, payload_digest) DO NOTHING`), p.Tenant, p.PayloadDigest, p.KeyID, p.Size, rel, ts(p.Received))
	if err != nil {
		return PartAbsent, false, fmt.Errorf("store %s: %w", what, redact(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return PartPending, true, nil
	}
	if _, err := s.sql.ExecContext(ctx, s.q(`UPDATE pending_parts SET received = ? WHERE tenant = ? AND payload_digest = ?`), ts(p.Received), p.Tenant, p.PayloadDigest); err != nil {
		return PartAbsent, false, fmt.Errorf("store %s: %w", what, redact(err))
	}
	return PartPending, false, nil
}

func (s *db) MissingParts(ctx context.Context, tenant string, digests []string) ([]string, error) {
	var missing []string
	for _, d := range digests {
		state, err := s.PartState(ctx, tenant, d)
		if err != nil {
			return nil, err
		}
		if state == PartAbsent {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

func (s *db) PartEnvelope(ctx context.Context, tenant, digest string) ([]byte, error) {
	var rel string
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT blob FROM bundle_parts WHERE tenant = ? AND payload_digest = ? LIMIT 1`), tenant, digest).Scan(&rel)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.sql.QueryRowContext(ctx, s.q(`SELECT blob FROM pending_parts WHERE tenant = ? AND payload_digest = ?`), tenant, digest).Scan(&rel)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("part %s of %s: %w", digest, tenant, ErrNotFound)
	}
	if err != nil {
		return nil, redact(err)
	}
	return s.readBlob(rel, fmt.Sprintf("part %s of %s", digest, tenant))
}

func (s *db) PendingBytes(ctx context.Context, tenant string) (int64, error) {
	var n int64
	if err := s.sql.QueryRowContext(ctx, s.q(`SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM pending_parts WHERE tenant = ?`), tenant).Scan(&n); err != nil {
		return 0, redact(err)
	}
	return n, nil
}

func (s *db) ExpirePendingParts(ctx context.Context, before time.Time) (int, error) {
	type expired struct{ tenant, digest, blob string }
	var gone []expired
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT tenant, payload_digest, blob FROM pending_parts WHERE received < ?`), ts(before))
		if err != nil {
			return redact(err)
		}
		for rows.Next() {
			var e expired
			if err := rows.Scan(&e.tenant, &e.digest, &e.blob); err != nil {
				rows.Close()
				return redact(err)
			}
			gone = append(gone, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return redact(err)
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM pending_parts WHERE received < ?`), ts(before))
		return redact(err)
	})
	if err != nil {
		return 0, fmt.Errorf("expire pending parts: %w", err)
	}
	// The rows are gone; a file goes too unless a stored run names the same
	// bytes (a part uploaded again after its manifest was stored).
	var errs []error
	for _, e := range gone {
		state, err := s.PartState(ctx, e.tenant, e.digest)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if state != PartAbsent {
			continue
		}
		if err := os.Remove(filepath.Join(s.root, e.blob)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove expired part: %w", err))
		}
	}
	if len(errs) > 0 {
		return len(gone), fmt.Errorf("expire pending parts: %w", errors.Join(errs...))
	}
	return len(gone), nil
}

func (s *db) Close() error { return s.sql.Close() }
