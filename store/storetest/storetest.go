// Package storetest is the conformance suite of rampart.Store: every implementation (SQLite and
// PostgreSQL in package store, and any fake used in other packages' tests) runs it, so that they
// all keep the one contract the rest of Rampart relies on.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// Run checks the store returned by open against the rampart.Store contract, in subtests. open
// must return a new, empty store each time it is called and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) rampart.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s rampart.Store)
	}{
		{"Users", testUsers},
		{"UserNotFound", testUserNotFound},
		{"Tokens", testTokens},
		{"TokenRevoke", testTokenRevoke},
		{"TokenNotFound", testTokenNotFound},
		{"Sessions", testSessions},
		{"SessionDelete", testSessionDelete},
		{"LoginFailures", testLoginFailures},
		{"Projects", testProjects},
		{"Members", testMembers},
		{"ProjectSettings", testProjectSettings},
		{"RunNumbers", testRunNumbers},
		{"ListRuns", testListRuns},
		{"UpdateRun", testUpdateRun},
		{"Jobs", testJobs},
		{"QueuedJobs", testQueuedJobs},
		{"Leases", testLeases},
		{"AgentTokens", testAgentTokens},
		{"Agents", testAgents},
		{"Logs", testLogs},
		{"Blobs", testBlobs},
		{"Artifacts", testArtifacts},
		{"ArtifactProvenance", testArtifactProvenance},
		{"Cursors", testCursors},
		{"Secrets", testSecrets},
		{"SecretVersions", testSecretVersions},
		{"SecretNotFound", testSecretNotFound},
		{"SealedValuesByKey", testSealedValuesByKey},
		{"DeleteSecret", testDeleteSecret},
		{"VaultKeys", testVaultKeys},
		{"Findings", testFindings},
		{"Waivers", testWaivers},
		{"ScanResults", testScanResults},
		{"Deployments", testDeployments},
		{"RunFastLane", testRunFastLane},
		{"UserIdentities", testUserIdentities},
		{"Reviews", testReviews},
		{"Audit", testAudit},
		{"AuditRejectsFork", testAuditRejectsFork},
		{"Times", testTimes},
		{"Rollback", testRollback},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ConcurrentAuditAppend", func(t *testing.T, s rampart.Store) { appendConcurrently(t, []rampart.Store{s}) }},
		{"UpdatesSerialised", func(t *testing.T, s rampart.Store) { createConcurrently(t, []rampart.Store{s}) }},
		{"ConcurrentLeasing", func(t *testing.T, s rampart.Store) { leaseConcurrently(t, []rampart.Store{s}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// RunShared checks that several stores opened on one empty database, as several server
// processes would, serialise their Update transactions, append to one gap-free audit chain and
// never lease one queued job twice.
func RunShared(t *testing.T, stores []rampart.Store) {
	if len(stores) < 2 {
		t.Fatal("RunShared needs at least two stores on one database")
	}
	t.Run("ConcurrentAuditAppend", func(t *testing.T) { appendConcurrently(t, stores) })
	t.Run("UpdatesSerialised", func(t *testing.T) { createConcurrently(t, stores) })
	t.Run("ConcurrentLeasing", func(t *testing.T) { leaseConcurrently(t, stores) })
}

// t0 has nanoseconds so that the tests see the store keep microseconds.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// at returns t0 plus d as the store gives it back: UTC, microseconds.
func at(d time.Duration) time.Time { return t0.Add(d).Truncate(time.Microsecond) }

func ptr(t time.Time) *time.Time { return &t }

func update(t *testing.T, s rampart.Store, fn func(ctx context.Context, tx rampart.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx rampart.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s rampart.Store, fn func(ctx context.Context, tx rampart.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.View(ctx, func(tx rampart.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantCode fails t unless err carries code and, when code is not "", mentions each of words.
func wantCode(t *testing.T, what string, err error, code string, words ...string) {
	t.Helper()
	if got := rampart.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q (%v), want %q", what, got, err, code)
		return
	}
	for _, w := range words {
		if !strings.Contains(rampart.ErrorMessage(err), w) {
			t.Errorf("%s: message %q does not mention %q", what, rampart.ErrorMessage(err), w)
		}
	}
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, dump(got), dump(want))
	}
}

// dump prints pointers' targets, which %+v does not do for slices of pointers.
func dump(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = dump(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return fmt.Sprintf("&%+v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v)
}

// createUsers creates users with the given names, role member, and returns them by name.
func createUsers(t *testing.T, s rampart.Store, names ...string) map[string]*rampart.User {
	t.Helper()
	us := map[string]*rampart.User{}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i, n := range names {
			u := &rampart.User{Name: n, Role: rampart.RoleMember, CreatedAt: at(time.Duration(i) * time.Second), PasswordAt: at(0)}
			if err := tx.CreateUser(ctx, u, "hash-"+n); err != nil {
				return err
			}
			us[n] = u
		}
		return nil
	})
	return us
}

func testUsers(t *testing.T, s rampart.Store) {
	bob := &rampart.User{Name: "bob", Role: rampart.RoleSecurity, Disabled: true, CreatedAt: at(time.Hour), PasswordAt: at(2 * time.Hour)}
	alice := &rampart.User{Name: "alice", Role: rampart.RoleAdmin, CreatedAt: at(0), PasswordAt: at(time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, u := range []*rampart.User{bob, alice} {
			if err := tx.CreateUser(ctx, u, "hash-"+u.Name); err != nil {
				return err
			}
			if u.ID == 0 {
				t.Errorf("CreateUser(%s) left ID 0", u.Name)
			}
		}
		return nil
	})
	if alice.ID == bob.ID {
		t.Fatalf("alice and bob have one ID %d", alice.ID)
	}

	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateUser(t.Context(), &rampart.User{Name: "alice", Role: rampart.RoleMember, CreatedAt: at(0)}, "x")
	})
	wantCode(t, "CreateUser(duplicate)", err, rampart.ECONFLICT, "alice")

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range []*rampart.User{alice, bob} {
			got, err := tx.UserByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "UserByID", got, want)
			if got, err = tx.UserByName(ctx, want.Name); err != nil {
				return err
			}
			wantEqual(t, "UserByName", got, want)
		}
		list, err := tx.ListUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ListUsers", list, []*rampart.User{alice, bob})
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "CountUsers", n, 2)
		h, err := tx.PasswordHash(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "PasswordHash", h, "hash-alice")
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.SetPassword(ctx, alice.ID, "new-hash", at(3*time.Hour)); err != nil {
			return err
		}
		if err := tx.SetUserDisabled(ctx, alice.ID, true); err != nil {
			return err
		}
		if err := tx.SetUserDisabled(ctx, bob.ID, false); err != nil {
			return err
		}
		return tx.SetUserRole(ctx, alice.ID, rampart.RoleMember)
	})
	alice.PasswordAt, alice.Disabled, alice.Role = at(3*time.Hour), true, rampart.RoleMember
	bob.Disabled = false
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		list, err := tx.ListUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ListUsers after changes", list, []*rampart.User{alice, bob})
		h, err := tx.PasswordHash(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "PasswordHash after SetPassword", h, "new-hash")
		return nil
	})
}

