// Package deps finds vulnerable third-party dependencies. Packages are read from the lockfiles
// and manifests of a tree by osv-scalibr's extractors (see Extractors) and matched against a
// local OSV advisory database with each ecosystem's version semantics (osv-scalibr/semantic).
// Unrated advisories (most of the Go database) count as high. The database is loaded by Update
// from osv.dev's per-ecosystem zips or a directory of OSV JSON, and opened by Open; scans are
// offline. The package list is also written as a CycloneDX SBOM.
//
// The scanner fails closed: without a database it returns ErrNoDatabase, never zero findings,
// and an ecosystem whose packages were found but which the database has no advisories for is
// reported in Warnings.
package deps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dart/pubspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/csproj"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/packagesconfig"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/packageslockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/paketlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/elixir/mixlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gomod"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/vendormodules"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/gradlelockfile"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/bunlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/pnpmlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/yarnlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/php/composerlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pdmlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pipfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/poetrylock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pylock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/requirements"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/uvlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	scalibrfs "github.com/google/osv-scalibr/fs"

	"github.com/rampart-ci/rampart/scan"
)

// Rule ids of the findings that are not advisories (advisory findings use the advisory's id).
const (
	// RuleUnpinned: a requirement that allows a range of versions (requirements.txt without
	// ==, a Maven property that is not resolved, a floating NuGet version). Its advisories
	// cannot be checked because the version that gets installed is not known. Low severity.
	RuleUnpinned = "unpinned"
	// RuleUnreadable: a lockfile or manifest that its extractor could not parse; its
	// dependencies are unknown. Medium severity, so that it shows without failing the default
	// gate (test fixtures are often broken on purpose).
	RuleUnreadable = "unreadable-manifest"
)

// Package is one dependency found in a lockfile or manifest.
type Package struct {
	Name      string `json:"name"` // as the ecosystem spells it: Maven "group:artifact", Go module path
	Version   string `json:"version,omitempty"`
	Ecosystem string `json:"ecosystem"` // OSV ecosystem name: "Go", "npm", "PyPI", "crates.io", …
	File      string `json:"file"`      // slash-separated, relative to the scanned root
	Line      int    `json:"line,omitempty"`
	PURL      string `json:"purl,omitempty"`
	// Constraint is set when the manifest allows a range of versions (">=2.0", "${x.version}")
	// instead of naming one; such a package is reported as unpinned and not matched.
	Constraint string `json:"constraint,omitempty"`
}

// Pinned reports whether p names exactly one version, so that advisories can be checked.
func (p Package) Pinned() bool { return p.Constraint == "" && p.Version != "" }

func (p Package) key() string {
	return p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.File
}

