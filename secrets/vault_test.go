package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-ci/rampart"
)

var (
	orgRef  = func(n string) SecretRef { return SecretRef{Scope: rampart.ScopeOrg, Name: n} }
	projRef = func(p, n string) SecretRef { return SecretRef{Scope: rampart.ScopeProject, Project: p, Name: n} }
	envRef  = func(p, e, n string) SecretRef {
		return SecretRef{Scope: rampart.ScopeEnvironment, Project: p, Environment: e, Name: n}
	}
)

func TestRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := f.ctx
		v1, v2 := uniqueValue("one"), uniqueValue("two")
		s := f.set(t, projRef("web", "DEPLOY_TOKEN"), v1)
		if s.Version != 1 || s.Scope != rampart.ScopeProject || s.ProjectID != f.web.ID || s.CreatedBy != "root" {
			t.Fatalf("after first set: %+v", s)
		}
		got, err := f.v.ForJob(ctx, f.web.ID, "", []string{"DEPLOY_TOKEN"})
		if err != nil || got["DEPLOY_TOKEN"] != v1 {
			t.Fatalf("ForJob = %v, %v", got, err)
		}
		s = f.set(t, projRef("web", "DEPLOY_TOKEN"), v2)
		if s.Version != 2 {
			t.Fatalf("version after second set = %d", s.Version)
		}
		got, _ = f.v.ForJob(ctx, f.web.ID, "", []string{"DEPLOY_TOKEN", "DEPLOY_TOKEN"})
		if got["DEPLOY_TOKEN"] != v2 || len(got) != 1 {
			t.Fatalf("ForJob after update = %v", got)
		}
		// Every version was sealed on its own: the old one still opens, under its own binding.
		var sv *rampart.SealedValue
		f.db.View(ctx, func(tx rampart.Tx) (err error) { sv, err = tx.SecretValue(ctx, s.ID, 1); return err })
		pt, err := f.v.open(ctx, bindingOf(s, 1), sv)
		if err != nil || string(pt) != v1 {
			t.Fatalf("version 1 opens to %q, %v", pt, err)
		}

		meta, versions, err := f.v.Show(ctx, f.actors["maint"], projRef("web", "DEPLOY_TOKEN"))
		if err != nil {
			t.Fatal(err)
		}
		if meta.Version != 2 || len(versions) != 2 || versions[0].Version != 2 || versions[0].KeyID != f.ring.KeyID() || versions[1].CreatedBy != "root" {
			t.Fatalf("show: %+v %+v", meta, versions)
		}

		// The audit log has each version, never the value.
		var sets []*rampart.AuditEvent
		for _, e := range f.audit(t) {
			if strings.Contains(e.Detail+e.Target, v1) || strings.Contains(e.Detail+e.Target, v2) {
				t.Fatalf("audit event holds the value: %+v", e)
			}
			if e.Action == "secret.set" {
				sets = append(sets, e)
			}
		}
		if len(sets) != 2 || sets[1].Target != "secret:project/web/DEPLOY_TOKEN" || !strings.Contains(sets[1].Detail, "version=2") || sets[1].Actor != "root" {
			t.Fatalf("secret.set events: %+v", sets)
		}

		if err := f.v.Delete(ctx, f.actors["root"], projRef("web", "DEPLOY_TOKEN")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.v.ForJob(ctx, f.web.ID, "", []string{"DEPLOY_TOKEN"}); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Fatalf("ForJob after delete: %v", err)
		}
		if _, _, err := f.v.Show(ctx, f.actors["root"], projRef("web", "DEPLOY_TOKEN")); rampart.ErrorCode(err) != rampart.ENOTFOUND {
			t.Fatalf("Show after delete: %v", err)
		}
		if err := f.v.Delete(ctx, f.actors["root"], projRef("web", "DEPLOY_TOKEN")); rampart.ErrorCode(err) != rampart.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
		// The versions went with it.
		var n int
		f.raw.QueryRow("SELECT COUNT(*) FROM secret_versions").Scan(&n)
		if n != 0 {
			t.Fatalf("%d versions left after delete", n)
		}
		evs := f.audit(t)
		if last := evs[len(evs)-1]; last.Action != "secret.delete" || !strings.Contains(last.Detail, "versions=2") {
			t.Fatalf("last audit event %+v", last)
		}
	})
}