func testUserNotFound(t *testing.T, s rampart.Store) {
	const missing = 4242
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx rampart.Tx) error
		word string
	}{
		{"UserByID", func(ctx context.Context, tx rampart.Tx) error { _, err := tx.UserByID(ctx, missing); return err }, "4242"},
		{"UserByName", func(ctx context.Context, tx rampart.Tx) error { _, err := tx.UserByName(ctx, "nobody"); return err }, `"nobody"`},
		{"PasswordHash", func(ctx context.Context, tx rampart.Tx) error { _, err := tx.PasswordHash(ctx, missing); return err }, "4242"},
		{"SetPassword", func(ctx context.Context, tx rampart.Tx) error { return tx.SetPassword(ctx, missing, "h", t0) }, "4242"},
		{"SetUserDisabled", func(ctx context.Context, tx rampart.Tx) error { return tx.SetUserDisabled(ctx, missing, true) }, "4242"},
		{"SetUserRole", func(ctx context.Context, tx rampart.Tx) error { return tx.SetUserRole(ctx, missing, rampart.RoleAdmin) }, "4242"},
		{"CreateToken", func(ctx context.Context, tx rampart.Tx) error {
			return tx.CreateToken(ctx, &rampart.Token{UserID: missing, Name: "t", Scope: rampart.RoleMember, CreatedAt: t0}, "h")
		}, "4242"},
		{"CreateSession", func(ctx context.Context, tx rampart.Tx) error {
			return tx.CreateSession(ctx, &rampart.Session{UserID: missing, CreatedAt: t0, ExpiresAt: t0}, "h")
		}, "4242"},
	}
	for _, tt := range tests {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tt.fn(t.Context(), tx) })
		wantCode(t, tt.name, err, rampart.ENOTFOUND, tt.word, "user")
	}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		list, err := tx.ListUsers(ctx)
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("ListUsers of an empty store = %s", dump(list))
		}
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "CountUsers of an empty store", n, 0)
		return nil
	})
}

