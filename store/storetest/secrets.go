package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// newSecret returns a secret not yet stored.
func newSecret(scope string, p *rampart.Project, env, name string, d time.Duration) *rampart.Secret {
	s := &rampart.Secret{Scope: scope, Environment: env, Name: name, CreatedAt: at(d), CreatedBy: "alice", UpdatedAt: at(d), UpdatedBy: "alice"}
	if p != nil {
		s.ProjectID = p.ID
	}
	return s
}

func createSecrets(t *testing.T, s rampart.Store, secrets ...*rampart.Secret) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, sec := range secrets {
			if err := tx.CreateSecret(ctx, sec); err != nil {
				return err
			}
			if sec.ID == 0 {
				t.Errorf("CreateSecret(%s) left ID 0", sec.Name)
			}
		}
		return nil
	})
}

// sealed returns version v of secretID with blobs that differ per version and include bytes
// that text columns would mangle: NUL, invalid UTF-8, 0xff.
func sealed(secretID int64, v int, keyID string) *rampart.SealedValue {
	b := func(tag byte, n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(i*37) ^ tag ^ byte(v)
		}
		out[0], out[n-1] = 0x00, 0xff
		return out
	}
	return &rampart.SealedValue{SecretID: secretID, Version: v, KeyID: keyID,
		WrappedKey: b(0x11, 40), Nonce: b(0x22, 12), Ciphertext: b(0x33, 16+v*7),
		CreatedAt: at(time.Duration(v) * time.Hour), CreatedBy: fmt.Sprint("user", v)}
}

// meta is v without its blobs, as ListSecretVersions returns it.
func meta(v *rampart.SealedValue) *rampart.SealedValue {
	m := *v
	m.WrappedKey, m.Nonce, m.Ciphertext = nil, nil, nil
	return &m
}

