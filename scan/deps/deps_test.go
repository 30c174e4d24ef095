package deps

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/osv-scalibr/plugin"

	"github.com/rampart-ci/rampart/scan"
)

// vulndbVersion pins the Go vulnerability database used as real test data, so that the
// advisories asserted below do not change under the tests. Newer snapshots only add records.
const vulndbVersion = "v0.0.0-20261105234957-e22db6528018"

var (
	goDBOnce sync.Once
	goDBDir  string // a database built from vulndb's data/osv plus testdata/osv
	goDBErr  error
	goDBSkip string
	tmpRoot  string
)

func TestMain(m *testing.M) {
	var err error
	tmpRoot, err = os.MkdirTemp("", "rampart-deps-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}

// vulndbOSV returns the data/osv directory of golang.org/x/vulndb, downloading the module
// through the Go module proxy (or finding it in the module cache) as `go mod download` does.
func vulndbOSV() (dir, skip string) {
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+vulndbVersion)
	cmd.Dir = tmpRoot // outside any module: go.mod and go.sum of this one are not touched
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	_ = json.Unmarshal(out, &m)
	if err != nil || m.Dir == "" {
		return "", fmt.Sprintf("golang.org/x/vulndb@%s is not available (offline and not in the module cache?): %v %s", vulndbVersion, err, m.Error)
	}
	return filepath.Join(m.Dir, "data", "osv"), ""
}

// goDB builds, once, a database from the real Go advisories and the hand-written ones.
func goDB(t testing.TB) string {
	t.Helper()
	goDBOnce.Do(func() {
		osv, skip := vulndbOSV()
		if skip != "" {
			goDBSkip = skip
			return
		}
		goDBDir = filepath.Join(tmpRoot, "godb")
		start := time.Now()
		_, goDBErr = Update(context.Background(), goDBDir, osv, "testdata/osv")
		if testing.Verbose() {
			fmt.Printf("built the Go advisory database in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if goDBSkip != "" {
		t.Skip(goDBSkip)
	}
	if goDBErr != nil {
		t.Fatal(goDBErr)
	}
	return goDBDir
}

// localDB builds a database from testdata/osv only.
func localDB(t *testing.T) *DB {
	t.Helper()
	dir := t.TempDir()
	if _, err := Update(context.Background(), dir, "testdata/osv"); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scanTree walks root the way the scan driver does (every wanted file once, in parallel) and
// returns the findings of ScanFile and Finish.
func scanTree(t *testing.T, s *Scanner, root string) []scan.Finding {
	t.Helper()
	var (
		mu  sync.Mutex
		out []scan.Finding
		wg  sync.WaitGroup
	)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !s.Wants(rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs, err := s.ScanFile(context.Background(), scan.File{Path: rel, Data: data})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			out = append(out, fs...)
			mu.Unlock()
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	fin, err := s.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return append(out, fin...)
}

func byRule(fs []scan.Finding) map[string]scan.Finding {
	m := map[string]scan.Finding{}
	for _, f := range fs {
		m[f.Package+"@"+f.Version+" "+f.RuleID] = f
	}
	return m
}

func TestGoRealAdvisories(t *testing.T) {
	db, err := Open(goDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(db, Options{})
	findings := scanTree(t, s, "testdata/tree/go")
	got := byRule(findings)

	const (
		ntlm    = "github.com/Azure/go-ntlmssp@0.0.0-20221128193559-754e69321358"
		oldNet  = "golang.org/x/net@0.0.0-20190620200207-3b0461eec859"
		oldText = "golang.org/x/text@0.3.5"
	)
	for _, c := range []struct{ key, fixed string }{
		// The module path has capitals: osv-scanner lowercases it and misses this one.
		{ntlm + " GO-2026-5543", "0.1.1"},
		{oldNet + " GO-2022-0536", "0.0.0-20190813141303-74dc4d7220e7"},
		{oldNet + " GO-2022-0288", "0.0.0-20211209124913-491a49abca63"},
		{oldNet + " GO-2023-1571", "0.7.0"},
		{oldNet + " GO-2026-6866", "0.62.0"},
		{oldText + " GO-2021-0113", "0.3.7"},
		{oldText + " GO-2022-1059", "0.3.8"},
	} {
		f, ok := got[c.key]
		if !ok {
			t.Errorf("missing %s", c.key)
			continue
		}
		if f.FixedVersion != c.fixed || f.Fix != "upgrade to "+c.fixed {
			t.Errorf("%s: fixed %q (%q), want %q", c.key, f.FixedVersion, f.Fix, c.fixed)
		}
		if f.File != "go.mod" || f.Line == 0 || f.Ecosystem != "Go" || f.Scanner != scan.ScannerDependencies || f.Fingerprint == "" {
			t.Errorf("%s: %+v", c.key, f)
		}
		// The Go database rates nothing: unrated is high, so the default gate fails closed.
		if f.Severity != scan.High {
			t.Errorf("%s: severity %s", c.key, f.Severity)
		}
	}
	ntlmF := got[ntlm+" GO-2026-5543"]
	if !slices.Contains(ntlmF.Aliases, "CVE-2026-32952") || !slices.Contains(ntlmF.Aliases, "GHSA-pjcq-xvwq-hhpj") {
		t.Errorf("aliases of GO-2026-5543: %v", ntlmF.Aliases)
	}
	if want := "github.com/Azure/go-ntlmssp@0.0.0-20221128193559-754e69321358 is affected by GO-2026-5543: "; !strings.HasPrefix(ntlmF.Message, want) {
		t.Errorf("message %q", ntlmF.Message)
	}
	if ntlmF.Identity != "Go|github.com/Azure/go-ntlmssp|0.0.0-20221128193559-754e69321358|GO-2026-5543" {
		t.Errorf("identity %q", ntlmF.Identity)
	}
	// Not affected: fixed before that version, or introduced after it.
	for _, k := range []string{oldNet + " GO-2020-0014", oldNet + " GO-2023-1495", oldNet + " GO-2026-4559", oldText + " GO-2020-0015"} {
		if _, ok := got[k]; ok {
			t.Errorf("unexpected %s", k)
		}
	}
	n := 0
	for _, f := range findings {
		if f.Package == "golang.org/x/net" {
			n++
		}
	}
	if n != 30 { // counted independently from the records
		t.Errorf("golang.org/x/net: %d findings, want 30", n)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	t.Logf("%d findings for %d packages, e.g. %s", len(findings), len(s.Packages()), ntlmF.Message)
}

func TestGoFixedVersionsYieldNothing(t *testing.T) {
	db, err := Open(goDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(db, Options{})
	if fs := scanTree(t, s, "testdata/tree/go-fixed"); len(fs) != 0 {
		t.Errorf("findings for fixed versions: %+v", fs)
	}
	if n := len(s.Packages()); n != 3 { // two modules and stdlib
		t.Errorf("%d packages: %+v", n, s.Packages())
	}
	// The same versions through Match, and one inside a later range.
	for _, c := range []struct {
		name, version string
		want          []string
	}{
		{"github.com/Azure/go-ntlmssp", "0.1.1", nil},
		{"github.com/azure/go-ntlmssp", "0.1.0", nil}, // another module path
		{"github.com/Azure/go-ntlmssp", "0.1.0", []string{"GO-2026-5543"}},
		{"golang.org/x/net", "0.50.0", []string{"GO-2026-4559", "GO-2026-4918", "GO-2026-5025"}},
		{"golang.org/x/net", "0.51.0", []string{"GO-2026-4918"}},
	} {
		vs, err := db.Match("Go", c.name, c.version)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		for _, w := range c.want {
			if !slices.Contains(ids, w) {
				t.Errorf("%s@%s: %v lacks %s", c.name, c.version, ids, w)
			}
		}
		if c.want == nil && len(ids) > 0 {
			t.Errorf("%s@%s: %v", c.name, c.version, ids)
		}
		if c.version == "0.51.0" && slices.Contains(ids, "GO-2026-4559") {
			t.Errorf("0.51.0 is the fix of GO-2026-4559")
		}
	}
}

func TestGoSumThroughRoot(t *testing.T) {
	db, err := Open(goDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// go < 1.17: indirect dependencies are in go.sum, read through Options.Root.
	s := New(db, Options{Root: os.DirFS("testdata/tree/go-old")})
	got := byRule(scanTree(t, s, "testdata/tree/go-old"))
	if _, ok := got["golang.org/x/net@0.0.0-20190620200207-3b0461eec859 GO-2022-0288"]; !ok {
		t.Errorf("x/net from go.sum not matched: %v", sortedKeys(got))
	}
	// Without Root only go.mod is seen.
	s = New(db, Options{})
	got = byRule(scanTree(t, s, "testdata/tree/go-old"))
	if _, ok := got["golang.org/x/net@0.0.0-20190620200207-3b0461eec859 GO-2022-0288"]; ok {
		t.Errorf("go.sum read without Root")
	}
	if _, ok := got["golang.org/x/text@0.3.5 GO-2021-0113"]; !ok {
		t.Errorf("go.mod not matched: %v", sortedKeys(got))
	}
}

func TestEcosystems(t *testing.T) {
	db := localDB(t)
	s := New(db, Options{})
	findings := scanTree(t, s, "testdata/tree")
	got := byRule(findings)
	for _, c := range []struct {
		key, file string
		sev       scan.Severity
		fixed     string
		aliases   []string
	}{
		{"lodash@4.17.20 GHSA-35jh-r3h4-6jhm", "web/yarn.lock", scan.High, "4.17.21", []string{"CVE-2021-23337"}},
		// Two ranges: each version gets the fix of its own range.
		{"minimist@1.2.5 GHSA-xvch-5gv4-984h", "web/yarn.lock", scan.Critical, "1.2.6", nil},
		{"minimist@0.2.1 GHSA-xvch-5gv4-984h", "web/yarn.lock", scan.Critical, "0.2.4", nil},
		// Explicit versions only; malicious packages are critical and have no fix.
		{"left-padd@1.0.1 MAL-2025-0001", "web/yarn.lock", scan.Critical, "", nil},
		// PEP 503 name, PYSEC and GHSA records of one bug merged: PYSEC id, GHSA's CVSS.
		{"PyYAML@5.3.1 PYSEC-2021-142", "py/requirements.txt", scan.Critical, "5.4", []string{"CVE-2020-14343", "GHSA-8q59-q68h-6hv4"}},
		// last_affected: 5.4.0 is affected, no fix known; Zope_Interface normalises.
		{"zope.interface@5.4.0 PYSEC-2099-0001", "py/requirements.txt", scan.Medium, "", nil},
		{"nokogiri@1.13.3 GHSA-crjr-9rc5-ghw8", "ruby/Gemfile.lock", scan.High, "1.13.4", []string{"CVE-2022-24836"}},
		// Log4Shell: the third of three ranges; scope changed 10.0.
		{"org.apache.logging.log4j:log4j-core@2.14.1 GHSA-jfh8-c2jp-5v3q", "java/gradle.lockfile", scan.Critical, "2.15.0", []string{"CVE-2021-44228"}},
		// NuGet names are case-insensitive.
		{"Newtonsoft.Json@12.0.3 GHSA-5crp-9r3c-p9vr", "dotnet/packages.lock.json", scan.High, "13.0.1", nil},
		// Hex, a limit event, CVSS v2 5.0.
		{"jason@1.2.2 GHSA-v6h2-p8h4-qcjw", "elixir/mix.lock", scan.Medium, "", nil},
	} {
		f, ok := got[c.key]
		if !ok {
			t.Errorf("missing %s in %v", c.key, sortedKeys(got))
			continue
		}
		if f.File != c.file || f.Severity != c.sev || f.FixedVersion != c.fixed {
			t.Errorf("%s: file %s severity %s fixed %q; want %s %s %q", c.key, f.File, f.Severity, f.FixedVersion, c.file, c.sev, c.fixed)
		}
		for _, a := range c.aliases {
			if !slices.Contains(f.Aliases, a) {
				t.Errorf("%s: aliases %v lack %s", c.key, f.Aliases, a)
			}
		}
	}
	// The withdrawn lodash record and the fixed Pipfile.lock pyyaml give nothing; the
	// GHSA record merged into PYSEC-2021-142 is not reported on its own.
	for _, f := range findings {
		switch {
		case f.RuleID == "GHSA-wdrn-0000-0000", f.RuleID == "GHSA-8q59-q68h-6hv4",
			f.File == "py-pipenv/Pipfile.lock", f.Package == "log4j-api":
			t.Errorf("unexpected %s", f.Message)
		}
	}
	// requirements.txt: flask>=2.0 and requests are unpinned; Jinja2==3.1.4 is pinned.
	for _, k := range []string{"flask@2.0 unpinned", "requests@ unpinned", "Serilog@3.* unpinned"} {
		f, ok := got[k]
		if !ok || f.Severity != scan.Low || f.Line == 0 && f.Package != "Serilog" {
			t.Errorf("%s: %+v (have %v)", k, f, sortedKeys(got))
		}
	}
	if _, ok := got["Jinja2@3.1.4 unpinned"]; ok {
		t.Errorf("Jinja2==3.1.4 reported unpinned")
	}
	// Ecosystems and files extracted.
	files := map[string]bool{}
	ecos := map[string]bool{}
	for _, p := range s.Packages() {
		files[p.File] = true
		ecos[p.Ecosystem] = true
	}
	for _, f := range []string{"web/yarn.lock", "py/requirements.txt", "py-pipenv/Pipfile.lock", "ruby/Gemfile.lock", "java/gradle.lockfile", "dotnet/packages.lock.json", "dotnet/App.csproj", "elixir/mix.lock", "go/go.mod", "go-old/go.mod"} {
		if !files[f] {
			t.Errorf("no packages from %s", f)
		}
	}
	// The local database has no Go advisories: the scan says so instead of passing silently.
	var goWarn bool
	for _, w := range s.Warnings() {
		goWarn = goWarn || strings.Contains(w, "Go packages were found but the advisory database has no Go advisories")
	}
	if !goWarn {
		t.Errorf("no warning for the Go packages: %q", s.Warnings())
	}
	// Fingerprints are unique.
	fps := map[string]bool{}
	for _, f := range findings {
		if fps[f.Fingerprint] {
			t.Errorf("duplicate fingerprint %s (%s)", f.Fingerprint, f.Message)
		}
		fps[f.Fingerprint] = true
	}
}

func TestMatchDirect(t *testing.T) {
	db := localDB(t)
	for _, c := range []struct {
		eco, name, version string
		want               string // id, or "" for none
		fixed              string
		sev                scan.Severity
	}{
		{"crates.io", "smallvec", "1.6.0", "RUSTSEC-2021-0003", "1.6.1", scan.Critical},
		{"crates.io", "smallvec", "0.6.10", "RUSTSEC-2021-0003", "0.6.14", scan.Critical},
		{"crates.io", "smallvec", "0.6.2", "", "", ""},
		{"crates.io", "smallvec", "0.6.14", "", "", ""},
		{"crates.io", "smallvec", "1.6.1", "", "", ""},
		// RustSec informational (unmaintained): low, no fix.
		{"crates.io", "failure", "0.1.8", "RUSTSEC-2020-0036", "", scan.Low},
		// Packagist names are case-insensitive; CVSS 3.1 AC:H C:H I:H = 8.1.
		{"Packagist", "GuzzleHttp/Guzzle", "7.4.2", "GHSA-q559-8m2m-g699", "7.4.3", scan.High},
		{"Packagist", "guzzlehttp/guzzle", "6.5.5", "GHSA-q559-8m2m-g699", "6.5.6", scan.High},
		{"Packagist", "guzzlehttp/guzzle", "7.4.3", "", "", ""},
		{"Packagist", "guzzlehttp/guzzle", "6.5.6", "", "", ""},
		// Maven version semantics: 2.0-beta9 < 2.0 < 2.3 < 2.3.1.
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.0-beta8", "", "", ""},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.0-beta9", "GHSA-jfh8-c2jp-5v3q", "2.3.1", scan.Critical},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.3", "GHSA-jfh8-c2jp-5v3q", "2.3.1", scan.Critical},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.3.1", "", "", ""},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.12.1", "GHSA-jfh8-c2jp-5v3q", "2.12.2", scan.Critical},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.12.2", "", "", ""},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.15.0", "", "", ""},
		// PyPI: PEP 440 ordering (5.4rc1 < 5.4) and names.
		{"PyPI", "pyyaml", "5.4rc1", "PYSEC-2021-142", "5.4", scan.Critical},
		{"PyPI", "py_yaml", "5.3", "", "", ""}, // another project
		{"PyPI", "PYYAML", "5.4", "", "", ""},
		{"PyPI", "zope-interface", "5.4.0", "PYSEC-2099-0001", "", scan.Medium},
		{"PyPI", "zope.interface", "5.4.1", "", "", ""},
		{"PyPI", "zope.interface", "4.9", "", "", ""},
		// npm semver: prerelease of the fix is still affected.
		{"npm", "lodash", "4.17.21-rc.1", "GHSA-35jh-r3h4-6jhm", "4.17.21", scan.High},
		{"npm", "lodash", "4.17.21", "", "", ""},
		{"npm", "left-padd", "1.0.2", "", "", ""},
		// RubyGems: 1.13.4.rc1 sorts before 1.13.4.
		{"RubyGems", "nokogiri", "1.13.4.rc1", "GHSA-crjr-9rc5-ghw8", "1.13.4", scan.High},
		{"RubyGems", "nokogiri", "1.13.4", "", "", ""},
		// NuGet and Hex limits.
		{"NuGet", "NEWTONSOFT.JSON", "13.0.1", "", "", ""},
		{"Hex", "jason", "1.3.0", "", "", ""},
		{"Hex", "jason", "0.9.0", "", "", ""},
	} {
		vs, err := db.Match(c.eco, c.name, c.version)
		if err != nil {
			t.Errorf("%s %s@%s: %v", c.eco, c.name, c.version, err)
			continue
		}
		if c.want == "" {
			if len(vs) != 0 {
				t.Errorf("%s %s@%s: %+v, want none", c.eco, c.name, c.version, vs)
			}
			continue
		}
		if len(vs) != 1 || vs[0].ID != c.want || vs[0].Fixed != c.fixed || vs[0].Severity != c.sev {
			t.Errorf("%s %s@%s: %+v, want %s fixed %q %s", c.eco, c.name, c.version, vs, c.want, c.fixed, c.sev)
		}
	}
	// An ecosystem whose versions cannot be compared is an error, not "not affected".
	if _, err := match([]*Advisory{{ID: "X"}}, "NoSuchEcosystem", "p", "1.0"); !errors.Is(err, errBadVersion) {
		t.Errorf("unknown ecosystem: %v", err)
	}
}

func TestRangeEdgeCases(t *testing.T) {
	rng := func(evs ...Event) Affected {
		var a Affected
		a.Package.Ecosystem, a.Package.Name = "npm", "p"
		a.Ranges = []Range{{Type: "SEMVER", Events: evs}}
		return a
	}
	for _, c := range []struct {
		name    string
		aff     Affected
		version string
		hit     bool
		fixed   string
	}{
		{"unsorted events", rng(Event{Fixed: "2.0.0"}, Event{Introduced: "1.0.0"}), "1.5.0", true, "2.0.0"},
		{"introduced equals fixed", rng(Event{Introduced: "1.0.0"}, Event{Fixed: "1.0.0"}), "1.0.0", false, ""},
		{"introduced only", rng(Event{Introduced: "0"}), "99.0.0", true, ""},
		{"at introduced", rng(Event{Introduced: "1.0.0"}, Event{Fixed: "1.1.0"}), "1.0.0", true, "1.1.0"},
		{"at fixed", rng(Event{Introduced: "1.0.0"}, Event{Fixed: "1.1.0"}), "1.1.0", false, ""},
		{"last_affected inclusive", rng(Event{Introduced: "0"}, Event{LastAffected: "1.2.3"}), "1.2.3", true, ""},
		{"past last_affected", rng(Event{Introduced: "0"}, Event{LastAffected: "1.2.3"}), "1.2.4", false, ""},
		{"limit", rng(Event{Introduced: "1.0.0"}, Event{Limit: "2.0.0"}), "2.0.0", false, ""},
		{"limit star", rng(Event{Introduced: "1.0.0"}, Event{Limit: "*"}), "3.0.0", true, ""},
		{"second range", rng(Event{Introduced: "0"}, Event{Fixed: "1.0.1"}, Event{Introduced: "1.1.0"}, Event{Fixed: "1.1.3"}), "1.1.2", true, "1.1.3"},
		{"between ranges", rng(Event{Introduced: "0"}, Event{Fixed: "1.0.1"}, Event{Introduced: "1.1.0"}, Event{Fixed: "1.1.3"}), "1.0.5", false, ""},
		{"fix is the lowest above", rng(Event{Introduced: "0"}, Event{Fixed: "3.0.0"}, Event{Fixed: "2.0.0"}), "1.0.0", true, "2.0.0"},
		{"unparseable events skipped", rng(Event{Introduced: "0"}, Event{Fixed: "1.0.0"}), "0.5.0", true, "1.0.0"},
		{"git ranges ignored", func() Affected {
			a := rng()
			a.Ranges = []Range{{Type: "GIT", Events: []Event{{Introduced: "0"}}}}
			return a
		}(), "1.0.0", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &Advisory{ID: "X-1", Affected: []Affected{c.aff}}
			vs, err := match([]*Advisory{a}, "npm", "p", c.version)
			if err != nil {
				t.Fatal(err)
			}
			if hit := len(vs) == 1; hit != c.hit || hit && vs[0].Fixed != c.fixed {
				t.Errorf("got %+v, want hit=%v fixed %q", vs, c.hit, c.fixed)
			}
		})
	}
	// A withdrawn record is ignored even when it is in the database.
	a := &Advisory{ID: "X-2", Withdrawn: "2024-01-01T00:00:00Z", Affected: []Affected{rng(Event{Introduced: "0"})}}
	if vs, _ := match([]*Advisory{a}, "npm", "p", "1.0.0"); len(vs) != 0 {
		t.Errorf("withdrawn matched: %+v", vs)
	}
}

func TestCVSS3(t *testing.T) {
	for _, c := range []struct {
		vector string
		score  float64
		sev    scan.Severity
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, scan.Critical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, scan.Critical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, scan.High},
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2, scan.High},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, scan.High},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4, scan.High},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, scan.Medium},
		{"CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 6.5, scan.Medium},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, scan.Medium},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3, scan.Medium},
		{"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N", 2.5, scan.Low},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, scan.Low},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, scan.Info},
		{"CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, scan.Critical},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8, scan.High},
		// Temporal metrics and metric order do not matter.
		{"CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U/E:P/RL:O/RC:C", 9.8, scan.Critical},
	} {
		got, err := CVSS3BaseScore(c.vector)
		if err != nil || got != c.score || CVSS3Rating(got) != c.sev {
			t.Errorf("%s: %v %v (%s), want %v %s", c.vector, got, err, CVSS3Rating(got), c.score, c.sev)
		}
	}
	for _, bad := range []string{"", "CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"} {
		if _, err := CVSS3BaseScore(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, c := range []struct {
		vector string
		score  float64
	}{
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0},
		{"AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0},
		{"(AV:L/AC:L/Au:N/C:P/I:N/A:N)", 2.1},
	} {
		if got, err := CVSS2BaseScore(c.vector); err != nil || got != c.score {
			t.Errorf("%s: %v %v, want %v", c.vector, got, err, c.score)
		}
	}
}

func TestSeveritySources(t *testing.T) {
	aff := Affected{}
	for _, c := range []struct {
		name  string
		adv   Advisory
		aff   Affected
		sev   scan.Severity
		rated bool
	}{
		{"none", Advisory{ID: "GO-2024-0001"}, aff, scan.High, false},
		{"malicious", Advisory{ID: "MAL-2024-1"}, aff, scan.Critical, true},
		{"cvss wins over text", Advisory{ID: "G", Severity: []SeverityEntry{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}}, DatabaseSpecific: json.RawMessage(`{"severity":"HIGH"}`)}, aff, scan.Medium, true},
		{"github text", Advisory{ID: "G", DatabaseSpecific: json.RawMessage(`{"severity":"MODERATE"}`)}, aff, scan.Medium, true},
		{"ecosystem specific", Advisory{ID: "G"}, Affected{EcosystemSpecific: json.RawMessage(`{"severity":"critical"}`)}, scan.Critical, true},
		{"affected level cvss", Advisory{ID: "G"}, Affected{Severity: []SeverityEntry{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}}}, scan.Medium, true},
		{"cvss v2", Advisory{ID: "G", Severity: []SeverityEntry{{"CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}}, aff, scan.High, true},
		{"v4 only is unrated", Advisory{ID: "G", Severity: []SeverityEntry{{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}}}, aff, scan.High, false},
		{"informational", Advisory{ID: "RUSTSEC-1"}, Affected{DatabaseSpecific: json.RawMessage(`{"informational":"unsound"}`)}, scan.Low, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sev, rated := severityOf(&c.adv, &c.aff)
			if sev != c.sev || rated != c.rated {
				t.Errorf("got %s %v, want %s %v", sev, rated, c.sev, c.rated)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for _, c := range [][3]string{
		{"PyPI", "Zope_Interface", "zope-interface"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar-.baz", "foo-bar-baz"},
		{"Go", "github.com/Azure/go-ntlmssp", "github.com/Azure/go-ntlmssp"},
		{"Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"},
		{"NuGet", "Newtonsoft.Json", "newtonsoft.json"},
		{"Packagist", "GuzzleHttp/Guzzle", "guzzlehttp/guzzle"},
		{"npm", "@Scope/Pkg", "@Scope/Pkg"},
	} {
		if got := NormalizeName(c[0], c[1]); got != c[2] {
			t.Errorf("%s %s: %s, want %s", c[0], c[1], got, c[2])
		}
	}
}

func TestNoDatabaseFailsClosed(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), "rampart db update") {
		t.Errorf("Open of an empty directory: %v", err)
	}
	s := New(nil, Options{})
	findings := scanTree2(t, s, "testdata/tree/web")
	if len(findings) != 0 {
		t.Errorf("ScanFile findings: %v", findings)
	}
	if len(s.Packages()) == 0 {
		t.Errorf("packages are listed without a database")
	}
	if _, err := s.Finish(context.Background()); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("Finish without a database: %v", err)
	}
}

// scanTree2 runs only the ScanFile part of scanTree.
func scanTree2(t *testing.T, s *Scanner, root string) []scan.Finding {
	t.Helper()
	var out []scan.Finding
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if !s.Wants(filepath.ToSlash(rel)) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fs, err := s.ScanFile(context.Background(), scan.File{Path: filepath.ToSlash(rel), Data: data})
		out = append(out, fs...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStaleDatabaseWarning(t *testing.T) {
	db := localDB(t)
	later := db.Meta().Updated.Add(30 * 24 * time.Hour)
	s := New(db, Options{Now: func() time.Time { return later }})
	if _, err := s.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 1 || !strings.Contains(w[0], "30 days old") {
		t.Errorf("warnings: %q", w)
	}
	if age := db.Meta().Age(later); age != 30*24*time.Hour {
		t.Errorf("age %v", age)
	}
}

func TestUnreadableManifest(t *testing.T) {
	s := New(localDB(t), Options{})
	fs, err := s.ScanFile(context.Background(), scan.File{Path: "sub/packages.lock.json", Data: []byte("{not json")})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].RuleID != RuleUnreadable || fs[0].Severity != scan.Medium || fs[0].File != "sub/packages.lock.json" {
		t.Errorf("%+v", fs)
	}
}

func TestWants(t *testing.T) {
	s := New(nil, Options{})
	for p, want := range map[string]bool{
		"go.mod": true, "a/b/go.mod": true, "vendor/modules.txt": true, "yarn.lock": true,
		"requirements.txt": true, "requirements-dev.txt": true, "Pipfile.lock": true, "Gemfile.lock": true,
		"gradle.lockfile": true, "packages.lock.json": true, "src/App.csproj": true, "packages.config": true,
		"mix.lock": true, "paket.lock": true,
		"main.go": false, "README.md": false, "go.sum": false, "package.json": false,
	} {
		if got := s.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
	// None of the extractors may reach the network or the host file system.
	for _, e := range Extractors() {
		if c := e.Requirements(); c.Network == plugin.NetworkOnline || c.DirectFS || c.RunningSystem {
			t.Errorf("%s needs %+v", e.Name(), c)
		}
	}
}

func writeZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testdataFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	ents, err := os.ReadDir("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/osv", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestUpdateFromZipAndURL(t *testing.T) {
	files := testdataFiles(t)
	zipData := writeZip(t, files)
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(zipPath, zipData, 0o644); err != nil {
		t.Fatal(err)
	}
	dirMeta, err := Update(context.Background(), t.TempDir(), "testdata/osv")
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	clock := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	u := Updater{Now: func() time.Time { return clock }}
	m, err := u.Update(context.Background(), dir, zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Advisories != dirMeta.Advisories || m.Advisories != 13 || m.Withdrawn != 1 || m.Skipped != 1 {
		t.Errorf("zip meta %+v, directory meta %+v", m, dirMeta)
	}
	if !m.Updated.Equal(clock) || m.Source != zipPath || m.Ecosystems["PyPI"].Advisories != 3 || m.Ecosystems["crates.io"].Dir != "crates.io" {
		t.Errorf("meta %+v", m)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if vs, err := db.Match("npm", "lodash", "4.17.20"); err != nil || len(vs) != 1 {
		t.Errorf("after zip update: %+v %v", vs, err)
	}

	// URL: served by a local server, as osv.dev serves <ecosystem>/all.zip.
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/npm/all.zip":
			w.Write(writeZip(t, map[string]string{"GHSA-35jh-r3h4-6jhm.json": files["GHSA-35jh-r3h4-6jhm.json"]}))
		case "/garbage/all.zip":
			w.Write([]byte("<html>not a zip</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	clock = clock.Add(time.Hour)
	u.Client = srv.Client()
	m2, err := u.Update(context.Background(), dir, srv.URL+"/npm/all.zip")
	if err != nil {
		t.Fatal(err)
	}
	if m2.Advisories != 1 || m2.Source != srv.URL+"/npm/all.zip" {
		t.Errorf("url meta %+v", m2)
	}
	// The old DB stays readable (its files are open; its generation is kept) and the new one is live.
	if vs, err := db.Match("PyPI", "pyyaml", "5.3.1"); err != nil || len(vs) != 1 {
		t.Errorf("old database after update: %+v %v", vs, err)
	}
	db.Close()
	db2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if db2.HasEcosystem("PyPI") || !db2.HasEcosystem("npm") || !db2.Meta().Updated.Equal(clock) {
		t.Errorf("after url update: %+v", db2.Meta())
	}

	// Failures change nothing.
	for _, src := range []string{srv.URL + "/missing/all.zip", srv.URL + "/garbage/all.zip", filepath.Join(t.TempDir(), "nothing-here"), t.TempDir()} {
		if _, err := u.Update(context.Background(), dir, src); err == nil {
			t.Errorf("update from %s: no error", src)
		}
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "GHSA-bad.json"), []byte(`{"id": "GHSA-bad", "affected": [`), 0o644)
	if _, err := u.Update(context.Background(), dir, bad); err == nil || !strings.Contains(err.Error(), "GHSA-bad.json") {
		t.Errorf("malformed JSON: %v", err)
	}
	if _, err := u.Update(context.Background(), dir); err == nil {
		t.Errorf("no source: no error")
	}
	db3, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	if !db3.Meta().Updated.Equal(clock) || db3.Meta().Advisories != 1 {
		t.Errorf("a failed update changed the database: %+v", db3.Meta())
	}
	// Only the live generation and the one before it remain; no temporary directories.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 3 { // CURRENT and two generations
		t.Errorf("database directory holds %v", names)
	}
}

func TestCycloneDX(t *testing.T) {
	s := New(nil, Options{})
	scanTree2(t, s, "testdata/tree")
	pkgs := s.Packages()
	bom := CycloneDX(pkgs, SBOM{Name: "example", Version: "abc123", Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)})
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, bom); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Timestamp string `json:"timestamp"`
		} `json:"metadata"`
		Components []struct {
			BOMRef  string `json:"bom-ref"`
			Type    string `json:"type"`
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
			Evid    struct {
				Occurrences []struct {
					Location string `json:"location"`
				} `json:"occurrences"`
			} `json:"evidence"`
		} `json:"components"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.6" || doc.Metadata.Timestamp != "2026-01-05T00:00:00Z" {
		t.Errorf("header %+v", doc)
	}
	purls := map[string]string{}
	refs := map[string]bool{}
	for _, c := range doc.Components {
		purls[c.PURL] = c.Evid.Occurrences[0].Location
		if refs[c.BOMRef] {
			t.Errorf("duplicate bom-ref %s", c.BOMRef)
		}
		refs[c.BOMRef] = true
		if c.Type != "library" {
			t.Errorf("%s: type %s", c.Name, c.Type)
		}
	}
	for purl, file := range map[string]string{
		"pkg:npm/lodash@4.17.20":                               "web/yarn.lock",
		"pkg:pypi/pyyaml@5.3.1":                                "py/requirements.txt",
		"pkg:gem/nokogiri@1.13.3":                              "ruby/Gemfile.lock",
		"pkg:nuget/Newtonsoft.Json@12.0.3":                     "dotnet/App.csproj",
		"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1": "java/gradle.lockfile",
		"pkg:hex/jason@1.2.2":                                  "elixir/mix.lock",
	} {
		if got, ok := purls[purl]; !ok || got != file {
			t.Errorf("%s: %q (%v)", purl, got, ok)
		}
	}
	var goNTLM bool
	for p := range purls {
		goNTLM = goNTLM || strings.HasPrefix(p, "pkg:golang/github.com/") && strings.Contains(strings.ToLower(p), "go-ntlmssp@")
	}
	if !goNTLM {
		t.Errorf("no go-ntlmssp purl in %v", sortedKeys(purls))
	}
	// Deterministic.
	var again bytes.Buffer
	WriteCycloneDX(&again, CycloneDX(pkgs, SBOM{Name: "example", Version: "abc123", Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}))
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("SBOM output differs between runs")
	}
	if testing.Verbose() {
		t.Logf("%d components", len(doc.Components))
	}
}

func TestRequirementsIncludeThroughRoot(t *testing.T) {
	root := fstest.MapFS{
		"req/base.txt": {Data: []byte("PyYAML==5.3.1\n")},
	}
	s := New(localDB(t), Options{Root: root})
	if _, err := s.ScanFile(context.Background(), scan.File{Path: "req/requirements.txt", Data: []byte("-r base.txt\nJinja2==3.1.4\n")}); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].RuleID != "PYSEC-2021-142" || fs[0].File != "req/requirements.txt" {
		t.Errorf("%+v", fs)
	}
}

// BenchmarkMatchGo matches 5,000 Go packages (every module of the Go database, at old and new
// versions) against the real Go advisories.
func BenchmarkMatchGo(b *testing.B) {
	db, err := Open(goDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d := db.ecos["Go"]
	if _, err := db.Advisories("Go", "x"); err != nil { // loads the index
		b.Fatal(err)
	}
	names := sortedKeys(d.spans)
	versions := []string{"0.0.0-20200101000000-000000000000", "1.0.0", "0.1.0", "2.3.4", "0.9.9"}
	pkgs := make([][2]string, 0, 5000)
	for i := 0; len(pkgs) < 5000; i++ {
		pkgs = append(pkgs, [2]string{names[i%len(names)], versions[(i/len(names))%len(versions)]})
	}
	b.ResetTimer()
	var found int
	for b.Loop() {
		found = 0
		for _, p := range pkgs {
			vs, err := db.Match("Go", p[0], p[1])
			if err != nil {
				b.Fatal(err)
			}
			found += len(vs)
		}
	}
	b.ReportMetric(float64(found), "vulns")
	b.ReportMetric(float64(len(names)), "modules")
}

// BenchmarkScanGoCold is a whole dependency scan's matching from a cold start: open the Go
// database, then match the same 5,000 packages through Finish.
func BenchmarkScanGoCold(b *testing.B) {
	dir := goDB(b)
	db, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Advisories("Go", "x"); err != nil {
		b.Fatal(err)
	}
	names := sortedKeys(db.ecos["Go"].spans)
	db.Close()
	versions := []string{"0.0.0-20200101000000-000000000000", "1.0.0", "0.1.0", "2.3.4", "0.9.9"}
	var pkgs []Package
	for i := 0; len(pkgs) < 5000; i++ {
		pkgs = append(pkgs, Package{Name: names[i%len(names)], Version: versions[(i/len(names))%len(versions)], Ecosystem: "Go", File: "go.mod"})
	}
	b.ResetTimer()
	var n int
	for b.Loop() {
		db, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		s := New(db, Options{})
		for _, p := range pkgs {
			s.pkgs[p.key()] = p
		}
		fs, err := s.Finish(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = len(fs)
		db.Close()
	}
	b.ReportMetric(float64(n), "findings")
}

// TestLocalReplaceIsNotADependency: a go.mod replace into the repository's own tree (as
// kubernetes does with ./staging) is not a package anyone publishes advisories for, nor an
// unpinned dependency.
func TestLocalReplaceIsNotADependency(t *testing.T) {
	root := t.TempDir()
	gomod := "module example.com/x\n\ngo 1.22\n\nrequire (\n\tk8s.io/api v0.0.0\n\tgolang.org/x/text v0.3.0\n)\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(localDB(t), Options{})
	for _, f := range scanTree(t, s, root) {
		if f.RuleID == RuleUnpinned {
			t.Errorf("local replacement reported: %+v", f)
		}
	}
	for _, p := range s.Packages() {
		if strings.HasPrefix(p.Name, ".") {
			t.Errorf("local replacement listed as a package: %+v", p)
		}
	}
	if len(s.Packages()) == 0 {
		t.Fatal("no packages at all: the test no longer reads go.mod")
	}
}