func testTokens(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice", "bob")
	alice, bob := us["alice"], us["bob"]
	// CreatedAt order differs from creation order, to see ListTokens sort by time.
	a1 := &rampart.Token{UserID: alice.ID, Name: "ci", Scope: rampart.RoleMember, CreatedAt: at(time.Hour), ExpiresAt: ptr(at(48 * time.Hour))}
	a2 := &rampart.Token{UserID: alice.ID, Name: "laptop", Scope: rampart.RoleViewer, CreatedAt: at(3 * time.Hour),
		LastUsedAt: ptr(at(4 * time.Hour)), RevokedAt: ptr(at(5 * time.Hour))}
	b1 := &rampart.Token{UserID: bob.ID, Name: "deploy", Scope: rampart.RoleAdmin, CreatedAt: at(2 * time.Hour)}
	hashes := map[*rampart.Token]string{a1: "aa01", a2: "aa02", b1: "bb01"}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, tok := range []*rampart.Token{a1, a2, b1} {
			if err := tx.CreateToken(ctx, tok, hashes[tok]); err != nil {
				return err
			}
			if tok.ID == 0 {
				t.Errorf("CreateToken(%s) left ID 0", tok.Name)
			}
		}
		return nil
	})
	a1.UserName, a2.UserName, b1.UserName = "alice", "alice", "bob"

	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateToken(t.Context(), &rampart.Token{UserID: bob.ID, Name: "dup", Scope: rampart.RoleMember, CreatedAt: t0}, "aa01")
	})
	wantCode(t, "CreateToken(duplicate hash)", err, rampart.ECONFLICT)

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for tok, hash := range hashes {
			got, err := tx.TokenByHash(ctx, hash)
			if err != nil {
				return err
			}
			wantEqual(t, "TokenByHash", got, tok)
			if got, err = tx.TokenByID(ctx, tok.ID); err != nil {
				return err
			}
			wantEqual(t, "TokenByID", got, tok)
		}
		for _, c := range []struct {
			userID int64
			want   []*rampart.Token
		}{
			{alice.ID, []*rampart.Token{a2, a1}},
			{bob.ID, []*rampart.Token{b1}},
			{0, []*rampart.Token{a2, b1, a1}},
			{4242, nil},
		} {
			got, err := tx.ListTokens(ctx, c.userID)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				continue
			}
			wantEqual(t, fmt.Sprintf("ListTokens(%d)", c.userID), got, c.want)
		}
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.TouchToken(ctx, a1.ID, at(6*time.Hour)) })
	a1.LastUsedAt = ptr(at(6 * time.Hour))
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.TokenByID(ctx, a1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "TokenByID after TouchToken", got, a1)
		return nil
	})
}

func testTokenRevoke(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice", "bob")
	var toks []*rampart.Token
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i, c := range []struct {
			user    *rampart.User
			revoked *time.Time
		}{
			{us["alice"], nil},
			{us["alice"], nil},
			{us["alice"], ptr(at(time.Minute))},
			{us["bob"], nil},
		} {
			tok := &rampart.Token{UserID: c.user.ID, Name: fmt.Sprint("t", i), Scope: rampart.RoleMember, CreatedAt: at(0), RevokedAt: c.revoked}
			if err := tx.CreateToken(ctx, tok, fmt.Sprint("hash", i)); err != nil {
				return err
			}
			toks = append(toks, tok)
		}
		return nil
	})

	var n int
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		n, err = tx.RevokeUserTokens(ctx, us["alice"].ID, at(time.Hour))
		return err
	})
	wantEqual(t, "RevokeUserTokens(alice)", n, 2)
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		n, err = tx.RevokeUserTokens(ctx, us["alice"].ID, at(2*time.Hour))
		return err
	})
	wantEqual(t, "RevokeUserTokens(alice) again", n, 0)

	// Revoking twice keeps the first time.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.RevokeToken(ctx, toks[3].ID, at(3*time.Hour))
	})
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.RevokeToken(ctx, toks[3].ID, at(4*time.Hour))
	})

	want := []*time.Time{ptr(at(time.Hour)), ptr(at(time.Hour)), ptr(at(time.Minute)), ptr(at(3 * time.Hour))}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i, tok := range toks {
			got, err := tx.TokenByID(ctx, tok.ID)
			if err != nil {
				return err
			}
			wantEqual(t, fmt.Sprintf("token %d RevokedAt", i), got.RevokedAt, want[i])
			if got.Active(at(10 * time.Hour)) {
				t.Errorf("token %d is still active after revocation", i)
			}
		}
		return nil
	})
}

