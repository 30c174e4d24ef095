package rampart

import (
	"context"
	"time"
)

// Secret scopes, narrowest last. A job sees organisation secrets, its project's, and those of
// the environment it deploys to.
const (
	ScopeOrg         = "org"
	ScopeProject     = "project"
	ScopeEnvironment = "environment"
)

// MinSecretLength is the shortest secret value accepted: shorter values cannot be masked in logs
// without masking ordinary text everywhere.
const MinSecretLength = 8

// Secret is the metadata of a secret. It has no value field on purpose: values go into the
// vault and come out only for a job entitled to them.
type Secret struct {
	ID          int64     `json:"id"`
	Scope       string    `json:"scope"`
	ProjectID   int64     `json:"project_id,omitempty"`  // 0 for organisation secrets
	Project     string    `json:"project,omitempty"`     // name, for display
	Environment string    `json:"environment,omitempty"` // for environment secrets
	Name        string    `json:"name"`
	Version     int       `json:"version"` // the current version
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by"`
}

// SealedValue is one secret version as stored: the value encrypted under its own data key, and
// the data key wrapped by a key-encryption key. Nothing in it is readable without that key.
type SealedValue struct {
	SecretID   int64     `json:"-"`
	Version    int       `json:"version"`
	KeyID      string    `json:"key_id"` // which key-encryption key wrapped the data key
	WrappedKey []byte    `json:"-"`
	Nonce      []byte    `json:"-"`
	Ciphertext []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
}

// VaultKey records a key-encryption key by id with a check value sealed under it, so that a
// server started with the wrong key refuses to start instead of serving garbage.
type VaultKey struct {
	ID        string    `json:"id"`
	Check     []byte    `json:"-"` // a known plaintext sealed under the key
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// SecretFilter selects secrets' metadata.
type SecretFilter struct {
	Scope       string // "" for every scope
	ProjectID   int64
	Environment string
}

// SecretTx stores secrets sealed by the vault. The store never sees a plaintext value.
type SecretTx interface {
	// CreateSecret inserts s (version 0) and sets s.ID; ECONFLICT when the scope, project,
	// environment and name are taken.
	CreateSecret(ctx context.Context, s *Secret) error
	// SecretByName finds a secret; projectID is 0 and env "" where the scope has none.
	SecretByName(ctx context.Context, scope string, projectID int64, env, name string) (*Secret, error)
	// ListSecrets returns metadata ordered by scope, project, environment and name.
	ListSecrets(ctx context.Context, f SecretFilter) ([]*Secret, error)
	// AddSecretVersion stores v as the secret's next version (v.Version must be the current
	// version + 1) and updates the secret's version, updated time and updater.
	AddSecretVersion(ctx context.Context, v *SealedValue) error
	// SecretValue returns one sealed version.
	SecretValue(ctx context.Context, secretID int64, version int) (*SealedValue, error)
	// ListSecretVersions returns the metadata of a secret's versions, newest first.
	ListSecretVersions(ctx context.Context, secretID int64) ([]*SealedValue, error)
	// SealedValuesByKey returns up to limit sealed versions whose data key is wrapped by keyID,
	// for re-wrapping during rotation.
	SealedValuesByKey(ctx context.Context, keyID string, limit int) ([]*SealedValue, error)
	// Rewrap replaces the wrapped data key of one version.
	Rewrap(ctx context.Context, secretID int64, version int, keyID string, wrappedKey []byte) error
	// DeleteSecret removes a secret and all its versions.
	DeleteSecret(ctx context.Context, id int64) error
	// VaultKeys returns every key-encryption key record.
	VaultKeys(ctx context.Context) ([]*VaultKey, error)
	// PutVaultKey inserts or replaces a key record; making one active makes the others inactive.
	PutVaultKey(ctx context.Context, k *VaultKey) error
}
