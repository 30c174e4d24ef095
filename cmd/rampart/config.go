package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// credentials is what `rampart login` saves.
type credentials struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	User   string `json:"user,omitempty"`
}

// credentialsPath is where the CLI keeps its login: $RAMPART_CONFIG, or rampart/credentials.json
// in the user's config directory.
func credentialsPath() (string, error) {
	if p := os.Getenv("RAMPART_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find config directory: %w (set RAMPART_CONFIG to a file path)", err)
	}
	return filepath.Join(dir, "rampart", "credentials.json"), nil
}

func loadCredentials() (*credentials, error) {
	p, err := credentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &credentials{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read credentials %s: %w (delete the file and log in again)", p, err)
	}
	return &c, nil
}

// saveCredentials writes c readable by the user only: the file holds a bearer token.
func saveCredentials(c *credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	// WriteFile keeps the mode of an existing file; make sure.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	return p, nil
}

// client returns an API client from, in order: flags, environment, saved login.
func (a *App) client() (*client.Client, error) {
	server, token := a.serverFlag, a.tokenFlag
	if server == "" {
		server = os.Getenv("RAMPART_SERVER")
	}
	if token == "" {
		token = os.Getenv("RAMPART_TOKEN")
	}
	if server == "" || token == "" {
		c, err := loadCredentials()
		if err != nil {
			return nil, err
		}
		if server == "" {
			server = c.Server
		}
		if token == "" {
			token = c.Token
		}
	}
	if server == "" || token == "" {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not logged in").
			WithDetail("run `rampart login --server URL`, or set RAMPART_SERVER and RAMPART_TOKEN")
	}
	return client.New(server, token), nil
}