func TestForJobResolvesNarrowestScope(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := f.ctx
	f.set(t, orgRef("REGISTRY"), "org-value-REGISTRY")
	f.set(t, orgRef("ONLY_ORG"), "org-value-ONLY")
	f.set(t, projRef("web", "REGISTRY"), "web-value-REGISTRY")
	f.set(t, envRef("web", "prod", "REGISTRY"), "prod-value-REGISTRY")
	f.set(t, envRef("web", "prod", "PROD_ONLY"), "prod-value-PROD_ONLY")
	f.set(t, envRef("api", "prod", "API_PROD"), "api-prod-value")

	for _, tc := range []struct {
		name    string
		project int64
		env     string
		names   []string
		want    map[string]string
		missing string
	}{
		{"environment wins", f.web.ID, "prod", []string{"REGISTRY", "ONLY_ORG", "PROD_ONLY"},
			map[string]string{"REGISTRY": "prod-value-REGISTRY", "ONLY_ORG": "org-value-ONLY", "PROD_ONLY": "prod-value-PROD_ONLY"}, ""},
		{"project over org", f.web.ID, "", []string{"REGISTRY"}, map[string]string{"REGISTRY": "web-value-REGISTRY"}, ""},
		{"other environment gets the project's", f.web.ID, "staging", []string{"REGISTRY"}, map[string]string{"REGISTRY": "web-value-REGISTRY"}, ""},
		{"other project gets the org's", f.api.ID, "", []string{"REGISTRY"}, map[string]string{"REGISTRY": "org-value-REGISTRY"}, ""},
		{"no names", f.web.ID, "prod", nil, map[string]string{}, ""},
		{"environment secret not without the environment", f.web.ID, "", []string{"PROD_ONLY"}, nil, "PROD_ONLY"},
		{"another project's environment", f.web.ID, "prod", []string{"API_PROD"}, nil, "API_PROD"},
		{"missing", f.api.ID, "prod", []string{"REGISTRY", "NOPE"}, nil, "NOPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.v.ForJob(ctx, tc.project, tc.env, tc.names)
			if tc.missing != "" {
				if rampart.ErrorCode(err) != rampart.EINVALID || got != nil {
					t.Fatalf("got %v, %v; want EINVALID", got, err)
				}
				msg := rampart.ErrorMessage(err)
				if !strings.Contains(msg, "job declares secret "+tc.missing+" but no secret "+tc.missing+" exists for project ") ||
					!strings.Contains(rampart.ErrorDetail(err), "rampart secret set") {
					t.Fatalf("message %q detail %q", msg, rampart.ErrorDetail(err))
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := f.v.ForJob(ctx, f.web.ID, "", []string{"lower"}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Fatalf("invalid name: %v", err)
	}
	if _, err := f.v.ForJob(ctx, 9999, "", []string{"REGISTRY"}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("unknown project: %v", err)
	}
}

// TestDatabaseHoldsNoPlaintext reads the SQLite files byte by byte, before and after a
// checkpoint, looking for the values in every common encoding.
func TestDatabaseHoldsNoPlaintext(t *testing.T) {
	f := newFixture(t, "sqlite")
	var values [][]byte
	for i, ref := range []SecretRef{orgRef("ORG_TOKEN"), projRef("web", "NPM_TOKEN"), envRef("web", "prod", "AWS_SECRET"), projRef("api", "LONG")} {
		val := uniqueValue(fmt.Sprint(i))
		if ref.Name == "LONG" {
			val = strings.Repeat(val, 200)
		}
		values = append(values, []byte(val))
		f.set(t, ref, val)
		f.set(t, ref, val) // same value twice: two different ciphertexts
	}
	scan := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(f.path + suffix)
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				t.Fatal(err)
			}
			for _, val := range values {
				for _, enc := range encodings(val) {
					if bytes.Contains(b, []byte(enc)) {
						t.Fatalf("%s: %s holds a secret value (as %.12q…)", when, f.path+suffix, enc)
					}
				}
			}
			for _, key := range [][]byte{f.key} {
				for _, enc := range encodings(key) {
					if bytes.Contains(b, []byte(enc)) {
						t.Fatalf("%s: %s holds the master key", when, f.path+suffix)
					}
				}
			}
		}
	}
	scan("before checkpoint")
	if _, err := f.raw.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	scan("after checkpoint")
	// The vault sealed each version apart: equal values do not give equal ciphertexts.
	var distinct int
	f.raw.QueryRow("SELECT COUNT(DISTINCT ciphertext) FROM secret_versions").Scan(&distinct)
	if distinct != 8 {
		t.Fatalf("%d distinct ciphertexts for 8 versions", distinct)
	}
}

// TestTamperingIsDetected moves and edits sealed values with raw SQL, as an intruder with
// write access to the database would, and expects every such value to refuse to open.
func TestTamperingIsDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  []string
		swap bool // swap key id, wrapped key, nonce and ciphertext between A v1 and B v2
		// which of A (web/A), B (web/B, two versions), C (org/C) no longer open
		broken string
	}{
		{"swap sealed values between two rows", nil, true, "AB"},
		{"copy ciphertext and nonce", []string{
			`UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE secret_id = {B} AND version = 1),
			nonce = (SELECT nonce FROM secret_versions WHERE secret_id = {B} AND version = 1) WHERE secret_id = {A}`,
		}, false, "A"},
		{"copy wrapped key", []string{
			`UPDATE secret_versions SET wrapped_key = (SELECT wrapped_key FROM secret_versions WHERE secret_id = {B} AND version = 1) WHERE secret_id = {A}`,
		}, false, "A"},
		{"move an org secret's row to a project secret", []string{
			`DELETE FROM secret_versions WHERE secret_id = {A}`,
			`UPDATE secret_versions SET secret_id = {A} WHERE secret_id = {C}`,
		}, false, "AC"},
		{"rename secrets", []string{`UPDATE secrets SET name = 'C' WHERE id = {B}`, `UPDATE secrets SET name = 'B' WHERE id = {A}`, `DELETE FROM secrets WHERE id = {C}`}, false, "ABC"},
		{"move a secret to another project", []string{`UPDATE secrets SET project_id = {api} WHERE id = {A}`}, false, "A"},
		{"re-scope a secret", []string{`UPDATE secrets SET scope = 'environment', environment = 'prod' WHERE id = {A}`}, false, "A"},
		{"org secret made a project secret", []string{`UPDATE secrets SET scope = 'project', project_id = {web} WHERE id = {C}`}, false, "C"},
		{"old version as current: renumbered", []string{
			`DELETE FROM secret_versions WHERE secret_id = {B} AND version = 2`,
			`UPDATE secret_versions SET version = 2 WHERE secret_id = {B} AND version = 1`,
		}, false, "B"},
		{"version number edited", []string{`UPDATE secret_versions SET version = 3 WHERE secret_id = {B} AND version = 2`, `UPDATE secrets SET version = 3 WHERE id = {B}`}, false, "B"},
		{"ciphertext extended", []string{`UPDATE secret_versions SET ciphertext = ciphertext || ciphertext WHERE secret_id = {C}`}, false, "C"},
		{"nonce of the wrong size", []string{`UPDATE secret_versions SET nonce = wrapped_key WHERE secret_id = {C}`}, false, "C"},
		{"wrapped key emptied", []string{`UPDATE secret_versions SET wrapped_key = nonce WHERE secret_id = {C}`}, false, "C"},
		{"key id changed", []string{`UPDATE secret_versions SET key_id = 'deadbeefdeadbeef' WHERE secret_id = {C}`}, false, "C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, f *fixture) {
				values := map[string]string{"A": uniqueValue("a"), "B": uniqueValue("b"), "C": uniqueValue("c")}
				a := f.set(t, projRef("web", "A"), values["A"])
				f.set(t, projRef("web", "B"), "b-version-one")
				b := f.set(t, projRef("web", "B"), values["B"])
				c := f.set(t, orgRef("C"), values["C"])
				if tc.swap {
					f.swapSealed(t, a.ID, 1, b.ID, 2)
				}
				r := strings.NewReplacer("{A}", fmt.Sprint(a.ID), "{B}", fmt.Sprint(b.ID), "{C}", fmt.Sprint(c.ID),
					"{api}", fmt.Sprint(f.api.ID), "{web}", fmt.Sprint(f.web.ID))
				for _, q := range tc.sql {
					f.exec(t, r.Replace(q))
				}
				detected := 0
				for _, name := range []string{"A", "B", "C"} {
					broken := strings.Contains(tc.broken, name)
					for _, pid := range []int64{f.web.ID, f.api.ID} {
						got, err := f.v.ForJob(f.ctx, pid, "prod", []string{name})
						switch {
						case err == nil && broken:
							t.Fatalf("%s opened after tampering: got %q", name, got[name])
						case err == nil && got[name] != values[name]:
							t.Fatalf("%s: got %q, want %q", name, got[name], values[name])
						case err != nil && !broken && pid == f.web.ID:
							t.Fatalf("untouched %s: %v", name, err)
						case errors.Is(err, ErrTampered), errors.Is(err, ErrUnknownKey):
							detected++
						}
						if err != nil {
							for _, val := range values {
								if strings.Contains(err.Error(), val) {
									t.Fatalf("error holds a value: %v", err)
								}
							}
						}
					}
				}
				if detected == 0 {
					t.Fatal("no lookup failed authentication: the tampering went unnoticed or only missed rows")
				}
			})
		})
	}
}

