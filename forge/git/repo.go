package git

import (
	"context"

	"github.com/rampart-ci/rampart"
)

// Repo reads repositories: files at a commit through a Cache, refs and branches from the remote.
// It is what the scheduler reads pipelines and polls branches with.
type Repo struct{ Cache *Cache }

// ReadFile returns one file at an exact commit; see Cache.ReadFile.
func (r Repo) ReadFile(ctx context.Context, repoURL, commit, path string, maxBytes int64) ([]byte, error) {
	return r.Cache.ReadFile(ctx, repoURL, commit, path, maxBytes)
}

// ResolveRef returns the commit a ref names; see the package function.
func (r Repo) ResolveRef(ctx context.Context, repoURL, ref string) (string, error) {
	return ResolveRef(ctx, repoURL, ref)
}

// Branches returns each branch's head commit; see the package function.
func (r Repo) Branches(ctx context.Context, repoURL string) (map[string]string, error) {
	return Branches(ctx, repoURL)
}

// Commits returns the commits in from..to; see Cache.Commits.
func (r Repo) Commits(ctx context.Context, repoURL, from, to string) ([]*rampart.Commit, error) {
	return r.Cache.Commits(ctx, repoURL, from, to)
}