func addVersions(t *testing.T, s rampart.Store, vs ...*rampart.SealedValue) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, v := range vs {
			if err := tx.AddSecretVersion(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func testSecrets(t *testing.T, s rampart.Store) {
	ps := createProjects(t, s, "web", "api")
	web, api := ps["web"], ps["api"]
	// The same name in every place it may be: none of them collide.
	orgToken := newSecret(rampart.ScopeOrg, nil, "", "TOKEN", 0)
	webToken := newSecret(rampart.ScopeProject, web, "", "TOKEN", time.Second)
	apiToken := newSecret(rampart.ScopeProject, api, "", "TOKEN", 2*time.Second)
	webProd := newSecret(rampart.ScopeEnvironment, web, "prod", "TOKEN", 3*time.Second)
	webStaging := newSecret(rampart.ScopeEnvironment, web, "staging", "TOKEN", 4*time.Second)
	apiProd := newSecret(rampart.ScopeEnvironment, api, "prod", "TOKEN", 5*time.Second)
	orgProd := newSecret(rampart.ScopeEnvironment, nil, "prod", "TOKEN", 6*time.Second)
	// Names differing in case only are different names.
	orgLower := newSecret(rampart.ScopeOrg, nil, "", "token", 7*time.Second)
	orgA := newSecret(rampart.ScopeOrg, nil, "", "A_KEY", 8*time.Second)
	webB := newSecret(rampart.ScopeProject, web, "", "B_KEY", 9*time.Second)
	// UpdatedAt and UpdatedBy default to the creation's.
	defaults := &rampart.Secret{Scope: rampart.ScopeOrg, Name: "DEFAULTS", CreatedAt: at(time.Minute), CreatedBy: "carol", Version: 7}
	all := []*rampart.Secret{orgToken, webToken, apiToken, webProd, webStaging, apiProd, orgProd, orgLower, orgA, webB, defaults}
	createSecrets(t, s, all...)
	for _, sec := range all {
		switch sec.ProjectID {
		case web.ID:
			sec.Project = "web"
		case api.ID:
			sec.Project = "api"
		}
	}
	if defaults.Version != 0 || defaults.UpdatedAt != at(time.Minute) || defaults.UpdatedBy != "carol" {
		t.Errorf("CreateSecret left version %d, updated at %v by %q; want 0, the creation time and creator",
			defaults.Version, defaults.UpdatedAt, defaults.UpdatedBy)
	}

	t.Run("Duplicate", func(t *testing.T) {
		for _, dup := range []*rampart.Secret{
			newSecret(rampart.ScopeOrg, nil, "", "TOKEN", time.Hour),
			newSecret(rampart.ScopeProject, web, "", "TOKEN", time.Hour),
			newSecret(rampart.ScopeEnvironment, web, "prod", "TOKEN", time.Hour),
			newSecret(rampart.ScopeEnvironment, nil, "prod", "TOKEN", time.Hour),
		} {
			err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.CreateSecret(t.Context(), dup) })
			wantCode(t, fmt.Sprintf("CreateSecret(duplicate %s %d %q)", dup.Scope, dup.ProjectID, dup.Environment), err, rampart.ECONFLICT, "TOKEN", "already exists")
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for name, bad := range map[string]*rampart.Secret{
			"unknown scope":          {Scope: "galaxy", Name: "X"},
			"org with project":       {Scope: rampart.ScopeOrg, ProjectID: web.ID, Name: "X"},
			"org with environment":   {Scope: rampart.ScopeOrg, Environment: "prod", Name: "X"},
			"project without one":    {Scope: rampart.ScopeProject, Name: "X"},
			"project with env":       {Scope: rampart.ScopeProject, ProjectID: web.ID, Environment: "prod", Name: "X"},
			"environment without":    {Scope: rampart.ScopeEnvironment, ProjectID: web.ID, Name: "X"},
			"no name":                {Scope: rampart.ScopeOrg},
			"unknown project":        {Scope: rampart.ScopeProject, ProjectID: 999, Name: "X"},
			"unknown env of project": {Scope: rampart.ScopeEnvironment, ProjectID: 999, Environment: "prod", Name: "X"},
		} {
			err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.CreateSecret(t.Context(), bad) })
			want := rampart.EINVALID
			if bad.ProjectID == 999 {
				want = rampart.ENOTFOUND
			}
			wantCode(t, "CreateSecret("+name+")", err, want)
			if bad.ID != 0 {
				t.Errorf("CreateSecret(%s) set ID %d", name, bad.ID)
			}
		}
	})

	t.Run("SecretByName", func(t *testing.T) {
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			for _, want := range all {
				got, err := tx.SecretByName(ctx, want.Scope, want.ProjectID, want.Environment, want.Name)
				if err != nil {
					return err
				}
				wantEqual(t, "SecretByName", got, want)
			}
			for _, c := range []struct {
				scope   string
				project int64
				env     string
				name    string
				words   []string
			}{
				{rampart.ScopeOrg, 0, "", "NOPE", []string{`"NOPE"`, "not found"}},
				{rampart.ScopeOrg, 0, "", "Token", []string{`"Token"`}},
				{rampart.ScopeProject, 999, "", "TOKEN", []string{"999"}},
				{rampart.ScopeEnvironment, web.ID, "dev", "TOKEN", []string{`"dev"`}},
				{rampart.ScopeProject, web.ID, "prod", "TOKEN", nil},
			} {
				_, err := tx.SecretByName(ctx, c.scope, c.project, c.env, c.name)
				wantCode(t, fmt.Sprintf("SecretByName(%s, %d, %q, %q)", c.scope, c.project, c.env, c.name), err, rampart.ENOTFOUND, c.words...)
			}
			return nil
		})
	})

	t.Run("ListSecrets", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			filter rampart.SecretFilter
			want   []*rampart.Secret
		}{
			{"all", rampart.SecretFilter{},
				[]*rampart.Secret{orgA, defaults, orgToken, orgLower, apiToken, webB, webToken, orgProd, apiProd, webProd, webStaging}},
			{"org", rampart.SecretFilter{Scope: rampart.ScopeOrg}, []*rampart.Secret{orgA, defaults, orgToken, orgLower}},
			{"project", rampart.SecretFilter{Scope: rampart.ScopeProject}, []*rampart.Secret{apiToken, webB, webToken}},
			{"web", rampart.SecretFilter{ProjectID: web.ID}, []*rampart.Secret{webB, webToken, webProd, webStaging}},
			{"web project", rampart.SecretFilter{Scope: rampart.ScopeProject, ProjectID: web.ID}, []*rampart.Secret{webB, webToken}},
			{"prod", rampart.SecretFilter{Environment: "prod"}, []*rampart.Secret{orgProd, apiProd, webProd}},
			{"web prod", rampart.SecretFilter{Scope: rampart.ScopeEnvironment, ProjectID: web.ID, Environment: "prod"}, []*rampart.Secret{webProd}},
			{"unknown project", rampart.SecretFilter{ProjectID: 999}, nil},
			{"unknown scope", rampart.SecretFilter{Scope: "galaxy"}, nil},
		} {
			view(t, s, func(ctx context.Context, tx rampart.Tx) error {
				got, err := tx.ListSecrets(ctx, c.filter)
				if err != nil {
					return err
				}
				if len(got) == 0 && len(c.want) == 0 {
					return nil
				}
				wantEqual(t, "ListSecrets("+c.name+")", got, c.want)
				return nil
			})
		}
	})
}

