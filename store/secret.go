package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// The store sees secrets only sealed: ciphertext, nonce and a wrapped data key. None of them,
// nor any other blob, ever goes into an error message.

const secretSelect = `SELECT s.id, s.scope, s.project_id, COALESCE(p.name, ''), s.environment, s.name, s.version,
s.created_at, s.created_by, s.updated_at, s.updated_by
FROM secrets s LEFT JOIN projects p ON p.id = s.project_id`

func scanSecret(s scanner) (*rampart.Secret, error) {
	var (
		sec                  rampart.Secret
		createdAt, updatedAt int64
	)
	if err := s.Scan(&sec.ID, &sec.Scope, &sec.ProjectID, &sec.Project, &sec.Environment, &sec.Name, &sec.Version,
		&createdAt, &sec.CreatedBy, &updatedAt, &sec.UpdatedBy); err != nil {
		return nil, err
	}
	sec.CreatedAt, sec.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return &sec, nil
}

// secretPlace names where a secret lives, for messages: "organisation secret \"X\"", "secret
// \"X\" of project 3", "secret \"X\" of environment \"prod\" of project 3".
func secretPlace(scope string, projectID int64, env, name string) string {
	switch {
	case scope == rampart.ScopeOrg:
		return fmt.Sprintf("organisation secret %q", name)
	case env != "" && projectID != 0:
		return fmt.Sprintf("secret %q of environment %q of project %d", name, env, projectID)
	case env != "":
		return fmt.Sprintf("secret %q of environment %q", name, env)
	default:
		return fmt.Sprintf("secret %q of project %d", name, projectID)
	}
}

// checkSecretPlace returns EINVALID unless s's project and environment fit its scope: an
// organisation secret has neither, a project secret a project only, an environment secret an
// environment. Without this check a stray environment on an organisation secret would let two
// organisation secrets share a name.
func checkSecretPlace(s *rampart.Secret) error {
	var problem string
	switch s.Scope {
	case rampart.ScopeOrg:
		if s.ProjectID != 0 || s.Environment != "" {
			problem = "an organisation secret has no project or environment"
		}
	case rampart.ScopeProject:
		if s.ProjectID == 0 || s.Environment != "" {
			problem = "a project secret has a project and no environment"
		}
	case rampart.ScopeEnvironment:
		if s.Environment == "" {
			problem = "an environment secret has an environment"
		}
	default:
		return rampart.Errorf(rampart.EINVALID, "unknown secret scope %q", s.Scope).
			WithDetail(`the scope is "` + rampart.ScopeOrg + `", "` + rampart.ScopeProject + `" or "` + rampart.ScopeEnvironment + `"`)
	}
	if problem != "" {
		return rampart.Errorf(rampart.EINVALID, "secret %q: %s", s.Name, problem)
	}
	if s.Name == "" {
		return rampart.Errorf(rampart.EINVALID, "secret without a name")
	}
	return nil
}

// CreateSecret implements rampart.SecretTx. It stores s at version 0, whatever s.Version says,
// and fills in s.Project; a zero UpdatedAt or empty UpdatedBy becomes CreatedAt or CreatedBy. A scope other than the three known ones, or a project or environment
// that the scope does not have, is EINVALID; an unknown project is ENOTFOUND.
func (t *tx) CreateSecret(ctx context.Context, s *rampart.Secret) error {
	if err := checkSecretPlace(s); err != nil {
		return err
	}
	project := ""
	if s.ProjectID != 0 {
		// project_id has no foreign key, as 0 stands for none.
		err := t.queryRow(ctx, "SELECT name FROM projects WHERE id = ?", s.ProjectID).Scan(&project)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("project %d", s.ProjectID)
		case err != nil:
			return fmt.Errorf("create secret %q: %w", s.Name, err)
		}
	}
	updatedAt, updatedBy := s.UpdatedAt, s.UpdatedBy
	if updatedAt.IsZero() {
		updatedAt = s.CreatedAt
	}
	if updatedBy == "" {
		updatedBy = s.CreatedBy
	}
	// Checked first, because after the INSERT's error a PostgreSQL transaction cannot go on.
	var taken int
	err := t.queryRow(ctx, "SELECT COUNT(*) FROM secrets WHERE scope = ? AND project_id = ? AND environment = ? AND name = ?",
		s.Scope, s.ProjectID, s.Environment, s.Name).Scan(&taken)
	if err != nil {
		return fmt.Errorf("create secret %q: %w", s.Name, err)
	}
	if taken > 0 {
		return rampart.Errorf(rampart.ECONFLICT, "%s already exists", secretPlace(s.Scope, s.ProjectID, s.Environment, s.Name))
	}
	err = t.queryRow(ctx, `INSERT INTO secrets (scope, project_id, environment, name, version, created_at, created_by, updated_at, updated_by)
VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?) RETURNING id`,
		s.Scope, s.ProjectID, s.Environment, s.Name, micros(s.CreatedAt), s.CreatedBy, micros(updatedAt), updatedBy).Scan(&s.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "%s already exists", secretPlace(s.Scope, s.ProjectID, s.Environment, s.Name))
	case err != nil:
		return fmt.Errorf("insert secret %q: %w", s.Name, err)
	}
	s.Version, s.Project, s.UpdatedAt, s.UpdatedBy = 0, project, updatedAt, updatedBy
	return nil
}

