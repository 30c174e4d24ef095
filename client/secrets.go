package client

import (
	"context"
	"net/url"
	"time"

	"github.com/rampart-ci/rampart"
)

// SecretVersion is the metadata of one version of a secret.
type SecretVersion struct {
	Version   int       `json:"version"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// SecretResponse is a secret's metadata with its versions; there is no value.
type SecretResponse struct {
	rampart.Secret
	Versions []*SecretVersion `json:"versions,omitempty"`
}

// secretPath is the API path of a secret: of a project (project != "") or of the organisation.
func secretPath(project, name string) string {
	if project == "" {
		return "/api/v1/secrets/" + esc(name)
	}
	return "/api/v1/projects/" + esc(project) + "/secrets/" + esc(name)
}

func withEnv(path, env string) string {
	if env == "" {
		return path
	}
	return path + "?environment=" + url.QueryEscape(env)
}

// SetSecret stores a new version of a secret. project "" means an organisation secret; env
// narrows a project secret to one environment.
func (c *Client) SetSecret(ctx context.Context, project, env, name string, value []byte) (*SecretResponse, error) {
	var out SecretResponse
	body := map[string]string{"value": string(value)}
	if env != "" {
		body["environment"] = env
	}
	return &out, c.do(ctx, "PUT", secretPath(project, name), body, &out)
}

// ShowSecret returns a secret's metadata and versions.
func (c *Client) ShowSecret(ctx context.Context, project, env, name string) (*SecretResponse, error) {
	var out SecretResponse
	return &out, c.do(ctx, "GET", withEnv(secretPath(project, name), env), nil, &out)
}

// ListSecrets lists a project's secrets (with its environments'), or the organisation's.
func (c *Client) ListSecrets(ctx context.Context, project string) ([]*rampart.Secret, error) {
	path := "/api/v1/secrets"
	if project != "" {
		path = "/api/v1/projects/" + esc(project) + "/secrets"
	}
	var out []*rampart.Secret
	return out, c.do(ctx, "GET", path, nil, &out)
}

// DeleteSecret removes a secret and all its versions.
func (c *Client) DeleteSecret(ctx context.Context, project, env, name string) error {
	return c.do(ctx, "DELETE", withEnv(secretPath(project, name), env), nil, nil)
}

// RotateResult reports a vault key rotation.
type RotateResult struct {
	KeyID     string `json:"key_id"`
	Rewrapped int    `json:"rewrapped"`
}

// RotateVault makes the server add a new key-encryption key and re-wrap every data key.
func (c *Client) RotateVault(ctx context.Context) (*RotateResult, error) {
	var out RotateResult
	return &out, c.do(ctx, "POST", "/api/v1/vault/rotate", struct{}{}, &out)
}