// swapSealed swaps the sealed parts of two versions with raw SQL.
func (f *fixture) swapSealed(t *testing.T, id1 int64, v1 int, id2 int64, v2 int) {
	t.Helper()
	type sealed struct {
		keyID              string
		wrapped, nonce, ct []byte
	}
	read := func(id int64, v int) sealed {
		var s sealed
		q := fmt.Sprintf("SELECT key_id, wrapped_key, nonce, ciphertext FROM secret_versions WHERE secret_id = %d AND version = %d", id, v)
		if err := f.raw.QueryRow(q).Scan(&s.keyID, &s.wrapped, &s.nonce, &s.ct); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, s2 := read(id1, v1), read(id2, v2)
	write := func(id int64, v int, s sealed) {
		f.exec(t, "UPDATE secret_versions SET key_id = ?, wrapped_key = ?, nonce = ?, ciphertext = ? WHERE secret_id = ? AND version = ?",
			s.keyID, s.wrapped, s.nonce, s.ct, id, v)
	}
	write(id1, v1, s2)
	write(id2, v2, s1)
}

func TestWrongKeyRefusesToStart(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := f.ctx
		val := uniqueValue("x")
		f.set(t, projRef("web", "TOKEN"), val)

		wrong, _ := NewLocalKeyring(newKey(t))
		_, err := New(ctx, f.db, wrong, f.clock.Now)
		if rampart.ErrorCode(err) != rampart.EPRECONDITION || rampart.ErrorMessage(err) != "the master key does not match this database" {
			t.Fatalf("wrong key: %v", err)
		}
		if d := rampart.ErrorDetail(err); !strings.Contains(d, "--master-key-file") || !strings.Contains(d, "RAMPART_MASTER_KEY") {
			t.Fatalf("detail does not say how to fix it: %q", d)
		}
		// A wrong key with the right one as an older key: the right one is still there; the
		// new one becomes active, and everything stays readable.
		same, _ := NewLocalKeyring(f.key)
		if _, err := New(ctx, f.db, same, f.clock.Now); err != nil {
			t.Fatalf("same key again: %v", err)
		}
		next := newKey(t)
		ring2, _ := NewLocalKeyring(next, f.key)
		v2, err := New(ctx, f.db, ring2, f.clock.Now)
		if err != nil {
			t.Fatalf("new active key in front of the old one: %v", err)
		}
		if got, err := v2.ForJob(ctx, f.web.ID, "", []string{"TOKEN"}); err != nil || got["TOKEN"] != val {
			t.Fatalf("read after activating a new key: %v %v", got, err)
		}
		evs := f.audit(t)
		if last := evs[len(evs)-1]; last.Action != "vault.key_activate" || !strings.Contains(last.Detail, KeyID(next)) {
			t.Fatalf("last audit event %+v", last)
		}
		// The old key alone is now the wrong key: the database's active key is the new one.
		if _, err := New(ctx, f.db, same, f.clock.Now); rampart.ErrorCode(err) != rampart.EPRECONDITION {
			t.Fatalf("old key after activation: %v", err)
		}
		// The old key first (a key file restored from before the rotation) is refused too.
		back, _ := NewLocalKeyring(f.key, next)
		if _, err := New(ctx, f.db, back, f.clock.Now); rampart.ErrorCode(err) != rampart.EPRECONDITION || !strings.Contains(err.Error(), "retired") {
			t.Fatalf("retired key as active: %v", err)
		}
		// The new key alone: TOKEN is still wrapped by the old key, so the keyring is incomplete.
		alone, _ := NewLocalKeyring(next)
		if _, err := New(ctx, f.db, alone, f.clock.Now); rampart.ErrorCode(err) != rampart.EPRECONDITION || !strings.Contains(err.Error(), "still wraps") {
			t.Fatalf("keyring without a key still in use: %v", err)
		}
		if strings.Contains(fmt.Sprint(err), val) {
			t.Fatal("error holds the value")
		}
	})
}

