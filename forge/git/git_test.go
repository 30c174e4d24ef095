package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-ci/rampart"
)

// testRepo is a repository made for a test: three commits on main, a branch at the first,
// an annotated and a lightweight tag.
type testRepo struct {
	dir     string
	commits []string // oldest first
}

// gitT runs git in dir for test setup, isolated from the user's configuration.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"}, args...)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *testRepo) commit(t *testing.T, files map[string]string, remove ...string) string {
	t.Helper()
	for name, content := range files {
		writeFile(t, filepath.Join(r.dir, name), content)
	}
	for _, name := range remove {
		gitT(t, r.dir, "rm", "-q", name)
	}
	gitT(t, r.dir, "add", "-A")
	gitT(t, r.dir, "commit", "-q", "-m", "change")
	c := gitT(t, r.dir, "rev-parse", "HEAD")
	r.commits = append(r.commits, c)
	return c
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{dir: filepath.Join(t.TempDir(), "src")}
	gitT(t, filepath.Dir(r.dir), "init", "-q", r.dir)
	r.commit(t, map[string]string{".rampart.yml": "version: 1\n", "a.txt": "a\n"})
	gitT(t, r.dir, "branch", "feature")
	gitT(t, r.dir, "tag", "-a", "-m", "release 1", "v1")
	gitT(t, r.dir, "tag", "light")
	r.commit(t, map[string]string{".rampart.yml": "version: 2\n", "dir/b.txt": "b\n"}, "a.txt")
	r.commit(t, map[string]string{".rampart.yml": "version: 3\n", "big.bin": strings.Repeat("x", 5000)})
	return r
}

