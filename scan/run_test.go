package scan_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan"
)

// tokenScanner reports every line containing TOKEN in .txt files, and one finding from Finish.
type tokenScanner struct {
	name     string
	calls    atomic.Int64
	fail     string // ScanFile fails on this path
	panicOn  string // ScanFile panics on this path
	finish   error
	warnings []string
}

func (s *tokenScanner) Name() string           { return s.name }
func (s *tokenScanner) Wants(path string) bool { return strings.HasSuffix(path, ".txt") }
func (s *tokenScanner) Warnings() []string     { return s.warnings }

func (s *tokenScanner) ScanFile(ctx context.Context, f scan.File) ([]scan.Finding, error) {
	s.calls.Add(1)
	if f.Path == s.fail {
		return nil, errors.New("cannot parse")
	}
	if f.Path == s.panicOn {
		panic("boom")
	}
	var out []scan.Finding
	for i, line := range strings.Split(string(f.Data), "\n") {
		if strings.Contains(line, "TOKEN") {
			out = append(out, scan.Finding{RuleID: "token", Severity: scan.High, Line: i + 1, Message: "a token", Identity: "TOKEN"})
		}
	}
	return out, nil
}

func (s *tokenScanner) Finish(ctx context.Context) ([]scan.Finding, error) {
	if s.finish != nil {
		return nil, s.finish
	}
	return []scan.Finding{{RuleID: "summary", Severity: scan.Info, File: "tree", Message: "done"}}, nil
}

func write(t *testing.T, root, name, data string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// files returns the files with findings of rule "token".
func files(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.RuleID == "token" && !slices.Contains(out, f.File) {
			out = append(out, f.File)
		}
	}
	slices.Sort(out)
	return out
}

func TestRunGitTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	git(t, root, "init", "-q")
	write(t, root, ".gitignore", "ignored.txt\nbuild/\n")
	write(t, root, "tracked.txt", "x\nTOKEN\n")
	write(t, root, "sub/untracked.txt", "TOKEN\n")
	write(t, root, "ignored.txt", "TOKEN\n")
	write(t, root, "build/out.txt", "TOKEN\n")
	write(t, root, "binary.txt", "TOKEN\x00\x01")
	write(t, root, "big.txt", "TOKEN"+strings.Repeat("x", 2000))
	write(t, root, "other.md", "TOKEN")
	write(t, root, "deleted.txt", "TOKEN")
	if err := os.Symlink("tracked.txt", filepath.Join(root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	git(t, root, "add", "tracked.txt", "deleted.txt", "link.txt", ".gitignore")
	if err := os.Remove(filepath.Join(root, "deleted.txt")); err != nil {
		t.Fatal(err)
	}

	s := &tokenScanner{name: "tok"}
	var last scan.Progress
	calls := 0
	res, err := scan.Run(context.Background(), root, []scan.Scanner{s}, scan.Options{
		MaxFileSize: 1000,
		Progress:    func(p scan.Progress) { last = p; calls++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := files(res.Findings), []string{"sub/untracked.txt", "tracked.txt"}; !slices.Equal(got, want) {
		t.Errorf("files with findings: %v, want %v", got, want)
	}
	if !res.Stats.Git {
		t.Error("Stats.Git: false in a work tree")
	}
	wantSkipped := map[string]int{scan.SkipBinary: 1, scan.SkipTooLarge: 1, scan.SkipSymlink: 1, scan.SkipMissing: 1, scan.SkipUnwanted: 2}
	for reason, n := range wantSkipped {
		if res.Stats.Skipped[reason] != n {
			t.Errorf("skipped %q: %d, want %d (all: %v)", reason, res.Stats.Skipped[reason], n, res.Stats.Skipped)
		}
	}
	if res.Stats.Files != 2 || res.Stats.Listed != 8 {
		t.Errorf("stats: %+v, want 2 files scanned of 8 listed", res.Stats)
	}
	if last.Files != last.TotalFiles || last.TotalFiles != 8 || calls < 8 {
		t.Errorf("last progress %+v after %d calls", last, calls)
	}
	if _, ok := res.Stats.Scanners["tok"]; !ok {
		t.Errorf("no duration for scanner tok: %v", res.Stats.Scanners)
	}
	for _, f := range res.Findings {
		if f.Scanner != "tok" || len(f.Fingerprint) != 32 {
			t.Errorf("finding not filled in: %+v", f)
		}
	}
}

func TestRunWalk(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "TOKEN")
	write(t, root, "node_modules/x/b.txt", "TOKEN")
	write(t, root, "vendor/.git/config.txt", "TOKEN") // a nested repository's metadata
	res, err := scan.Run(context.Background(), root, []scan.Scanner{&tokenScanner{name: "tok"}}, scan.Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := files(res.Findings), []string{"a.txt", "node_modules/x/b.txt"}; !slices.Equal(got, want) {
		t.Errorf("files with findings: %v, want %v", got, want)
	}
	if res.Stats.Git {
		t.Error("Stats.Git: true outside a work tree")
	}
	if n := len(res.Findings); n != 3 { // two files and Finish's
		t.Errorf("%d findings, want 3: %+v", n, res.Findings)
	}
	if res.Findings[len(res.Findings)-1].RuleID != "summary" {
		t.Errorf("findings not sorted by severity: %+v", res.Findings)
	}
}

// TestRunFingerprints: the same findings keep their ids when lines move; equal findings in one
// file get distinct ids.
func TestRunFingerprints(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "TOKEN\nTOKEN\n")
	run := func() []string {
		res, err := scan.Run(context.Background(), root, []scan.Scanner{&tokenScanner{name: "tok"}}, scan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range res.Findings {
			if f.RuleID == "token" {
				ids = append(ids, f.Fingerprint)
			}
		}
		return ids
	}
	before := run()
	if len(before) != 2 || before[0] == before[1] {
		t.Fatalf("two equal findings: fingerprints %v, want two distinct", before)
	}
	write(t, root, "a.txt", "new line\n\nmore\nTOKEN\nx\nTOKEN\n")
	if after := run(); !slices.Equal(before, after) {
		t.Errorf("fingerprints changed with line shifts: %v, then %v", before, after)
	}
}

func TestRunErrors(t *testing.T) {
	root := t.TempDir()
	for i := range 20 {
		write(t, root, fmt.Sprintf("f%02d.txt", i), "TOKEN")
	}
	t.Run("scan file error is a warning", func(t *testing.T) {
		s := &tokenScanner{name: "tok", fail: "f03.txt", warnings: []string{"database is 9 days old"}}
		res, err := scan.Run(context.Background(), root, []scan.Scanner{s}, scan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"tok: database is 9 days old", "tok: f03.txt: cannot parse"}
		if !slices.Equal(res.Warnings, want) {
			t.Errorf("warnings %q, want %q", res.Warnings, want)
		}
		if n := len(files(res.Findings)); n != 19 {
			t.Errorf("%d files with findings, want 19", n)
		}
	})
	t.Run("finish error fails the run", func(t *testing.T) {
		s := &tokenScanner{name: "tok", finish: errors.New("no advisory database")}
		if _, err := scan.Run(context.Background(), root, []scan.Scanner{s}, scan.Options{}); err == nil || !strings.Contains(err.Error(), "no advisory database") {
			t.Errorf("err = %v, want the Finish error", err)
		}
	})
	t.Run("panic fails the run", func(t *testing.T) {
		s := &tokenScanner{name: "tok", panicOn: "f07.txt"}
		if _, err := scan.Run(context.Background(), root, []scan.Scanner{s}, scan.Options{}); err == nil || !strings.Contains(err.Error(), "panicked on f07.txt") {
			t.Errorf("err = %v, want the panic", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := scan.Run(ctx, root, []scan.Scanner{&tokenScanner{name: "tok"}}, scan.Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		for _, p := range []string{filepath.Join(root, "f00.txt"), filepath.Join(root, "nope")} {
			_, err := scan.Run(context.Background(), p, nil, scan.Options{})
			if rampart.ErrorCode(err) != rampart.EINVALID {
				t.Errorf("Run(%s): %v, want EINVALID", p, err)
			}
		}
	})
}

// binaryScanner wants binary files too.
type binaryScanner struct{ tokenScanner }

func (b *binaryScanner) WantsBinary(path string) bool { return true }

func TestRunBinaryScanner(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "TOKEN\x00")
	tok, bin := &tokenScanner{name: "text"}, &binaryScanner{tokenScanner{name: "bin"}}
	if _, err := scan.Run(context.Background(), root, []scan.Scanner{tok, bin}, scan.Options{}); err != nil {
		t.Fatal(err)
	}
	if tok.calls.Load() != 0 || bin.calls.Load() != 1 {
		t.Errorf("calls: text scanner %d, binary scanner %d; want 0 and 1", tok.calls.Load(), bin.calls.Load())
	}
}
