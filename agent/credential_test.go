package agent

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf", "rampart")
	path := filepath.Join(dir, "agent.json")
	want := &credential{Server: "https://ci.example.com", AgentID: 42, Name: "builder-1", Credential: "rma_s3cret"}
	if err := saveCredential(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("credential file mode = %04o, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("credential directory mode = %04o, want 0700", got)
	}
	got, err := loadCredential(path)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *want {
		t.Errorf("loaded %+v, want %+v", *got, *want)
	}

	// Saving again replaces the file atomically and leaves no temporary file behind.
	want.AgentID = 43
	if err := saveCredential(path, want); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("credential directory holds %d entries, want only agent.json", len(entries))
	}
	if got, err := loadCredential(path); err != nil || got.AgentID != 43 {
		t.Errorf("after overwrite: %+v, %v", got, err)
	}
}

func TestCredentialLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadCredential(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by others", `{"server":"http://x","credential":"rma_x"}`, 0o644, "chmod 600"},
		{"damaged", `{"server":`, 0o600, "damaged"},
		{"no credential", `{"server":"http://x"}`, 0o600, "incomplete"},
		{"unknown field", `{"server":"http://x","credential":"rma_x","extra":1}`, 0o600, "damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := loadCredential(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCredentialNeverLogged(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("x", "agent", credential{Server: "http://x", Credential: "rma_topsecret"})
	if strings.Contains(b.String(), "topsecret") {
		t.Errorf("log record shows the credential: %s", b.String())
	}
}
