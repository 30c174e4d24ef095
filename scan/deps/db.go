package deps

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The database directory:
//
//	DIR/CURRENT                          name of the live generation, replaced atomically
//	DIR/gen-<time>-<random>/meta.json    Meta
//	DIR/gen-…/<eco>/advisories.jsonl     one OSV record per line (compacted: no details,
//	                                     references or credits)
//	DIR/gen-…/<eco>/index.json           normalised package name → [[offset, length], …]
//
// <eco> is the OSV ecosystem name made safe for a file name ("crates.io", "Go", "PyPI"; see
// Meta.Ecosystems). Update builds a new generation beside the live one and then switches
// CURRENT, so that a scan never sees half an update; an Open DB keeps its files open, and the
// generation before the live one is kept, so that a scan that opened it can finish.
const (
	currentFile = "CURRENT"
	metaFile    = "meta.json"
	dataFile    = "advisories.jsonl"
	indexFile   = "index.json"
	schema      = 1
)

// Errors.
var (
	// ErrNoDatabase: there is no advisory database; the message says how to get one.
	ErrNoDatabase = errors.New("deps: no advisory database: run `rampart db update` (with --source DIR, ZIP or URL when offline)")
)

// Meta describes a database: when it was built and from what.
type Meta struct {
	Schema     int       `json:"schema"`
	Updated    time.Time `json:"updated"` // when Update built it
	Source     string    `json:"source"`  // the sources, comma-separated
	Advisories int       `json:"advisories"`
	Withdrawn  int       `json:"withdrawn"` // withdrawn records, left out
	Skipped    int       `json:"skipped"`   // JSON files that are not OSV records (no id or no affected)
	// Newest is the latest "modified" time among the records (zero when they carry none, as the
	// Go database's do).
	Newest     time.Time                `json:"newest,omitzero"`
	Ecosystems map[string]EcosystemMeta `json:"ecosystems"`
}

// EcosystemMeta is one ecosystem of a database.
type EcosystemMeta struct {
	Dir        string `json:"dir"`
	Advisories int    `json:"advisories"`
	Packages   int    `json:"packages"`
}

// Age returns how old the database is at now.
func (m Meta) Age(now time.Time) time.Duration { return now.Sub(m.Updated) }

// DefaultDir is where the database lives unless told otherwise: $XDG_CACHE_HOME/rampart/osv, or
// ~/.cache/rampart/osv (os.UserCacheDir's choice on other systems).
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "rampart", "osv"), nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "rampart", "osv"), nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("deps: no cache directory for the advisory database: %w", err)
	}
	return filepath.Join(c, "rampart", "osv"), nil
}

// OSVDevURL is osv.dev's download of every advisory of one ecosystem, the format Update reads.
func OSVDevURL(ecosystem string) string {
	return "https://osv-vulnerabilities.storage.googleapis.com/" + ecosystem + "/all.zip"
}

// DefaultEcosystems are the OSV ecosystems whose lockfiles the scanner reads.
func DefaultEcosystems() []string {
	return []string{"Go", "npm", "PyPI", "crates.io", "RubyGems", "Maven", "Packagist", "NuGet", "Pub", "Hex"}
}

// DB is an opened advisory database. It is safe for concurrent use.
type DB struct {
	meta Meta
	ecos map[string]*ecoData

	mu     sync.Mutex
	parsed map[*ecoData]map[int64]*Advisory
}

type ecoData struct {
	data, index *os.File
	once        sync.Once
	err         error
	spans       map[string][][2]int64
}