// Options configure a Scanner. The zero value is usable (with a DB given to New).
type Options struct {
	// Root, when set, is the scanned tree as a file system. Three extractors read a file next
	// to the one they are given, through it: go.mod for `go` < 1.17 reads go.sum for indirect
	// dependencies, requirements.txt follows `-r other.txt` includes, and package-lock.json is
	// skipped when an npm-shrinkwrap.json sits beside it. Without Root they see only the file
	// handed to ScanFile (the single walk is then the only read). Use os.Root.FS so that
	// symbolic links cannot lead out of the tree.
	Root fs.FS
	// GoStdlib matches the Go standard library ("stdlib", at the go.mod's `toolchain` or `go`
	// version) against advisories. Off by default: the go directive is a minimum, not the
	// toolchain that builds, so the findings would be guesses. The package is listed either way.
	GoStdlib bool
	// MaxAge is the age of the database past which Finish adds a warning; 0 means 7 days.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Scanner is the dependency scanner (scan.Scanner). Wants, ScanFile, Packages and Warnings may
// be called concurrently; Finish once, after the last ScanFile.
type Scanner struct {
	db         *DB
	opt        Options
	extractors []filesystem.Extractor
	root       scalibrfs.FS

	mu       sync.Mutex
	pkgs     map[string]Package
	warnings []string
}

// New returns a Scanner matching against db. A nil db is allowed so that packages can be listed
// (Packages, the SBOM) without a database, but then Finish fails with ErrNoDatabase.
func New(db *DB, opt Options) *Scanner {
	if opt.MaxAge <= 0 {
		opt.MaxAge = 7 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Scanner{db: db, opt: opt, extractors: Extractors(), pkgs: map[string]Package{}}
	s.root = emptyFS{}
	if opt.Root != nil {
		s.root = rootFS{opt.Root}
	}
	return s
}

// Extractors returns the osv-scalibr extractors the scanner runs, one per lockfile or manifest
// format. None needs the network or direct file system access.
func Extractors() []filesystem.Extractor {
	cfg := &cpb.PluginConfig{}
	ctors := []func(*cpb.PluginConfig) (filesystem.Extractor, error){
		// Go: go.mod (go.sum through Options.Root for go < 1.17), vendor/modules.txt.
		gomod.New, vendormodules.New,
		// JavaScript: yarn.lock.
		yarnlock.New,
		// Python: requirements*.txt, Pipfile.lock.
		requirements.New, pipfilelock.New,
		// Ruby: Gemfile.lock, gems.locked. Java: gradle.lockfile, pom.xml (offline: pomxml.go).
		gemfilelock.New, gradlelockfile.New, newPOMXML,
		// .NET: packages.lock.json, *.csproj, packages.config, paket.lock.
		packageslockjson.New, csproj.New, packagesconfig.New, paketlock.New,
		// Elixir: mix.lock.
		mixlock.New,
		packagelockjson.New, bunlock.New, pnpmlock.New, poetrylock.New, pdmlock.New, uvlock.New, pylock.New,
		cargolock.New, composerlock.New, pubspec.New,
		// Not yet, for want of modules in go.mod: package-lock.json, bun.lock, composer.lock
		// (github.com/tidwall/gjson, jsonc); Cargo.lock, poetry.lock, pdm.lock, uv.lock,
		// pylock.toml (github.com/BurntSushi/toml); pnpm-lock.yaml, pubspec.lock
		// (gopkg.in/yaml.v3). osv-scalibr's pom.xml extractor is not used: it needs
		// deps.dev/api/v3, grpc and oauth2 (osv-scalibr/clients/datasource); see pomxml.go.
	}
	out := make([]filesystem.Extractor, 0, len(ctors))
	for _, ctor := range ctors {
		e, err := ctor(cfg)
		if err != nil {
			// The constructors above fail only on invalid configuration, and ours is empty.
			panic(fmt.Sprintf("deps: extractor: %v", err))
		}
		out = append(out, e)
	}
	return out
}

// Name is scan.ScannerDependencies.
func (s *Scanner) Name() string { return scan.ScannerDependencies }

// Wants reports whether some extractor reads the file at path (by name only).
func (s *Scanner) Wants(p string) bool {
	api := fileAPI{path: p, size: 0}
	for _, e := range s.extractors {
		if e.FileRequired(api) {
			return true
		}
	}
	return false
}

// ScanFile extracts the packages of one lockfile or manifest and keeps them for Finish. It
// returns findings only for a file that cannot be parsed.
func (s *Scanner) ScanFile(ctx context.Context, f scan.File) ([]scan.Finding, error) {
	api := fileAPI{path: f.Path, size: int64(len(f.Data))}
	var findings []scan.Finding
	for _, e := range s.extractors {
		if !e.FileRequired(api) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		inv, err := e.Extract(ctx, &filesystem.ScanInput{
			FS:     s.root,
			Path:   f.Path,
			Root:   "",
			Info:   api.info(),
			Reader: bytes.NewReader(f.Data),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			fd := scan.Finding{
				Scanner:  scan.ScannerDependencies,
				RuleID:   RuleUnreadable,
				Severity: scan.Medium,
				File:     f.Path,
				Message:  fmt.Sprintf("%s could not be read as %s, so its dependencies were not checked: %v", f.Path, e.Name(), err),
				Fix:      "fix the file's syntax, or exclude it from the scan if it is a test fixture",
				Identity: e.Name(),
			}
			fd.SetFingerprint(0)
			findings = append(findings, fd)
			continue
		}
		s.add(f.Path, inv.Packages)
	}
	return findings, nil
}

func (s *Scanner) add(file string, found []*extractor.Package) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ep := range found {
		p := convert(file, ep)
		if p.Name == "" || p.Ecosystem == "" || localGoModule(p) {
			continue
		}
		k := p.key()
		if old, ok := s.pkgs[k]; ok && old.Line != 0 && (p.Line == 0 || old.Line <= p.Line) {
			continue // keep the first mention
		}
		s.pkgs[k] = p
	}
}

// localGoModule reports a go.mod replace directive pointing into the file system
// ("=> ./staging/src/k8s.io/api"): code of the repository itself, which no advisory names.
func localGoModule(p Package) bool {
	return p.Ecosystem == "Go" && (strings.HasPrefix(p.Name, "./") || strings.HasPrefix(p.Name, "../") || strings.HasPrefix(p.Name, "/"))
}

// convert turns a scalibr package into ours, deciding whether its version is pinned.
func convert(file string, ep *extractor.Package) Package {
	p := Package{
		Name:      ep.Name,
		Version:   ep.Version,
		Ecosystem: ep.Ecosystem().String(),
		File:      file,
	}
	if d := ep.Location.Descriptor; d != nil && d.File != nil {
		p.Line = d.File.LineNumber
		// Packages found through an include (requirements -r) name the including line; the
		// file is still the one ScanFile was given.
	}
	if u := ep.PURL(); u != nil {
		p.PURL = u.String()
	}
	if m, ok := ep.Metadata.(*requirements.Metadata); ok {
		// requirements.txt: only == and === pin a version; ">=2.0" comes back as version 2.0.
		if m.VersionComparator != "==" && m.VersionComparator != "===" {
			p.Constraint = strings.TrimSpace(strings.TrimPrefix(m.Requirement, ep.Name))
			if p.Constraint == "" {
				p.Constraint = "any version"
			}
		}
	}
	if p.Constraint == "" && p.Version == "" && p.Name != "stdlib" {
		p.Constraint = "no version"
	}
	if p.Constraint == "" && strings.ContainsAny(p.Version, "*[](),${}<>=^~ ") {
		p.Constraint = p.Version
	}
	if p.Ecosystem == "Go" {
		p.Version = strings.TrimPrefix(p.Version, "v")
	}
	return p
}

// Packages returns every package found so far, sorted by ecosystem, name, version and file.
func (s *Scanner) Packages() []Package {
	s.mu.Lock()
	out := make([]Package, 0, len(s.pkgs))
	for _, p := range s.pkgs {
		out = append(out, p)
	}
	s.mu.Unlock()
	sortPackages(out)
	return out
}

func sortPackages(ps []Package) {
	slices.SortFunc(ps, func(a, b Package) int {
		return strings.Compare(a.key(), b.key())
	})
}

// Warnings returns what the caller should show besides the findings: the database's age when it
// is older than Options.MaxAge, ecosystems with packages but no advisories in the database,
// packages whose version could not be parsed. Complete after Finish.
func (s *Scanner) Warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.warnings)
}