// SecretByName implements rampart.SecretTx. Names compare exactly, case included.
func (t *tx) SecretByName(ctx context.Context, scope string, projectID int64, env, name string) (*rampart.Secret, error) {
	s, err := scanSecret(t.queryRow(ctx, secretSelect+" WHERE s.scope = ? AND s.project_id = ? AND s.environment = ? AND s.name = ?",
		scope, projectID, env, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("%s", secretPlace(scope, projectID, env, name))
	case err != nil:
		return nil, fmt.Errorf("select %s: %w", secretPlace(scope, projectID, env, name), err)
	}
	return s, nil
}

// ListSecrets implements rampart.SecretTx. A zero field of f matches every secret, so the zero
// SecretFilter lists them all. Scopes come broadest first (organisation, project, environment),
// then projects by name, environments and names bytewise on both databases.
func (t *tx) ListSecrets(ctx context.Context, f rampart.SecretFilter) ([]*rampart.Secret, error) {
	query := secretSelect + " WHERE 1 = 1"
	var args []any
	if f.Scope != "" {
		query += " AND s.scope = ?"
		args = append(args, f.Scope)
	}
	if f.ProjectID != 0 {
		query += " AND s.project_id = ?"
		args = append(args, f.ProjectID)
	}
	if f.Environment != "" {
		query += " AND s.environment = ?"
		args = append(args, f.Environment)
	}
	c := t.dialect.collateBinary()
	query += fmt.Sprintf(` ORDER BY CASE s.scope WHEN '%s' THEN 0 WHEN '%s' THEN 1 WHEN '%s' THEN 2 ELSE 3 END, s.scope%s,
COALESCE(p.name, '')%s, s.project_id, s.environment%s, s.name%s, s.id`,
		rampart.ScopeOrg, rampart.ScopeProject, rampart.ScopeEnvironment, c, c, c, c)
	ss, err := queryAll(ctx, t, scanSecret, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return ss, nil
}

const (
	sealedMetaColumns = "secret_id, version, key_id, created_at, created_by"
	sealedColumns     = "secret_id, version, key_id, wrapped_key, nonce, ciphertext, created_at, created_by"
)

// scanSealedMeta scans sealedMetaColumns: a version without its blobs.
func scanSealedMeta(s scanner) (*rampart.SealedValue, error) {
	var (
		v         rampart.SealedValue
		createdAt int64
	)
	if err := s.Scan(&v.SecretID, &v.Version, &v.KeyID, &createdAt, &v.CreatedBy); err != nil {
		return nil, err
	}
	v.CreatedAt = fromMicros(createdAt)
	return &v, nil
}

// scanSealed scans sealedColumns. Empty blobs read back as empty, non-nil slices.
func scanSealed(s scanner) (*rampart.SealedValue, error) {
	var (
		v         rampart.SealedValue
		createdAt int64
	)
	if err := s.Scan(&v.SecretID, &v.Version, &v.KeyID, &v.WrappedKey, &v.Nonce, &v.Ciphertext, &createdAt, &v.CreatedBy); err != nil {
		return nil, err
	}
	v.WrappedKey, v.Nonce, v.Ciphertext = nonNil(v.WrappedKey), nonNil(v.Nonce), nonNil(v.Ciphertext)
	v.CreatedAt = fromMicros(createdAt)
	return &v, nil
}

// AddSecretVersion implements rampart.SecretTx. The secret's updated time and updater become
// v.CreatedAt and v.CreatedBy. A version below 1 is EINVALID; one that is not the current
// version + 1, as when another writer got there first, is ECONFLICT; an unknown secret is
// ENOTFOUND.
func (t *tx) AddSecretVersion(ctx context.Context, v *rampart.SealedValue) error {
	if v.Version < 1 {
		return rampart.Errorf(rampart.EINVALID, "secret %d: version %d, want 1 or more", v.SecretID, v.Version)
	}
	// The version condition makes this the compare-and-swap that orders writers, on PostgreSQL
	// even without the Update lock: a second UPDATE waits for the first and then sees its version.
	n, err := t.execCount(ctx, "UPDATE secrets SET version = ?, updated_at = ?, updated_by = ? WHERE id = ? AND version = ?",
		v.Version, micros(v.CreatedAt), v.CreatedBy, v.SecretID, v.Version-1)
	if err != nil {
		return fmt.Errorf("add version %d of secret %d: %w", v.Version, v.SecretID, err)
	}
	if n == 0 {
		var current int
		err := t.queryRow(ctx, "SELECT version FROM secrets WHERE id = ?", v.SecretID).Scan(&current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("secret %d", v.SecretID)
		case err != nil:
			return fmt.Errorf("add version %d of secret %d: %w", v.Version, v.SecretID, err)
		}
		return rampart.Errorf(rampart.ECONFLICT, "secret %d is at version %d, so the next version is %d, not %d",
			v.SecretID, current, current+1, v.Version).
			WithDetail("the secret was changed meanwhile; read it again")
	}
	_, err = t.exec(ctx, "INSERT INTO secret_versions ("+sealedColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		v.SecretID, v.Version, v.KeyID, nonNil(v.WrappedKey), nonNil(v.Nonce), nonNil(v.Ciphertext), micros(v.CreatedAt), v.CreatedBy)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "secret %d already has a version %d", v.SecretID, v.Version)
	case isForeignKey(err):
		return notFound("secret %d", v.SecretID)
	case err != nil:
		return fmt.Errorf("insert version %d of secret %d: %w", v.Version, v.SecretID, err)
	}
	return nil
}