func testTokenNotFound(t *testing.T, s rampart.Store) {
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx rampart.Tx) error
	}{
		{"TokenByID", func(ctx context.Context, tx rampart.Tx) error { _, err := tx.TokenByID(ctx, 77); return err }},
		{"TokenByHash", func(ctx context.Context, tx rampart.Tx) error { _, err := tx.TokenByHash(ctx, "ffff"); return err }},
		{"RevokeToken", func(ctx context.Context, tx rampart.Tx) error { return tx.RevokeToken(ctx, 77, t0) }},
		{"TouchToken", func(ctx context.Context, tx rampart.Tx) error { return tx.TouchToken(ctx, 77, t0) }},
	}
	for _, tt := range tests {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tt.fn(t.Context(), tx) })
		wantCode(t, tt.name, err, rampart.ENOTFOUND, "token")
	}
	var n int
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		n, err = tx.RevokeUserTokens(ctx, 77, t0)
		return err
	})
	wantEqual(t, "RevokeUserTokens of an unknown user", n, 0)
}

func testSessions(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice")
	want := &rampart.Session{UserID: us["alice"].ID, CSRFToken: "csrf-1", CreatedAt: at(0), ExpiresAt: at(time.Hour), Source: "192.0.2.1"}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateSession(ctx, want, "s1") })
	if want.ID == 0 {
		t.Error("CreateSession left ID 0")
	}
	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateSession(t.Context(), &rampart.Session{UserID: us["alice"].ID, CreatedAt: t0, ExpiresAt: t0}, "s1")
	})
	wantCode(t, "CreateSession(duplicate hash)", err, rampart.ECONFLICT)
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.SessionByHash(ctx, "s1")
		if err != nil {
			return err
		}
		wantEqual(t, "SessionByHash", got, want)
		_, err = tx.SessionByHash(ctx, "nope")
		wantCode(t, "SessionByHash(missing)", err, rampart.ENOTFOUND, "session")
		return nil
	})
}

func testSessionDelete(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice", "bob")
	sessions := map[string]*rampart.Session{}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []struct {
			hash    string
			user    string
			expires time.Duration
		}{
			{"a1", "alice", time.Hour},
			{"a2", "alice", 2 * time.Hour},
			{"a3", "alice", 3 * time.Hour},
			{"b1", "bob", time.Hour},
			{"b2", "bob", 2 * time.Hour},
			{"b3", "bob", 3 * time.Hour},
		} {
			ss := &rampart.Session{UserID: us[c.user].ID, CSRFToken: "c" + c.hash, CreatedAt: at(0), ExpiresAt: at(c.expires), Source: "local"}
			if err := tx.CreateSession(ctx, ss, c.hash); err != nil {
				return err
			}
			sessions[c.hash] = ss
		}
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.DeleteSession(ctx, sessions["a1"].ID) })
	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.DeleteSession(t.Context(), sessions["a1"].ID) })
	wantCode(t, "DeleteSession(deleted)", err, rampart.ENOTFOUND, "session")

	var n int
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		n, err = tx.DeleteUserSessions(ctx, us["alice"].ID)
		return err
	})
	wantEqual(t, "DeleteUserSessions(alice)", n, 2)
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		n, err = tx.DeleteUserSessions(ctx, us["alice"].ID)
		return err
	})
	wantEqual(t, "DeleteUserSessions(alice) again", n, 0)

	// A session expiring exactly now is expired, as Token.Active has it.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.DeleteExpiredSessions(ctx, at(2*time.Hour)) })
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for hash, alive := range map[string]bool{"a1": false, "a2": false, "a3": false, "b1": false, "b2": false, "b3": true} {
			_, err := tx.SessionByHash(ctx, hash)
			switch {
			case alive && err != nil:
				t.Errorf("session %s: %v, want it kept", hash, err)
			case !alive && rampart.ErrorCode(err) != rampart.ENOTFOUND:
				t.Errorf("session %s: error %v, want it deleted", hash, err)
			}
		}
		return nil
	})
}

