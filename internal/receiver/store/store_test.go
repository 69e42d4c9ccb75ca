package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// PostgresEnv names the DSN of a PostgreSQL server the tests may use (a
// URL, e.g. postgres://eucs_test:eucs_test@127.0.0.1:5432/eucs_test?sslmode=disable).
// Each test gets a schema of its own and drops it afterwards.
const PostgresEnv = "EUCS_TEST_POSTGRES_DSN"

// backends returns every store the conformance tests run against.
func backends(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) Store {
			dsn := PostgresDSN(t)
			s, err := OpenPostgres(context.Background(), dsn, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// PostgresDSN returns a DSN whose search_path is a fresh schema, or skips
// the test when no server is configured. Under CI=true a missing server is
// a failure: .ci/run starts one.
func PostgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; .ci/run must start PostgreSQL and export it", PostgresEnv)
		}
		t.Skipf("PostgreSQL tests skipped: set %s to a PostgreSQL URL (as .ci/run does) to run them", PostgresEnv)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", redact(err))
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema
	}
	return base + sep + "search_path=" + schema
}

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

func digest(n int) string { return fmt.Sprintf("%064x", n) }

// chainDigest is a stand-in payload digest of bundle n of a chain.
func chainDigest(chain string, n int) string {
	if chain == "" {
		return digest(n)
	}
	return digest(n + 1000*len(chain))
}

func putChain(t *testing.T, s Store, tenant string, seqs ...uint64) {
	t.Helper()
	putChainOf(t, s, tenant, "", seqs...)
}

