package scan

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-ci/rampart"
)

// DefaultMaxFileSize is the size above which Run skips a file unless Options says otherwise:
// generated bundles, data dumps and media, where credentials and manifests are not.
const DefaultMaxFileSize = 10 << 20

// binarySniffLen is how much of a file is looked at for a NUL byte, as git and grep do.
const binarySniffLen = 8000

// Reasons a listed file was not scanned, as counted in Stats.Skipped.
const (
	SkipTooLarge   = "too large"
	SkipBinary     = "binary"
	SkipSymlink    = "symlink"
	SkipNotRegular = "not a regular file"
	SkipMissing    = "missing"     // listed by git but not in the work tree (deleted, sparse)
	SkipUnwanted   = "not scanned" // no scanner wants it
	SkipUnreadable = "unreadable"
)

// Options tune Run. The zero value is ready to use.
type Options struct {
	// MaxFileSize is the largest file read, in bytes; zero means DefaultMaxFileSize and a
	// negative value no limit.
	MaxFileSize int64
	// Workers is the number of files scanned at once; zero means GOMAXPROCS.
	Workers int
	// Progress, when set, is called after each listed file is done (scanned or skipped), never
	// concurrently, and once more at the end. It must return quickly: throttle drawing yourself.
	Progress func(Progress)
}

// Progress is how far a Run is.
type Progress struct {
	Files, TotalFiles int   // files done, files listed
	Bytes             int64 // bytes read so far
}

// Result is what Run found.
type Result struct {
	// Findings are deduplicated, fingerprinted and sorted (see Sort).
	Findings []Finding `json:"findings"`
	Stats    Stats     `json:"stats"`
	// Warnings are problems that did not stop the scan: a file a scanner could not parse, a
	// scanner's own notes (see Warner). Sorted.
	Warnings []string `json:"warnings,omitempty"`
}

// Stats describes a Run.
type Stats struct {
	Git      bool                     `json:"git"`     // files were listed with git (tracked plus untracked, not ignored)
	Listed   int                      `json:"listed"`  // files listed
	Files    int                      `json:"files"`   // files read and handed to scanners
	Bytes    int64                    `json:"bytes"`   // bytes of those files
	Skipped  map[string]int           `json:"skipped"` // reason (Skip…) → files
	Scanners map[string]time.Duration `json:"scanners"`
	Duration time.Duration            `json:"duration"`
}

// Run scans the tree at root with every scanner in one walk: each file is read once and handed
// to every scanner that wants it, several files at once. In a git work tree the files are the
// tracked ones plus untracked ones that are not ignored; elsewhere every regular file outside
// .git directories. Symbolic links are never followed; files larger than Options.MaxFileSize and
// binary files (a NUL byte in the first 8000 bytes) are skipped, the latter except for a
// BinaryScanner that wants them.
//
// An error of ScanFile on one file becomes a warning and the scan goes on (a malformed test
// fixture must not stop it); an error of Finish, a scanner's panic or the end of ctx ends Run with
// an error, since the findings would be incomplete. A root that is not a directory is an EINVALID
// *rampart.Error.
func Run(ctx context.Context, root string, scanners []Scanner, opts Options) (*Result, error) {
	start := time.Now()
	st, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, rampart.Errorf(rampart.EINVALID, "%s does not exist", root).WithDetail("give the directory to scan")
		}
		return nil, rampart.Errorf(rampart.EINVALID, "cannot read %s: %v", root, cause(err))
	}
	if !st.IsDir() {
		return nil, rampart.Errorf(rampart.EINVALID, "%s is not a directory", root).WithDetail("give the directory to scan")
	}
	paths, viaGit, warnings, err := listFiles(ctx, root)
	if err != nil {
		return nil, err
	}

	r := &runner{
		ctx: ctx, root: root, scanners: scanners, opts: opts,
		maxSize:  opts.MaxFileSize,
		durs:     make([]atomic.Int64, len(scanners)),
		skipped:  map[string]int{},
		total:    len(paths),
		warnings: warnings,
	}
	if r.maxSize == 0 {
		r.maxSize = DefaultMaxFileSize
	}
	for _, s := range scanners {
		b, _ := s.(BinaryScanner)
		r.binary = append(r.binary, b)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(paths), 1))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.ctx = ctx
	r.cancel = cancel
	jobs := make(chan string)
	var wg sync.WaitGroup
	results := make([][]Finding, workers)
	for w := range workers {
		wg.Go(func() {
			for p := range jobs {
				results[w] = append(results[w], r.file(p)...)
			}
		})
	}
