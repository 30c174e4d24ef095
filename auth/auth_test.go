package auth_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/store"
)

// fastParams keep tests quick; the format and the checks are the same as in production.
var fastParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	db    rampart.Store
	svc   *auth.Service
	clock *clock
	admin *rampart.Actor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	svc, err := auth.New(db, logger, auth.Config{Params: fastParams, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, token, created, err := svc.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: created=%v err=%v", created, err)
	}
	admin, _, err := svc.Authenticate(ctx, token, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, svc: svc, clock: c, admin: admin}
}

func (f *fixture) user(t *testing.T, name, role string) (*rampart.Actor, string) {
	t.Helper()
	ctx := context.Background()
	pw := "correct horse battery " + name
	if _, err := f.svc.CreateUser(ctx, f.admin, name, role, pw); err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.Login(ctx, name, pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := f.svc.CreateSession(ctx, u, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := f.svc.Authenticate(ctx, id, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return a, pw
}

func code(err error) string { return rampart.ErrorCode(err) }

func TestBootstrapOnlyOnce(t *testing.T) {
	f := newFixture(t)
	pw, tok, created, err := f.svc.Bootstrap(context.Background())
	if err != nil || created || pw != "" || tok != "" {
		t.Fatalf("second bootstrap: created=%v pw=%q tok=%q err=%v", created, pw, tok, err)
	}
}

func TestSecretsAreStoredAsHashesOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, tok, err := f.svc.CreateToken(ctx, f.admin, "ci", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) < 40 {
		t.Fatalf("token %q lacks prefix or entropy", secret)
	}
	err = f.db.View(ctx, func(tx rampart.Tx) error {
		if _, err := tx.TokenByHash(ctx, secret); code(err) != rampart.ENOTFOUND {
			t.Errorf("token found by its plaintext: %v", err)
		}
		got, err := tx.TokenByHash(ctx, auth.HashSecret(secret))
		if err != nil || got.ID != tok.ID {
			t.Errorf("token not found by hash: %v", err)
		}
		hash, err := tx.PasswordHash(ctx, f.admin.UserID)
		if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$") {
			t.Errorf("password hash %q is not argon2id: %v", hash, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, _ := f.user(t, "alice", rampart.RoleMember)
	secret, tok, err := f.svc.CreateToken(ctx, alice, "laptop", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := f.svc.Authenticate(ctx, secret, "10.0.0.2")
	if err != nil || a.Name != "alice" || a.Scope != rampart.RoleMember || a.Source != "10.0.0.2" {
		t.Fatalf("authenticate: %+v %v", a, err)
	}
	f.clock.Add(2 * time.Hour)
	if _, _, err := f.svc.Authenticate(ctx, secret, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("expired token: err = %v, want unauthorized", err)
	}
	secret2, tok2, err := f.svc.CreateToken(ctx, alice, "ci", "viewer", 0)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := f.user(t, "bob", rampart.RoleMember)
	if err := f.svc.RevokeToken(ctx, bob, tok2.ID); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("bob revoking alice's token: %v, want forbidden", err)
	}
	if err := f.svc.RevokeToken(ctx, alice, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, secret2, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("revoked token: err = %v, want unauthorized", err)
	}
	list, err := f.svc.ListTokens(ctx, alice, false)
	if err != nil || len(list) != 2 {
		t.Fatalf("alice's tokens: %d, %v", len(list), err)
	}
	if _, err := f.svc.ListTokens(ctx, alice, true); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("member listing all tokens: %v, want forbidden", err)
	}
	_ = tok
}

func TestTokenScopeCannotExceedHolder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, _ := f.user(t, "alice", rampart.RoleMember)
	if _, _, err := f.svc.CreateToken(ctx, alice, "x", rampart.RoleAdmin, 0); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("member creating admin-scoped token: %v, want forbidden", err)
	}
	// A token made with a member-scoped admin token may not climb back to admin.
	secret, _, err := f.svc.CreateToken(ctx, f.admin, "low", rampart.RoleMember, 0)
	if err != nil {
		t.Fatal(err)
	}
	low, _, err := f.svc.Authenticate(ctx, secret, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateToken(ctx, low, "high", rampart.RoleAdmin, 0); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("escalating through token scope: %v, want forbidden", err)
	}
	if _, err := f.svc.CreateUser(ctx, low, "mallory", rampart.RoleAdmin, "long enough password"); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("member-scoped admin token created a user: %v", err)
	}
	if _, _, err := f.svc.CreateToken(ctx, f.admin, "forever", "", 10*366*24*time.Hour); code(err) != rampart.EINVALID {
		t.Fatalf("ten-year token: %v, want invalid", err)
	}
}

func TestDisableEndsEverything(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, pw := f.user(t, "alice", rampart.RoleMember)
	secret, _, err := f.svc.CreateToken(ctx, alice, "t", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetDisabled(ctx, alice, "alice", true); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("member disabling: %v", err)
	}
	if err := f.svc.SetDisabled(ctx, f.admin, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, secret, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("token of disabled user: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("login of disabled user: %v", err)
	}
	// Enabling again does not bring old credentials back.
	if err := f.svc.SetDisabled(ctx, f.admin, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, secret, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("token revived by enabling: %v", err)
	}
	if err := f.svc.SetDisabled(ctx, f.admin, "admin", true); code(err) != rampart.EINVALID {
		t.Fatalf("admin disabling themselves: %v", err)
	}
}

func TestPasswordChangeEndsSessionsAndTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, pw := f.user(t, "alice", rampart.RoleMember)
	secret, _, err := f.svc.CreateToken(ctx, alice, "t", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetPassword(ctx, alice, "alice", "wrong current pw", "a new long password"); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("change without current password: %v", err)
	}
	if err := f.svc.SetPassword(ctx, alice, "alice", pw, "short"); code(err) != rampart.EINVALID {
		t.Fatalf("short password: %v", err)
	}
	if err := f.svc.SetPassword(ctx, alice, "alice", pw, "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, secret, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("token after password change: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", pw, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", "a new long password", "x"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	bob, _ := f.user(t, "bob", rampart.RoleMember)
	if err := f.svc.SetPassword(ctx, bob, "alice", "", "bob owns alice now"); code(err) != rampart.EFORBIDDEN {
		t.Fatalf("bob setting alice's password: %v", err)
	}
}

func TestLogoutEndsSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, pw := f.user(t, "alice", rampart.RoleMember)
	u, err := f.svc.Login(ctx, "alice", pw, "x")
	if err != nil {
		t.Fatal(err)
	}
	id1, _, _ := f.svc.CreateSession(ctx, u, "x")
	id2, _, _ := f.svc.CreateSession(ctx, u, "x")
	if id1 == id2 {
		t.Fatal("two sign-ins got the same session id")
	}
	a1, _, err := f.svc.Authenticate(ctx, id1, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, a1, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, id1, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("session after logout: %v", err)
	}
	a2, _, err := f.svc.Authenticate(ctx, id2, "x")
	if err != nil {
		t.Fatalf("other session ended by a plain logout: %v", err)
	}
	if err := f.svc.Logout(ctx, a2, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, id2, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("session after logout --all: %v", err)
	}
	f.clock.Add(13 * time.Hour)
	id3, _, _ := f.svc.CreateSession(ctx, u, "x")
	f.clock.Add(13 * time.Hour)
	if _, _, err := f.svc.Authenticate(ctx, id3, "x"); code(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("expired session: %v", err)
	}
}

func TestLoginRateLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("per user", func(t *testing.T) {
		f := newFixture(t)
		_, pw := f.user(t, "alice", rampart.RoleMember)
		for i := range 5 {
			if _, err := f.svc.Login(ctx, "alice", "guess", "10.9.9."+string(rune('1'+i))); code(err) != rampart.EUNAUTHORIZED {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		// The right password from a fresh address is refused too: the limit is per user.
		if _, err := f.svc.Login(ctx, "alice", pw, "10.1.1.1"); code(err) != rampart.ETOOMANY {
			t.Fatalf("after 5 failures: %v, want too many", err)
		}
		f.clock.Add(16 * time.Minute)
		if _, err := f.svc.Login(ctx, "alice", pw, "10.1.1.1"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
		assertAudited(t, f.db, "auth.login", rampart.ResultDenied, "rate limited")
	})
	t.Run("per address", func(t *testing.T) {
		f := newFixture(t)
		_, pw := f.user(t, "alice", rampart.RoleMember)
		for i := range 20 {
			if _, err := f.svc.Login(ctx, "nobody"+string(rune('a'+i)), "guess", "10.6.6.6"); code(err) != rampart.EUNAUTHORIZED {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if _, err := f.svc.Login(ctx, "alice", pw, "10.6.6.6"); code(err) != rampart.ETOOMANY {
			t.Fatalf("after 20 failures from one address: %v, want too many", err)
		}
		if _, err := f.svc.Login(ctx, "alice", pw, "10.7.7.7"); err != nil {
			t.Fatalf("another address: %v", err)
		}
	})
	t.Run("unknown user looks like wrong password", func(t *testing.T) {
		f := newFixture(t)
		f.user(t, "alice", rampart.RoleMember)
		_, e1 := f.svc.Login(ctx, "alice", "wrong password", "x")
		_, e2 := f.svc.Login(ctx, "nosuchuser", "wrong password", "x")
		if e1.Error() != e2.Error() {
			t.Fatalf("errors differ: %q vs %q", e1, e2)
		}
	})
}

func assertAudited(t *testing.T, db rampart.Store, action, result, detail string) {
	t.Helper()
	var events []*rampart.AuditEvent
	_ = db.View(context.Background(), func(tx rampart.Tx) (err error) {
		events, err = tx.ListAudit(context.Background(), rampart.AuditFilter{})
		return err
	})
	for _, e := range events {
		if e.Action == action && e.Result == result && strings.Contains(e.Detail, detail) {
			return
		}
	}
	t.Fatalf("no audit event %s/%s with %q among %d events", action, result, detail, len(events))
}

func TestEveryChangeIsAuditedAndChainVerifies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, _ := f.user(t, "alice", rampart.RoleMember)
	_, tok, _ := f.svc.CreateToken(ctx, alice, "t", "", 0)
	_ = f.svc.RevokeToken(ctx, alice, tok.ID)
	_, _ = f.svc.CreateUser(ctx, alice, "eve", rampart.RoleAdmin, "long enough password")
	_ = f.svc.SetDisabled(ctx, f.admin, "alice", true)
	for _, want := range []struct{ action, result string }{
		{"user.create", rampart.ResultSuccess},
		{"auth.login", rampart.ResultSuccess},
		{"session.create", rampart.ResultSuccess},
		{"token.create", rampart.ResultSuccess},
		{"token.revoke", rampart.ResultSuccess},
		{"user.create", rampart.ResultDenied},
		{"user.disable", rampart.ResultSuccess},
	} {
		assertAudited(t, f.db, want.action, want.result, "")
	}
	rep, err := audit.Verify(ctx, f.db)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestPasswordHashing(t *testing.T) {
	h, err := auth.HashPassword("correct horse", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := auth.HashPassword("correct horse", fastParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		name, hash, pw string
		ok             bool
		err            bool
	}{
		{"right", h, "correct horse", true, false},
		{"wrong", h, "correct horsf", false, false},
		{"empty", h, "", false, false},
		{"not argon", "$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{"garbage", "garbage", "x", false, true},
		{"huge memory", "$argon2id$v=19$m=4000000,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "x", false, true},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "x", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tc.hash, tc.pw)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Fatalf("VerifyPassword = %v, %v; want %v, err=%v", ok, err, tc.ok, tc.err)
			}
		})
	}
}