// SecretValue implements rampart.SecretTx.
func (t *tx) SecretValue(ctx context.Context, secretID int64, version int) (*rampart.SealedValue, error) {
	v, err := scanSealed(t.queryRow(ctx, "SELECT "+sealedColumns+" FROM secret_versions WHERE secret_id = ? AND version = ?", secretID, version))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("version %d of secret %d", version, secretID)
	case err != nil:
		return nil, fmt.Errorf("select version %d of secret %d: %w", version, secretID, err)
	}
	return v, nil
}

// ListSecretVersions implements rampart.SecretTx. The versions come without their wrapped key,
// nonce and ciphertext (nil). An unknown secret is ENOTFOUND; a secret without versions has an
// empty list.
func (t *tx) ListSecretVersions(ctx context.Context, secretID int64) ([]*rampart.SealedValue, error) {
	vs, err := queryAll(ctx, t, scanSealedMeta, "SELECT "+sealedMetaColumns+" FROM secret_versions WHERE secret_id = ? ORDER BY version DESC", secretID)
	if err != nil {
		return nil, fmt.Errorf("list versions of secret %d: %w", secretID, err)
	}
	if len(vs) == 0 {
		var n int
		if err := t.queryRow(ctx, "SELECT COUNT(*) FROM secrets WHERE id = ?", secretID).Scan(&n); err != nil {
			return nil, fmt.Errorf("list versions of secret %d: %w", secretID, err)
		}
		if n == 0 {
			return nil, notFound("secret %d", secretID)
		}
	}
	return vs, nil
}