// TestRotation rotates under load: readers and writers keep going, every value stays readable,
// no data key stays wrapped by the old key, no ciphertext changes and no value reaches the store.
func TestRotation(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := f.ctx
		f.v.batch = 3 // several batches
		values := map[string]string{}
		refs := map[string]SecretRef{}
		for i := range 10 {
			for _, ref := range []SecretRef{orgRef(fmt.Sprintf("ORG_%d", i)), projRef("web", fmt.Sprintf("WEB_%d", i)), envRef("web", "prod", fmt.Sprintf("PROD_%d", i))} {
				val := uniqueValue(ref.Name)
				f.set(t, ref, "first-version-"+ref.Name)
				f.set(t, ref, val)
				values[ref.Name], refs[ref.Name] = val, ref
			}
		}
		const versions = 60
		snapshot := func() map[string]string {
			rows, err := f.raw.Query("SELECT secret_id, version, nonce, ciphertext, key_id FROM secret_versions")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := map[string]string{}
			for rows.Next() {
				var (
					id, ver   int64
					nonce, ct []byte
					keyID     string
				)
				rows.Scan(&id, &ver, &nonce, &ct, &keyID)
				out[fmt.Sprint(id, "/", ver)] = fmt.Sprintf("%x/%x", nonce, ct)
			}
			return out
		}
		before := snapshot()
		oldID := f.ring.KeyID()

		// Refused without the old key: nothing changes.
		bare, _ := NewLocalKeyring(newKey(t))
		if _, err := f.v.Rotate(ctx, f.actors["root"], bare); rampart.ErrorCode(err) != rampart.EPRECONDITION {
			t.Fatalf("rotate to a keyring without the old key: %v", err)
		}
		if f.v.KeyID() != oldID {
			t.Fatal("refused rotation changed the active key")
		}

		newKeyBytes := newKey(t)
		next, _ := NewLocalKeyring(newKeyBytes, f.key)

		stop := make(chan struct{})
		var (
			wg      sync.WaitGroup
			reads   atomic.Int64
			failure atomic.Value
		)
		var names []string
		for n := range values {
			if strings.HasPrefix(n, "PROD_") || strings.HasPrefix(n, "ORG_") {
				names = append(names, n)
			}
		}
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := f.v.ForJob(ctx, f.web.ID, "prod", names)
					if err != nil {
						failure.Store(err.Error())
						return
					}
					for _, n := range names {
						if got[n] != values[n] {
							failure.Store("wrong value for " + n)
							return
						}
					}
					reads.Add(1)
				}
			}()
		}
		// A writer during rotation, sealing under whichever key is active.
		wg.Add(1)
		written := uniqueValue("during")
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.v.Set(ctx, f.actors["root"], projRef("api", "DURING"), []byte(written)); err != nil {
					failure.Store(err.Error())
					return
				}
			}
		}()

		f.spy.reset()
		n, err := f.v.Rotate(ctx, f.actors["root"], next)
		setsDuringRotation := f.spy.count("AddSecretVersion")
		rewrapBlobs := f.spy.recorded()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if msg := failure.Load(); msg != nil {
			t.Fatalf("during rotation: %v", msg)
		}
		if n < versions {
			t.Fatalf("rewrapped %d, want at least %d", n, versions)
		}
		if f.spy.count("Rewrap") < versions {
			t.Fatalf("%d Rewrap calls", f.spy.count("Rewrap"))
		}
		t.Logf("rewrapped %d data keys while %d reads and %d writes went on", n, reads.Load(), setsDuringRotation)

		// Only data keys moved: nonces and ciphertexts are the same bytes as before.
		after := snapshot()
		for k, was := range before {
			if after[k] != was {
				t.Fatalf("version %s: ciphertext changed during rotation", k)
			}
		}
		// Nothing the rotation gave the store holds a value.
		plain := [][]byte{[]byte(written)}
		for _, val := range values {
			plain = append(plain, []byte(val))
		}
		for _, b := range rewrapBlobs {
			for _, val := range plain {
				if bytes.Contains(b, val) {
					t.Fatal("the store was given a plaintext value during rotation")
				}
			}
		}
		// No version is wrapped by the old key any more.
		var left int
		f.raw.QueryRow("SELECT COUNT(*) FROM secret_versions WHERE key_id = '" + oldID + "'").Scan(&left)
		if left != 0 {
			t.Fatalf("%d versions still wrapped by the old key", left)
		}
		f.db.View(ctx, func(tx rampart.Tx) error {
			svs, err := tx.SealedValuesByKey(ctx, oldID, 10)
			if err != nil || len(svs) != 0 {
				t.Fatalf("SealedValuesByKey(old) = %d, %v", len(svs), err)
			}
			return nil
		})

		// The new key alone now opens everything, and the old one alone is refused.
		only, _ := NewLocalKeyring(newKeyBytes)
		v2, err := New(ctx, f.db, only, f.clock.Now)
		if err != nil {
			t.Fatalf("start with the new key only: %v", err)
		}
		for name, ref := range refs {
			env := ref.Environment
			pid := f.web.ID
			got, err := v2.ForJob(ctx, pid, env, []string{name})
			if err != nil || got[name] != values[name] {
				t.Fatalf("%s after rotation: %v, %v", name, got, err)
			}
		}
		if got, err := v2.ForJob(ctx, f.api.ID, "", []string{"DURING"}); err != nil || got["DURING"] != written {
			t.Fatalf("secret written during rotation: %v %v", got, err)
		}
		oldOnly, _ := NewLocalKeyring(f.key)
		if _, err := New(ctx, f.db, oldOnly, f.clock.Now); rampart.ErrorCode(err) != rampart.EPRECONDITION {
			t.Fatalf("old key after rotation: %v", err)
		}

		// Audited with the counts.
		var rotate *rampart.AuditEvent
		for _, e := range f.audit(t) {
			if e.Action == "vault.rotate" && e.Result == rampart.ResultSuccess {
				rotate = e
			}
		}
		if rotate == nil || !strings.Contains(rotate.Detail, fmt.Sprintf("rewrapped=%d", n)) || !strings.Contains(rotate.Detail, "from:"+oldID) {
			t.Fatalf("vault.rotate event %+v", rotate)
		}

		// Running it again finds nothing to do.
		if n, err := f.v.Rotate(ctx, f.actors["root"], next); err != nil || n != 0 {
			t.Fatalf("second rotation: %d, %v", n, err)
		}
	})
}