func testSecretVersions(t *testing.T, s rampart.Store) {
	sec := newSecret(rampart.ScopeOrg, nil, "", "DEPLOY_KEY", 0)
	other := newSecret(rampart.ScopeOrg, nil, "", "OTHER", 0)
	createSecrets(t, s, sec, other)

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		vs, err := tx.ListSecretVersions(ctx, sec.ID)
		if err != nil {
			return err
		}
		if len(vs) != 0 {
			t.Errorf("ListSecretVersions of a new secret = %s", dump(vs))
		}
		return nil
	})

	v1, v2, v3 := sealed(sec.ID, 1, "k1"), sealed(sec.ID, 2, "k1"), sealed(sec.ID, 3, "k2")
	// In separate transactions and in one.
	addVersions(t, s, v1)
	addVersions(t, s, v2, v3)
	addVersions(t, s, sealed(other.ID, 1, "k1"))

	t.Run("RoundTrip", func(t *testing.T) {
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			for _, want := range []*rampart.SealedValue{v1, v2, v3} {
				got, err := tx.SecretValue(ctx, sec.ID, want.Version)
				if err != nil {
					return err
				}
				wantEqual(t, fmt.Sprintf("SecretValue(%d)", want.Version), got, want)
				for name, pair := range map[string][2][]byte{
					"WrappedKey": {got.WrappedKey, want.WrappedKey},
					"Nonce":      {got.Nonce, want.Nonce},
					"Ciphertext": {got.Ciphertext, want.Ciphertext},
				} {
					if !bytes.Equal(pair[0], pair[1]) {
						t.Errorf("version %d %s differs", want.Version, name)
					}
				}
			}
			return nil
		})
	})

	t.Run("SecretUpdated", func(t *testing.T) {
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.SecretByName(ctx, rampart.ScopeOrg, 0, "", "DEPLOY_KEY")
			if err != nil {
				return err
			}
			want := *sec
			want.Version, want.UpdatedAt, want.UpdatedBy = 3, v3.CreatedAt, v3.CreatedBy
			wantEqual(t, "secret after three versions", got, &want)
			return nil
		})
	})

	t.Run("ListSecretVersions", func(t *testing.T) {
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.ListSecretVersions(ctx, sec.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "ListSecretVersions", got, []*rampart.SealedValue{meta(v3), meta(v2), meta(v1)})
			return nil
		})
	})

	t.Run("WrongVersion", func(t *testing.T) {
		for _, c := range []struct {
			version int
			code    string
		}{
			{3, rampart.ECONFLICT}, // taken: a concurrent writer got there first
			{2, rampart.ECONFLICT},
			{5, rampart.ECONFLICT}, // skips one
			{0, rampart.EINVALID},
			{-1, rampart.EINVALID},
		} {
			err := s.Update(t.Context(), func(tx rampart.Tx) error {
				return tx.AddSecretVersion(t.Context(), sealed(sec.ID, c.version, "k9"))
			})
			wantCode(t, fmt.Sprintf("AddSecretVersion(%d)", c.version), err, c.code)
		}
		err := s.Update(t.Context(), func(tx rampart.Tx) error {
			return tx.AddSecretVersion(t.Context(), sealed(sec.ID, 5, "k9"))
		})
		wantCode(t, "AddSecretVersion message", err, rampart.ECONFLICT, "version 3", "4")
		err = s.Update(t.Context(), func(tx rampart.Tx) error {
			return tx.AddSecretVersion(t.Context(), sealed(999, 1, "k9"))
		})
		wantCode(t, "AddSecretVersion(missing secret)", err, rampart.ENOTFOUND, "secret 999")
		// Nothing changed.
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.ListSecretVersions(ctx, sec.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "ListSecretVersions after refused writes", got, []*rampart.SealedValue{meta(v3), meta(v2), meta(v1)})
			cur, err := tx.SecretByName(ctx, rampart.ScopeOrg, 0, "", "DEPLOY_KEY")
			if err != nil {
				return err
			}
			wantEqual(t, "version after refused writes", cur.Version, 3)
			return nil
		})
	})

	t.Run("EmptyBlobs", func(t *testing.T) {
		empty := newSecret(rampart.ScopeOrg, nil, "", "EMPTY", 0)
		createSecrets(t, s, empty)
		v := &rampart.SealedValue{SecretID: empty.ID, Version: 1, KeyID: "k1", CreatedAt: at(0), CreatedBy: "bob"}
		addVersions(t, s, v)
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.SecretValue(ctx, empty.ID, 1)
			if err != nil {
				return err
			}
			v.WrappedKey, v.Nonce, v.Ciphertext = []byte{}, []byte{}, []byte{}
			wantEqual(t, "SecretValue with empty blobs", got, v)
			return nil
		})
	})
}