// putChainOf stores bundles of one chain of a tenant. Digests differ by
// chain, as they would.
func putChainOf(t *testing.T, s Store, tenant, chain string, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		prev := ""
		if seq > 1 {
			prev = chainDigest(chain, int(seq-1))
		}
		b := Bundle{Tenant: tenant, ChainID: chain, Sequence: seq, PayloadDigest: chainDigest(chain, int(seq)), Previous: prev, KeyID: "k1",
			RunID: fmt.Sprintf("run-%d", seq), RunStarted: t0.Add(time.Duration(seq) * time.Hour), RunFinished: t0.Add(time.Duration(seq)*time.Hour + time.Minute),
			Service: "S", Level: "high", Findings: 3, Received: t0.Add(time.Duration(seq)*time.Hour + 2*time.Minute), Chain: "linked",
			Receipt: []byte(fmt.Sprintf(`{"receipt":%d}`, seq))}
		status := "satisfied"
		if seq%2 == 0 {
			status = "not_satisfied"
		}
		reqs := []RequirementStatus{{Requirement: "CKM-03.1", Status: status, Pass: 1}, {Requirement: "IAM-09.1", Status: "manual"}}
		if err := s.PutBundle(context.Background(), b, []byte(fmt.Sprintf("envelope %s %d\n", chain, seq)), reqs, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func addTenant(t *testing.T, s Store, name, cn string) {
	t.Helper()
	err := s.AddTenant(context.Background(), Tenant{Name: name, ClientCertCN: cn, Created: t0},
		Key{KeyID: name + "-k1", PublicKeyPEM: "PEM", NotBefore: t0, Added: t0})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreConformance(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("tenants, keys and rotation", func(t *testing.T) {
				s := open(t)
				ctx := context.Background()
				addTenant(t, s, "acme", "acme-agent")
				if err := s.AddTenant(ctx, Tenant{Name: "acme", ClientCertCN: "other"}, Key{KeyID: "x", NotBefore: t0}); !errors.Is(err, ErrExists) {
					t.Errorf("second acme: %v", err)
				}
				if err := s.AddTenant(ctx, Tenant{Name: "globex", ClientCertCN: "acme-agent"}, Key{KeyID: "y", NotBefore: t0}); !errors.Is(err, ErrExists) {
					t.Errorf("reused CN: %v", err)
				}
				if err := s.AddAuditor(ctx, Auditor{Name: "alice", ClientCertCN: "acme-agent"}); !errors.Is(err, ErrExists) {
					t.Errorf("auditor with a tenant's CN: %v", err)
				}
				if err := s.AddAuditor(ctx, Auditor{Name: "alice", ClientCertFingerprint: digest(7), Created: t0}); err != nil {
					t.Fatal(err)
				}
				later := t0.Add(24 * time.Hour)
				if err := s.AddKey(ctx, Key{Tenant: "acme", KeyID: "acme-k2", PublicKeyPEM: "PEM2", NotBefore: later, NotAfter: later.Add(time.Hour), Added: t0}); err != nil {
					t.Fatal(err)
				}
				if err := s.AddKey(ctx, Key{Tenant: "nobody", KeyID: "z", NotBefore: t0}); !errors.Is(err, ErrNotFound) {
					t.Errorf("key for unknown tenant: %v", err)
				}
				if err := s.RevokeKey(ctx, "acme", "acme-k1", later); err != nil {
					t.Fatal(err)
				}
				if err := s.RevokeKey(ctx, "acme", "nope", later); !errors.Is(err, ErrNotFound) {
					t.Errorf("revoke unknown key: %v", err)
				}
				keys, err := s.Keys(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				want := []Key{
					{Tenant: "acme", KeyID: "acme-k1", PublicKeyPEM: "PEM", NotBefore: t0, RevokedAt: later, Added: t0},
					{Tenant: "acme", KeyID: "acme-k2", PublicKeyPEM: "PEM2", NotBefore: later, NotAfter: later.Add(time.Hour), Added: t0},
				}
				if diff := cmp.Diff(want, keys); diff != "" {
					t.Errorf("keys (-want +got):\n%s", diff)
				}
				if !keys[0].ValidAt(later.Add(-time.Second)) || keys[0].ValidAt(later) {
					t.Error("revocation does not end validity at its time")
				}
				if keys[1].ValidAt(later.Add(-time.Second)) || !keys[1].ValidAt(later) || keys[1].ValidAt(later.Add(time.Hour)) {
					t.Error("validity window not honoured")
				}
				for _, tc := range []struct {
					cn, fp string
					want   Identity
				}{
					{"acme-agent", "", Identity{KindTenant, "acme"}},
					{"whatever", digest(7), Identity{KindAuditor, "alice"}},
				} {
					got, err := s.Identify(ctx, tc.cn, tc.fp)
					if err != nil || got != tc.want {
						t.Errorf("Identify(%q, %q) = %v, %v; want %v", tc.cn, tc.fp, got, err, tc.want)
					}
				}
				if _, err := s.Identify(ctx, "stranger", digest(9)); !errors.Is(err, ErrNotFound) {
					t.Errorf("stranger: %v", err)
				}
				ts, err := s.Tenants(ctx)
				if err != nil || len(ts) != 1 || ts[0].Name != "acme" || !ts[0].Created.Equal(t0) {
					t.Errorf("tenants: %+v, %v", ts, err)
				}
			})

			t.Run("bundles, history, gaps and forks", func(t *testing.T) {
				s := open(t)
				ctx := context.Background()
				addTenant(t, s, "acme", "acme-agent")
				addTenant(t, s, "globex", "globex-agent")
				putChain(t, s, "acme", 1, 2, 3, 6, 9)
				putChain(t, s, "globex", 1)

				err := s.PutBundle(ctx, Bundle{Tenant: "acme", Sequence: 2, PayloadDigest: digest(99), Chain: "linked"}, []byte("other"), nil, nil)
				if !errors.Is(err, ErrSequenceTaken) {
					t.Errorf("second bundle at sequence 2: %v", err)
				}
				b, err := s.Bundle(ctx, "acme", "", 2)
				if err != nil || b.PayloadDigest != digest(2) || string(b.Receipt) != `{"receipt":2}` || !b.Received.Equal(t0.Add(2*time.Hour+2*time.Minute)) {
					t.Errorf("bundle 2: %+v, %v", b, err)
				}
				if env, err := s.Envelope(ctx, "acme", "", 2); err != nil || string(env) != "envelope  2\n" {
					t.Errorf("envelope 2: %q, %v", env, err)
				}
				if _, err := s.Bundle(ctx, "acme", "", 4); !errors.Is(err, ErrNotFound) {
					t.Errorf("bundle 4: %v", err)
				}
				if _, err := s.Envelope(ctx, "globex", "", 2); !errors.Is(err, ErrNotFound) {
					t.Errorf("globex bundle 2: %v", err)
				}
				list, err := s.Bundles(ctx, "acme", "", 2, 2)
				if err != nil || len(list) != 2 || list[0].Sequence != 3 || list[1].Sequence != 6 {
					t.Errorf("bundles after 2: %+v, %v", list, err)
				}
				gaps, err := s.Gaps(ctx, "acme", "")
				if diff := cmp.Diff([]Gap{{4, 5}, {7, 8}}, gaps); err != nil || diff != "" {
					t.Errorf("gaps (-want +got):\n%s %v", diff, err)
				}
				if gaps, err := s.Gaps(ctx, "globex", ""); err != nil || len(gaps) != 0 {
					t.Errorf("globex gaps: %v %v", gaps, err)
				}
				h, err := s.History(ctx, "acme", "", "CKM-03.1")
				if err != nil || len(h) != 5 {
					t.Fatalf("history: %+v, %v", h, err)
				}
				if h[0].Sequence != 1 || h[0].Status != "satisfied" || h[1].Status != "not_satisfied" || !h[1].RunFinished.Equal(t0.Add(2*time.Hour+time.Minute)) {
					t.Errorf("history: %+v", h)
				}
				f := Fork{Tenant: "acme", Sequence: 2, OfferedDigest: digest(99), StoredDigest: digest(2), KeyID: "k1", FirstSeen: t0}
				if err := s.RecordFork(ctx, f); err != nil {
					t.Fatal(err)
				}
				f.FirstSeen = t0.Add(time.Hour)
				if err := s.RecordFork(ctx, f); err != nil {
					t.Fatal(err)
				}
				forks, err := s.Forks(ctx, "acme", "")
				if err != nil || len(forks) != 1 || forks[0].Attempts != 2 || !forks[0].FirstSeen.Equal(t0) || !forks[0].LastSeen.Equal(t0.Add(time.Hour)) {
					t.Errorf("forks: %+v, %v", forks, err)
				}
				if forks, _ := s.Forks(ctx, "globex", AllChains); len(forks) != 0 {
					t.Errorf("globex sees acme's forks: %+v", forks)
				}
			})

			t.Run("each chain of a tenant has its own sequences, gaps, forks and history", func(t *testing.T) {
				s := open(t)
				ctx := context.Background()
				addTenant(t, s, "acme", "acme-agent")
				putChain(t, s, "acme", 1, 2)
				putChainOf(t, s, "acme", "shard-0", 1, 2, 4)
				putChainOf(t, s, "acme", "shard-1", 1)

				// Sequence 1 of another chain is no collision; the same chain's is.
				err := s.PutBundle(ctx, Bundle{Tenant: "acme", ChainID: "shard-1", Sequence: 1, PayloadDigest: digest(77)}, []byte("x"), nil, nil)
				if !errors.Is(err, ErrSequenceTaken) || err.Error() != "store bundle 1 of acme chain shard-1: sequence already stored" {
					t.Errorf("second shard-1 bundle 1: %v", err)
				}
				b, err := s.Bundle(ctx, "acme", "shard-0", 2)
				if err != nil || b.ChainID != "shard-0" || b.PayloadDigest != chainDigest("shard-0", 2) {
					t.Errorf("shard-0 bundle 2: %+v, %v", b, err)
				}
				if env, err := s.Envelope(ctx, "acme", "shard-0", 2); err != nil || string(env) != "envelope shard-0 2\n" {
					t.Errorf("shard-0 envelope 2: %q, %v", env, err)
				}
				if _, err := s.Bundle(ctx, "acme", "shard-1", 2); err == nil || err.Error() != "bundle 2 of acme chain shard-1: not found" {
					t.Errorf("shard-1 bundle 2: %v", err)
				}
				if list, err := s.Bundles(ctx, "acme", "shard-0", 0, 10); err != nil || len(list) != 3 || list[2].Sequence != 4 {
					t.Errorf("shard-0 bundles: %+v, %v", list, err)
				}
				if gaps, err := s.Gaps(ctx, "acme", "shard-0"); err != nil || fmt.Sprint(gaps) != "[{3 3}]" {
					t.Errorf("shard-0 gaps: %v, %v", gaps, err)
				}
				if gaps, err := s.Gaps(ctx, "acme", ""); err != nil || len(gaps) != 0 {
					t.Errorf("unsharded gaps: %v, %v", gaps, err)
				}
				chains, err := s.Chains(ctx, "acme")
				want := []ChainSummary{
					{ChainID: "", Bundles: 2, First: 1, Last: 2, LastReceived: t0.Add(2*time.Hour + 2*time.Minute)},
					{ChainID: "shard-0", Bundles: 3, First: 1, Last: 4, LastReceived: t0.Add(4*time.Hour + 2*time.Minute)},
					{ChainID: "shard-1", Bundles: 1, First: 1, Last: 1, LastReceived: t0.Add(time.Hour + 2*time.Minute)},
				}
				if diff := cmp.Diff(want, chains); err != nil || diff != "" {
					t.Errorf("chains (-want +got):\n%s %v", diff, err)
				}
				h, err := s.History(ctx, "acme", "shard-0", "CKM-03.1")
				if err != nil || len(h) != 3 || h[2].Sequence != 4 || h[2].ChainID != "shard-0" {
					t.Errorf("shard-0 history: %+v, %v", h, err)
				}
				all, err := s.History(ctx, "acme", AllChains, "CKM-03.1")
				var got []string
				for _, e := range all {
					got = append(got, fmt.Sprintf("%s/%d", e.ChainID, e.Sequence))
				}
				if err != nil || strings.Join(got, " ") != "/1 shard-0/1 shard-1/1 /2 shard-0/2 shard-0/4" {
					t.Errorf("history of every chain, by run end: %v, %v", got, err)
				}
				for _, f := range []Fork{
					{Tenant: "acme", ChainID: "shard-0", Sequence: 2, OfferedDigest: digest(98), StoredDigest: chainDigest("shard-0", 2), FirstSeen: t0},
					{Tenant: "acme", Sequence: 1, OfferedDigest: digest(97), StoredDigest: digest(1), FirstSeen: t0},
				} {
					if err := s.RecordFork(ctx, f); err != nil {
						t.Fatal(err)
					}
				}
				if forks, err := s.Forks(ctx, "acme", "shard-0"); err != nil || len(forks) != 1 || forks[0].ChainID != "shard-0" || forks[0].Sequence != 2 {
					t.Errorf("shard-0 forks: %+v, %v", forks, err)
				}
				if forks, err := s.Forks(ctx, "acme", AllChains); err != nil || len(forks) != 2 || forks[0].ChainID != "" || forks[1].ChainID != "shard-0" {
					t.Errorf("every chain's forks: %+v, %v", forks, err)
				}
			})

			t.Run("parts wait pending until a manifest claims them, and expire otherwise", func(t *testing.T) {
				s := open(t)
				ctx := context.Background()
				addTenant(t, s, "acme", "acme-agent")
				addTenant(t, s, "globex", "globex-agent")
				part := func(tenant string, n int, at time.Time) (PartState, bool) {
					t.Helper()
					st, created, err := s.PutPart(ctx, PendingPart{Tenant: tenant, PayloadDigest: digest(n), KeyID: "k1", Size: 10, Received: at},
						[]byte(fmt.Sprintf("part %d of %s\n", n, tenant)))
					if err != nil {
						t.Fatal(err)
					}
					return st, created
				}
				if st, created := part("acme", 1, t0); st != PartPending || !created {
					t.Errorf("first upload: %v %v", st, created)
				}
				// Idempotent: the same digest again keeps the first bytes.
				s.PutPart(ctx, PendingPart{Tenant: "acme", PayloadDigest: digest(1), KeyID: "k1", Size: 10, Received: t0.Add(time.Hour)}, []byte("other bytes\n"))
				if env, err := s.PartEnvelope(ctx, "acme", digest(1)); err != nil || string(env) != "part 1 of acme\n" {
					t.Errorf("part 1: %q, %v", env, err)
				}
				part("acme", 2, t0)
				part("acme", 3, t0)
				part("globex", 4, t0)
				if n, err := s.PendingBytes(ctx, "acme"); err != nil || n != 30 {
					t.Errorf("pending bytes: %d, %v", n, err)
				}
				// Another tenant's part is not this tenant's.
				missing, err := s.MissingParts(ctx, "acme", []string{digest(1), digest(4), digest(5), digest(2)})
				if err != nil || fmt.Sprint(missing) != fmt.Sprint([]string{digest(4), digest(5)}) {
					t.Errorf("missing: %v, %v", missing, err)
				}
				if _, err := s.PartEnvelope(ctx, "acme", digest(4)); !errors.Is(err, ErrNotFound) {
					t.Errorf("globex's part read as acme's: %v", err)
				}

				// A manifest naming a part that is not there is not stored.
				m := Bundle{Tenant: "acme", ChainID: "shard-0", Sequence: 1, PayloadDigest: digest(100), Chain: "start"}
				err = s.PutBundle(ctx, m, []byte("manifest\n"), nil, []PartRef{{Index: 1, PayloadDigest: digest(1)}, {Index: 2, PayloadDigest: digest(4)}})
				if !errors.Is(err, ErrPartsMissing) || err.Error() != "store bundle 1 of acme chain shard-0: parts missing: "+digest(4) {
					t.Errorf("manifest with a missing part: %v", err)
				}
				if _, err := s.Bundle(ctx, "acme", "shard-0", 1); !errors.Is(err, ErrNotFound) {
					t.Errorf("the manifest was stored: %v", err)
				}
				if st, _ := s.PartState(ctx, "acme", digest(1)); st != PartPending {
					t.Errorf("part 1 is %v after the failed claim", st)
				}

				refs := []PartRef{{Index: 1, PayloadDigest: digest(1)}, {Index: 2, PayloadDigest: digest(2)}}
				if err := s.PutBundle(ctx, m, []byte("manifest\n"), nil, refs); err != nil {
					t.Fatal(err)
				}
				got, err := s.Parts(ctx, "acme", "shard-0", 1)
				if diff := cmp.Diff([]PartRef{{1, digest(1), 10}, {2, digest(2), 10}}, got); err != nil || diff != "" {
					t.Errorf("parts (-want +got):\n%s %v", diff, err)
				}
				if b, _ := s.Bundle(ctx, "acme", "shard-0", 1); b.Parts != 2 {
					t.Errorf("the record says %d parts", b.Parts)
				}
				if st, _ := s.PartState(ctx, "acme", digest(1)); st != PartStored {
					t.Errorf("part 1 is %v after its manifest was stored", st)
				}
				// Uploading a stored part again changes nothing.
				if st, created := part("acme", 1, t0.Add(time.Hour)); st != PartStored || created {
					t.Errorf("upload of a stored part: %v %v", st, created)
				}
				if n, _ := s.PendingBytes(ctx, "acme"); n != 10 {
					t.Errorf("pending bytes after the claim: %d", n)
				}
				if p, err := s.Parts(ctx, "acme", "", 1); !errors.Is(err, ErrNotFound) || p != nil {
					t.Errorf("parts of a bundle not stored: %v %v", p, err)
				}

				// Part 3 was never claimed; part 4 was uploaded again later.
				part("globex", 4, t0.Add(48*time.Hour))
				n, err := s.ExpirePendingParts(ctx, t0.Add(24*time.Hour))
				if err != nil || n != 1 {
					t.Errorf("expired %d, %v", n, err)
				}
				if st, _ := s.PartState(ctx, "acme", digest(3)); st != PartAbsent {
					t.Errorf("part 3 is %v after expiry", st)
				}
				if st, _ := s.PartState(ctx, "globex", digest(4)); st != PartPending {
					t.Errorf("the part uploaded again expired: %v", st)
				}
				for _, d := range []int{1, 2} {
					if env, err := s.PartEnvelope(ctx, "acme", digest(d)); err != nil || string(env) != fmt.Sprintf("part %d of acme\n", d) {
						t.Errorf("stored part %d after expiry: %q %v", d, env, err)
					}
				}
			})
		})
	}
}

func TestPostgresErrorsHideThePassword(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://u:s3cret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", t.TempDir())
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error reveals the password: %v", err)
	}
}