// TestRotationResumes breaks a rotation midway and runs it again.
func TestRotationResumes(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := f.ctx
	f.v.batch = 2
	for i := range 7 {
		f.set(t, projRef("web", fmt.Sprintf("S_%d", i)), uniqueValue("r"))
	}
	nk := newKey(t)
	inner, _ := NewLocalKeyring(nk, f.key)
	flaky := &flakyKP{KeyProvider: inner, failAfter: 3}
	n, err := f.v.Rotate(ctx, f.actors["root"], flaky)
	if err == nil || n != 2 {
		t.Fatalf("flaky rotation: %d, %v", n, err)
	}
	evs := f.audit(t)
	if last := evs[len(evs)-1]; last.Action != "vault.rotate" || last.Result != rampart.ResultFailure {
		t.Fatalf("failed rotation not audited: %+v", last)
	}
	// Meanwhile everything reads: half under the new key, half under the old.
	names := []string{"S_0", "S_1", "S_2", "S_3", "S_4", "S_5", "S_6"}
	if _, err := f.v.ForJob(ctx, f.web.ID, "", names); err != nil {
		t.Fatal(err)
	}
	// A restart with the new key only is refused until rotation finishes.
	alone, _ := NewLocalKeyring(nk)
	if _, err := New(ctx, f.db, alone, f.clock.Now); rampart.ErrorCode(err) != rampart.EPRECONDITION {
		t.Fatalf("new key alone mid-rotation: %v", err)
	}
	n, err = f.v.Rotate(ctx, f.actors["root"], inner)
	if err != nil || n != 5 {
		t.Fatalf("resumed rotation: %d, %v", n, err)
	}
	if _, err := New(ctx, f.db, alone, f.clock.Now); err != nil {
		t.Fatal(err)
	}
}

