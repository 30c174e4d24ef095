package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart/provenance"
)

// signedArtifact writes an artifact, its provenance as the server signs it, and the server's
// public key into dir, and returns their paths and the key.
func signedArtifact(t *testing.T, dir string) (file, envelope, keyFile string, key *provenance.Key) {
	t.Helper()
	key, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("\x7fELF the app\n")
	sum := sha256.Sum256(content)
	pipeline := sha256.Sum256([]byte("jobs: {}\n"))
	stmt, err := provenance.Statement(provenance.Build{
		BuilderID: provenance.BuilderID(key.Public()), Repository: "https://git.example/acme/web.git",
		Commit: "0123456789abcdef0123456789abcdef01234567", Ref: "refs/heads/main",
		PipelineFile: ".rampart.yml", PipelineSHA256: hex.EncodeToString(pipeline[:]),
		Project: "web", RunID: 12, RunNumber: 7, JobID: 34, Job: "build", Event: "push", TriggeredBy: "alice",
		StartedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 5, 1, 10, 3, 0, 0, time.UTC),
	}, []provenance.Subject{{Name: "dist/app", SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := key.Sign(stmt)
	if err != nil {
		t.Fatal(err)
	}
	file, envelope, keyFile = filepath.Join(dir, "app"), filepath.Join(dir, "app.intoto.json"), filepath.Join(dir, "rampart.pub")
	for path, data := range map[string][]byte{file: content, envelope: env, keyFile: key.PublicKeyPEM()} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return file, envelope, keyFile, key
}

func TestArtifactVerify(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RAMPART_CONFIG", filepath.Join(dir, "credentials.json"))
	t.Setenv("RAMPART_SERVER", "")
	t.Setenv("RAMPART_TOKEN", "")
	file, envelope, keyFile, key := signedArtifact(t, dir)

	t.Run("good file, offline", func(t *testing.T) {
		out := mustCLI(t, "", "artifact", "verify", file, "--provenance", envelope, "--key", keyFile)
		t.Logf("rampart artifact verify:\n%s", out)
		for _, want := range []string{"Verified: " + file, "dist/app", "https://git.example/acme/web.git",
			"0123456789abcdef0123456789abcdef01234567", "refs/heads/main", "web #7 (push, started by alice)",
			"build (id 34)", provenance.BuilderID(key.Public()), "key " + key.ID()} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("good file, default envelope name and the name required", func(t *testing.T) {
		mustCLI(t, "", "artifact", "verify", file, "--key", keyFile, "--name", "dist/app")
		code, _, errOut := cli(t, "", "artifact", "verify", file, "--key", keyFile, "--name", "dist/other")
		if code == 0 || !strings.Contains(errOut, `"dist/other"`) {
			t.Fatalf("another name: exit %d, %s", code, errOut)
		}
	})

	t.Run("key from the server", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/provenance/key" || r.Header.Get("Authorization") != "" {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"error":"no"}`))
				return
			}
			w.Write(key.PublicKeyPEM())
		}))
		defer srv.Close()
		out := mustCLI(t, "", "--server", srv.URL, "artifact", "verify", file, "--provenance", envelope)
		if !strings.Contains(out, "Verified") {
			t.Fatalf("verify with the server's key: %s", out)
		}
		saved := filepath.Join(dir, "server.pub")
		mustCLI(t, "", "--server", srv.URL, "provenance", "key", "--output", saved)
		if got, _ := os.ReadFile(saved); string(got) != string(key.PublicKeyPEM()) {
			t.Fatalf("provenance key --output saved %q", got)
		}
		if out := mustCLI(t, "", "--server", srv.URL, "provenance", "key"); out != string(key.PublicKeyPEM()) {
			t.Fatalf("provenance key printed %q", out)
		}
	})

	t.Run("changed file", func(t *testing.T) {
		changed := filepath.Join(dir, "app.changed")
		if err := os.WriteFile(changed, []byte("\x7fELF the app, with a backdoor\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, "", "artifact", "verify", changed, "--provenance", envelope, "--key", keyFile)
		if code == 0 || strings.Contains(out, "Verified") {
			t.Fatalf("a changed file verified: exit %d\n%s", code, out)
		}
		if !strings.Contains(errOut, "sha256") || !strings.Contains(errOut, "but the provenance covers") {
			t.Fatalf("error does not say that the sha256 differs: %s", errOut)
		}
	})

	t.Run("changed envelope", func(t *testing.T) {
		data, err := os.ReadFile(envelope)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
		if err != nil {
			t.Fatal(err)
		}
		// Claim another commit, keeping the signature.
		env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload),
			"0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef", 1)))
		forged, _ := json.Marshal(env)
		forgedFile := filepath.Join(dir, "forged.intoto.json")
		if err := os.WriteFile(forgedFile, forged, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, "", "artifact", "verify", file, "--provenance", forgedFile, "--key", keyFile)
		if code == 0 || strings.Contains(out, "Verified") {
			t.Fatalf("a changed envelope verified: exit %d\n%s", code, out)
		}
		if !strings.Contains(errOut, "no valid signature") {
			t.Fatalf("error does not say the signature is bad: %s", errOut)
		}
	})

	t.Run("another server's key", func(t *testing.T) {
		other, _ := provenance.GenerateKey()
		otherFile := filepath.Join(dir, "other.pub")
		if err := os.WriteFile(otherFile, other.PublicKeyPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := cli(t, "", "artifact", "verify", file, "--provenance", envelope, "--key", otherFile)
		if code == 0 || !strings.Contains(errOut, "no signature by key "+other.ID()) {
			t.Fatalf("another key: exit %d, %s", code, errOut)
		}
	})

	t.Run("no key and no server", func(t *testing.T) {
		code, _, errOut := cli(t, "", "artifact", "verify", file, "--provenance", envelope)
		if code == 0 || !strings.Contains(errOut, "--key") {
			t.Fatalf("without a key: exit %d, %s", code, errOut)
		}
	})
}
