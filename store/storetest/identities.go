package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

func testUserIdentities(t *testing.T, s rampart.Store) {
	alice := &rampart.User{Name: "alice", Role: rampart.RoleMember, CreatedAt: at(0), PasswordAt: at(0)}
	bob := &rampart.User{Name: "bob", Role: rampart.RoleMember, CreatedAt: at(time.Second), PasswordAt: at(time.Second)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateUser(ctx, alice, "h"); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, bob, "h"); err != nil {
			return err
		}
		return tx.SetUserIdentities(ctx, alice.ID, []string{"alice@example.com", "alice smith"})
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		ids, err := tx.UserIdentities(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "UserIdentities", ids, []string{"alice smith", "alice@example.com"})
		none, err := tx.UserIdentities(ctx, bob.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "UserIdentities of a user without any", len(none), 0)
		return nil
	})
	// An identity belongs to one user: bob cannot take alice's address, and nothing changes.
	err := s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.SetUserIdentities(context.Background(), bob.ID, []string{"bob@example.com", "alice@example.com"})
	})
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("taking another user's identity: %v", err)
	}
	// Replacing is whole.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.SetUserIdentities(ctx, alice.ID, []string{"alice-gh"})
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		ids, err := tx.UserIdentities(ctx, alice.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "UserIdentities after replacing", ids, []string{"alice-gh"})
		bobs, err := tx.UserIdentities(ctx, bob.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "bob's identities after the refused change", len(bobs), 0)
		return nil
	})
}