feed:
	for _, p := range paths {
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}

	var findings []Finding
	for _, fs := range results {
		findings = append(findings, fs...)
	}
	for i, s := range scanners {
		t := time.Now()
		fs, err := r.finish(s)
		r.durs[i].Add(int64(time.Since(t)))
		if err != nil {
			return nil, err
		}
		findings = append(findings, r.fill(s, "", fs)...)
		if w, ok := s.(Warner); ok {
			for _, m := range w.Warnings() {
				r.warnings = append(r.warnings, s.Name()+": "+m)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	findings = dedupe(findings)
	// Workers finish in any order: order ties fully first, so that output is the same every run.
	slices.SortFunc(findings, func(a, b Finding) int {
		return cmp.Or(
			strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Scanner, b.Scanner), strings.Compare(a.RuleID, b.RuleID),
			strings.Compare(a.Identity, b.Identity), strings.Compare(a.Message, b.Message),
			strings.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
	Sort(findings)
	Fingerprint(findings)
	if opts.Progress != nil {
		r.mu.Lock()
		opts.Progress(Progress{Files: r.done, TotalFiles: r.total, Bytes: r.bytes})
		r.mu.Unlock()
	}

	res := &Result{
		Findings: findings,
		Warnings: r.warnings,
		Stats: Stats{
			Git: viaGit, Listed: len(paths), Files: r.files, Bytes: r.bytes, Skipped: r.skipped,
			Scanners: map[string]time.Duration{}, Duration: time.Since(start),
		},
	}
	slices.Sort(res.Warnings)
	for i, s := range scanners {
		res.Stats.Scanners[s.Name()] += time.Duration(r.durs[i].Load())
	}
	return res, nil
}

// runner is the state of one Run shared by its workers.
type runner struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	root     string
	scanners []Scanner
	binary   []BinaryScanner // binary[i] is scanners[i] if it is a BinaryScanner
	opts     Options
	maxSize  int64
	durs     []atomic.Int64 // nanoseconds per scanner

	mu       sync.Mutex // guards what follows
	done     int
	total    int
	files    int
	bytes    int64
	skipped  map[string]int
	warnings []string
}

// file scans one file and returns its findings.
func (r *runner) file(p string) []Finding {
	if r.ctx.Err() != nil {
		return nil
	}
	var size int64
	reason := ""
	var out []Finding
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.done++
		if reason != "" {
			r.skipped[reason]++
		} else {
			r.files++
			r.bytes += size
		}
		if r.opts.Progress != nil {
			r.opts.Progress(Progress{Files: r.done, TotalFiles: r.total, Bytes: r.bytes})
		}
	}()

	var text, bin []int // indexes of the scanners that want the file as text, as binary
	for i, s := range r.scanners {
		if s.Wants(p) {
			text = append(text, i)
		}
		if r.binary[i] != nil && r.binary[i].WantsBinary(p) {
			bin = append(bin, i)
		}
	}
	if len(text) == 0 && len(bin) == 0 {
		reason = SkipUnwanted
		return nil
	}
	full := filepath.Join(r.root, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = SkipMissing
		return nil
	case err != nil:
		reason = SkipUnreadable
		r.warn(fmt.Sprintf("%s: %v", p, cause(err)))
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		reason = SkipSymlink
		return nil
	case !fi.Mode().IsRegular():
		reason = SkipNotRegular
		return nil
	case r.maxSize > 0 && fi.Size() > r.maxSize:
		reason = SkipTooLarge
		return nil
	}
	data, err := readFile(full, r.maxSize)
	if errors.Is(err, errTooLarge) {
		reason = SkipTooLarge
		return nil
	} else if err != nil {
		reason = SkipUnreadable
		r.warn(fmt.Sprintf("%s: %v", p, cause(err)))
		return nil
	}
	size = int64(len(data))
	targets := text
	if bytes.IndexByte(data[:min(len(data), binarySniffLen)], 0) >= 0 {
		targets = bin
	}
	if len(targets) == 0 {
		reason = SkipBinary
		return nil
	}
	f := File{Path: p, Data: data}
	for _, i := range targets {
		s := r.scanners[i]
		t := time.Now()
		fs, err := r.scanFile(s, f)
		r.durs[i].Add(int64(time.Since(t)))
		if err != nil {
			if r.ctx.Err() != nil {
				return nil
			}
			r.warn(fmt.Sprintf("%s: %s: %v", s.Name(), p, err))
			continue
		}
		out = append(out, r.fill(s, p, fs)...)
	}
	return out
}

// scanFile calls s.ScanFile, turning a panic into the end of the Run: a scanner that crashed
// has not looked at the rest of the file, and a gate must not pass on findings never made.
func (r *runner) scanFile(s Scanner, f File) (fs []Finding, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.cancel(fmt.Errorf("scan: scanner %s panicked on %s: %v", s.Name(), f.Path, v))
			fs, err = nil, context.Canceled
		}
	}()
	return s.ScanFile(r.ctx, f)
}

