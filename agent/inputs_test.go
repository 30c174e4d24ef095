package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// fakeInputs serves inputs by artifact id; refuse makes the server refuse one, and lie makes it
// report a digest other than that of what it sent.
type fakeInputs struct {
	content map[int64][]byte
	refuse  map[int64]bool
	lie     bool
	asked   []int64
}

func (f *fakeInputs) DownloadInput(_ context.Context, id int64, w io.Writer) (string, error) {
	f.asked = append(f.asked, id)
	if f.refuse[id] {
		return "", rampart.Errorf(rampart.EFORBIDDEN, "the artifact's provenance does not check out: the provenance has no valid signature by key k")
	}
	data := f.content[id]
	if _, err := w.Write(data); err != nil {
		return "", err
	}
	if f.lie {
		data = append(data, '!')
	}
	return digest(data), nil
}

func digest(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestDownloadInputs(t *testing.T) {
	app, conf := []byte("\x7fELF app"), []byte("replicas: 3\n")
	ref := func(id int64, name string, data []byte) rampart.ArtifactRef {
		return rampart.ArtifactRef{ID: id, Name: name, Digest: digest(data)}
	}
	src := func() *fakeInputs { return &fakeInputs{content: map[int64][]byte{1: app, 2: conf}} }

	t.Run("into the workspace", func(t *testing.T) {
		ws := t.TempDir()
		// The checkout has a file where an input goes: the built one replaces it.
		if err := os.MkdirAll(filepath.Join(ws, "deploy"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, "deploy", "app.yaml"), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		err := downloadInputs(t.Context(), src(), []rampart.ArtifactRef{ref(1, "dist/bin/app", app), ref(2, "deploy/app.yaml", conf)}, ws, &logs)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string][]byte{"dist/bin/app": app, "deploy/app.yaml": conf} {
			got, err := os.ReadFile(filepath.Join(ws, filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s = %q, %v; want %q", name, got, err, want)
			}
			st, _ := os.Stat(filepath.Join(ws, filepath.FromSlash(name)))
			if st.Mode().Perm() != 0o644&^currentUmask() {
				t.Errorf("%s has mode %v", name, st.Mode())
			}
		}
		if st, _ := os.Stat(filepath.Join(ws, "dist", "bin")); st.Mode().Perm() != 0o755&^currentUmask() {
			t.Errorf("dist/bin has mode %v", st.Mode())
		}
		if !strings.Contains(logs.String(), "dist/bin/app ("+digest(app)+")") {
			t.Errorf("log does not name the inputs:\n%s", logs.String())
		}
	})

	t.Run("no inputs", func(t *testing.T) {
		f := src()
		if err := downloadInputs(t.Context(), f, nil, t.TempDir(), io.Discard); err != nil || len(f.asked) != 0 {
			t.Fatalf("no inputs: %v, asked %v", err, f.asked)
		}
	})

	for _, tc := range []struct {
		name   string
		inputs []rampart.ArtifactRef
		setup  func(t *testing.T, ws, outside string)
		src    func(f *fakeInputs)
		want   string
	}{
		{name: "parent directory", inputs: []rampart.ArtifactRef{ref(1, "../app", app)}, want: `contains ".."`},
		{name: "deep parent directory", inputs: []rampart.ArtifactRef{ref(1, "dist/../../app", app)}, want: `contains ".."`},
		{name: "absolute", inputs: []rampart.ArtifactRef{ref(1, "/etc/cron.d/app", app)}, want: "absolute"},
		{name: "empty", inputs: []rampart.ArtifactRef{ref(1, "", app)}, want: "empty"},
		{name: "not clean", inputs: []rampart.ArtifactRef{ref(1, "dist//app", app)}, want: "not a clean path"},
		{name: "backslash", inputs: []rampart.ArtifactRef{ref(1, `..\app`, app)}, want: "backslash"},
		{name: "no digest", inputs: []rampart.ArtifactRef{{ID: 1, Name: "app", Digest: "md5:abc"}}, want: "no sha256 digest"},
		{name: "other content", inputs: []rampart.ArtifactRef{ref(1, "app", conf)}, want: "the content has " + digest(app) + ", but the deployment consumes " + digest(conf)},
		{name: "corrupted download", inputs: []rampart.ArtifactRef{ref(1, "app", app)}, src: func(f *fakeInputs) { f.lie = true }, want: "but the deployment consumes"},
		{name: "refused by the server", inputs: []rampart.ArtifactRef{ref(2, "ok.yaml", conf), ref(1, "app", app)},
			src: func(f *fakeInputs) { f.refuse = map[int64]bool{1: true} }, want: "the server refused it: the artifact's provenance does not check out"},
		{name: "directory in the way", inputs: []rampart.ArtifactRef{ref(1, "dist", app)},
			setup: func(t *testing.T, ws, _ string) { mkdir(t, filepath.Join(ws, "dist")) }, want: "directory of that name"},
		{name: "symlinked directory out of the workspace", inputs: []rampart.ArtifactRef{ref(1, "dist/app", app)},
			setup: func(t *testing.T, ws, outside string) { symlink(t, outside, filepath.Join(ws, "dist")) }, want: `input "dist/app"`},
		{name: "symlinked file out of the workspace", inputs: []rampart.ArtifactRef{ref(1, "app", app)},
			setup: func(t *testing.T, ws, outside string) {
				symlink(t, filepath.Join(outside, "app"), filepath.Join(ws, "app"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, outside := t.TempDir(), t.TempDir()
			if tc.setup != nil {
				tc.setup(t, ws, outside)
			}
			f := src()
			if tc.src != nil {
				tc.src(f)
			}
			err := downloadInputs(t.Context(), f, tc.inputs, ws, io.Discard)
			if tc.want == "" {
				// Allowed, but only inside the workspace: the symlink itself is replaced.
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			// Nothing was written outside the workspace.
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("wrote outside the workspace: %v", entries)
			}
			// Nothing that failed its check is left for a step to use.
			if tc.want != "" {
				for _, in := range tc.inputs {
					if f.refuse[in.ID] || in.Digest != digest(f.content[in.ID]) || f.lie {
						if _, err := os.Lstat(filepath.Join(ws, filepath.FromSlash(in.Name))); err == nil && !strings.Contains(tc.name, "directory") {
							t.Errorf("%s left in the workspace after it failed", in.Name)
						}
					}
				}
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// currentUmask returns the process's umask without changing it for long.
func currentUmask() os.FileMode {
	dir, err := os.MkdirTemp("", "umask")
	if err != nil {
		return 0o022
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, nil, 0o777); err != nil {
		return 0o022
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0o022
	}
	return 0o777 &^ st.Mode().Perm()
}
