package executor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// jobDir is the on-disk home of one job: <root>/<name>/ with ws/, tmp/ and home/, and beside it
// <root>/<name>.lock, flock-ed while the job runs and holding the job's marker, so that an executor
// starting after a crash can tell abandoned job directories from live ones and kill what the dead
// job left running.
type jobDir struct {
	dir, ws, tmp, home string
	lockPath           string
	lock               *os.File
	marker             string
}

const lockSuffix = ".lock"

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails on Linux, see crypto/rand
	return hex.EncodeToString(b)
}

// dirName keeps the job's ID readable in the directory name without letting it choose a path.
func dirName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 40 {
			break
		}
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("job")
	}
	return b.String() + "-" + randomHex(8)
}

func (e *Executor) createJobDir(id string) (*jobDir, error) {
	name := dirName(id)
	jd := &jobDir{
		dir:      filepath.Join(e.root, name),
		lockPath: filepath.Join(e.root, name+lockSuffix),
		marker:   randomHex(16),
	}
	jd.ws = filepath.Join(jd.dir, "ws")
	jd.tmp = filepath.Join(jd.dir, "tmp")
	jd.home = filepath.Join(jd.dir, "home")

	// The lock exists before the directory, so a sweeper never sees a job directory without it.
	f, err := os.OpenFile(jd.lockPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("executor: creating job lock: %w", err)
	}
	jd.lock = f
	fail := func(err error) (*jobDir, error) {
		os.RemoveAll(jd.dir)
		os.Remove(jd.lockPath)
		f.Close()
		return nil, err
	}
	// Blocking: a sweeper that opened the new, still empty, lock file lets go of it at once.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fail(fmt.Errorf("executor: locking job directory: %w", err))
	}
	if _, err := f.WriteString(jd.marker); err != nil {
		return fail(fmt.Errorf("executor: writing job lock: %w", err))
	}
	for _, d := range []string{jd.dir, jd.ws, jd.tmp, jd.home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(fmt.Errorf("executor: creating job directory: %w", err))
		}
	}
	return jd, nil
}

// destroyJobDir kills every process of the job and removes its directory. On failure it keeps the
// lock file (unlocked) so that the next sweep retries.
func (e *Executor) destroyJobDir(jd *jobDir, log *slog.Logger) error {
	defer jd.lock.Close()
	n, killErr := e.killJob(0, jd.marker)
	if n > 0 {
		log.Info("executor: killed processes left at the end of the job", "count", n)
	}
	rmErr := removeTree(jd.dir)
	if killErr != nil || rmErr != nil {
		return errors.Join(killErr, rmErr)
	}
	if err := os.Remove(jd.lockPath); err != nil {
		return fmt.Errorf("%w: removing job lock: %v", ErrCleanup, err)
	}
	return nil
}

// removeTree removes dir even when the job made parts of it read-only or unreadable. It never
// follows symlinks, which a job may have pointed anywhere.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	// WalkDir hands each directory to the callback before reading it, so opening it up first
	// lets the walk descend into directories the job locked with chmod 000.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("%w: removing job directory: %v", ErrCleanup, err)
	}
	return nil
}

// sweep removes what jobs of executors that died left in the root: the lock of a live job is
// held, so a lock that can be taken belongs to a dead one.
func (e *Executor) sweep() {
	entries, err := os.ReadDir(e.root)
	if err != nil {
		e.log.Warn("executor: cannot sweep root", "err", err)
		return
	}
	for _, ent := range entries {
		name, ok := strings.CutSuffix(ent.Name(), lockSuffix)
		if !ok || !ent.Type().IsRegular() {
			continue
		}
		if err := e.sweepOne(name); err != nil {
			e.log.Error("executor: cleaning up an abandoned job", "dir", filepath.Join(e.root, name), "err", err)
		}
	}
}

func (e *Executor) sweepOne(name string) error {
	lockPath := filepath.Join(e.root, name+lockSuffix)
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // its job just ended
		}
		return fmt.Errorf("opening job lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil // a live job
		}
		return fmt.Errorf("locking job lock: %w", err)
	}
	marker, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return fmt.Errorf("reading job lock: %w", err)
	}
	if len(marker) == 0 {
		// Either a job being created right now (it writes its marker once it holds the lock) or
		// one that died before creating its directory: nothing to clean up in both cases.
		return nil
	}
	if !isHex(marker) {
		return fmt.Errorf("job lock holds no valid marker")
	}
	if n, err := e.killJob(0, string(marker)); err != nil {
		return err
	} else if n > 0 {
		e.log.Info("executor: killed processes of an abandoned job", "count", n)
	}
	if err := removeTree(filepath.Join(e.root, name)); err != nil {
		return err
	}
	e.log.Info("executor: removed an abandoned job directory", "dir", filepath.Join(e.root, name))
	return os.Remove(lockPath)
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
