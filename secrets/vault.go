// Package secrets is Rampart's vault: secrets encrypted at rest behind one barrier (envelope
// encryption: an AES-256-GCM data key per secret version, wrapped by a key-encryption key from a
// KeyProvider, with AAD binding each ciphertext to its scope, project, environment, name and
// version), organisation, project and environment scopes, versions, key rotation without
// downtime, and delivery of values to jobs. Values are write-only: List and Show return metadata,
// and only ForJob, called by the scheduler for a job it has decided is entitled, decrypts.
//
// The store behind the vault is treated as untrusted: it only ever sees sealed values, and a
// sealed value edited or moved in the database fails to open. What the barrier cannot detect is
// a database attacker rolling a secret back to an older version of itself, or deleting it.
package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/rbac"
)

// MaxValueSize is the largest secret value accepted, in bytes.
const MaxValueSize = 64 << 10

// rotateBatch is how many data keys Rotate re-wraps per transaction.
const rotateBatch = 100

// projectAuthorizer looks up a project and checks a per-project permission on it, auditing a
// refusal: *project.Service.
type projectAuthorizer interface {
	Authorize(ctx context.Context, actor *rampart.Actor, a rbac.Action, name string) (*rampart.Project, error)
}

// Vault stores and delivers secrets. It is safe for concurrent use, Rotate included: reads and
// writes go on while it runs.
type Vault struct {
	store    rampart.Store
	projects projectAuthorizer
	now      func() time.Time
	batch    int

	mu sync.RWMutex
	kp KeyProvider // guarded by mu; replaced by Rotate

	rotating sync.Mutex // one Rotate at a time in this process
}