func testSecretNotFound(t *testing.T, s rampart.Store) {
	sec := newSecret(rampart.ScopeOrg, nil, "", "ONE", 0)
	createSecrets(t, s, sec)
	addVersions(t, s, sealed(sec.ID, 1, "k1"))
	tests := []struct {
		name  string
		fn    func(ctx context.Context, tx rampart.Tx) error
		words []string
	}{
		{"SecretValue(missing version)", func(ctx context.Context, tx rampart.Tx) error {
			_, err := tx.SecretValue(ctx, sec.ID, 2)
			return err
		}, []string{"version 2", fmt.Sprint("secret ", sec.ID)}},
		{"SecretValue(missing secret)", func(ctx context.Context, tx rampart.Tx) error {
			_, err := tx.SecretValue(ctx, 999, 1)
			return err
		}, []string{"secret 999"}},
		{"ListSecretVersions", func(ctx context.Context, tx rampart.Tx) error {
			_, err := tx.ListSecretVersions(ctx, 999)
			return err
		}, []string{"secret 999"}},
		{"Rewrap(missing version)", func(ctx context.Context, tx rampart.Tx) error {
			return tx.Rewrap(ctx, sec.ID, 2, "k2", []byte{1})
		}, []string{"version 2"}},
		{"Rewrap(missing secret)", func(ctx context.Context, tx rampart.Tx) error {
			return tx.Rewrap(ctx, 999, 1, "k2", []byte{1})
		}, []string{"secret 999"}},
		{"DeleteSecret", func(ctx context.Context, tx rampart.Tx) error { return tx.DeleteSecret(ctx, 999) }, []string{"secret 999"}},
	}
	for _, tt := range tests {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tt.fn(t.Context(), tx) })
		wantCode(t, tt.name, err, rampart.ENOTFOUND, append(tt.words, "not found")...)
	}
}