type flakyKP struct {
	KeyProvider
	mu        sync.Mutex
	wraps     int
	failAfter int
}

func (k *flakyKP) Wrap(ctx context.Context, dk, aad []byte) (string, []byte, error) {
	k.mu.Lock()
	k.wraps++
	n := k.wraps
	k.mu.Unlock()
	// The first wrap is the check value of the new key.
	if n > k.failAfter+1 {
		return "", nil, errors.New("kms: unavailable")
	}
	return k.KeyProvider.Wrap(ctx, dk, aad)
}

func TestValidation(t *testing.T) {
	f := newFixture(t, "sqlite")
	admin := f.actors["root"]
	for _, tc := range []struct {
		name  string
		ref   SecretRef
		value string
		code  string
		msg   string
	}{
		{"ok", projRef("web", "OK_1"), "12345678", "", ""},
		{"ok max", projRef("web", "BIG"), strings.Repeat("x", MaxValueSize), "", ""},
		{"ok unicode", projRef("web", "UNI"), "päßwörd€", "", ""},
		{"ok inferred scope", SecretRef{Project: "web", Environment: "prod", Name: "INFERRED"}, "12345678", "", ""},
		{"short", projRef("web", "SHORT"), "1234567", rampart.EINVALID, "too short to mask safely in logs: use at least 8 characters"},
		{"short in characters", projRef("web", "SHORT"), "pässwö€", rampart.EINVALID, "too short"},
		{"empty", projRef("web", "EMPTY"), "", rampart.EINVALID, "too short"},
		{"oversized", projRef("web", "HUGE"), strings.Repeat("x", MaxValueSize+1), rampart.ETOOLARGE, "larger than 64 KiB"},
		{"nul", projRef("web", "NUL"), "abcd\x00efgh", rampart.EINVALID, "NUL"},
		{"lower-case name", projRef("web", "token"), "12345678", rampart.EINVALID, "invalid secret name"},
		{"digit first", projRef("web", "1TOKEN"), "12345678", rampart.EINVALID, "starts with a digit"},
		{"dash", projRef("web", "MY-TOKEN"), "12345678", rampart.EINVALID, "invalid secret name"},
		{"empty name", projRef("web", ""), "12345678", rampart.EINVALID, "empty"},
		{"long name", projRef("web", strings.Repeat("A", 129)), "12345678", rampart.EINVALID, "longer than 128"},
		{"org with project", SecretRef{Scope: rampart.ScopeOrg, Project: "web", Name: "X"}, "12345678", rampart.EINVALID, "organisation secret"},
		{"env without project", SecretRef{Scope: rampart.ScopeEnvironment, Environment: "prod", Name: "X"}, "12345678", rampart.EINVALID, "environment secret"},
		{"bad env", envRef("web", "Prod!", "X"), "12345678", rampart.EINVALID, "environment name"},
		{"unknown scope", SecretRef{Scope: "team", Name: "X"}, "12345678", rampart.EINVALID, "scope"},
		{"unknown project", projRef("nope", "X"), "12345678", rampart.ENOTFOUND, "project"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Set(f.ctx, admin, tc.ref, []byte(tc.value))
			if rampart.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("err = %v, want code %q", err, tc.code)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %q does not say %q", err, tc.msg)
			}
			if len(tc.value) >= 4 && strings.Contains(err.Error(), tc.value) {
				t.Fatalf("error holds the value: %v", err)
			}
		})
	}
	if d := rampart.ErrorDetail(ValidName("x")); !strings.Contains(d, "A-Z") {
		t.Fatalf("name error gives no hint: %q", d)
	}
}