// urls returns the repository both as a plain path and as a file:// URL.
func (r *testRepo) urls() map[string]string {
	return map[string]string{"path": r.dir, "file": "file://" + r.dir}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := rampart.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func TestResolveRef(t *testing.T) {
	r := newTestRepo(t)
	c1, c3 := r.commits[0], r.commits[2]
	for kind, url := range r.urls() {
		t.Run(kind, func(t *testing.T) {
			for _, tc := range []struct {
				ref, want, code string
			}{
				{ref: "main", want: c3},
				{ref: "refs/heads/main", want: c3},
				{ref: "HEAD", want: c3},
				{ref: "feature", want: c1},
				{ref: "v1", want: c1}, // annotated: the commit, not the tag object
				{ref: "refs/tags/v1", want: c1},
				{ref: "light", want: c1},
				{ref: c1, want: c1},
				{ref: strings.ToUpper(c1), want: c1},
				{ref: "nope", code: rampart.ENOTFOUND},
				{ref: "refs/heads/nope", code: rampart.ENOTFOUND},
				{ref: "ain", code: rampart.ENOTFOUND}, // no tail matching
				{ref: "--upload-pack=touch /tmp/pwned", code: rampart.EINVALID},
				{ref: "a..b", code: rampart.EINVALID},
				{ref: "a\nb", code: rampart.EINVALID},
			} {
				got, err := ResolveRef(t.Context(), url, tc.ref)
				if tc.code != "" {
					if err == nil || rampart.ErrorCode(err) != tc.code {
						t.Errorf("ResolveRef(%q) = %q, %v; want code %s", tc.ref, got, err, tc.code)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("ResolveRef(%q) = %q, %v; want %s", tc.ref, got, err, tc.want)
				}
			}
		})
	}
}

func TestResolveRefMissingRepository(t *testing.T) {
	_, err := ResolveRef(t.Context(), filepath.Join(t.TempDir(), "none"), "main")
	wantCode(t, err, rampart.EINVALID)
	if !strings.Contains(rampart.ErrorMessage(err), "not found") {
		t.Errorf("message = %q", rampart.ErrorMessage(err))
	}
}

func TestUnreachableHostHidesCredentials(t *testing.T) {
	// Port 1 on the loopback: connection refused, no network needed.
	_, err := ResolveRef(t.Context(), "http://alice:s3cr3t-token@127.0.0.1:1/org/repo.git", "main")
	wantCode(t, err, rampart.EUNAVAILABLE)
	if strings.Contains(err.Error(), "s3cr3t-token") || strings.Contains(err.Error(), "alice") {
		t.Errorf("error reveals credentials: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	r := newTestRepo(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ResolveRef(ctx, r.dir, "main"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestBranches(t *testing.T) {
	r := newTestRepo(t)
	for kind, url := range r.urls() {
		t.Run(kind, func(t *testing.T) {
			got, err := Branches(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"main": r.commits[len(r.commits)-1], "feature": r.commits[0]}
			if !mapsEqual(got, want) {
				t.Fatalf("Branches = %v, want %v", got, want)
			}
		})
	}
	c4 := r.commit(t, map[string]string{"c.txt": "c\n"})
	gitT(t, r.dir, "branch", "release/2.0", r.commits[1])
	got, err := Branches(t.Context(), "file://"+r.dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"main": c4, "feature": r.commits[0], "release/2.0": r.commits[1]}
	if !mapsEqual(got, want) {
		t.Fatalf("after new commits Branches = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCacheReadFile(t *testing.T) {
	r := newTestRepo(t)
	c1, c2, c3 := r.commits[0], r.commits[1], r.commits[2]
	for kind, url := range r.urls() {
		t.Run(kind, func(t *testing.T) {
			cache := &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
			for _, tc := range []struct {
				commit, name string
				max          int64
				want, code   string
			}{
				{commit: c3, name: ".rampart.yml", want: "version: 3\n"},
				{commit: c1, name: ".rampart.yml", want: "version: 1\n"}, // older commit, fetched later
				{commit: c2, name: "./dir/b.txt", want: "b\n"},
				{commit: c1, name: "a.txt", want: "a\n"},
				{commit: c2, name: "a.txt", code: rampart.ENOTFOUND}, // removed in c2
				{commit: c3, name: "no such file.txt", code: rampart.ENOTFOUND},
				{commit: c3, name: "dir", code: rampart.EINVALID},
				{commit: c3, name: "../etc/passwd", code: rampart.EINVALID},
				{commit: c3, name: "/etc/passwd", code: rampart.EINVALID},
				{commit: c3, name: "big.bin", max: 4096, code: rampart.ETOOLARGE},
				{commit: c3, name: "big.bin", max: 5000, want: strings.Repeat("x", 5000)},
				{commit: strings.Repeat("ab", 20), name: ".rampart.yml", code: rampart.ENOTFOUND},
				{commit: "main", name: ".rampart.yml", code: rampart.EINVALID},
				{commit: "--upload-pack=touch /tmp/pwned", name: ".rampart.yml", code: rampart.EINVALID},
			} {
				got, err := cache.ReadFile(t.Context(), url, tc.commit, tc.name, tc.max)
				if tc.code != "" {
					if rampart.ErrorCode(err) != tc.code {
						t.Errorf("ReadFile(%.7s, %q) = %q, %v; want code %s", tc.commit, tc.name, got, err, tc.code)
					}
					continue
				}
				if err != nil || string(got) != tc.want {
					t.Errorf("ReadFile(%.7s, %q) = %.40q, %v; want %.40q", tc.commit, tc.name, got, err, tc.want)
				}
			}
			_, err := cache.ReadFile(t.Context(), url, c2, "a.txt", 0)
			if msg := rampart.ErrorMessage(err); !strings.Contains(msg, "a.txt") || !strings.Contains(msg, c2) {
				t.Errorf("missing-file message %q should name the path and the commit", msg)
			}
			entries, err := os.ReadDir(cache.Dir)
			if err != nil || len(entries) != 1 || strings.Contains(entries[0].Name(), "src") {
				t.Errorf("cache dir holds %v, %v; want one repository named by a hash", entries, err)
			}
		})
	}
}

func TestCacheConcurrent(t *testing.T) {
	r := newTestRepo(t)
	cache := &Cache{Dir: t.TempDir()}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := r.commits[i%len(r.commits)]
			want := []string{"version: 1\n", "version: 2\n", "version: 3\n"}[i%len(r.commits)]
			got, err := cache.ReadFile(t.Context(), r.dir, c, ".rampart.yml", 0)
			if err != nil || string(got) != want {
				t.Errorf("ReadFile = %q, %v; want %q", got, err, want)
			}
		})
	}
	wg.Wait()
}

// tree lists the files under dir (outside .git) with their content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// commitTree lists the files of commit in the repository at repo with their content.
func commitTree(t *testing.T, repo, commit string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for name := range strings.SplitSeq(gitT(t, repo, "ls-tree", "-r", "--name-only", commit), "\n") {
		files[name] = gitT(t, repo, "show", commit+":"+name)
	}
	return files
}

func TestCheckout(t *testing.T) {
	r := newTestRepo(t)
	for kind, url := range r.urls() {
		for i, c := range r.commits {
			t.Run(kind+"/"+c[:7], func(t *testing.T) {
				dir := t.TempDir()
				if err := Checkout(t.Context(), url, c, dir); err != nil {
					t.Fatal(err)
				}
				if head := gitT(t, dir, "rev-parse", "HEAD"); head != c {
					t.Errorf("HEAD = %s, want %s (commit %d)", head, c, i)
				}
				got := tree(t, dir)
				want := commitTree(t, r.dir, c)
				for name := range want {
					got[name] = strings.TrimSpace(got[name]) // git show output was trimmed too
				}
				if !mapsEqual(got, want) {
					t.Errorf("tree = %v, want %v", got, want)
				}
				if status := gitT(t, dir, "status", "--porcelain"); status != "" {
					t.Errorf("work tree not clean: %s", status)
				}
				config, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(config), r.dir) || strings.Contains(string(config), "remote") {
					t.Errorf(".git/config mentions the repository:\n%s", config)
				}
				if _, err := os.Stat(filepath.Join(dir, ".git", "hooks")); err == nil {
					t.Errorf("hooks directory was created")
				}
			})
		}
	}
}

func TestCheckoutErrors(t *testing.T) {
	r := newTestRepo(t)
	nonEmpty := t.TempDir()
	writeFile(t, filepath.Join(nonEmpty, "x"), "x")
	for _, tc := range []struct {
		name, url, commit, dir, code string
	}{
		{name: "unknown commit", url: r.dir, commit: strings.Repeat("0123456789", 4), code: rampart.ENOTFOUND},
		{name: "branch name", url: r.dir, commit: "main", code: rampart.EINVALID},
		{name: "not empty", url: r.dir, commit: r.commits[0], dir: nonEmpty, code: rampart.EINTERNAL},
		{name: "no repository", url: filepath.Join(t.TempDir(), "none"), commit: r.commits[0], code: rampart.EINVALID},
		{name: "relative path", url: "src", commit: r.commits[0], code: rampart.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = t.TempDir()
			}
			wantCode(t, Checkout(t.Context(), tc.url, tc.commit, dir), tc.code)
		})
	}
}