func testLoginFailures(t *testing.T, s rampart.Store) {
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, f := range []struct {
			user, source string
			at           time.Duration
		}{
			{"alice", "192.0.2.1", 0},
			{"alice", "192.0.2.1", time.Minute},
			{"alice", "192.0.2.2", 2 * time.Minute},
			{"bob", "192.0.2.1", 3 * time.Minute},
			{"nobody", "192.0.2.3", 4 * time.Minute},
		} {
			if err := tx.RecordLoginFailure(ctx, f.user, f.source, at(f.at)); err != nil {
				return err
			}
		}
		return nil
	})
	count := func(user, source string, since time.Time) (byUser, bySource int) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
			byUser, bySource, err = tx.CountLoginFailures(ctx, user, source, since)
			return err
		})
		return byUser, bySource
	}
	tests := []struct {
		name             string
		user, source     string
		since            time.Time
		byUser, bySource int
	}{
		{"everything", "alice", "192.0.2.1", at(-time.Hour), 3, 3},
		{"since is inclusive", "alice", "192.0.2.1", at(time.Minute), 2, 2},
		{"window", "alice", "192.0.2.1", at(90 * time.Second), 1, 1},
		{"other source", "alice", "192.0.2.2", at(0), 3, 1},
		{"unknown user", "carol", "192.0.2.3", at(0), 0, 1},
		{"after all", "alice", "192.0.2.1", at(time.Hour), 0, 0},
	}
	for _, tt := range tests {
		byUser, bySource := count(tt.user, tt.source, tt.since)
		if byUser != tt.byUser || bySource != tt.bySource {
			t.Errorf("%s: CountLoginFailures(%s, %s) = %d, %d; want %d, %d", tt.name, tt.user, tt.source, byUser, bySource, tt.byUser, tt.bySource)
		}
	}

	// Clearing alice's drops all of hers and everyone's before 3m: only bob's and nobody's stay.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.ClearLoginFailures(ctx, "alice", at(3*time.Minute))
	})
	for _, tt := range []struct {
		user, source     string
		byUser, bySource int
	}{
		{"alice", "192.0.2.1", 0, 1},
		{"bob", "192.0.2.2", 1, 0},
		{"nobody", "192.0.2.3", 1, 1},
	} {
		byUser, bySource := count(tt.user, tt.source, at(-time.Hour))
		if byUser != tt.byUser || bySource != tt.bySource {
			t.Errorf("after ClearLoginFailures: CountLoginFailures(%s, %s) = %d, %d; want %d, %d", tt.user, tt.source, byUser, bySource, tt.byUser, tt.bySource)
		}
	}
}

func testProjects(t *testing.T, s rampart.Store) {
	web := &rampart.Project{Name: "web", RepoURL: "https://git.example/web.git", CreatedAt: at(time.Hour)}
	api := &rampart.Project{Name: "api", RepoURL: "https://git.example/api.git", CreatedAt: at(2 * time.Hour)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, p := range []*rampart.Project{web, api} {
			if err := tx.CreateProject(ctx, p); err != nil {
				return err
			}
			if p.ID == 0 {
				t.Errorf("CreateProject(%s) left ID 0", p.Name)
			}
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateProject(t.Context(), &rampart.Project{Name: "web", CreatedAt: t0})
	})
	wantCode(t, "CreateProject(duplicate)", err, rampart.ECONFLICT, `"web"`)

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range []*rampart.Project{web, api} {
			got, err := tx.ProjectByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "ProjectByID", got, want)
			if got, err = tx.ProjectByName(ctx, want.Name); err != nil {
				return err
			}
			wantEqual(t, "ProjectByName", got, want)
		}
		list, err := tx.ListProjects(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ListProjects", list, []*rampart.Project{api, web})
		_, err = tx.ProjectByID(ctx, 999)
		wantCode(t, "ProjectByID(missing)", err, rampart.ENOTFOUND, "project", "999")
		_, err = tx.ProjectByName(ctx, "nope")
		wantCode(t, "ProjectByName(missing)", err, rampart.ENOTFOUND, "project", `"nope"`)
		return nil
	})
}