// TestErrorsNeverHoldValues drives failing paths with a value and looks for it in every error.
func TestErrorsNeverHoldValues(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := f.ctx
	val := "GHP_" + strings.ToUpper(strings.ReplaceAll(uniqueValue("leak"), "-", "_"))
	var errs []error
	collect := func(_ any, err error) {
		if err == nil {
			t.Fatalf("expected an error")
		}
		errs = append(errs, err)
	}
	// A value typed where the name goes (it even looks like a name).
	collect(f.v.Set(ctx, f.actors["root"], projRef("web", val+"-"), []byte("12345678")))
	collect(f.v.Set(ctx, f.actors["root"], projRef("web", strings.ToLower(val)), []byte("12345678")))
	collect(f.v.Set(ctx, f.actors["member"], orgRef("X"), []byte(val)))
	collect(f.v.Set(ctx, f.actors["dev"], projRef("web", "X"), []byte(val)))
	collect(f.v.Set(ctx, f.actors["root"], projRef("web", "X"), []byte(val+strings.Repeat("x", MaxValueSize))))
	collect(f.v.Set(ctx, f.actors["root"], projRef("web", "X"), []byte(val[:7])))
	collect(f.v.Set(ctx, f.actors["root"], projRef("web", "X"), []byte(val+"\x00")))
	collect(f.v.Set(ctx, f.actors["root"], envRef("web", "bad env", "X"), []byte(val)))
	collect(f.v.ForJob(ctx, f.web.ID, "", []string{strings.ToLower(val)}))
	// A tampered value.
	s := f.set(t, projRef("web", "T"), val)
	f.exec(t, fmt.Sprintf("UPDATE secret_versions SET version = 9 WHERE secret_id = %d", s.ID))
	f.exec(t, fmt.Sprintf("UPDATE secrets SET version = 9 WHERE id = %d", s.ID))
	collect(f.v.ForJob(ctx, f.web.ID, "", []string{"T"}))
	wrong, _ := NewLocalKeyring(newKey(t))
	collect(New(ctx, f.db, wrong, nil))
	// Nor does the vault print its keys.
	errs = append(errs, fmt.Errorf("%v %+v %#v", f.v, f.v, f.v))
	for _, err := range errs {
		assertNoLeak(t, "error", err.Error(), f.key)
		text := err.Error() + " " + rampart.ErrorDetail(err) + " " + fmt.Sprintf("%+v %#v", err, err)
		if strings.Contains(text, val) || strings.Contains(text, strings.ToLower(val)) || strings.Contains(text, val[:7]) {
			t.Fatalf("error holds the value: %s", text)
		}
	}
	for _, e := range f.audit(t) {
		if strings.Contains(e.Target+e.Detail, val) || strings.Contains(e.Target+e.Detail, strings.ToLower(val)) {
			t.Fatalf("audit event holds the value: %+v", e)
		}
	}
}