func (r *runner) finish(s Scanner) (fs []Finding, err error) {
	defer func() {
		if v := recover(); v != nil {
			fs, err = nil, fmt.Errorf("scan: scanner %s panicked in Finish: %v", s.Name(), v)
		}
	}()
	fs, err = s.Finish(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("%s scanner: %w", s.Name(), err)
	}
	return fs, nil
}

// fill sets what a scanner may leave out: its name and the file.
func (r *runner) fill(s Scanner, path string, fs []Finding) []Finding {
	for i := range fs {
		if fs[i].Scanner == "" {
			fs[i].Scanner = s.Name()
		}
		if fs[i].File == "" {
			fs[i].File = path
		}
	}
	return fs
}

func (r *runner) warn(msg string) {
	r.mu.Lock()
	r.warnings = append(r.warnings, msg)
	r.mu.Unlock()
}

var errTooLarge = errors.New("file too large")

// readFile reads the file at name, at most max bytes (no limit if max <= 0): a file that grew
// since it was listed is still refused.
func readFile(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rd io.Reader = f
	if max > 0 {
		rd = io.LimitReader(f, max+1)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	if max > 0 && int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}

// listFiles lists the files to scan under root, slash-separated and relative to it, sorted.
func listFiles(ctx context.Context, root string) (paths []string, viaGit bool, warnings []string, err error) {
	cmd := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--is-inside-work-tree")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil && strings.TrimSpace(string(out)) == "true" {
		paths, err = gitFiles(ctx, root)
		return paths, true, nil, err
	}
	if ctx.Err() != nil {
		return nil, false, nil, ctx.Err()
	}
	if _, serr := os.Stat(filepath.Join(root, ".git")); serr == nil && err != nil {
		// A repository git cannot read (not installed, "dubious ownership"): say that ignored
		// files are scanned too rather than fail.
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		warnings = append(warnings, fmt.Sprintf("git cannot list the files (%s): scanning every file, ignored ones included", msg))
	}
	paths, walkWarnings, err := walkFiles(root)
	return paths, false, append(warnings, walkWarnings...), err
}

// gitFiles lists the tracked files plus the untracked ones that are not ignored.
func gitFiles(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("git ls-files in %s: %v: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	var paths []string
	for p := range strings.SplitSeq(string(out), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil // a conflicted file is listed once per stage
}

// walkFiles lists every file under root outside .git directories; symbolic links are listed
// (and skipped as such) but not followed.
func walkFiles(root string) (paths, warnings []string, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			warnings = append(warnings, fmt.Sprintf("cannot list %s: %v", p, cause(err)))
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list files in %s: %w", root, err)
	}
	slices.Sort(paths)
	return paths, warnings, nil
}

// cause drops the path from a *fs.PathError, for messages that name the file already.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dedupe drops findings equal to an earlier one in what identifies them.
func dedupe(fs []Finding) []Finding {
	type key struct {
		scanner, rule, file, id, msg string
		line, col                    int
	}
	seen := make(map[key]bool, len(fs))
	out := fs[:0]
	for _, f := range fs {
		k := key{f.Scanner, f.RuleID, f.File, f.Identity, f.Message, f.Line, f.Column}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	return out
}