// New returns a vault on store whose key-encryption keys come from kp, after checking that kp
// fits the database; now defaults to time.Now. Project permissions are checked with
// project.New(store, now).
//
// On a database without keys New records kp's active key, with a check value sealed under it
// (audited as vault.init). Otherwise kp must open the check value of the database's active key,
// or New fails with EPRECONDITION "the master key does not match this database", and the server
// must refuse to start. kp must also hold every retired key that still wraps data keys (left by
// a rotation that did not finish). If kp's active key is new to the database, New makes it the
// active key (audited as vault.key_activate): new secret versions are wrapped under it, older
// ones stay readable through the older keys kp holds, and `rampart vault rotate` re-wraps them.
// A kp whose active key a rotation has retired is refused: it would wrap new data under an old
// key.
func New(ctx context.Context, store rampart.Store, kp KeyProvider, now func() time.Time) (*Vault, error) {
	if kp == nil {
		return nil, errors.New("secrets: nil KeyProvider")
	}
	if now == nil {
		now = time.Now
	}
	v := &Vault{store: store, projects: project.New(store, now), now: now, batch: rotateBatch, kp: kp}
	err := store.Update(ctx, func(tx rampart.Tx) error {
		_, err := v.adopt(ctx, tx, kp, rampart.SystemActor(), false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// keys returns the current KeyProvider.
func (v *Vault) keys() KeyProvider {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.kp
}

// KeyID returns the id of the key-encryption key that wraps new data keys.
func (v *Vault) KeyID() string { return v.keys().KeyID() }

// The check value: a known plaintext wrapped under each recorded key.
var (
	checkPlain = []byte("rampart vault key check v1")
	checkAAD   = []byte("rampart/vault-check/v1")
)

// mismatch reports whether err says a key is absent or wrong, rather than unreachable.
func mismatch(err error) bool { return errors.Is(err, ErrDecrypt) || errors.Is(err, ErrUnknownKey) }

// verify opens k's check value with kp.
func verify(ctx context.Context, kp KeyProvider, k *rampart.VaultKey) error {
	pt, err := kp.Unwrap(ctx, k.ID, k.Check, checkAAD)
	defer clear(pt)
	if err != nil {
		return err
	}
	if !bytes.Equal(pt, checkPlain) {
		return fmt.Errorf("check value of key %q: %w", k.ID, ErrDecrypt)
	}
	return nil
}

// adopt checks kp against the key records in tx and, when kp's active key is new, records it as
// the active key and audits that as actor did it. It returns the active key's id.
func (v *Vault) adopt(ctx context.Context, tx rampart.Tx, kp KeyProvider, actor *rampart.Actor, rotating bool) (string, error) {
	records, err := tx.VaultKeys(ctx)
	if err != nil {
		return "", err
	}
	var current *rampart.VaultKey
	byID := map[string]*rampart.VaultKey{}
	for _, k := range records {
		byID[k.ID] = k
		err := verify(ctx, kp, k)
		switch {
		case err == nil:
		case !mismatch(err):
			return "", fmt.Errorf("check key-encryption key %s: %w", k.ID, err)
		case k.Active && rotating:
			return "", rampart.Errorf(rampart.EPRECONDITION, "the new keyring lacks the vault's active key %s", k.ID).
				WithDetail("a rotation needs a keyring with the new key first and the current keys after it: keep the current key file's lines after the new key's")
		case k.Active:
			return "", rampart.Errorf(rampart.EPRECONDITION, "the master key does not match this database").
				WithDetail("the database's active key-encryption key has id %s and the given keyring's has id %s: give the key file this database was started with (--master-key-file) or the same RAMPART_MASTER_KEY; a key file holding the right key as an older key works too", k.ID, kp.KeyID())
		default:
			left, err := tx.SealedValuesByKey(ctx, k.ID, 1)
			if err != nil {
				return "", err
			}
			if len(left) > 0 {
				return "", rampart.Errorf(rampart.EPRECONDITION, "the master keyring lacks key %s, which still wraps secrets", k.ID).
					WithDetail("a key rotation did not finish: put the old key back after the active one in the key file (or RAMPART_MASTER_KEY), start, and run `rampart vault rotate`")
			}
		}
		if k.Active {
			current = k
		}
	}
	id := kp.KeyID()
	if rec := byID[id]; rec != nil {
		if rec.Active {
			return id, nil
		}
		active := "none"
		if current != nil {
			active = current.ID
		}
		return "", rampart.Errorf(rampart.EPRECONDITION, "the keyring's active key %s was retired by a key rotation", id).
			WithDetail("put the vault's active key (%s) first in the key file; the retired key may stay after it", active)
	}
	wrappedBy, check, err := kp.Wrap(ctx, checkPlain, checkAAD)
	if err != nil {
		return "", fmt.Errorf("seal check value under key %s: %w", id, err)
	}
	now := v.now()
	if err := tx.PutVaultKey(ctx, &rampart.VaultKey{ID: wrappedBy, Check: check, Active: true, CreatedAt: now}); err != nil {
		return "", err
	}
	action, detail := "vault.init", "key="+wrappedBy
	if current != nil {
		action, detail = "vault.key_activate", fmt.Sprintf("key=%s previous=%s", wrappedBy, current.ID)
	}
	ev := audit.Event(actor, action, "vault", rampart.ResultSuccess)
	ev.Detail = detail
	return wrappedBy, audit.Append(ctx, tx, ev, now)
}

// SecretRef names a secret. Scope is rampart.ScopeOrg, ScopeProject or ScopeEnvironment; when it
// is empty it is inferred: environment when Environment is set, project when Project is, and
// organisation otherwise. Project is a project name, empty for organisation secrets.
type SecretRef struct {
	Scope       string `json:"scope"`
	Project     string `json:"project,omitempty"`
	Environment string `json:"environment,omitempty"`
	Name        string `json:"name"`
}

// String is the ref as audit targets show it: org/NAME, project/P/NAME, environment/P/E/NAME.
func (r SecretRef) String() string {
	switch r.Scope {
	case rampart.ScopeOrg:
		return "org/" + r.Name
	case rampart.ScopeProject:
		return "project/" + r.Project + "/" + r.Name
	}
	return r.Scope + "/" + r.Project + "/" + r.Environment + "/" + r.Name
}

var (
	nameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	envRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
)

// ValidName returns an EINVALID error unless name can name a secret: 1 to 128 upper-case
// letters, digits and '_', not starting with a digit. The error does not quote name, which may
// be a value typed in the wrong place.
func ValidName(name string) error {
	if nameRE.MatchString(name) {
		return nil
	}
	why := "it may hold only upper-case letters A-Z, digits and '_'"
	switch {
	case name == "":
		why = "it is empty"
	case len(name) > 128:
		why = "it is longer than 128 characters"
	case name[0] >= '0' && name[0] <= '9':
		why = "it starts with a digit"
	}
	return rampart.Errorf(rampart.EINVALID, "invalid secret name: %s", why).
		WithDetail("secret names are environment variable names: 1 to 128 of A-Z, 0-9 and '_', not starting with a digit, e.g. DEPLOY_TOKEN")
}

// validEnv returns an EINVALID error unless env can name an environment.
func validEnv(env string) error {
	if envRE.MatchString(env) {
		return nil
	}
	return rampart.Errorf(rampart.EINVALID, "invalid environment name %q", env).
		WithDetail("use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
}

// ValidValue returns an error unless value can be a secret's value: at least
// rampart.MinSecretLength characters, so that it can be masked in logs, at most MaxValueSize
// bytes, and without NUL bytes, as it is delivered in an environment variable. The error never
// quotes the value.
func ValidValue(value []byte) error {
	switch {
	case utf8.RuneCount(value) < rampart.MinSecretLength:
		return rampart.Errorf(rampart.EINVALID, "secret value too short to mask safely in logs: use at least %d characters", rampart.MinSecretLength).
			WithDetail("jobs' logs are masked by replacing every occurrence of a secret's value; a value that short occurs in ordinary output, so it would either garble logs or leak")
	case len(value) > MaxValueSize:
		return rampart.Errorf(rampart.ETOOLARGE, "secret value of %d bytes is larger than %d KiB", len(value), MaxValueSize>>10).
			WithDetail("store large material as a build artifact or in a file encrypted with a key held in the vault")
	case bytes.IndexByte(value, 0) >= 0:
		return rampart.Errorf(rampart.EINVALID, "secret value contains a NUL byte").
			WithDetail("values are delivered as environment variables, which cannot hold NUL: base64-encode binary values")
	}
	return nil
}

// normalize infers r's scope when it is empty and checks that its fields fit it.
func (r SecretRef) normalize() (SecretRef, error) {
	if r.Scope == "" {
		switch {
		case r.Environment != "":
			r.Scope = rampart.ScopeEnvironment
		case r.Project != "":
			r.Scope = rampart.ScopeProject
		default:
			r.Scope = rampart.ScopeOrg
		}
	}
	switch r.Scope {
	case rampart.ScopeOrg:
		if r.Project != "" || r.Environment != "" {
			return r, rampart.Errorf(rampart.EINVALID, "an organisation secret has no project or environment").
				WithDetail("leave out the project and environment, or use scope %q or %q", rampart.ScopeProject, rampart.ScopeEnvironment)
		}
	case rampart.ScopeProject:
		if r.Project == "" || r.Environment != "" {
			return r, rampart.Errorf(rampart.EINVALID, "a project secret has a project and no environment").
				WithDetail("give the project; for an environment's secret use scope %q", rampart.ScopeEnvironment)
		}
	case rampart.ScopeEnvironment:
		if r.Project == "" || r.Environment == "" {
			return r, rampart.Errorf(rampart.EINVALID, "an environment secret needs a project and an environment").
				WithDetail("give both the project and the environment")
		}
		if err := validEnv(r.Environment); err != nil {
			return r, err
		}
	default:
		return r, rampart.Errorf(rampart.EINVALID, "unknown secret scope %q", r.Scope).
			WithDetail("scopes are %q, %q and %q", rampart.ScopeOrg, rampart.ScopeProject, rampart.ScopeEnvironment)
	}
	return r, ValidName(r.Name)
}

// authorize checks that actor may read or write the secret ref names, auditing a refusal, and
// returns its project (nil for organisation secrets).
func (v *Vault) authorize(ctx context.Context, actor *rampart.Actor, ref SecretRef, write bool) (*rampart.Project, error) {
	if actor == nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in").
			WithDetail("sign in with `rampart login` or send an API token as `Authorization: Bearer …`")
	}
	if ref.Scope == rampart.ScopeOrg {
		a := rbac.SecretRead
		if write {
			a = rbac.SecretWriteOrg
		}
		if err := rbac.Check(auth.Subject(actor), a, rbac.Resource{}); err != nil {
			return nil, audit.Denied(ctx, v.store, actor, string(a), "secret:"+ref.String(), err, v.now())
		}
		return nil, nil
	}
	a := rbac.SecretRead
	if write {
		a = rbac.SecretWrite
	}
	return v.projects.Authorize(ctx, actor, a, ref.Project)
}

func projectID(p *rampart.Project) int64 {
	if p == nil {
		return 0
	}
	return p.ID
}

func notFound(ref SecretRef) error {
	return rampart.Errorf(rampart.ENOTFOUND, "secret %s not found", ref).
		WithDetail("list the secrets you can see with `rampart secret list`")
}

// Set stores value as the next version of the secret ref names, creating the secret at version
// 1 if it does not exist, and returns its metadata. Organisation secrets need SecretWriteOrg,
// project and environment secrets SecretWrite on the project. The change is audited as
// secret.set with the scope, project, environment, name and version, never the value. Errors:
// EUNAUTHORIZED, EFORBIDDEN, ENOTFOUND (project), EINVALID (ref, name or value; see ValidValue),
// ETOOLARGE. value is not retained; the caller may zero it.
func (v *Vault) Set(ctx context.Context, actor *rampart.Actor, ref SecretRef, value []byte) (*rampart.Secret, error) {
	ref, err := ref.normalize()
	if err != nil {
		return nil, err
	}
	p, err := v.authorize(ctx, actor, ref, true)
	if err != nil {
		return nil, err
	}
	if err := ValidValue(value); err != nil {
		return nil, err
	}
	pid := projectID(p)
	var out *rampart.Secret
	err = v.store.Update(ctx, func(tx rampart.Tx) error {
		now := v.now()
		s, err := tx.SecretByName(ctx, ref.Scope, pid, ref.Environment, ref.Name)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			s = &rampart.Secret{Scope: ref.Scope, ProjectID: pid, Environment: ref.Environment, Name: ref.Name,
				CreatedAt: now, CreatedBy: actor.Name}
			err = tx.CreateSecret(ctx, s)
		}
		if err != nil {
			return err
		}
		// The keys are read inside the transaction, which Rotate's activation is serialised with:
		// a version sealed under a key being retired commits before Rotate starts re-wrapping.
		sv, err := v.seal(ctx, bindingOf(s, s.Version+1), value)
		if err != nil {
			return err
		}
		sv.SecretID, sv.CreatedAt, sv.CreatedBy = s.ID, now, actor.Name
		if err := tx.AddSecretVersion(ctx, sv); err != nil {
			return err
		}
		ev := audit.Event(actor, "secret.set", "secret:"+ref.String(), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("scope=%s project=%s environment=%s name=%s version=%d key=%s",
			ref.Scope, ref.Project, ref.Environment, ref.Name, sv.Version, sv.KeyID)
		if err := audit.Append(ctx, tx, ev, now); err != nil {
			return err
		}
		s.Version, s.UpdatedAt, s.UpdatedBy = sv.Version, now, actor.Name
		if p != nil {
			s.Project = p.Name
		}
		out = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Version is the metadata of one version of a secret: never its value nor its sealed bytes.
type Version struct {
	Version   int       `json:"version"`
	KeyID     string    `json:"key_id"` // the key-encryption key that wraps its data key
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Show returns the metadata of the secret ref names and of its versions, newest first; never a
// value. It needs SecretRead (on the project for project and environment secrets). Errors:
// EUNAUTHORIZED, EFORBIDDEN, EINVALID, ENOTFOUND.
func (v *Vault) Show(ctx context.Context, actor *rampart.Actor, ref SecretRef) (*rampart.Secret, []*Version, error) {
	ref, err := ref.normalize()
	if err != nil {
		return nil, nil, err
	}
	p, err := v.authorize(ctx, actor, ref, false)
	if err != nil {
		return nil, nil, err
	}
	var (
		s        *rampart.Secret
		versions []*Version
	)
	err = v.store.View(ctx, func(tx rampart.Tx) error {
		var err error
		s, err = tx.SecretByName(ctx, ref.Scope, projectID(p), ref.Environment, ref.Name)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return notFound(ref)
		} else if err != nil {
			return err
		}
		svs, err := tx.ListSecretVersions(ctx, s.ID)
		if err != nil {
			return err
		}
		for _, sv := range svs {
			versions = append(versions, &Version{Version: sv.Version, KeyID: sv.KeyID, CreatedAt: sv.CreatedAt, CreatedBy: sv.CreatedBy})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return s, versions, nil
}

// ListFilter selects secrets for List. Zero fields select everything the actor may read.
type ListFilter struct {
	Scope       string // "" for every scope
	Project     string // a project name; "" for every project
	Environment string // needs Project
}

// List returns the metadata of the secrets the actor may read that f selects, ordered by scope,
// project, environment and name: with a project, that project's secrets (SecretRead on it, else
// EFORBIDDEN or ENOTFOUND, audited); without one, organisation secrets and every project's for
// holders of SecretRead as an organisation role (admin, security), and for everyone else the
// secrets of the projects where their project role grants it. Never a value.
func (v *Vault) List(ctx context.Context, actor *rampart.Actor, f ListFilter) ([]*rampart.Secret, error) {
	if actor == nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	switch f.Scope {
	case "", rampart.ScopeOrg, rampart.ScopeProject, rampart.ScopeEnvironment:
	default:
		return nil, rampart.Errorf(rampart.EINVALID, "unknown secret scope %q", f.Scope).
			WithDetail("scopes are %q, %q and %q", rampart.ScopeOrg, rampart.ScopeProject, rampart.ScopeEnvironment)
	}
	if f.Environment != "" && f.Project == "" {
		return nil, rampart.Errorf(rampart.EINVALID, "an environment belongs to a project").WithDetail("give the project too")
	}
	if f.Project != "" && f.Scope == rampart.ScopeOrg {
		return nil, rampart.Errorf(rampart.EINVALID, "organisation secrets belong to no project").WithDetail("leave out the project")
	}
	sub := auth.Subject(actor)
	var p *rampart.Project
	if f.Project != "" {
		var err error
		if p, err = v.projects.Authorize(ctx, actor, rbac.SecretRead, f.Project); err != nil {
			return nil, err
		}
	}
	var out []*rampart.Secret
	err := v.store.View(ctx, func(tx rampart.Tx) error {
		all, err := tx.ListSecrets(ctx, rampart.SecretFilter{Scope: f.Scope, ProjectID: projectID(p), Environment: f.Environment})
		if err != nil {
			return err
		}
		readable := func(*rampart.Secret) bool { return true }
		switch {
		case p != nil:
			readable = func(s *rampart.Secret) bool { return s.ProjectID == p.ID && s.Scope != rampart.ScopeOrg }
		case !rbac.Can(sub, rbac.SecretRead, rbac.Resource{}):
			ids, err := v.readableProjects(ctx, tx, actor)
			if err != nil {
				return err
			}
			readable = func(s *rampart.Secret) bool { return s.Scope != rampart.ScopeOrg && ids[s.ProjectID] }
		}
		// Filtered here as well as in the query: what the actor sees does not rest on the store.
		for _, s := range all {
			if readable(s) && (f.Scope == "" || s.Scope == f.Scope) && (f.Environment == "" || s.Environment == f.Environment) {
				out = append(out, s)
			}
		}
		return nil
	})
	return out, err
}

// readableProjects returns the ids of the projects in which actor's project role grants
// SecretRead.
func (v *Vault) readableProjects(ctx context.Context, tx rampart.Tx, actor *rampart.Actor) (map[int64]bool, error) {
	ps, err := tx.ListProjectsOfUser(ctx, actor.UserID)
	if err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	for _, p := range ps {
		role, err := tx.MemberRole(ctx, p.ID, actor.UserID)
		if err != nil {
			return nil, err
		}
		sub := auth.Subject(actor)
		sub.ProjectRole = role
		if rbac.Can(sub, rbac.SecretRead, rbac.Resource{}) {
			ids[p.ID] = true
		}
	}
	return ids, nil
}

// Delete removes the secret ref names with all its versions, audited as secret.delete. It needs
// the same permission as Set. Errors: EUNAUTHORIZED, EFORBIDDEN, EINVALID, ENOTFOUND.
func (v *Vault) Delete(ctx context.Context, actor *rampart.Actor, ref SecretRef) error {
	ref, err := ref.normalize()
	if err != nil {
		return err
	}
	p, err := v.authorize(ctx, actor, ref, true)
	if err != nil {
		return err
	}
	return v.store.Update(ctx, func(tx rampart.Tx) error {
		s, err := tx.SecretByName(ctx, ref.Scope, projectID(p), ref.Environment, ref.Name)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return notFound(ref)
		} else if err != nil {
			return err
		}
		if err := tx.DeleteSecret(ctx, s.ID); err != nil {
			return err
		}
		ev := audit.Event(actor, "secret.delete", "secret:"+ref.String(), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("scope=%s project=%s environment=%s name=%s versions=%d",
			ref.Scope, ref.Project, ref.Environment, ref.Name, s.Version)
		return audit.Append(ctx, tx, ev, v.now())
	})
}

// Rotate makes newKP's active key the vault's active key and re-wraps every data key wrapped by
// any other key under it, then returns how many it re-wrapped. It needs VaultRotate (admin).
//
// newKP must hold the vault's current active key and every older key that still wraps data
// keys, besides its new active key: a keyring from AddKeyToFile, or a key file with the new key
// first and the old keys after it. Otherwise Rotate changes nothing and returns EPRECONDITION.
//
// With several server replicas, give every replica the new keyring first (new key first, old
// keys after it) and restart them one by one — the first to start makes the new key active, the
// others accept it — and then rotate: a replica still holding only the old keys could not open
// data keys re-wrapped under the new one.
//
// Re-wrapping goes in batches, each in a transaction of its own, so that the vault keeps serving
// reads and writes: from the start new versions are sealed under the new key, and versions not
// yet re-wrapped open with the older keys newKP holds. Only data keys move, unwrapped and
// re-wrapped in memory; no secret value is decrypted, and ciphertexts are not touched. Rotate is
// idempotent: run again after a failure, it picks up where it stopped. When it returns without
// error no data key is wrapped by an older key, which may then be removed from the key file (a
// replica that sealed a version under an older key meanwhile is caught by running Rotate again;
// New refuses a keyring lacking a key that still wraps data).
//
// The activation is audited as vault.key_activate, the end as vault.rotate with the counts per
// old key; a failure midway as vault.rotate with result failure.
func (v *Vault) Rotate(ctx context.Context, actor *rampart.Actor, newKP KeyProvider) (rewrapped int, err error) {
	if actor == nil {
		return 0, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	if err := rbac.Check(auth.Subject(actor), rbac.VaultRotate, rbac.Resource{}); err != nil {
		return 0, audit.Denied(ctx, v.store, actor, string(rbac.VaultRotate), "vault", err, v.now())
	}
	if newKP == nil {
		return 0, rampart.Errorf(rampart.EINVALID, "no keyring to rotate to")
	}
	v.rotating.Lock()
	defer v.rotating.Unlock()

	var active string
	err = v.store.Update(ctx, func(tx rampart.Tx) (err error) {
		active, err = v.adopt(ctx, tx, newKP, actor, true)
		return err
	})
	if err != nil {
		return 0, err
	}
	v.mu.Lock()
	v.kp = newKP
	v.mu.Unlock()

	from := map[string]int{}
	for {
		var (
			done  bool
			batch map[string]int
		)
		err := v.store.Update(ctx, func(tx rampart.Tx) error {
			var err error
			batch, err = v.rewrapBatch(ctx, tx, newKP, active)
			if err != nil || len(batch) > 0 {
				return err
			}
			done = true
			ev := audit.Event(actor, "vault.rotate", "vault", rampart.ResultSuccess)
			ev.Detail = fmt.Sprintf("key=%s rewrapped=%d%s", active, rewrapped, countDetail(from))
			return audit.Append(ctx, tx, ev, v.now())
		})
		if err != nil {
			ev := audit.Event(actor, "vault.rotate", "vault", rampart.ResultFailure)
			ev.Detail = fmt.Sprintf("key=%s rewrapped=%d%s error=%s", active, rewrapped, countDetail(from), rampart.ErrorMessage(err))
			if rerr := audit.Record(ctx, v.store, ev, v.now()); rerr != nil {
				err = fmt.Errorf("%w (and recording the failure failed: %v)", err, rerr)
			}
			return rewrapped, fmt.Errorf("rotate vault to key %s after re-wrapping %d data keys: %w", active, rewrapped, err)
		}
		if done {
			return rewrapped, nil
		}
		for id, n := range batch {
			from[id] += n
			rewrapped += n
		}
	}
}

func countDetail(from map[string]int) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(from)) {
		fmt.Fprintf(&b, " from:%s=%d", id, from[id])
	}
	return b.String()
}

// rewrapBatch re-wraps up to v.batch data keys not wrapped by active, and returns how many it
// re-wrapped per old key id.
func (v *Vault) rewrapBatch(ctx context.Context, tx rampart.Tx, kp KeyProvider, active string) (map[string]int, error) {
	keys, err := tx.VaultKeys(ctx)
	if err != nil {
		return nil, err
	}
	var batch []*rampart.SealedValue
	for _, k := range keys {
		if k.ID == active || len(batch) >= v.batch {
			continue
		}
		svs, err := tx.SealedValuesByKey(ctx, k.ID, v.batch-len(batch))
		if err != nil {
			return nil, err
		}
		batch = append(batch, svs...)
	}
	counts := map[string]int{}
	if len(batch) == 0 {
		return counts, nil
	}
	all, err := tx.ListSecrets(ctx, rampart.SecretFilter{})
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*rampart.Secret, len(all))
	for _, s := range all {
		byID[s.ID] = s
	}
	for _, sv := range batch {
		s := byID[sv.SecretID]
		if s == nil {
			return nil, fmt.Errorf("re-wrap version %d of secret %d: the secret does not exist", sv.Version, sv.SecretID)
		}
		b := bindingOf(s, sv.Version)
		aad := b.aad()
		dk, err := kp.Unwrap(ctx, sv.KeyID, sv.WrappedKey, aad)
		if err != nil {
			clear(dk)
			return nil, fmt.Errorf("re-wrap %s: unwrap data key: %w", b, err)
		}
		id, wrapped, err := kp.Wrap(ctx, dk, aad)
		clear(dk)
		switch {
		case err != nil:
			return nil, fmt.Errorf("re-wrap %s: wrap data key: %w", b, err)
		case id == sv.KeyID:
			// Would never end: the same rows would come back in every batch.
			return nil, fmt.Errorf("re-wrap %s: the key provider wrapped with the old key %s", b, id)
		}
		if err := tx.Rewrap(ctx, sv.SecretID, sv.Version, id, wrapped); err != nil {
			return nil, err
		}
		counts[sv.KeyID]++
	}
	return counts, nil
}

// ForJob resolves the secrets a job declares for a project and environment (environment "" for
// a job that deploys nowhere) and returns each name's current value. A name resolves to the
// narrowest scope that has it: the environment's secret, else the project's, else the
// organisation's. A name that none has is an EINVALID error naming it; an invalid name is
// EINVALID too. Entitlement is the caller's decision (the scheduler gives forks' jobs nothing):
// ForJob checks no permission. Values are neither logged nor kept; a sealed value that does not
// open is an internal error wrapping ErrTampered, naming the secret and version only.
func (v *Vault) ForJob(ctx context.Context, projectID int64, environment string, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	if len(names) == 0 {
		return out, nil
	}
	if environment != "" {
		if err := validEnv(environment); err != nil {
			return nil, err
		}
	}
	wanted := slices.Clone(names)
	sort.Strings(wanted)
	wanted = slices.Compact(wanted)
	for _, n := range wanted {
		if err := ValidName(n); err != nil {
			return nil, err
		}
	}
	type found struct {
		s  *rampart.Secret
		sv *rampart.SealedValue
	}
	var sealed []found
	err := v.store.View(ctx, func(tx rampart.Tx) error {
		p, err := tx.ProjectByID(ctx, projectID)
		if err != nil {
			return err
		}
		// Broadest first, so that narrower scopes overwrite.
		filters := []rampart.SecretFilter{{Scope: rampart.ScopeOrg}, {Scope: rampart.ScopeProject, ProjectID: projectID}}
		if environment != "" {
			filters = append(filters, rampart.SecretFilter{Scope: rampart.ScopeEnvironment, ProjectID: projectID, Environment: environment})
		}
		byName := map[string]*rampart.Secret{}
		for _, f := range filters {
			ss, err := tx.ListSecrets(ctx, f)
			if err != nil {
				return err
			}
			for _, s := range ss {
				// Checked here too: which secrets a job gets does not rest on the store's filter.
				if s.Scope == f.Scope && s.ProjectID == f.ProjectID && s.Environment == f.Environment && s.Version > 0 {
					byName[s.Name] = s
				}
			}
		}
		for _, n := range wanted {
			s := byName[n]
			if s == nil {
				detail := fmt.Sprintf("set it with `rampart secret set --project %s %s`", p.Name, n)
				if environment != "" {
					detail = fmt.Sprintf("set it with `rampart secret set --project %s --env %s %s` (or for the whole project or organisation)", p.Name, environment, n)
				}
				return rampart.Errorf(rampart.EINVALID, "job declares secret %s but no secret %s exists for project %s", n, n, p.Name).
					WithDetail("%s, or remove it from the job's secrets", detail)
			}
			sv, err := tx.SecretValue(ctx, s.ID, s.Version)
			if err != nil {
				return fmt.Errorf("read %s secret %s version %d: %w", s.Scope, s.Name, s.Version, err)
			}
			sealed = append(sealed, found{s, sv})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range sealed {
		pt, err := v.open(ctx, bindingOf(f.s, f.s.Version), f.sv)
		if err != nil {
			return nil, err
		}
		out[f.s.Name] = string(pt)
		clear(pt)
	}
	return out, nil
}
