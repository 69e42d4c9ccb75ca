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

func putChain(t *testing.T, s Store, tenant string, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		prev := ""
		if seq > 1 {
			prev = digest(int(seq - 1))
		}
		b := Bundle{Tenant: tenant, Sequence: seq, PayloadDigest: digest(int(seq)), Previous: prev, KeyID: "k1",
			RunID: fmt.Sprintf("run-%d", seq), RunStarted: t0.Add(time.Duration(seq) * time.Hour), RunFinished: t0.Add(time.Duration(seq)*time.Hour + time.Minute),
			Service: "S", Level: "high", Findings: 3, Received: t0.Add(time.Duration(seq)*time.Hour + 2*time.Minute), Chain: "linked",
			Receipt: []byte(fmt.Sprintf(`{"receipt":%d}`, seq))}
		status := "satisfied"
		if seq%2 == 0 {
			status = "not_satisfied"
		}
		reqs := []RequirementStatus{{Requirement: "CKM-03.1", Status: status, Pass: 1}, {Requirement: "IAM-09.1", Status: "manual"}}
		if err := s.PutBundle(context.Background(), b, []byte(fmt.Sprintf("envelope %d\n", seq)), reqs); err != nil {
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

				err := s.PutBundle(ctx, Bundle{Tenant: "acme", Sequence: 2, PayloadDigest: digest(99), Chain: "linked"}, []byte("other"), nil)
				if !errors.Is(err, ErrSequenceTaken) {
					t.Errorf("second bundle at sequence 2: %v", err)
				}
				b, err := s.Bundle(ctx, "acme", 2)
				if err != nil || b.PayloadDigest != digest(2) || string(b.Receipt) != `{"receipt":2}` || !b.Received.Equal(t0.Add(2*time.Hour+2*time.Minute)) {
					t.Errorf("bundle 2: %+v, %v", b, err)
				}
				if env, err := s.Envelope(ctx, "acme", 2); err != nil || string(env) != "envelope 2\n" {
					t.Errorf("envelope 2: %q, %v", env, err)
				}
				if _, err := s.Bundle(ctx, "acme", 4); !errors.Is(err, ErrNotFound) {
					t.Errorf("bundle 4: %v", err)
				}
				if _, err := s.Envelope(ctx, "globex", 2); !errors.Is(err, ErrNotFound) {
					t.Errorf("globex bundle 2: %v", err)
				}
				list, err := s.Bundles(ctx, "acme", 2, 2)
				if err != nil || len(list) != 2 || list[0].Sequence != 3 || list[1].Sequence != 6 {
					t.Errorf("bundles after 2: %+v, %v", list, err)
				}
				gaps, err := s.Gaps(ctx, "acme")
				if diff := cmp.Diff([]Gap{{4, 5}, {7, 8}}, gaps); err != nil || diff != "" {
					t.Errorf("gaps (-want +got):\n%s %v", diff, err)
				}
				if gaps, err := s.Gaps(ctx, "globex"); err != nil || len(gaps) != 0 {
					t.Errorf("globex gaps: %v %v", gaps, err)
				}
				h, err := s.History(ctx, "acme", "CKM-03.1")
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
				forks, err := s.Forks(ctx, "acme")
				if err != nil || len(forks) != 1 || forks[0].Attempts != 2 || !forks[0].FirstSeen.Equal(t0) || !forks[0].LastSeen.Equal(t0.Add(time.Hour)) {
					t.Errorf("forks: %+v, %v", forks, err)
				}
				if forks, _ := s.Forks(ctx, "globex"); len(forks) != 0 {
					t.Errorf("globex sees acme's forks: %+v", forks)
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