// Open opens the database in dir. A directory without one gives an error wrapping
// ErrNoDatabase, so that a scan never passes for lack of data.
func Open(dir string) (*DB, error) {
	var lastErr error
	for range 3 { // an update may remove the generation between reading CURRENT and opening it
		db, err := open(dir)
		if err == nil || errors.Is(err, ErrNoDatabase) {
			return db, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func open(dir string) (*DB, error) {
	cur, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (looked in %s)", ErrNoDatabase, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("deps: advisory database: %w", err)
	}
	name := strings.TrimSpace(string(cur))
	if !strings.HasPrefix(name, "gen-") || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("deps: advisory database %s: bad %s %q: run `rampart db update`", dir, currentFile, name)
	}
	gen := filepath.Join(dir, name)
	b, err := os.ReadFile(filepath.Join(gen, metaFile))
	if err != nil {
		return nil, fmt.Errorf("deps: advisory database: %w", err)
	}
	db := &DB{ecos: map[string]*ecoData{}, parsed: map[*ecoData]map[int64]*Advisory{}}
	if err := json.Unmarshal(b, &db.meta); err != nil {
		return nil, fmt.Errorf("deps: advisory database %s: %s: %w", dir, metaFile, err)
	}
	if db.meta.Schema != schema {
		return nil, fmt.Errorf("deps: advisory database %s has schema %d, this rampart reads %d: run `rampart db update`", dir, db.meta.Schema, schema)
	}
	for eco, em := range db.meta.Ecosystems {
		if em.Dir == "" || strings.ContainsAny(em.Dir, `/\`) || em.Dir == "." || em.Dir == ".." {
			db.Close()
			return nil, fmt.Errorf("deps: advisory database %s: bad directory %q for %s", dir, em.Dir, eco)
		}
		d := &ecoData{}
		if d.data, err = os.Open(filepath.Join(gen, em.Dir, dataFile)); err == nil {
			d.index, err = os.Open(filepath.Join(gen, em.Dir, indexFile))
		}
		db.ecos[eco] = d
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("deps: advisory database: %w", err)
		}
	}
	return db, nil
}

// Close closes the database's files.
func (db *DB) Close() error {
	for _, d := range db.ecos {
		if d.data != nil {
			d.data.Close()
		}
		if d.index != nil {
			d.index.Close()
		}
	}
	return nil
}

// Meta returns what the database was built from and when.
func (db *DB) Meta() Meta { return db.meta }

// HasEcosystem reports whether the database holds advisories for the OSV ecosystem.
func (db *DB) HasEcosystem(eco string) bool {
	_, ok := db.ecos[eco]
	return ok
}

// Advisories returns the records that name the package (after NormalizeName), withdrawn ones
// included.
func (db *DB) Advisories(eco, name string) ([]*Advisory, error) {
	d, ok := db.ecos[eco]
	if !ok {
		return nil, nil
	}
	d.once.Do(func() {
		b, err := io.ReadAll(d.index)
		if err == nil {
			err = json.Unmarshal(b, &d.spans)
		}
		if err != nil {
			d.err = fmt.Errorf("deps: advisory database: %s index: %w", eco, err)
		}
	})
	if d.err != nil {
		return nil, d.err
	}
	spans := d.spans[NormalizeName(eco, name)]
	out := make([]*Advisory, 0, len(spans))
	for _, sp := range spans {
		a, err := db.read(d, sp)
		if err != nil {
			return nil, fmt.Errorf("deps: advisory database: %s %s: %w", eco, name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (db *DB) read(d *ecoData, sp [2]int64) (*Advisory, error) {
	db.mu.Lock()
	a, ok := db.parsed[d][sp[0]]
	db.mu.Unlock()
	if ok {
		return a, nil
	}
	if sp[1] <= 0 || sp[1] > maxRecord {
		return nil, fmt.Errorf("bad record length %d", sp[1])
	}
	buf := make([]byte, sp[1])
	if _, err := d.data.ReadAt(buf, sp[0]); err != nil {
		return nil, err
	}
	a = &Advisory{}
	if err := json.Unmarshal(buf, a); err != nil {
		return nil, err
	}
	a.prepare() // before it is shared: matching only reads it
	db.mu.Lock()
	if db.parsed[d] == nil {
		db.parsed[d] = map[int64]*Advisory{}
	}
	db.parsed[d][sp[0]] = a
	db.mu.Unlock()
	return a, nil
}

// Match returns the vulnerabilities of eco/name@version, one per vulnerability (aliases merged).
// A version the ecosystem's semantics cannot parse is an error.
func (db *DB) Match(eco, name, version string) ([]Vuln, error) {
	advs, err := db.Advisories(eco, name)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	return match(advs, eco, name, version)
}

// Limits of Update.
const (
	maxRecord   = 64 << 20 // one OSV JSON file
	maxDownload = 4 << 30  // one downloaded zip
)

// Updater builds databases. The zero value uses http.DefaultClient and time.Now.
type Updater struct {
	Client *http.Client
	Now    func() time.Time
}

// Update builds the database in dir from the sources with a zero Updater.
func Update(ctx context.Context, dir string, sources ...string) (*Meta, error) {
	return Updater{}.Update(ctx, dir, sources...)
}

// Update replaces the database in dir with the advisories of the sources, each a directory of
// OSV JSON files (read recursively), a zip of them (osv.dev's <ecosystem>/all.zip), a single
// OSV JSON file, or an http(s) URL of such a zip. A record that appears in several sources is
// taken from the one modified last. Withdrawn records and JSON files without an id or affected
// packages are left out and counted. Malformed JSON, a failed download or no advisory at all is
// an error, and the database in place is left untouched.
func (u Updater) Update(ctx context.Context, dir string, sources ...string) (*Meta, error) {
	if len(sources) == 0 {
		return nil, errors.New("deps: db update: no source given: name a directory or zip of OSV JSON, or a URL such as " + OSVDevURL("Go"))
	}
	now := time.Now
	if u.Now != nil {
		now = u.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("deps: db update: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("deps: db update: %w", err)
	}
	defer os.RemoveAll(tmp)

	b := &builder{dir: tmp, ecos: map[string]*ecoBuild{}, meta: Meta{Schema: schema, Ecosystems: map[string]EcosystemMeta{}}}
	defer b.close()
	for _, src := range sources {
		if err := u.load(ctx, b, tmp, src); err != nil {
			return nil, fmt.Errorf("deps: db update from %s: %w", src, err)
		}
	}
	if len(b.ids) == 0 {
		return nil, fmt.Errorf("deps: db update: %s held no OSV advisories; the database was not changed", strings.Join(sources, ", "))
	}
	b.meta.Updated = now().UTC()
	b.meta.Source = strings.Join(sources, ", ")
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("deps: db update: %w", err)
	}

	// Switch: rename the build to its generation name, then replace CURRENT atomically.
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	gen := "gen-" + b.meta.Updated.Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])
	if err := os.Rename(tmp, filepath.Join(dir, gen)); err != nil {
		return nil, fmt.Errorf("deps: db update: %w", err)
	}
	prev, _ := os.ReadFile(filepath.Join(dir, currentFile))
	if err := writeFileAtomic(filepath.Join(dir, currentFile), []byte(gen+"\n")); err != nil {
		os.RemoveAll(filepath.Join(dir, gen))
		return nil, fmt.Errorf("deps: db update: %w", err)
	}
	// Keep the live generation and the one before it (scans may still read it); remove others
	// and builds left by crashed updates.
	keep := map[string]bool{gen: true, strings.TrimSpace(string(prev)): true}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			n := e.Name()
			stale := strings.HasPrefix(n, ".tmp-") && olderThan(filepath.Join(dir, n), time.Hour)
			if (strings.HasPrefix(n, "gen-") && !keep[n]) || stale {
				os.RemoveAll(filepath.Join(dir, n))
			}
		}
	}
	m := b.meta
	return &m, nil
}

func olderThan(path string, d time.Duration) bool {
	fi, err := os.Stat(path)
	return err == nil && time.Since(fi.ModTime()) > d
}

func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".current-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// load reads one source into b.
func (u Updater) load(ctx context.Context, b *builder, tmp, src string) error {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		path, err := u.download(ctx, tmp, src)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		return loadZip(ctx, b, path, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".json") {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return b.add(f, p)
		})
	}
	if isZip(src) {
		return loadZip(ctx, b, src, src)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return b.add(f, src)
}

func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "PK\x03\x04"
}

func loadZip(ctx context.Context, b *builder, path, name string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("not a zip of OSV JSON: %w", err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
			continue
		}
		if zf.UncompressedSize64 > maxRecord {
			return fmt.Errorf("%s: %d bytes is more than an OSV record can be", zf.Name, zf.UncompressedSize64)
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
		err = b.add(rc, name+"!"+zf.Name)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (u Updater) download(ctx context.Context, tmp, url string) (string, error) {
	c := u.Client
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download: %s", resp.Status)
	}
	f, err := os.CreateTemp(tmp, "download-*.zip")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxDownload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxDownload {
		err = fmt.Errorf("download: larger than %d bytes", int64(maxDownload))
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// builder writes a database generation.
type builder struct {
	dir  string
	meta Meta
	ecos map[string]*ecoBuild
	ids  map[string]string // id → modified, over all ecosystems
}

type ecoBuild struct {
	f     *os.File
	w     *bufio.Writer
	off   int64
	byID  map[string][2]int64        // the record of each id (a later, newer copy wins)
	names map[string]map[string]bool // normalised name → ids
}

func (b *builder) close() {
	for _, e := range b.ecos {
		if e.f != nil {
			e.f.Close()
		}
	}
}

// add reads one OSV JSON file.
func (b *builder) add(r io.Reader, name string) error {
	raw, err := io.ReadAll(io.LimitReader(r, maxRecord+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(raw) > maxRecord {
		return fmt.Errorf("%s: more than %d bytes", name, maxRecord)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		b.meta.Skipped++ // not an object: an index or a list, not a record
		return nil
	}
	var a Advisory
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("%s: not valid OSV JSON: %w", name, err)
	}
	if a.ID == "" || len(a.Affected) == 0 {
		b.meta.Skipped++
		return nil
	}
	if a.Withdrawn != "" {
		b.meta.Withdrawn++
		return nil
	}
	if b.ids == nil {
		b.ids = map[string]string{}
	}
	if old, ok := b.ids[a.ID]; ok && old > a.Modified {
		return nil // an older copy of a record we have
	}
	b.ids[a.ID] = a.Modified
	if t, err := time.Parse(time.RFC3339, a.Modified); err == nil && t.After(b.meta.Newest) {
		b.meta.Newest = t.UTC()
	}
	if a.Summary == "" {
		a.Summary = firstLine(a.Details)
	}
	a.Details = ""
	rec, err := json.Marshal(&a)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rec = append(rec, '\n')
	written := map[string]bool{}
	for _, aff := range a.Affected {
		eco := aff.Package.Ecosystem
		if eco == "" || aff.Package.Name == "" {
			continue
		}
		e, err := b.eco(eco)
		if err != nil {
			return err
		}
		if !written[eco] {
			written[eco] = true
			if _, err := e.w.Write(rec); err != nil {
				return err
			}
			e.byID[a.ID] = [2]int64{e.off, int64(len(rec) - 1)}
			e.off += int64(len(rec))
		}
		n := NormalizeName(eco, aff.Package.Name)
		if e.names[n] == nil {
			e.names[n] = map[string]bool{}
		}
		e.names[n][a.ID] = true
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

func (b *builder) eco(eco string) (*ecoBuild, error) {
	if e, ok := b.ecos[eco]; ok {
		return e, nil
	}
	d := safeName(eco)
	for n := 2; ; n++ { // distinct ecosystems could map to one safe name
		taken := false
		for _, em := range b.meta.Ecosystems {
			taken = taken || em.Dir == d
		}
		if !taken {
			break
		}
		d = fmt.Sprintf("%s-%d", safeName(eco), n)
	}
	if err := os.Mkdir(filepath.Join(b.dir, d), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(b.dir, d, dataFile))
	if err != nil {
		return nil, err
	}
	e := &ecoBuild{f: f, w: bufio.NewWriterSize(f, 1<<20), byID: map[string][2]int64{}, names: map[string]map[string]bool{}}
	b.ecos[eco] = e
	b.meta.Ecosystems[eco] = EcosystemMeta{Dir: d}
	return e, nil
}

// safeName makes an ecosystem name a file name: letters, digits, '.', '-' and '_' stay.
func safeName(eco string) string {
	var sb strings.Builder
	for _, r := range eco {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	s := strings.Trim(sb.String(), ".")
	if s == "" {
		s = "_"
	}
	return s
}

// finish flushes the records and writes the indexes and meta.json.
func (b *builder) finish() error {
	for eco, e := range b.ecos {
		if err := e.w.Flush(); err != nil {
			return err
		}
		if err := e.f.Sync(); err != nil {
			return err
		}
		index := make(map[string][][2]int64, len(e.names))
		for n, ids := range e.names {
			spans := make([][2]int64, 0, len(ids))
			for id := range ids {
				spans = append(spans, e.byID[id])
			}
			slices.SortFunc(spans, func(x, y [2]int64) int { return cmp.Compare(x[0], y[0]) })
			spans = slices.Compact(spans)
			index[n] = spans
		}
		ib, err := json.Marshal(index)
		if err != nil {
			return err
		}
		em := b.meta.Ecosystems[eco]
		if err := os.WriteFile(filepath.Join(b.dir, em.Dir, indexFile), ib, 0o644); err != nil {
			return err
		}
		em.Advisories = len(e.byID)
		em.Packages = len(index)
		b.meta.Ecosystems[eco] = em
	}
	b.meta.Advisories = len(b.ids)
	mb, err := json.MarshalIndent(b.meta, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, metaFile), append(mb, '\n'), 0o644)
}