func testMembers(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "carol", "alice", "bob")
	alice, bob, carol := us["alice"], us["bob"], us["carol"]
	ps := map[string]*rampart.Project{}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, name := range []string{"web", "api", "docs"} {
			p := &rampart.Project{Name: name, CreatedAt: at(0)}
			if err := tx.CreateProject(ctx, p); err != nil {
				return err
			}
			ps[name] = p
		}
		for _, m := range []*rampart.Member{
			{ProjectID: ps["web"].ID, UserID: bob.ID, Role: rampart.RoleViewer, AddedAt: at(time.Minute)},
			{ProjectID: ps["web"].ID, UserID: alice.ID, Role: rampart.RoleDeveloper, AddedAt: at(2 * time.Minute)},
			{ProjectID: ps["api"].ID, UserID: alice.ID, Role: rampart.RoleMaintainer, AddedAt: at(3 * time.Minute)},
			{ProjectID: ps["docs"].ID, UserID: carol.ID, Role: rampart.RoleViewer, AddedAt: at(4 * time.Minute)},
			// An upsert: bob's role changes, the time he was added does not.
			{ProjectID: ps["web"].ID, UserID: bob.ID, Role: rampart.RoleReleaseManager, AddedAt: at(time.Hour)},
		} {
			if err := tx.SetMember(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ListMembers(ctx, ps["web"].ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListMembers(web)", got, []*rampart.Member{
			{ProjectID: ps["web"].ID, UserID: alice.ID, UserName: "alice", Role: rampart.RoleDeveloper, AddedAt: at(2 * time.Minute)},
			{ProjectID: ps["web"].ID, UserID: bob.ID, UserName: "bob", Role: rampart.RoleReleaseManager, AddedAt: at(time.Minute)},
		})
		projects, err := tx.ListProjectsOfUser(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListProjectsOfUser(alice)", projects, []*rampart.Project{ps["api"], ps["web"]})
		for _, c := range []struct {
			project string
			user    *rampart.User
			role    string
		}{
			{"web", bob, rampart.RoleReleaseManager},
			{"api", alice, rampart.RoleMaintainer},
			{"api", bob, ""},
			{"docs", alice, ""},
		} {
			role, err := tx.MemberRole(ctx, ps[c.project].ID, c.user.ID)
			if err != nil {
				return err
			}
			wantEqual(t, fmt.Sprintf("MemberRole(%s, %s)", c.project, c.user.Name), role, c.role)
		}
		role, err := tx.MemberRole(ctx, 999, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "MemberRole of an unknown project", role, "")
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.RemoveMember(ctx, ps["web"].ID, alice.ID) })
	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.RemoveMember(t.Context(), ps["web"].ID, alice.ID) })
	wantCode(t, "RemoveMember(not a member)", err, rampart.ENOTFOUND, "member")
	err = s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.SetMember(t.Context(), &rampart.Member{ProjectID: ps["web"].ID, UserID: 999, Role: rampart.RoleViewer, AddedAt: t0})
	})
	wantCode(t, "SetMember(unknown user)", err, rampart.ENOTFOUND, "999")
	err = s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.SetMember(t.Context(), &rampart.Member{ProjectID: 999, UserID: alice.ID, Role: rampart.RoleViewer, AddedAt: t0})
	})
	wantCode(t, "SetMember(unknown project)", err, rampart.ENOTFOUND, "999")

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ListMembers(ctx, ps["web"].ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListMembers(web) after RemoveMember", got, []*rampart.Member{
			{ProjectID: ps["web"].ID, UserID: bob.ID, UserName: "bob", Role: rampart.RoleReleaseManager, AddedAt: at(time.Minute)},
		})
		projects, err := tx.ListProjectsOfUser(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListProjectsOfUser(alice) after RemoveMember", projects, []*rampart.Project{ps["api"]})
		if projects, err = tx.ListProjectsOfUser(ctx, 999); err != nil {
			return err
		}
		if len(projects) != 0 {
			t.Errorf("ListProjectsOfUser(unknown user) = %s", dump(projects))
		}
		return nil
	})
}

// chainHash is a stand-in for the audit package's hash: the store must keep whatever it is given.
func chainHash(e *rampart.AuditEvent) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d|%s|%s|%s", e.Seq, e.PrevHash, e.Action, e.Actor))
	return hex.EncodeToString(sum[:])
}

// appendAudit appends an event for action to the chain within tx, as the audit package does.
func appendAudit(ctx context.Context, tx rampart.Tx, actor, action string, when time.Time) (*rampart.AuditEvent, error) {
	seq, prev, err := tx.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	e := &rampart.AuditEvent{Seq: seq + 1, Time: when, Actor: actor, Action: action, Target: "user:alice",
		Source: "192.0.2.1", Result: rampart.ResultSuccess, Detail: "detail of " + action, PrevHash: prev}
	if seq%2 == 1 {
		// Every other event has the zero value, which must survive too.
		e.Detail, e.Result = "", rampart.ResultDenied
	}
	e.Hash = chainHash(e)
	return e, tx.InsertAudit(ctx, e)
}

func testAudit(t *testing.T, s rampart.Store) {
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if seq != 0 || hash != "" {
			t.Errorf("AuditHead of an empty log = %d, %q; want 0, \"\"", seq, hash)
		}
		list, err := tx.ListAudit(ctx, rampart.AuditFilter{})
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("ListAudit of an empty log = %s", dump(list))
		}
		return nil
	})

	var events []*rampart.AuditEvent
	for i := range 5 {
		update(t, s, func(ctx context.Context, tx rampart.Tx) error {
			e, err := appendAudit(ctx, tx, "alice", fmt.Sprint("test.action", i), at(time.Duration(i)*time.Second))
			events = append(events, e)
			return err
		})
	}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		e, err := appendAudit(ctx, tx, "anonymous", "auth.login", at(time.Minute))
		if err != nil {
			return err
		}
		events = append(events, e)
		return nil
	})

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if last := events[len(events)-1]; seq != last.Seq || hash != last.Hash {
			t.Errorf("AuditHead = %d, %q; want %d, %q", seq, hash, last.Seq, last.Hash)
		}
		for _, c := range []struct {
			name   string
			filter rampart.AuditFilter
			want   []*rampart.AuditEvent
		}{
			{"all", rampart.AuditFilter{}, events},
			{"after", rampart.AuditFilter{AfterSeq: 4}, events[4:]},
			{"limit", rampart.AuditFilter{Limit: 2}, events[:2]},
			{"after and limit", rampart.AuditFilter{AfterSeq: 1, Limit: 3}, events[1:4]},
			{"limit beyond the end", rampart.AuditFilter{AfterSeq: 5, Limit: 10}, events[5:]},
		} {
			got, err := tx.ListAudit(ctx, c.filter)
			if err != nil {
				return err
			}
			wantEqual(t, "ListAudit "+c.name, got, c.want)
		}
		got, err := tx.ListAudit(ctx, rampart.AuditFilter{AfterSeq: 6})
		if err != nil {
			return err
		}
		if len(got) != 0 {
			t.Errorf("ListAudit after the head = %s", dump(got))
		}
		_, err = tx.ListAudit(ctx, rampart.AuditFilter{Limit: -1})
		wantCode(t, "ListAudit(negative limit)", err, rampart.EINVALID)
		return nil
	})
}

