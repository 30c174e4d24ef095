package git

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/rampart-ci/rampart"
)

// ResolveRef returns the commit that ref names in the repository at repoURL, asking the remote
// with git ls-remote. ref may be:
//
//   - a full commit SHA (40 or 64 hex digits), returned as is, in lower case, without contacting
//     the remote (whether the commit exists shows when it is fetched);
//   - a full ref such as refs/heads/main or refs/tags/v1, or HEAD for the default branch;
//   - a short name, tried as a branch first and then as a tag: for CI a name such as "main"
//     almost always means the branch, even where a tag of that name exists.
//
// An annotated tag resolves to the commit it points to, not to the tag object. ResolveRef
// returns EINVALID for a malformed URL or ref or an unreadable repository, EUNAVAILABLE when
// the host cannot be reached, and ENOTFOUND when the repository has no such ref.
func ResolveRef(ctx context.Context, repoURL, ref string) (string, error) {
	if err := CheckURL(repoURL); err != nil {
		return "", err
	}
	if IsCommit(ref) {
		return strings.ToLower(ref), nil
	}
	if err := CheckRef(ref); err != nil {
		return "", err
	}
	var names []string // candidates, most preferred first
	switch {
	case ref == "HEAD" || strings.HasPrefix(ref, "refs/"):
		names = []string{ref}
	default:
		names = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	patterns := make([]string, 0, 2*len(names))
	for _, n := range names {
		patterns = append(patterns, n, n+"^{}")
	}
	refs, err := lsRemote(ctx, repoURL, nil, patterns)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", ref, err)
	}
	for _, n := range names {
		// ls-remote lists an annotated tag twice: the tag object, then "^{}" with its commit.
		if c, ok := refs[n+"^{}"]; ok {
			return c, nil
		}
		if c, ok := refs[n]; ok {
			return c, nil
		}
	}
	return "", rampart.Errorf(rampart.ENOTFOUND, "ref %q not found in %s", ref, redact(repoURL)).
		WithDetail("push the branch or tag first, or give a full commit SHA")
}

// Branches returns every branch of the repository at repoURL with the commit at its tip, keyed by
// the short branch name ("main", not "refs/heads/main"). The server polls with it where webhooks
// are not available. Names that are not safe refs (see CheckRef) are left out. Its errors are
// those of ResolveRef, ENOTFOUND aside.
func Branches(ctx context.Context, repoURL string) (map[string]string, error) {
	if err := CheckURL(repoURL); err != nil {
		return nil, err
	}
	refs, err := lsRemote(ctx, repoURL, []string{"--heads"}, nil)
	if err != nil {
		return nil, fmt.Errorf("list branches: %w", err)
	}
	branches := make(map[string]string, len(refs))
	for name, c := range refs {
		b, ok := strings.CutPrefix(name, "refs/heads/")
		if !ok || CheckRef(b) != nil {
			continue
		}
		branches[b] = c
	}
	return branches, nil
}

// lsRemote runs git ls-remote and returns ref name → object id. The caller has checked repoURL;
// patterns are safe refs. Lines whose object id is malformed are dropped.
func lsRemote(ctx context.Context, repoURL string, opts, patterns []string) (map[string]string, error) {
	args := append([]string{"ls-remote"}, opts...)
	args = append(args, "--", repoURL)
	args = append(args, patterns...)
	out, err := run(ctx, command{args: args, repoURL: repoURL})
	if err != nil {
		return nil, classify(err, repoURL, nil)
	}
	refs := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		id, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok || !IsCommit(id) {
			continue
		}
		refs[name] = strings.ToLower(id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("git ls-remote: read output: %w", err)
	}
	return refs, nil
}