func testSealedValuesByKey(t *testing.T, s rampart.Store) {
	a := newSecret(rampart.ScopeOrg, nil, "", "A", 0)
	b := newSecret(rampart.ScopeOrg, nil, "", "B", 0)
	createSecrets(t, s, a, b)
	// Added interleaved, so that insertion order is not (secret, version) order.
	b1, a1, b2, a2, a3, b3 := sealed(b.ID, 1, "old"), sealed(a.ID, 1, "old"), sealed(b.ID, 2, "new"),
		sealed(a.ID, 2, "old"), sealed(a.ID, 3, "new"), sealed(b.ID, 3, "old")
	addVersions(t, s, b1, a1, b2, a2, a3, b3)

	for _, c := range []struct {
		key   string
		limit int
		want  []*rampart.SealedValue
	}{
		{"old", 10, []*rampart.SealedValue{a1, a2, b1, b3}},
		{"old", 3, []*rampart.SealedValue{a1, a2, b1}},
		{"old", 1, []*rampart.SealedValue{a1}},
		{"new", 10, []*rampart.SealedValue{a3, b2}},
		{"old", 0, nil},
		{"none", 10, nil},
	} {
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.SealedValuesByKey(ctx, c.key, c.limit)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				return nil
			}
			wantEqual(t, fmt.Sprintf("SealedValuesByKey(%s, %d)", c.key, c.limit), got, c.want)
			return nil
		})
	}
	err := s.View(t.Context(), func(tx rampart.Tx) error {
		_, err := tx.SealedValuesByKey(t.Context(), "old", -1)
		return err
	})
	wantCode(t, "SealedValuesByKey(negative limit)", err, rampart.EINVALID)

	t.Run("Rewrap", func(t *testing.T) {
		// Rotation as the vault runs it: batches until no version is left under the old key.
		newKey := func(v *rampart.SealedValue) []byte { return append([]byte{0x00, 0xfe}, v.Ciphertext[:3]...) }
		for round := 0; ; round++ {
			if round > 4 {
				t.Fatal("rotation does not end")
			}
			var batch []*rampart.SealedValue
			view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
				batch, err = tx.SealedValuesByKey(ctx, "old", 3)
				return err
			})
			if len(batch) == 0 {
				break
			}
			update(t, s, func(ctx context.Context, tx rampart.Tx) error {
				for _, v := range batch {
					if err := tx.Rewrap(ctx, v.SecretID, v.Version, "new", newKey(v)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		for _, v := range []*rampart.SealedValue{b1, a1, a2, b3} {
			v.KeyID, v.WrappedKey = "new", newKey(v)
		}
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.SealedValuesByKey(ctx, "new", 100)
			if err != nil {
				return err
			}
			// The nonce and ciphertext stay as they were.
			wantEqual(t, "SealedValuesByKey(new) after rotation", got, []*rampart.SealedValue{a1, a2, a3, b1, b2, b3})
			return nil
		})
	})
}