// testAuditRejectsFork checks that the store does not accept an event that does not extend the
// head, which is what a caller that skipped AuditHead's lock would write.
func testAuditRejectsFork(t *testing.T, s rampart.Store) {
	var first *rampart.AuditEvent
	update(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		first, err = appendAudit(ctx, tx, "alice", "one", at(0))
		return err
	})
	for _, c := range []struct {
		name      string
		seq       int64
		prev      string
		duplicate bool
	}{
		{"same seq", 1, "", true},
		{"gap", 3, first.Hash, false},
		{"wrong prev hash", 2, "beef", false},
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error {
			e := &rampart.AuditEvent{Seq: c.seq, Time: t0, Actor: "mallory", Action: "fork", PrevHash: c.prev}
			e.Hash = chainHash(e)
			return tx.InsertAudit(t.Context(), e)
		})
		if err == nil {
			t.Errorf("InsertAudit(%s) succeeded", c.name)
		}
	}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ListAudit(ctx, rampart.AuditFilter{})
		if err != nil {
			return err
		}
		wantEqual(t, "ListAudit after rejected forks", got, []*rampart.AuditEvent{first})
		return nil
	})
}

// testTimes checks that times come back in UTC with microseconds, whatever zone they went in with,
// and that nil and zero times survive.
func testTimes(t *testing.T, s rampart.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	local := time.Date(2031, 7, 9, 23, 59, 59, 999999999, zone)
	wantLocal := local.UTC().Truncate(time.Microsecond)
	before1970 := time.Date(1969, 12, 31, 23, 59, 59, 1000, time.UTC)
	tests := []struct {
		name string
		in   *time.Time
		want *time.Time
	}{
		{"nil", nil, nil},
		{"zero", &time.Time{}, &time.Time{}},
		{"other zone with nanoseconds", &local, &wantLocal},
		{"before 1970", &before1970, &before1970},
	}
	us := createUsers(t, s, "alice")
	for i, tt := range tests {
		created := t0
		if tt.in != nil {
			created = *tt.in
		}
		tok := &rampart.Token{UserID: us["alice"].ID, Name: tt.name, Scope: rampart.RoleMember, CreatedAt: created,
			ExpiresAt: tt.in, LastUsedAt: tt.in, RevokedAt: tt.in}
		update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateToken(ctx, tok, fmt.Sprint("h", i)) })
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.TokenByID(ctx, tok.ID)
			if err != nil {
				return err
			}
			for _, f := range []struct {
				field string
				got   *time.Time
			}{{"ExpiresAt", got.ExpiresAt}, {"LastUsedAt", got.LastUsedAt}, {"RevokedAt", got.RevokedAt}} {
				wantEqual(t, tt.name+": "+f.field, f.got, tt.want)
			}
			wantCreated := created.UTC().Truncate(time.Microsecond)
			wantEqual(t, tt.name+": CreatedAt", got.CreatedAt, wantCreated)
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("%s: CreatedAt in %v, want UTC", tt.name, got.CreatedAt.Location())
			}
			return nil
		})
	}
}

var errAbort = errors.New("storetest: abort")