// TestPermissions walks role × operation × scope and checks both the decision and that every
// refusal is audited.
func TestPermissions(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := f.ctx
	f.set(t, orgRef("ORG_S"), "org-secret-value")
	f.set(t, projRef("web", "WEB_S"), "web-secret-value")
	f.set(t, envRef("web", "prod", "PROD_S"), "prod-secret-value")
	f.set(t, projRef("api", "API_S"), "api-secret-value")

	type op struct {
		name string
		run  func(a *rampart.Actor) error
	}
	set := func(ref SecretRef) func(*rampart.Actor) error {
		return func(a *rampart.Actor) error {
			_, err := f.v.Set(ctx, a, ref, []byte("new-value-123"))
			return err
		}
	}
	show := func(ref SecretRef) func(*rampart.Actor) error {
		return func(a *rampart.Actor) error { _, _, err := f.v.Show(ctx, a, ref); return err }
	}
	del := func(ref SecretRef) func(*rampart.Actor) error {
		return func(a *rampart.Actor) error {
			if err := f.v.Delete(ctx, a, ref); err != nil {
				return err
			}
			// Put it back for the next role.
			f.set(t, ref, "restored-value")
			return nil
		}
	}
	listWeb := func(a *rampart.Actor) error { _, err := f.v.List(ctx, a, ListFilter{Project: "web"}); return err }
	rotate := func(a *rampart.Actor) error { _, err := f.v.Rotate(ctx, a, f.ring); return err }
	ops := []op{
		{"set org", set(orgRef("ORG_S"))},
		{"set project", set(projRef("web", "WEB_S"))},
		{"set environment", set(envRef("web", "prod", "PROD_S"))},
		{"set other project", set(projRef("api", "API_S"))},
		{"delete org", del(orgRef("ORG_S"))},
		{"delete project", del(projRef("web", "WEB_S"))},
		{"delete environment", del(envRef("web", "prod", "PROD_S"))},
		{"show org", show(orgRef("ORG_S"))},
		{"show project", show(projRef("web", "WEB_S"))},
		{"show environment", show(envRef("web", "prod", "PROD_S"))},
		{"show other project", show(projRef("api", "API_S"))},
		{"list project", listWeb},
		{"rotate", rotate},
	}
	// Who may: maint is web's maintainer, relman its release manager, dev its developer.
	allowed := map[string]string{
		"set org":            "root",
		"set project":        "root maint",
		"set environment":    "root maint",
		"set other project":  "root",
		"delete org":         "root",
		"delete project":     "root maint",
		"delete environment": "root maint",
		"show org":           "root sec",
		"show project":       "root sec maint relman",
		"show environment":   "root sec maint relman",
		"show other project": "root sec",
		"list project":       "root sec maint relman",
		"rotate":             "root",
	}
	for _, o := range ops {
		for _, who := range []string{"root", "sec", "member", "maint", "relman", "dev"} {
			t.Run(o.name+"/"+who, func(t *testing.T) {
				before := len(f.audit(t))
				err := o.run(f.actors[who])
				want := strings.Contains(" "+allowed[o.name]+" ", " "+who+" ")
				if want {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if code := rampart.ErrorCode(err); code != rampart.EFORBIDDEN && code != rampart.ENOTFOUND {
					t.Fatalf("err = %v, want forbidden (or not found for a project they cannot see)", err)
				}
				evs := f.audit(t)
				if len(evs) != before+1 {
					t.Fatalf("refusal not audited: %d new events", len(evs)-before)
				}
				if last := evs[len(evs)-1]; last.Result != rampart.ResultDenied || last.Actor != who {
					t.Fatalf("audit event %+v", last)
				}
			})
		}
	}
	if _, err := f.v.Set(ctx, nil, orgRef("X"), []byte("12345678")); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("anonymous set: %v", err)
	}
	// A token with the viewer ceiling reads but never writes.
	viewer := *f.actors["maint"]
	viewer.Scope = rampart.RoleViewer
	if _, err := f.v.Set(ctx, &viewer, projRef("web", "WEB_S"), []byte("12345678")); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("viewer token set: %v", err)
	}

	t.Run("list", func(t *testing.T) {
		for who, want := range map[string]string{
			"root":   "ORG_S API_S WEB_S PROD_S",
			"sec":    "ORG_S API_S WEB_S PROD_S",
			"maint":  "WEB_S PROD_S",
			"relman": "WEB_S PROD_S",
			"dev":    "",
			"member": "",
		} {
			ss, err := f.v.List(ctx, f.actors[who], ListFilter{})
			if err != nil {
				t.Fatalf("%s: %v", who, err)
			}
			var got []string
			for _, s := range ss {
				got = append(got, s.Name)
			}
			if strings.Join(got, " ") != want {
				t.Errorf("%s lists %v, want %s", who, got, want)
			}
		}
		ss, err := f.v.List(ctx, f.actors["root"], ListFilter{Project: "web", Environment: "prod"})
		if err != nil || len(ss) != 1 || ss[0].Name != "PROD_S" {
			t.Fatalf("list environment: %v %v", ss, err)
		}
		ss, err = f.v.List(ctx, f.actors["root"], ListFilter{Scope: rampart.ScopeOrg})
		if err != nil || len(ss) != 1 || ss[0].Name != "ORG_S" {
			t.Fatalf("list org: %v %v", ss, err)
		}
		if _, err := f.v.List(ctx, f.actors["root"], ListFilter{Environment: "prod"}); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Fatalf("environment without project: %v", err)
		}
	})
}

func BenchmarkForJob10(b *testing.B) {
	f := newFixture(b, "sqlite")
	var names []string
	for i := range 10 {
		name := fmt.Sprintf("SECRET_%d", i)
		names = append(names, name)
		ref := projRef("web", name)
		switch i % 3 {
		case 0:
			ref = orgRef(name)
		case 1:
			ref = envRef("web", "prod", name)
		}
		f.set(b, ref, uniqueValue(name))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := f.v.ForJob(f.ctx, f.web.ID, "prod", names)
		if err != nil || len(got) != 10 {
			b.Fatal(len(got), err)
		}
	}
}
