package git

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rampart-ci/rampart"
)

// allowAnyWant lets a local upload-pack (file:// and path URLs, where git runs the serving side
// itself and passes -c settings on to it) hand out any commit by id, also over protocol v0. It
// has no effect on remote servers.
var allowAnyWant = []string{"-c", "uploadpack.allowAnySHA1InWant=true"}

// quietFetch keeps fetch from starting garbage collection or maintenance in the background: the
// caller holds the repository and a prune could drop the objects just fetched.
var quietFetch = []string{"-c", "gc.auto=0", "-c", "maintenance.auto=false"}

// keepRef is the ref under which a fetched commit is kept, so that it stays reachable.
func keepRef(commit string) string { return "refs/rampart/commits/" + commit }

// fetchCommit fetches commit (and its tree, without history) from repoURL into the repository
// at gitDir. Servers that refuse requests for commits they do not advertise get a second try
// that fetches all branches and tags with their history. config goes before "fetch".
func fetchCommit(ctx context.Context, gitDir, repoURL, commit string, config []string) error {
	notFound := rampart.Errorf(rampart.ENOTFOUND, "commit %s not found in %s", commit, redact(repoURL)).
		WithDetail("check that the commit was pushed and has not been removed by a force-push")
	args := append(append(append([]string{}, config...), quietFetch...),
		"fetch", "--quiet", "--depth=1", "--no-tags", "--no-write-fetch-head",
		"--", repoURL, commit+":"+keepRef(commit))
	_, err := run(ctx, command{gitDir: gitDir, repoURL: repoURL, args: args})
	if err == nil {
		return nil
	}
	var ee *exitError
	if !errors.As(err, &ee) || !strings.Contains(ee.stderr, "unadvertised object") {
		return fmt.Errorf("fetch %s: %w", commit, classify(err, repoURL, notFound))
	}
	if err := fetchAll(ctx, gitDir, repoURL); err != nil {
		return fmt.Errorf("fetch %s: %w", commit, classify(err, repoURL, notFound))
	}
	if !hasCommit(ctx, gitDir, commit) {
		return notFound
	}
	return nil
}

// fetchAll fetches every branch and tag of repoURL, with history, under refs/rampart/.
func fetchAll(ctx context.Context, gitDir, repoURL string) error {
	args := append(append([]string{}, quietFetch...), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head")
	out, err := run(ctx, command{gitDir: gitDir, args: []string{"rev-parse", "--is-shallow-repository"}})
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) == "true" {
		// An earlier shallow fetch would stop the history at its commit.
		args = append(args, "--unshallow")
	}
	args = append(args, "--", repoURL, "+refs/heads/*:refs/rampart/heads/*", "+refs/tags/*:refs/rampart/tags/*")
	_, err = run(ctx, command{gitDir: gitDir, repoURL: repoURL, args: args})
	return err
}

// hasCommit reports whether the repository at gitDir holds commit.
func hasCommit(ctx context.Context, gitDir, commit string) bool {
	_, err := run(ctx, command{gitDir: gitDir, args: []string{"cat-file", "-e", commit + "^{commit}"}})
	return err == nil
}

// initArgs returns the arguments of git init for a repository that will hold commit: SHA-256
// repositories have 64-digit ids and must be created as such.
func initArgs(commit string, bare bool, dir string) []string {
	args := []string{"init", "--quiet", "--template="} // no hooks, no sample files
	if bare {
		args = append(args, "--bare")
	}
	if len(commit) == 64 {
		args = append(args, "--object-format=sha256")
	}
	return append(args, "--", dir)
}
