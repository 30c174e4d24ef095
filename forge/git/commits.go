package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// MaxCommits bounds how many commits Commits returns: a deployment that spans more is read as
// its newest MaxCommits.
const MaxCommits = 500

// Commits returns the commits reachable from to but not from from, newest first (git log
// from..to); with from "" only the commit to itself. Both are exact commit ids.
func (c *Cache) Commits(ctx context.Context, repoURL, from, to string) ([]*rampart.Commit, error) {
	if err := CheckURL(repoURL); err != nil {
		return nil, err
	}
	if err := checkCommit(to); err != nil {
		return nil, err
	}
	if from != "" {
		if err := checkCommit(from); err != nil {
			return nil, err
		}
	}
	from, to = strings.ToLower(from), strings.ToLower(to)
	if c.Dir == "" {
		return nil, fmt.Errorf("git: Cache.Dir is not set")
	}
	sum := sha256.Sum256([]byte(repoURL))
	key := hex.EncodeToString(sum[:])
	unlock := c.lock(key)
	defer unlock()
	gitDir, err := c.repo(ctx, key, to)
	if err != nil {
		return nil, err
	}
	if from == "" {
		if !hasCommit(ctx, gitDir, to) {
			if err := fetchCommit(ctx, gitDir, repoURL, to, allowAnyWant); err != nil {
				return nil, fmt.Errorf("read commit %s: %w", to, err)
			}
		}
	} else if err := fetchHistory(ctx, gitDir, repoURL, to); err != nil {
		// The cache holds single commits (pipelines are read at one commit): a range needs
		// the history behind to.
		return nil, fmt.Errorf("read the history of %s: %w", to, err)
	}
	args := []string{"log", "-z", "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00%ct%x00%B", "--max-count=" + strconv.Itoa(MaxCommits)}
	if from != "" {
		args = append(args, from+".."+to)
	} else {
		args = append(args, "-1", to)
	}
	out, err := run(ctx, command{gitDir: gitDir, args: append(args, "--")})
	if err != nil {
		return nil, fmt.Errorf("read commits %s..%s: %w", from, to, err)
	}
	return parseLog(string(out))
}

// parseLog reads `git log -z` output in the format Commits asks for: seven NUL-separated
// fields per commit, commits separated by NUL too.
func parseLog(out string) ([]*rampart.Commit, error) {
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	if len(fields) == 1 && fields[0] == "" {
		return nil, nil
	}
	if len(fields)%7 != 0 {
		return nil, fmt.Errorf("git log: unexpected output (%d fields)", len(fields))
	}
	var cs []*rampart.Commit
	for i := 0; i < len(fields); i += 7 {
		f := fields[i : i+7]
		sec, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil || !IsCommit(strings.TrimSpace(f[0])) {
			return nil, fmt.Errorf("git log: unexpected commit line %q", f[0])
		}
		cs = append(cs, &rampart.Commit{SHA: strings.TrimSpace(f[0]), AuthorName: f[1], AuthorEmail: f[2], CommitterName: f[3],
			CommitterEmail: f[4], Time: time.Unix(sec, 0).UTC(), Message: strings.TrimRight(f[6], "\n")})
	}
	return cs, nil
}

// fetchHistory fetches commit with up to MaxCommits of its history.
func fetchHistory(ctx context.Context, gitDir, repoURL, commit string) error {
	args := append(append(append([]string{}, allowAnyWant...), quietFetch...),
		"fetch", "--quiet", "--depth="+strconv.Itoa(MaxCommits), "--no-tags", "--no-write-fetch-head",
		"--", repoURL, commit+":"+keepRef(commit))
	if _, err := run(ctx, command{gitDir: gitDir, repoURL: repoURL, args: args}); err == nil {
		return nil
	}
	// Servers that refuse unadvertised commits: all branches and tags, with history.
	if err := fetchAll(ctx, gitDir, repoURL); err != nil {
		return classify(err, repoURL, rampart.Errorf(rampart.ENOTFOUND, "commit %s not found in %s", commit, redact(repoURL)))
	}
	return nil
}