// TestFetchFallback makes the server refuse unadvertised commits (protocol v0 without
// uploadpack.allowAnySHA1InWant) and checks that a commit at no branch or tag tip is still found,
// in a fresh repository and in one made shallow by an earlier fetch.
func TestFetchFallback(t *testing.T) {
	r := newTestRepo(t)
	url, c2, c3 := "file://"+r.dir, r.commits[1], r.commits[2]
	v0 := []string{"-c", "protocol.version=0"}
	for _, shallow := range []bool{false, true} {
		gitDir := filepath.Join(t.TempDir(), "repo.git")
		gitT(t, t.TempDir(), "init", "-q", "--bare", gitDir)
		if shallow {
			if err := fetchCommit(t.Context(), gitDir, url, c3, v0); err != nil { // a tip: no fallback
				t.Fatal(err)
			}
		}
		if err := fetchCommit(t.Context(), gitDir, url, c2, v0); err != nil {
			t.Fatalf("fetch %s: %v", c2, err)
		}
		if !hasCommit(t.Context(), gitDir, c2) {
			t.Fatalf("commit %s missing after fetch", c2)
		}
		if refs := gitT(t, gitDir, "for-each-ref", "refs/rampart/heads/"); !strings.Contains(refs, "refs/rampart/heads/main") {
			t.Fatalf("the fallback did not run: refs %q", refs)
		}
		err := fetchCommit(t.Context(), gitDir, url, strings.Repeat("ab", 20), v0)
		wantCode(t, err, rampart.ENOTFOUND)
	}
}