func testDeleteSecret(t *testing.T, s rampart.Store) {
	gone := newSecret(rampart.ScopeOrg, nil, "", "GONE", 0)
	kept := newSecret(rampart.ScopeOrg, nil, "", "KEPT", 0)
	createSecrets(t, s, gone, kept)
	addVersions(t, s, sealed(gone.ID, 1, "k1"), sealed(gone.ID, 2, "k1"), sealed(kept.ID, 1, "k1"))
	kept.Version, kept.UpdatedAt, kept.UpdatedBy = 1, sealed(kept.ID, 1, "k1").CreatedAt, sealed(kept.ID, 1, "k1").CreatedBy
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.DeleteSecret(ctx, gone.ID) })

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		_, err := tx.SecretByName(ctx, rampart.ScopeOrg, 0, "", "GONE")
		wantCode(t, "SecretByName after DeleteSecret", err, rampart.ENOTFOUND)
		_, err = tx.SecretValue(ctx, gone.ID, 1)
		wantCode(t, "SecretValue after DeleteSecret", err, rampart.ENOTFOUND)
		_, err = tx.ListSecretVersions(ctx, gone.ID)
		wantCode(t, "ListSecretVersions after DeleteSecret", err, rampart.ENOTFOUND)
		vs, err := tx.SealedValuesByKey(ctx, "k1", 100)
		if err != nil {
			return err
		}
		wantEqual(t, "SealedValuesByKey after DeleteSecret", vs, []*rampart.SealedValue{sealed(kept.ID, 1, "k1")})
		list, err := tx.ListSecrets(ctx, rampart.SecretFilter{})
		if err != nil {
			return err
		}
		wantEqual(t, "ListSecrets after DeleteSecret", list, []*rampart.Secret{kept})
		return nil
	})

	// The name is free again, and the new secret starts from version 1 with a new id.
	again := newSecret(rampart.ScopeOrg, nil, "", "GONE", time.Hour)
	createSecrets(t, s, again)
	if again.ID == gone.ID {
		t.Errorf("a new secret reuses the deleted one's id %d", gone.ID)
	}
	addVersions(t, s, sealed(again.ID, 1, "k1"))
	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.DeleteSecret(t.Context(), gone.ID) })
	wantCode(t, "DeleteSecret twice", err, rampart.ENOTFOUND)
}

func testVaultKeys(t *testing.T, s rampart.Store) {
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		ks, err := tx.VaultKeys(ctx)
		if len(ks) != 0 {
			t.Errorf("VaultKeys of an empty store = %s", dump(ks))
		}
		return err
	})

	k1 := &rampart.VaultKey{ID: "k1", Check: []byte{0x00, 0x01, 0xff, 0x80}, Active: true, CreatedAt: at(0)}
	k2 := &rampart.VaultKey{ID: "k2", Check: []byte("check-2\x00"), CreatedAt: at(time.Hour)}
	k0 := &rampart.VaultKey{ID: "k0", Check: []byte{}, CreatedAt: at(time.Hour)} // same time as k2: by id
	put := func(ks ...*rampart.VaultKey) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx rampart.Tx) error {
			for _, k := range ks {
				if err := tx.PutVaultKey(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	check := func(what string, want ...*rampart.VaultKey) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			got, err := tx.VaultKeys(ctx)
			if err != nil {
				return err
			}
			wantEqual(t, what, got, want)
			active := 0
			for _, k := range got {
				if k.Active {
					active++
				}
			}
			if active > 1 {
				t.Errorf("%s: %d active keys", what, active)
			}
			return nil
		})
	}
	clone := func(k *rampart.VaultKey, active bool) *rampart.VaultKey { c := *k; c.Active = active; return &c }

	t.Run("Put", func(t *testing.T) {
		put(k1, k2, k0)
		check("VaultKeys", k1, k0, k2)
	})
	t.Run("Activate", func(t *testing.T) {
		put(clone(k2, true))
		check("VaultKeys after activating k2", clone(k1, false), k0, clone(k2, true))
		// Putting the active key again keeps it active.
		put(clone(k2, true))
		check("VaultKeys after putting k2 again", clone(k1, false), k0, clone(k2, true))
		// Two activations in one transaction: the last wins.
		put(clone(k0, true), clone(k1, true))
		check("VaultKeys after activating k0 then k1", clone(k1, true), k0, k2)
	})
	t.Run("Replace", func(t *testing.T) {
		replaced := &rampart.VaultKey{ID: "k2", Check: []byte("new check"), CreatedAt: at(-time.Hour)}
		put(replaced)
		check("VaultKeys after replacing k2", replaced, clone(k1, true), k0)
		// Deactivating the active key leaves none active.
		put(clone(k1, false))
		check("VaultKeys after deactivating k1", replaced, clone(k1, false), k0)
	})
	t.Run("Invalid", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx rampart.Tx) error {
			return tx.PutVaultKey(t.Context(), &rampart.VaultKey{Check: []byte{1}, Active: true})
		})
		wantCode(t, "PutVaultKey(no id)", err, rampart.EINVALID)
	})
}