// testRollback checks that a failing Update leaves nothing behind and returns fn's error as is.
func testRollback(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice")
	sentinel := rampart.Errorf(rampart.EFORBIDDEN, "no")
	for _, want := range []error{errAbort, sentinel, fmt.Errorf("wrapped: %w", sentinel)} {
		got := s.Update(t.Context(), func(tx rampart.Tx) error {
			ctx := t.Context()
			if err := tx.CreateUser(ctx, &rampart.User{Name: "mallory", Role: rampart.RoleAdmin, CreatedAt: t0}, "h"); err != nil {
				return err
			}
			if err := tx.SetUserRole(ctx, us["alice"].ID, rampart.RoleAdmin); err != nil {
				return err
			}
			if err := tx.CreateProject(ctx, &rampart.Project{Name: "evil", CreatedAt: t0}); err != nil {
				return err
			}
			if _, err := appendAudit(ctx, tx, "mallory", "user.create", t0); err != nil {
				return err
			}
			return want
		})
		if got != want {
			t.Errorf("Update returned %v (%T), want fn's error %v itself", got, got, want)
		}
		var re *rampart.Error
		if errors.As(want, &re) && (!errors.As(got, &re) || re != sentinel) {
			t.Errorf("errors.As(Update's error) does not find fn's *rampart.Error")
		}
		assertUntouched(t, s, us["alice"])
	}
}

// testRollbackOnPanic checks that a panicking fn rolls back, the panic goes on to the caller,
// and the store stays usable.
func testRollbackOnPanic(t *testing.T, s rampart.Store) {
	us := createUsers(t, s, "alice")
	func() {
		defer func() {
			if r := recover(); r != errAbort {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		_ = s.Update(t.Context(), func(tx rampart.Tx) error {
			if err := tx.CreateUser(t.Context(), &rampart.User{Name: "mallory", Role: rampart.RoleAdmin, CreatedAt: t0}, "h"); err != nil {
				return err
			}
			panic(errAbort)
		})
	}()
	assertUntouched(t, s, us["alice"])
}

// assertUntouched checks that the store holds alice as createUsers made her and nothing else.
func assertUntouched(t *testing.T, s rampart.Store, alice *rampart.User) {
	t.Helper()
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		users, err := tx.ListUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "users after rollback", users, []*rampart.User{alice})
		projects, err := tx.ListProjects(ctx)
		if err != nil {
			return err
		}
		if len(projects) != 0 {
			t.Errorf("projects after rollback: %s", dump(projects))
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		events, err := tx.ListAudit(ctx, rampart.AuditFilter{})
		if err != nil {
			return err
		}
		if seq != 0 || hash != "" || len(events) != 0 {
			t.Errorf("audit after rollback: head %d %q, events %s", seq, hash, dump(events))
		}
		return nil
	})
}

func testViewIsReadOnly(t *testing.T, s rampart.Store) {
	err := s.View(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateUser(t.Context(), &rampart.User{Name: "mallory", Role: rampart.RoleAdmin, CreatedAt: t0}, "h")
	})
	if err == nil {
		t.Error("CreateUser in View succeeded")
	}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "CountUsers after a write in View", n, 0)
		return nil
	})
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// Sizes of the concurrency tests: enough goroutines to contend, few enough to stay fast.
const (
	writers          = 8
	appendsPerWriter = 10
)

// appendConcurrently appends to the audit chain from several goroutines spread over stores, and
// checks that the result is one chain without gaps or forks.
func appendConcurrently(t *testing.T, stores []rampart.Store) {
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range appendsPerWriter {
				err := s.Update(t.Context(), func(tx rampart.Tx) error {
					_, err := appendAudit(t.Context(), tx, fmt.Sprint("writer", w), fmt.Sprint("append", i), t0)
					return err
				})
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	view(t, stores[0], func(ctx context.Context, tx rampart.Tx) error {
		events, err := tx.ListAudit(ctx, rampart.AuditFilter{})
		if err != nil {
			return err
		}
		if len(events) != writers*appendsPerWriter {
			t.Errorf("%d events, want %d", len(events), writers*appendsPerWriter)
		}
		prev := ""
		for i, e := range events {
			if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != chainHash(e) {
				t.Fatalf("event %d (seq %d) breaks the chain: prev %q, want %q", i, e.Seq, e.PrevHash, prev)
			}
			prev = e.Hash
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if seq != int64(len(events)) || hash != prev {
			t.Errorf("AuditHead = %d, %q; want %d, %q", seq, hash, len(events), prev)
		}
		return nil
	})
}

// createConcurrently checks that Update transactions are serialised: each reads the user count
// and creates a user named after it, which collides if two see the same count.
func createConcurrently(t *testing.T, stores []rampart.Store) {
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for range appendsPerWriter / 2 {
				err := s.Update(t.Context(), func(tx rampart.Tx) error {
					n, err := tx.CountUsers(t.Context())
					if err != nil {
						return err
					}
					return tx.CreateUser(t.Context(), &rampart.User{Name: fmt.Sprint("user", n), Role: rampart.RoleMember, CreatedAt: t0}, "h")
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	view(t, stores[0], func(ctx context.Context, tx rampart.Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "CountUsers", n, writers*(appendsPerWriter/2))
		return nil
	})
}