func TestOptionInjection(t *testing.T) {
	r := newTestRepo(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	attacks := []string{
		"--upload-pack=touch " + marker,
		"-u touch " + marker,
		"--config=core.sshCommand=touch " + marker,
		"ext::sh -c touch% " + marker,
		"ssh://-oProxyCommand=touch%20" + marker + "/x",
		"ssh://-oProxyCommand=touch " + marker + "@host/x",
		"-oProxyCommand=touch " + marker + ":x",
		"fd::3",
		"git://example.com/repo", // unauthenticated transport, not allowed
	}
	ctx := t.Context()
	for _, a := range attacks {
		if _, err := ResolveRef(ctx, a, "main"); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("ResolveRef(url %q) err = %v, want EINVALID", a, err)
		}
		if _, err := Branches(ctx, a); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("Branches(url %q) err = %v, want EINVALID", a, err)
		}
		if _, err := (&Cache{Dir: t.TempDir()}).ReadFile(ctx, a, r.commits[0], ".rampart.yml", 0); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("ReadFile(url %q) err = %v, want EINVALID", a, err)
		}
		if err := Checkout(ctx, a, r.commits[0], t.TempDir()); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("Checkout(url %q) err = %v, want EINVALID", a, err)
		}
		if _, err := ResolveRef(ctx, r.dir, a); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("ResolveRef(ref %q) err = %v, want EINVALID", a, err)
		}
		if err := Checkout(ctx, r.dir, a, t.TempDir()); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("Checkout(commit %q) err = %v, want EINVALID", a, err)
		}
	}
	// Even a URL that passes CheckURL cannot reach the ext transport: git itself refuses it.
	if _, err := run(ctx, command{args: []string{"ls-remote", "--", "ext::sh -c touch% " + marker}}); err == nil {
		t.Errorf("git ran the ext transport")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an injected command ran: %s exists", marker)
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{
		"https://github.com/org/repo.git",
		"http://gitea.local:3000/org/repo",
		"ssh://git@gitlab.com:2222/org/repo.git",
		"git@github.com:org/repo.git",
		"file:///srv/git/repo.git",
		"/srv/git/repo.git",
		"https://x-access-token:abc@github.com/org/repo.git",
	} {
		if err := CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"", "-x", "repo", "./repo", "https://", "https:///path", "ftp://host/x",
		"https://host/\x00", "https://host/a\nb", "git@-host:x", ":path", "ext::x",
	} {
		if err := CheckURL(bad); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("CheckURL(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"main", "feature/x-1", "refs/heads/main", "refs/tags/v1.2.3", "HEAD", "ünïcode", "a.b"} {
		if err := CheckRef(ok); err != nil {
			t.Errorf("CheckRef(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"", "-main", "--upload-pack=x", "a..b", "a b", "a\x7fb", "a\tb", "a~1", "a^", "a:b", "a?", "a*",
		"a[b", `a\b`, "a@{1}", "@", "/a", "a/", "a//b", ".a", "a/.b", "a.lock", "a/b.lock/c", "a.",
	} {
		if err := CheckRef(bad); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("CheckRef(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestIsCommit(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("a", 40): true, strings.Repeat("F", 64): true, strings.Repeat("a", 39): false,
		strings.Repeat("a", 41): false, strings.Repeat("g", 40): false, "": false,
	} {
		if IsCommit(s) != want {
			t.Errorf("IsCommit(%q) = %v", s, !want)
		}
	}
}

func TestEnvironIsClean(t *testing.T) {
	t.Setenv("GIT_DIR", "/nonexistent")
	t.Setenv("GIT_CONFIG_PARAMETERS", "'core.sshcommand'='touch /tmp/pwned'")
	env := environ("/home/x")
	for _, v := range env {
		if strings.HasPrefix(v, "GIT_DIR=") || strings.HasPrefix(v, "GIT_CONFIG_PARAMETERS=") {
			t.Errorf("environment passes %s", v)
		}
	}
	for _, want := range []string{"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME=/home/x", "GIT_ALLOW_PROTOCOL=" + AllowedProtocols} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %s", want)
		}
	}
}
