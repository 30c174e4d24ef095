package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Checkout makes dir, which must be an existing empty directory, a git repository whose work
// tree is exactly commit of the repository at repoURL, with HEAD detached at it. Only that
// commit is fetched (no history, no tags) where the server allows it; otherwise all branches
// and tags are fetched and the commit looked up among them.
//
// The repository gets no remote: repoURL, and any credentials in it, appear only on git's
// command line and never in dir/.git/config. No hooks are installed and submodules are not
// checked out. If Checkout fails, dir may hold a partial repository; the caller, which owns the
// workspace, removes it.
//
// It returns EINVALID for a malformed URL or commit or an unreadable repository, ENOTFOUND when
// the repository has no such commit, and EUNAVAILABLE when the host cannot be reached.
func Checkout(ctx context.Context, repoURL, commit, dir string) error {
	if err := CheckURL(repoURL); err != nil {
		return err
	}
	if err := checkCommit(commit); err != nil {
		return err
	}
	commit = strings.ToLower(commit)
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("checkout: directory %s is not empty", dir)
	}
	gitDir := filepath.Join(dir, ".git")

	if _, err := run(ctx, command{args: initArgs(commit, false, dir)}); err != nil {
		return fmt.Errorf("checkout: init: %w", err)
	}
	if err := fetchCommit(ctx, gitDir, repoURL, commit, allowAnyWant); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	// The commit id, not FETCH_HEAD, so that the tree is that commit's whatever was fetched.
	if _, err := run(ctx, command{gitDir: gitDir, workDir: dir, args: []string{
		"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit,
	}}); err != nil {
		return fmt.Errorf("checkout %s: %w", commit, err)
	}
	out, err := run(ctx, command{gitDir: gitDir, args: []string{"rev-parse", "--verify", "HEAD^{commit}"}})
	if err != nil {
		return fmt.Errorf("checkout: verify HEAD: %w", err)
	}
	if head := strings.TrimSpace(string(out)); head != commit {
		return fmt.Errorf("checkout: HEAD is %s, want %s", head, commit)
	}
	return nil
}