func (s *Scanner) warn(format string, args ...any) {
	s.mu.Lock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// DB returns the database the scanner matches against, nil if none.
func (s *Scanner) DB() *DB { return s.db }

// AddPackages adds packages found elsewhere (by an agent's extraction) to those Finish matches,
// so that a server can check them against its own database without the files.
func (s *Scanner) AddPackages(ps []Package) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		s.pkgs[p.key()] = p
	}
}

// Finish matches every package found against the database. It fails with ErrNoDatabase when
// the scanner has none.
func (s *Scanner) Finish(ctx context.Context) ([]scan.Finding, error) {
	if s.db == nil {
		return nil, ErrNoDatabase
	}
	meta := s.db.Meta()
	if age := s.opt.Now().Sub(meta.Updated); age > s.opt.MaxAge {
		s.warn("the advisory database is %s old (updated %s from %s): run `rampart db update`",
			formatAge(age), meta.Updated.UTC().Format(time.DateOnly), meta.Source)
	}
	pkgs := s.Packages()
	var findings []scan.Finding
	perEco := map[string]int{}
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !p.Pinned() {
			if p.Name == "stdlib" && p.Ecosystem == "Go" {
				continue
			}
			findings = append(findings, unpinnedFinding(p))
			continue
		}
		if p.Ecosystem == "Go" && (p.Name == "stdlib" || p.Name == "toolchain") && !s.opt.GoStdlib {
			continue
		}
		perEco[p.Ecosystem]++
		vulns, err := s.db.Match(p.Ecosystem, p.Name, p.Version)
		if err != nil {
			if errors.Is(err, errBadVersion) {
				s.warn("%s %s@%s in %s: %v; not checked", p.Ecosystem, p.Name, p.Version, p.File, err)
				continue
			}
			return nil, err
		}
		for _, v := range vulns {
			findings = append(findings, vulnFinding(p, v))
		}
	}
	for _, eco := range sortedKeys(perEco) {
		if !s.db.HasEcosystem(eco) {
			s.warn("%d %s packages were found but the advisory database has no %s advisories, so they were not checked: run `rampart db update --source` with %s's advisories (%s)",
				perEco[eco], eco, eco, eco, OSVDevURL(eco))
		}
	}
	// Fingerprints: equal findings in one file are told apart by occurrence.
	seen := map[string]int{}
	for i := range findings {
		f := &findings[i]
		k := f.RuleID + "\x00" + f.File + "\x00" + f.Identity
		f.SetFingerprint(seen[k])
		seen[k]++
	}
	scan.Sort(findings)
	return findings, nil
}

