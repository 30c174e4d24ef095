package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rampart-ci/rampart"
)

// uploads records what a collector sent, checking that the digest it claimed is the one of the
// content it streamed.
type uploads struct {
	t     *testing.T
	mu    sync.Mutex
	files map[string]string // name → content
	sums  map[string]string // name → claimed sha256
	fail  error
}

func (u *uploads) upload(ctx context.Context, name string, r io.Reader, size int64, sum string) error {
	if u.fail != nil {
		return u.fail
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		u.t.Errorf("%s: streamed %d bytes, announced %d", name, len(b), size)
	}
	h := sha256.Sum256(b)
	if got := hex.EncodeToString(h[:]); got != sum {
		u.t.Errorf("%s: claimed digest %s, content has %s", name, sum, got)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.files[name] = string(b)
	u.sums[name] = sum
	return nil
}

func (u *uploads) names() []string {
	var n []string
	for k := range u.files {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// workspace lays out files (content, or "->target" for a symlink) below a new directory.
func workspace(t *testing.T, files map[string]string) string {
	t.Helper()
	ws := t.TempDir()
	for name, content := range files {
		p := filepath.Join(ws, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

func TestCollectArtifacts(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("agent secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"a.txt":              "alpha\n",
		"b.txt":              "beta\n",
		"c.log":              "not matched",
		"dist/app":           "binary",
		"dist/sub/lib.so":    "library",
		"dist/sub/empty":     "",
		"dist/leak":          "->" + outside,
		"dist/up":            "->../a.txt",
		"link.txt":           "->" + outside,
		"linkdir":            "->" + filepath.Dir(outside),
		"big.bin":            strings.Repeat("z", 101),
		"exact.bin":          strings.Repeat("z", 100),
		"inner/linked-dir":   "->../dist",
		"nested/deep/f.json": "{}",
	}
	tests := []struct {
		name     string
		patterns []string
		want     []string // uploaded names
		wantErr  string   // in the error; "" for none
		wantLog  []string // in the job log
	}{
		{"glob", []string{"*.txt"}, []string{"a.txt", "b.txt"}, "", []string{"link.txt refused: a symlink"}},
		{"plain path", []string{"nested/deep/f.json"}, []string{"nested/deep/f.json"}, "", nil},
		{"dot slash", []string{"./a.txt"}, []string{"a.txt"}, "", nil},
		{"directory", []string{"dist"}, []string{"dist/app", "dist/sub/empty", "dist/sub/lib.so"}, "",
			[]string{"dist/leak refused: a symlink", "dist/up refused: a symlink"}},
		{"glob of directories", []string{"nest*"}, []string{"nested/deep/f.json"}, "", nil},
		{"twice matched once uploaded", []string{"a.txt", "*.txt"}, []string{"a.txt", "b.txt"}, "", nil},
		{"symlinked file", []string{"link.txt"}, nil, "", []string{"link.txt refused: a symlink"}},
		{"through symlinked directory", []string{"linkdir/secret"}, nil, "", []string{"linkdir/secret refused: linkdir is a symlink"}},
		{"symlinked directory in the workspace", []string{"inner/linked-dir/app"}, nil, "", []string{"refused: inner/linked-dir is a symlink"}},
		{"parent", []string{"../secret"}, nil, "leaves the workspace", nil},
		{"parent inside", []string{"dist/../../secret"}, nil, "leaves the workspace", nil},
		{"absolute", []string{outside}, nil, "leaves the workspace", nil},
		{"bad pattern", []string{"[a-"}, nil, "syntax error", nil},
		{"size limit", []string{"*.bin"}, []string{"exact.bin"}, "", []string{"big.bin skipped: 101 bytes, more than the limit of 100"}},
		{"nothing matches", []string{"*.none"}, nil, "", []string{`nothing matches "*.none"`}},
		{"bad and good", []string{"../x", "a.txt"}, []string{"a.txt"}, "leaves the workspace", nil},
	}
	ws := workspace(t, files)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &uploads{t: t, files: map[string]string{}, sums: map[string]string{}}
			var out logBuffer
			c := &collector{ws: ws, maxBytes: 100, out: &out, upload: u.upload, onLost: func(error) { t.Error("lease lost") }}
			err := c.collect(context.Background(), tt.patterns)
			if tt.wantErr == "" && err != nil {
				t.Errorf("error: %v", err)
			} else if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := u.names(); !slices.Equal(got, tt.want) {
				t.Errorf("uploaded %q, want %q", got, tt.want)
			}
			for name, content := range u.files {
				if content != files[name] {
					t.Errorf("%s uploaded as %q, want %q", name, content, files[name])
				}
				h := sha256.Sum256([]byte(files[name]))
				if u.sums[name] != hex.EncodeToString(h[:]) {
					t.Errorf("%s: digest %s is not the file's", name, u.sums[name])
				}
				if strings.Contains(content, "agent secret") {
					t.Errorf("%s: a file outside the workspace was uploaded", name)
				}
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(out.String(), w) {
					t.Errorf("job log lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCollectArtifactsSpecialFiles(t *testing.T) {
	ws := workspace(t, map[string]string{"out/ok": "ok"})
	if err := syscall.Mkfifo(filepath.Join(ws, "out", "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	u := &uploads{t: t, files: map[string]string{}, sums: map[string]string{}}
	var out logBuffer
	c := &collector{ws: ws, maxBytes: 100, out: &out, upload: u.upload, onLost: func(error) {}}
	// A FIFO must neither hang the agent nor be uploaded, whether named or found in a directory.
	if err := c.collect(context.Background(), []string{"out", "out/fifo"}); err != nil {
		t.Fatal(err)
	}
	if got := u.names(); !slices.Equal(got, []string{"out/ok"}) {
		t.Errorf("uploaded %q", got)
	}
	if !strings.Contains(out.String(), "out/fifo skipped: not a regular file") ||
		!strings.Contains(out.String(), "out/fifo refused: not a regular file or directory") {
		t.Errorf("job log:\n%s", out.String())
	}
}

func TestCollectArtifactsLeaseLost(t *testing.T) {
	ws := workspace(t, map[string]string{"a": "a", "b": "b"})
	u := &uploads{t: t, files: map[string]string{}, sums: map[string]string{}, fail: rampart.Errorf(rampart.ECONFLICT, "fenced")}
	var lost error
	c := &collector{ws: ws, maxBytes: 100, out: io.Discard, upload: u.upload, onLost: func(err error) { lost = err }}
	err := c.collect(context.Background(), []string{"a"})
	if rampart.ErrorCode(err) != rampart.ECONFLICT || !errors.Is(err, lost) {
		t.Errorf("collect = %v, lost = %v; want the ECONFLICT error reported as a lost lease", err, lost)
	}
}
