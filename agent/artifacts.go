package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-ci/rampart/mask"
)

// artifactFunc sends one artifact; it is JobClient.UploadArtifact in production.
type artifactFunc func(ctx context.Context, name string, r io.Reader, size int64, sha256hex string) error

// collector uploads the artifacts of one job from its workspace. The workspace is untrusted: the
// job's steps wrote it and may have left symlinks pointing anywhere on the agent (to the agent's
// credential, say), so nothing is read through a symlink and nothing outside the workspace is
// read at all.
type collector struct {
	ws       string
	maxBytes int64
	out      io.Writer // the job's log: what was uploaded, skipped and why
	upload   artifactFunc
	onLost   func(error) // called when an upload is refused because the lease is lost
	seen     map[string]bool
	masker   *mask.Masker // the job's secrets, to flag artifacts that contain one; nil for none
}

// collect expands each pattern (a path or a filepath.Glob pattern relative to the workspace; a
// directory stands for every regular file below it) and uploads what it matches. Patterns that
// leave the workspace or do not parse, and uploads that fail, make it return an error; symlinks,
// special files, files above maxBytes and patterns matching nothing are reported in the job log
// and skipped.
func (c *collector) collect(ctx context.Context, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	c.seen = make(map[string]bool)
	root, err := os.OpenRoot(c.ws)
	if err != nil {
		return fmt.Errorf("agent: opening workspace for artifacts: %w", err)
	}
	defer root.Close()
	var errs []error
	for _, p := range patterns {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("agent: artifacts not uploaded: %w", context.Cause(ctx)))...)
		}
		if err := c.pattern(ctx, root, p); err != nil {
			fmt.Fprintf(c.out, "✖ artifacts: %v\n", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pattern uploads what one pattern matches.
func (c *collector) pattern(ctx context.Context, root *os.Root, pattern string) error {
	if !filepath.IsLocal(pattern) {
		return fmt.Errorf("artifact pattern %q leaves the workspace (it must be a relative path without ..)", pattern)
	}
	// fs.Glob on the workspace, rather than filepath.Glob on its absolute path, so that
	// metacharacters in the workspace path cannot change the pattern's meaning.
	pat := path.Clean(filepath.ToSlash(pattern))
	matches := []string{pat}
	if hasMeta(pat) {
		var err error
		if matches, err = fs.Glob(root.FS(), pat); err != nil {
			return fmt.Errorf("artifact pattern %q: %w", pattern, err)
		}
	} else if _, _, exists := c.inspect(root, pat); !exists {
		// A plain path is not globbed: Glob would follow a symlink in it and call a refused
		// file missing.
		matches = nil
	}
	if len(matches) == 0 {
		fmt.Fprintf(c.out, "artifacts: nothing matches %q\n", pattern)
		return nil
	}
	var errs []error
	for _, m := range matches {
		if err := c.match(ctx, root, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// match uploads one match of a pattern: a regular file, or the regular files below a directory.
func (c *collector) match(ctx context.Context, root *os.Root, name string) error {
	fi, why, _ := c.inspect(root, name)
	if why != "" {
		fmt.Fprintf(c.out, "artifacts: %s refused: %s\n", name, why)
		return nil
	}
	if !fi.IsDir() {
		return c.file(ctx, root, name, fi)
	}
	var errs []error
	// WalkDir never follows symlinks, and the entries' types come from the directory itself.
	err := fs.WalkDir(root.FS(), name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("artifacts: reading %s: %w", p, err))
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			fmt.Fprintf(c.out, "artifacts: %s refused: a symlink\n", p)
			return nil
		case !d.Type().IsRegular():
			fmt.Fprintf(c.out, "artifacts: %s skipped: not a regular file\n", p)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			errs = append(errs, fmt.Errorf("artifacts: reading %s: %w", p, err))
			return nil
		}
		if err := c.file(ctx, root, p, fi); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("artifacts: walking %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// inspect checks every element of name (slash-separated, relative to the workspace) with Lstat,
// because a symlink anywhere along the path, not only at its end, could lead out of the
// workspace. It returns the final element's information, or why name is refused, and whether
// the path exists at all.
func (c *collector) inspect(root *os.Root, name string) (fi fs.FileInfo, why string, exists bool) {
	parts := []string{"."}
	if name != "." {
		parts = strings.Split(name, "/")
	}
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		var err error
		if fi, err = root.Lstat(p); err != nil {
			return nil, err.Error(), !errors.Is(err, fs.ErrNotExist)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if i == len(parts)-1 {
				return nil, "a symlink", true
			}
			return nil, fmt.Sprintf("%s is a symlink", p), true
		}
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, "not a regular file or directory", true
	}
	return fi, "", true
}

// hasMeta reports whether pattern uses any of Glob's special characters.
func hasMeta(pattern string) bool { return strings.ContainsAny(pattern, `*?[\`) }

// file uploads one regular file, once per job however many patterns match it.
func (c *collector) file(ctx context.Context, root *os.Root, name string, fi fs.FileInfo) error {
	if c.seen[name] {
		return nil
	}
	c.seen[name] = true
	if fi.Size() > c.maxBytes {
		fmt.Fprintf(c.out, "artifacts: %s skipped: %d bytes, more than the limit of %d\n", name, fi.Size(), c.maxBytes)
		return nil
	}
	// No process of the job is left to swap the file, but should it have changed since it was
	// inspected anyway: O_NONBLOCK keeps a FIFO from hanging the agent, os.Root keeps the open
	// inside the workspace, and SameFile below refuses anything but the file inspected.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("artifacts: opening %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("artifacts: reading %s: %w", name, err)
	}
	if !os.SameFile(fi, st) || !st.Mode().IsRegular() || st.Size() > c.maxBytes {
		fmt.Fprintf(c.out, "artifacts: %s skipped: changed while being collected\n", name)
		return nil
	}
	size := st.Size()
	// The digest goes in a header, before the body, so the file is read twice, streaming both
	// times: nothing of it is held in memory. No process of the job is left to change it in
	// between, and the server checks the digest anyway.
	h := sha256.New()
	var w io.Writer = h
	var secretCheck *countingWriter
	if c.masker != nil {
		// The same read looks for the job's secrets: masked output is shorter than its input
		// exactly when something was masked (every masked form is longer than "***").
		secretCheck = &countingWriter{}
		mw := mask.NewWriter(c.masker, secretCheck)
		w = io.MultiWriter(h, mw)
		defer func() {
			_ = mw.Close()
			if secretCheck.n < size {
				fmt.Fprintf(c.out, "artifacts: warning: %s contains the value of a secret of this job, in some form; it is kept as the job wrote it: anyone who can download the run's artifacts can read it\n", name)
			}
		}()
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, 0, size)); err != nil {
		return fmt.Errorf("artifacts: reading %s: %w", name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))

	b := backoff{min: 250 * time.Millisecond, max: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		err := c.upload(ctx, name, io.NewSectionReader(f, 0, size), size, sum)
		switch {
		case err == nil:
			fmt.Fprintf(c.out, "artifacts: uploaded %s (%d bytes, sha256:%s)\n", name, size, sum)
			return nil
		case leaseLost(err):
			c.onLost(err)
			return fmt.Errorf("artifacts: uploading %s: %w", name, err)
		case ctx.Err() != nil:
			return fmt.Errorf("artifacts: uploading %s: %w", name, errors.Join(err, context.Cause(ctx)))
		case !transient(err):
			return fmt.Errorf("artifacts: uploading %s: %w", name, err)
		}
		if attempt == 1 {
			fmt.Fprintf(c.out, "artifacts: uploading %s failed, retrying: %v\n", name, err)
		}
		if !sleepCtx(ctx, b.next()) {
			return fmt.Errorf("artifacts: uploading %s: %w", name, errors.Join(err, context.Cause(ctx)))
		}
	}
}

// countingWriter counts what is written to it and keeps nothing.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
