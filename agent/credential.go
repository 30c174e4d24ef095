package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-ci/rampart"
)

// credential is what an agent keeps between runs: which server it belongs to, who it is there,
// and the secret that proves it. The file holding it is the agent's only long-lived secret.
type credential struct {
	Server     string `json:"server"`
	AgentID    int64  `json:"agent_id"`
	Name       string `json:"name"`
	Credential string `json:"credential"`
}

// LogValue keeps the secret out of every log record the credential might end up in.
func (c credential) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("server", c.Server),
		slog.Int64("agent_id", c.AgentID),
		slog.String("name", c.Name),
		slog.String("credential", "REDACTED"),
	)
}

// defaultCredentialFile is $XDG_CONFIG_HOME/rampart/agent.json, or ~/.config/rampart/agent.json.
func defaultCredentialFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("agent: locating the credential file: %w (set CredentialFile)", err)
	}
	return filepath.Join(dir, "rampart", "agent.json"), nil
}

// loadCredential reads the credential file. It returns an error wrapping fs.ErrNotExist when
// there is none, and refuses a file others may read: like ssh with a private key, better to stop
// than to go on with a secret that may already have leaked.
func loadCredential(path string) (*credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent: reading credential: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("agent: reading credential: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agent: credential file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("agent: credential file %s is accessible to other users (mode %04o); "+
			"run `chmod 600 %s`, and if others may have read it, delete the agent on the server and register again",
			path, fi.Mode().Perm(), path)
	}
	var c credential
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("agent: credential file %s is damaged: %w; delete it and register again", path, err)
	}
	if c.Server == "" || !strings.HasPrefix(c.Credential, rampart.AgentCredentialPrefix) {
		return nil, fmt.Errorf("agent: credential file %s is incomplete (no server or no %s… credential); delete it and register again",
			path, rampart.AgentCredentialPrefix)
	}
	return &c, nil
}

// saveCredential writes c to path with mode 0600, in a directory of mode 0700 when it creates
// one. It writes a temporary file and renames it, so that a crash leaves the old file or the new
// one but never half of one, and the secret is never readable by others, not even for a moment.
func saveCredential(path string, c *credential) (err error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: encoding credential: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: creating credential directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".agent-credential-*") // mode 0600
	if err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("agent: saving credential: %w", err)
	}
	// The rename is durable only once the directory is synced; a lost credential means a
	// registration token spent for nothing.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// errNoCredential means neither a credential file nor a registration token was given.
var errNoCredential = errors.New("agent: no credential")
