package secrets

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/store"
)

// fixture is a vault on a fresh database with users in every role and two projects, web and
// api, plus a raw handle on the database: what an intruder with database access sees.
type fixture struct {
	ctx     context.Context
	dialect string // "sqlite" or "postgres"
	url     string
	path    string // the SQLite file
	db      *store.DB
	spy     *spyStore
	raw     *sql.DB
	ring    *LocalKeyring
	key     []byte
	v       *Vault
	clock   *clock
	actors  map[string]*rampart.Actor
	web     *rampart.Project
	api     *rampart.Project
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// backends runs fn on SQLite, and on PostgreSQL when RAMPART_TEST_DATABASE_URL is set.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFixture(t, "sqlite")) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv("RAMPART_TEST_DATABASE_URL") == "" {
			t.Skip("set RAMPART_TEST_DATABASE_URL (see .ci/postgres) to run the vault on PostgreSQL")
		}
		fn(t, newFixture(t, "postgres"))
	})
}

func newFixture(t testing.TB, dialect string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ctx: ctx, dialect: dialect, clock: &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}
	switch dialect {
	case "sqlite":
		f.path = filepath.Join(t.TempDir(), "r.db")
		f.url = "sqlite:" + f.path
	case "postgres":
		f.url = pgSchema(t)
	}
	db, err := store.Open(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.spy = &spyStore{Store: db}
	if dialect == "sqlite" {
		f.raw, err = sql.Open("sqlite", f.path)
	} else {
		f.raw, err = sql.Open("pgx", f.url)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.raw.Close() })

	f.actors = map[string]*rampart.Actor{}
	for _, u := range []struct{ name, role string }{
		{"root", rampart.RoleAdmin}, {"sec", rampart.RoleSecurity}, {"member", rampart.RoleMember},
		{"maint", rampart.RoleMember}, {"relman", rampart.RoleMember}, {"dev", rampart.RoleMember},
	} {
		user := &rampart.User{Name: u.name, Role: u.role, CreatedAt: f.clock.Now()}
		err := db.Update(ctx, func(tx rampart.Tx) error { return tx.CreateUser(ctx, user, "x") })
		if err != nil {
			t.Fatal(err)
		}
		f.actors[u.name] = &rampart.Actor{UserID: user.ID, Name: u.name, Role: u.role, Source: "10.0.0.9"}
	}
	ps := project.New(db, f.clock.Now)
	admin := f.actors["root"]
	if f.web, err = ps.Create(ctx, admin, "web", "https://git.example/web.git"); err != nil {
		t.Fatal(err)
	}
	if f.api, err = ps.Create(ctx, admin, "api", "https://git.example/api.git"); err != nil {
		t.Fatal(err)
	}
	for user, role := range map[string]string{"maint": rampart.RoleMaintainer, "relman": rampart.RoleReleaseManager, "dev": rampart.RoleDeveloper} {
		if _, err := ps.AddMember(ctx, admin, "web", user, role); err != nil {
			t.Fatal(err)
		}
	}
	f.key = newKey(t)
	f.ring, _ = NewLocalKeyring(f.key)
	if f.v, err = New(ctx, f.spy, f.ring, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	return f
}

// exec runs raw SQL written with ? placeholders on either database.
func (f *fixture) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if f.dialect == "postgres" {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := f.raw.ExecContext(f.ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// set stores a secret as admin and fails the test on error.
func (f *fixture) set(t testing.TB, ref SecretRef, value string) *rampart.Secret {
	t.Helper()
	s, err := f.v.Set(f.ctx, f.actors["root"], ref, []byte(value))
	if err != nil {
		t.Fatalf("set %s: %v", ref, err)
	}
	return s
}

// audit returns the whole audit log.
func (f *fixture) audit(t testing.TB) []*rampart.AuditEvent {
	t.Helper()
	var evs []*rampart.AuditEvent
	err := f.db.View(f.ctx, func(tx rampart.Tx) (err error) {
		evs, err = tx.ListAudit(f.ctx, rampart.AuditFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// uniqueValue returns a value no test data contains by chance.
func uniqueValue(label string) string { return "s3cr3t-" + label + "-" + rand.Text() }

// spyStore records every byte slice the vault passes to the store's secret methods, and counts
// calls, so that tests can assert what the store was (never) given.
type spyStore struct {
	rampart.Store
	mu    sync.Mutex
	calls map[string]int
	blobs [][]byte
}

func (s *spyStore) record(method string, blobs ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
	for _, b := range blobs {
		s.blobs = append(s.blobs, append([]byte(nil), b...))
	}
}

// reset forgets what was recorded so far.
func (s *spyStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.blobs = nil, nil
}

// recorded returns a copy of the blobs recorded so far.
func (s *spyStore) recorded() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.blobs)
}

func (s *spyStore) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *spyStore) Update(ctx context.Context, fn func(rampart.Tx) error) error {
	return s.Store.Update(ctx, func(tx rampart.Tx) error { return fn(&spyTx{Tx: tx, s: s}) })
}

func (s *spyStore) View(ctx context.Context, fn func(rampart.Tx) error) error {
	return s.Store.View(ctx, func(tx rampart.Tx) error { return fn(&spyTx{Tx: tx, s: s}) })
}

type spyTx struct {
	rampart.Tx
	s *spyStore
}

func (t *spyTx) AddSecretVersion(ctx context.Context, v *rampart.SealedValue) error {
	t.s.record("AddSecretVersion", v.WrappedKey, v.Nonce, v.Ciphertext, []byte(v.KeyID), []byte(v.CreatedBy))
	return t.Tx.AddSecretVersion(ctx, v)
}

func (t *spyTx) CreateSecret(ctx context.Context, s *rampart.Secret) error {
	t.s.record("CreateSecret", []byte(s.Name), []byte(s.CreatedBy), []byte(s.Environment))
	return t.Tx.CreateSecret(ctx, s)
}

func (t *spyTx) Rewrap(ctx context.Context, secretID int64, version int, keyID string, wrapped []byte) error {
	t.s.record("Rewrap", []byte(keyID), wrapped)
	return t.Tx.Rewrap(ctx, secretID, version, keyID, wrapped)
}

func (t *spyTx) PutVaultKey(ctx context.Context, k *rampart.VaultKey) error {
	t.s.record("PutVaultKey", []byte(k.ID), k.Check)
	return t.Tx.PutVaultKey(ctx, k)
}

func (t *spyTx) SecretValue(ctx context.Context, id int64, version int) (*rampart.SealedValue, error) {
	t.s.record("SecretValue")
	return t.Tx.SecretValue(ctx, id, version)
}

func (t *spyTx) InsertAudit(ctx context.Context, e *rampart.AuditEvent) error {
	t.s.record("InsertAudit", []byte(e.Target), []byte(e.Detail))
	return t.Tx.InsertAudit(ctx, e)
}

// pgSchema creates an empty schema in the test database, drops it when t ends, and returns the
// database's URL with that schema as the search path.
func pgSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("RAMPART_TEST_DATABASE_URL")
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("RAMPART_TEST_DATABASE_URL: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