func vulnFinding(p Package, v Vuln) scan.Finding {
	summary := v.Summary
	if summary == "" {
		summary = "no summary"
	}
	f := scan.Finding{
		Scanner:      scan.ScannerDependencies,
		RuleID:       v.ID,
		Severity:     v.Severity,
		File:         p.File,
		Line:         p.Line,
		Message:      fmt.Sprintf("%s@%s is affected by %s: %s", p.Name, p.Version, v.ID, summary),
		Package:      p.Name,
		Version:      p.Version,
		Ecosystem:    p.Ecosystem,
		FixedVersion: v.Fixed,
		Aliases:      v.Aliases,
		Identity:     strings.Join([]string{p.Ecosystem, p.Name, p.Version, v.ID}, "|"),
	}
	if v.Fixed != "" {
		f.Fix = "upgrade to " + v.Fixed
	} else {
		f.Fix = "no fixed version is known: remove or replace the dependency, or waive with a reason"
	}
	if v.SeverityUnrated {
		f.Message += " (severity not rated by the advisory: treated as high)"
	}
	return f
}

func unpinnedFinding(p Package) scan.Finding {
	f := scan.Finding{
		Scanner:   scan.ScannerDependencies,
		RuleID:    RuleUnpinned,
		Severity:  scan.Low,
		File:      p.File,
		Line:      p.Line,
		Message:   fmt.Sprintf("%s in %s is not pinned to one version (%s), so its advisories cannot be checked", p.Name, path.Base(p.File), p.Constraint),
		Fix:       unpinnedFix(p.Ecosystem),
		Package:   p.Name,
		Version:   p.Version,
		Ecosystem: p.Ecosystem,
		Identity:  strings.Join([]string{p.Ecosystem, p.Name, p.Constraint}, "|"),
	}
	return f
}

// unpinnedFix says how to pin a version in the ecosystem's own terms.
func unpinnedFix(eco string) string {
	switch eco {
	case "PyPI":
		return "pin an exact version (== in requirements.txt) or commit a lockfile (poetry.lock, Pipfile.lock, uv.lock)"
	case "Maven":
		return "give the dependency a literal version, or define the property in this pom or a parent inside the repository"
	case "npm":
		return "commit a lockfile (package-lock.json, yarn.lock, pnpm-lock.yaml)"
	case "NuGet":
		return "use an exact version, or commit packages.lock.json (RestorePackagesWithLockFile)"
	}
	return "pin an exact version in the manifest, or commit the ecosystem's lockfile"
}

func formatAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	default:
		return d.Round(time.Minute).String()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// fileAPI is the filesystem.FileAPI of a file known by path and size.
type fileAPI struct {
	path string
	size int64
}

func (a fileAPI) Path() string               { return a.path }
func (a fileAPI) Stat() (fs.FileInfo, error) { return a.info(), nil }
func (a fileAPI) info() fs.FileInfo          { return fileInfo{name: path.Base(a.path), size: a.size} }

type fileInfo struct {
	name string
	size int64
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

// emptyFS is the extractors' view of the tree when Options.Root is not set: no other file.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
func (emptyFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
}
func (emptyFS) Stat(name string) (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// rootFS adapts an fs.FS to scalibr's FS.
type rootFS struct{ fsys fs.FS }

func (r rootFS) Open(name string) (fs.File, error)          { return r.fsys.Open(name) }
func (r rootFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(r.fsys, name) }
func (r rootFS) Stat(name string) (fs.FileInfo, error)      { return fs.Stat(r.fsys, name) }

var (
	_ scan.Scanner       = (*Scanner)(nil)
	_ filesystem.FileAPI = fileAPI{}
	_ scalibrfs.FS       = emptyFS{}
	_ scalibrfs.FS       = rootFS{}
)
