package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/rampart-ci/rampart"
)

// DefaultMaxFileSize is the limit ReadFile applies when given a zero or negative maxBytes.
const DefaultMaxFileSize = 1 << 20

// Cache keeps one bare repository per repository URL under Dir, holding the commits fetched so
// far, so that reading a file (say the pipeline definition) at a commit fetches that commit once.
//
// Operations on one repository are serialised; different repositories proceed in parallel. A
// Cache's methods may be called concurrently. The zero value is not usable: Dir must be set.
// A Cache must not be copied after first use, and Dir must not be shared with another Cache or
// another process, which would not see its locks.
type Cache struct {
	// Dir is the directory holding the repositories, each in a subdirectory named by the
	// SHA-256 of its URL (so that no part of the URL, credentials included, reaches the file
	// system). It is created when needed.
	Dir string

	mu    sync.Mutex
	locks map[string]*sync.Mutex // by subdirectory name; entries live as long as the Cache
}

// lock locks the repository named key and returns its unlock function.
func (c *Cache) lock(key string) func() {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = make(map[string]*sync.Mutex)
	}
	m, ok := c.locks[key]
	if !ok {
		m = new(sync.Mutex)
		c.locks[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// ReadFile returns the content of the file at name (a slash-separated path relative to the
// repository root, such as ".rampart.yml") in commit of the repository at repoURL, fetching the
// commit into the cache first if it is not there yet.
//
// It returns EINVALID for a malformed URL, commit or path, or when name is not a regular file;
// ENOTFOUND when the commit or the file does not exist; ETOOLARGE when the file is larger than
// maxBytes (zero or negative means DefaultMaxFileSize); and the errors of ResolveRef for an
// unreachable repository.
func (c *Cache) ReadFile(ctx context.Context, repoURL, commit, name string, maxBytes int64) ([]byte, error) {
	if err := CheckURL(repoURL); err != nil {
		return nil, err
	}
	if err := checkCommit(commit); err != nil {
		return nil, err
	}
	commit = strings.ToLower(commit)
	name, err := cleanPath(name)
	if err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileSize
	}
	if c.Dir == "" {
		return nil, fmt.Errorf("git: Cache.Dir is not set")
	}

	sum := sha256.Sum256([]byte(repoURL))
	key := hex.EncodeToString(sum[:])
	unlock := c.lock(key)
	defer unlock()

	gitDir, err := c.repo(ctx, key, commit)
	if err != nil {
		return nil, err
	}
	if !hasCommit(ctx, gitDir, commit) {
		if err := fetchCommit(ctx, gitDir, repoURL, commit, allowAnyWant); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}

	// One line in, one line out: "<id> <type> <size>", or "<spec> missing".
	out, err := run(ctx, command{
		gitDir: gitDir,
		args:   []string{"cat-file", "--batch-check"},
		stdin:  strings.NewReader(commit + ":" + name + "\n"),
	})
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", name, commit, err)
	}
	line := strings.TrimSuffix(string(out), "\n")
	if strings.HasSuffix(line, " missing") {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "file %s not found at commit %s", name, commit).
			WithDetail("check the path; it is relative to the repository root and case-sensitive")
	}
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return nil, fmt.Errorf("read %s at %s: unexpected cat-file output %q", name, commit, out)
	}
	id, typ := fields[0], fields[1]
	size, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || !IsCommit(id) {
		return nil, fmt.Errorf("read %s at %s: unexpected cat-file output %q", name, commit, out)
	}
	if typ != "blob" {
		return nil, rampart.Errorf(rampart.EINVALID, "%s at commit %s is a %s, not a file", name, commit, typ)
	}
	if size > maxBytes {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "file %s at commit %s is %d bytes, more than the limit of %d", name, commit, size, maxBytes)
	}
	data, err := run(ctx, command{gitDir: gitDir, args: []string{"cat-file", "blob", id}, maxOut: max(size, 1)})
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", name, commit, err)
	}
	return data, nil
}

// repo returns the bare repository named key, creating it if needed. A repository is created
// under a temporary name and renamed into place, so that an interrupted git init never leaves a
// half-made repository behind under the real name. c.lock(key) must be held.
func (c *Cache) repo(ctx context.Context, key, commit string) (string, error) {
	dir := filepath.Join(c.Dir, key)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return "", fmt.Errorf("git cache: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, key+".tmp-")
	if err != nil {
		return "", fmt.Errorf("git cache: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	if _, err := run(ctx, command{args: initArgs(commit, true, tmp)}); err != nil {
		return "", fmt.Errorf("git cache: init: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil { // a leftover without HEAD
		return "", fmt.Errorf("git cache: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("git cache: %w", err)
	}
	return dir, nil
}

// cleanPath checks a repository path given by a user and returns it in the form git expects.
func cleanPath(name string) (string, error) {
	bad := func(why string) error {
		return rampart.Errorf(rampart.EINVALID, "invalid file path %q: %s", name, why).
			WithDetail("give a path relative to the repository root, such as .rampart.yml")
	}
	switch {
	case name == "":
		return "", bad("empty")
	case hasControl(name):
		return "", bad("contains a control character")
	case strings.HasPrefix(name, "/"):
		return "", bad("absolute")
	case strings.Contains(name, "\\"):
		return "", bad(`contains "\"`)
	}
	clean := path.Clean(name)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", bad("outside the repository")
	}
	return clean, nil
}