// SealedValuesByKey implements rampart.SecretTx. Versions come in (secret id, version) order. A
// limit of 0 returns none; a negative limit is EINVALID.
func (t *tx) SealedValuesByKey(ctx context.Context, keyID string, limit int) ([]*rampart.SealedValue, error) {
	switch {
	case limit < 0:
		return nil, rampart.Errorf(rampart.EINVALID, "negative sealed value limit %d", limit)
	case limit == 0:
		return nil, nil
	}
	vs, err := queryAll(ctx, t, scanSealed, "SELECT "+sealedColumns+" FROM secret_versions WHERE key_id = ? ORDER BY secret_id, version LIMIT ?",
		keyID, limit)
	if err != nil {
		return nil, fmt.Errorf("list sealed values of key %q: %w", keyID, err)
	}
	return vs, nil
}

// Rewrap implements rampart.SecretTx. The nonce and ciphertext stay as they are. An unknown
// version is ENOTFOUND.
func (t *tx) Rewrap(ctx context.Context, secretID int64, version int, keyID string, wrappedKey []byte) error {
	err := t.execOne(ctx, notFound("version %d of secret %d", version, secretID),
		"UPDATE secret_versions SET key_id = ?, wrapped_key = ? WHERE secret_id = ? AND version = ?",
		keyID, nonNil(wrappedKey), secretID, version)
	return wrapUpdate(err, "rewrap version %d of secret %d", version, secretID)
}

// DeleteSecret implements rampart.SecretTx. An unknown secret is ENOTFOUND.
func (t *tx) DeleteSecret(ctx context.Context, id int64) error {
	// Explicitly, rather than relying on ON DELETE CASCADE alone, so that no sealed value can
	// outlive its secret whatever a connection's foreign-key setting.
	if _, err := t.exec(ctx, "DELETE FROM secret_versions WHERE secret_id = ?", id); err != nil {
		return fmt.Errorf("delete versions of secret %d: %w", id, err)
	}
	err := t.execOne(ctx, notFound("secret %d", id), "DELETE FROM secrets WHERE id = ?", id)
	return wrapUpdate(err, "delete secret %d", id)
}

const vaultKeySelect = "SELECT id, check_value, active, created_at FROM vault_keys"

func scanVaultKey(s scanner) (*rampart.VaultKey, error) {
	var (
		k         rampart.VaultKey
		active    int64
		createdAt int64
	)
	if err := s.Scan(&k.ID, &k.Check, &active, &createdAt); err != nil {
		return nil, err
	}
	k.Check, k.Active, k.CreatedAt = nonNil(k.Check), active != 0, fromMicros(createdAt)
	return &k, nil
}

// VaultKeys implements rampart.SecretTx. Keys come oldest first, ids ordering keys created at
// the same time bytewise.
func (t *tx) VaultKeys(ctx context.Context) ([]*rampart.VaultKey, error) {
	ks, err := queryAll(ctx, t, scanVaultKey, vaultKeySelect+" ORDER BY created_at, id"+t.dialect.collateBinary())
	if err != nil {
		return nil, fmt.Errorf("list vault keys: %w", err)
	}
	return ks, nil
}

// PutVaultKey implements rampart.SecretTx. Replacing a key record replaces every field of it.
// Putting an inactive key leaves the others as they are, so there may be no active key at all.
func (t *tx) PutVaultKey(ctx context.Context, k *rampart.VaultKey) error {
	if k.ID == "" {
		return rampart.Errorf(rampart.EINVALID, "vault key without an id")
	}
	if k.Active {
		// First, because a unique index allows one active key only.
		if _, err := t.exec(ctx, "UPDATE vault_keys SET active = 0 WHERE active = 1 AND id <> ?", k.ID); err != nil {
			return fmt.Errorf("put vault key %q: deactivate the others: %w", k.ID, err)
		}
	}
	_, err := t.exec(ctx, `INSERT INTO vault_keys (id, check_value, active, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET check_value = excluded.check_value, active = excluded.active, created_at = excluded.created_at`,
		k.ID, nonNil(k.Check), boolInt(k.Active), micros(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("put vault key %q: %w", k.ID, err)
	}
	return nil
}
