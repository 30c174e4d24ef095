package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rampart-ci/rampart"
)

// The inputs of a deploy job are the artifacts its deployment consumes (rampart.Lease.Inputs).
// Before the steps run, the agent fetches each from the server — which hands one out only while
// its provenance checks out — into the workspace at the name the building job kept it under, so
// that the steps deploy exactly what was built, reviewed and approved.

// inputSource fetches the content of an input; client.JobClient is one.
type inputSource interface {
	// DownloadInput writes the content to w and returns its digest, "sha256:<hex>".
	DownloadInput(ctx context.Context, artifactID int64, w io.Writer) (string, error)
}

// downloadInputs writes each input into the workspace ws at its name, creating parent
// directories with mode 0755 and files with mode 0644, replacing a file of that name the
// checkout may have put there. It refuses a name that is absolute or leaves the workspace, and
// content whose SHA-256 is not the one the lease names, and what the server refuses; the error
// then says which input and why, and fails the job. Writes go through an os.Root of ws, so that a symlink in the checked-out
// repository cannot lead them outside it.
func downloadInputs(ctx context.Context, src inputSource, inputs []rampart.ArtifactRef, ws string, logs io.Writer) error {
	if len(inputs) == 0 {
		return nil
	}
	root, err := os.OpenRoot(ws)
	if err != nil {
		return fmt.Errorf("inputs: open the workspace: %w", err)
	}
	defer root.Close()
	fmt.Fprintf(logs, "inputs: fetching %d artifact(s) of this deployment\n", len(inputs))
	for _, in := range inputs {
		if err := downloadInput(ctx, src, root, in); err != nil {
			return err // the executor writes it to the log as the reason the job failed
		}
		fmt.Fprintf(logs, "inputs: %s (%s), provenance checked by the server\n", in.Name, in.Digest)
	}
	return nil
}

func downloadInput(ctx context.Context, src inputSource, root *os.Root, in rampart.ArtifactRef) (err error) {
	name, err := inputPath(in.Name)
	if err != nil {
		return err
	}
	if !validDigest(in.Digest) {
		return fmt.Errorf("input %q (artifact %d): the lease names no sha256 digest for it (%q), so it cannot be checked", in.Name, in.ID, in.Digest)
	}
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("input %q: create its directory: %w", in.Name, err)
		}
	}
	// What the checkout put at the name gives way to what was built; a directory there does not.
	if st, err := root.Lstat(name); err == nil {
		if st.IsDir() {
			return fmt.Errorf("input %q: the workspace has a directory of that name", in.Name)
		}
		if err := root.Remove(name); err != nil {
			return fmt.Errorf("input %q: replace the file of that name: %w", in.Name, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("input %q: %w", in.Name, err)
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("input %q: create it: %w", in.Name, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("input %q: write it: %w", in.Name, cerr)
		}
		if err != nil {
			_ = root.Remove(name) // never leave content that failed its check for a step to use
		}
	}()
	got, err := src.DownloadInput(ctx, in.ID, f)
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EFORBIDDEN {
			return fmt.Errorf("input %q (artifact %d): the server refused it: %s", in.Name, in.ID, rampart.ErrorMessage(err))
		}
		return fmt.Errorf("input %q (artifact %d): %w", in.Name, in.ID, err)
	}
	if got != in.Digest {
		return fmt.Errorf("input %q (artifact %d): the content has %s, but the deployment consumes %s", in.Name, in.ID, got, in.Digest)
	}
	return nil
}

// inputPath turns an input's name, a slash-separated path relative to the workspace, into a
// local path, refusing names that are empty, absolute, not clean, or that climb out with "..".
func inputPath(name string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("input %q: refused: the name %s; an input is kept under a relative path inside the workspace", name, why)
	}
	switch {
	case name == "" || name == ".":
		return "", bad("is empty")
	case strings.ContainsAny(name, "\x00\\"):
		return "", bad("contains a NUL byte or a backslash")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return "", bad("is absolute")
	case slices.Contains(strings.Split(name, "/"), ".."):
		return "", bad(`contains ".."`)
	case path.Clean(name) != name:
		return "", bad("is not a clean path")
	}
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) {
		return "", bad("leaves the workspace")
	}
	return local, nil
}

// validDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
