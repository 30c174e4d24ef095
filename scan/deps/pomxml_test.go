package deps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem"

	"github.com/rampart-ci/rampart/scan"
)

const log4shell = "org.apache.logging.log4j:log4j-core@2.14.1 GHSA-jfh8-c2jp-5v3q"

// packagesIn returns the packages s found in file, by name.
func packagesIn(s *Scanner, file string) map[string]Package {
	out := map[string]Package{}
	for _, p := range s.Packages() {
		if p.File == file {
			out[p.Name] = p
		}
	}
	return out
}

// versions returns name → version of pkgs.
func versions(pkgs map[string]Package) map[string]string {
	out := map[string]string{}
	for n, p := range pkgs {
		out[n] = p.Version
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// depLine returns the line of the <dependency> element that declares artifact in file.
func depLine(t *testing.T, file, artifact string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.Contains(l, "<artifactId>"+artifact+"</artifactId>") {
			for j := i; j >= 0; j-- {
				if strings.Contains(lines[j], "<dependency>") {
					return j + 1
				}
			}
		}
	}
	t.Fatalf("%s: no dependency %s", file, artifact)
	return 0
}

// lineWith returns the first line of file that contains s.
func lineWith(t *testing.T, file, s string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s: no %q", file, s)
	return 0
}

// unpinned returns the unpinned findings by package, and fails on any advisory finding for a
// package whose name is in none.
func unpinned(fs []scan.Finding) map[string]scan.Finding {
	out := map[string]scan.Finding{}
	for _, f := range fs {
		if f.RuleID == RuleUnpinned {
			out[f.File+" "+f.Package] = f
		}
	}
	return out
}

func TestPOMXMLSimple(t *testing.T) {
	const dir = "testdata/pomxml/simple"
	s := New(localDB(t), Options{Root: os.DirFS(dir)})
	findings := scanTree(t, s, dir)
	got := byRule(findings)
	f, ok := got[log4shell]
	if !ok {
		t.Fatalf("Log4Shell not found: %v", sortedKeys(got))
	}
	if f.File != "pom.xml" || f.Line != depLine(t, dir+"/pom.xml", "log4j-core") || f.Severity != scan.Critical ||
		f.FixedVersion != "2.15.0" || f.Ecosystem != "Maven" || !slices.Contains(f.Aliases, "CVE-2021-44228") {
		t.Errorf("%+v", f)
	}
	if len(findings) != 1 {
		t.Errorf("%d findings: %v", len(findings), sortedKeys(got))
	}
	pkgs := packagesIn(s, "pom.xml")
	// Test scope is included (as osv-scanner does); the profile active by default is merged,
	// the one activated by a property is not; build plugins and their dependencies are not
	// dependencies of the project.
	want := map[string]string{
		"org.apache.logging.log4j:log4j-core": "2.14.1",
		"org.apache.logging.log4j:log4j-api":  "2.14.1",
		"org.junit.jupiter:junit-jupiter":     "5.10.2",
		"org.apache.commons:commons-text":     "1.9",
	}
	if !sameMap(versions(pkgs), want) {
		t.Errorf("packages %v, want %v", versions(pkgs), want)
	}
	if p := pkgs["org.apache.commons:commons-text"]; p.Line != depLine(t, dir+"/pom.xml", "commons-text") {
		t.Errorf("profile dependency at line %d", p.Line)
	}
	if p := pkgs["org.apache.logging.log4j:log4j-core"]; p.PURL != "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1" || p.Ecosystem != "Maven" || !p.Pinned() {
		t.Errorf("%+v", p)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}

func TestPOMXMLParentChild(t *testing.T) {
	const dir = "testdata/pomxml/multi"
	s := New(localDB(t), Options{Root: os.DirFS(dir)})
	findings := scanTree(t, s, dir)

	app := packagesIn(s, "app/pom.xml")
	want := map[string]string{
		// ${project.groupId} and the managed ${project.version}, both from the <parent> element.
		"com.example.shop:shop-core": "1.4.0",
		// The parent's dependency management, with the parent's property.
		"org.apache.logging.log4j:log4j-core": "2.14.1",
		// The parent manages ${jackson.version}; the child's property wins.
		"com.fasterxml.jackson.core:jackson-databind": "2.15.2",
		"com.example.shop:shop-testkit":               "1.4.0", // ${project.parent.version}
		"org.junit.jupiter:junit-jupiter":             "5.10.2",
		// Inherited from the parent's <dependencies>.
		"org.slf4j:slf4j-api": "1.7.36",
	}
	if !sameMap(versions(app), want) {
		t.Errorf("app: %v, want %v", versions(app), want)
	}
	appPOM := dir + "/app/pom.xml"
	if got, want := app["org.slf4j:slf4j-api"].Line, lineWith(t, appPOM, "<parent>"); got != want {
		t.Errorf("inherited dependency at line %d, want the <parent> line %d", got, want)
	}
	if got, want := app["com.fasterxml.jackson.core:jackson-databind"].Line, depLine(t, appPOM, "jackson-databind"); got != want {
		t.Errorf("managed dependency at line %d, want %d", got, want)
	}
	if core := versions(packagesIn(s, "core/pom.xml")); !sameMap(core, map[string]string{
		"org.apache.logging.log4j:log4j-api": "2.14.1",
		"org.slf4j:slf4j-api":                "1.7.36",
	}) {
		t.Errorf("core: %v", core)
	}
	// The parent's own dependencies; dependency management lists no packages.
	if root := versions(packagesIn(s, "pom.xml")); !sameMap(root, map[string]string{"org.slf4j:slf4j-api": "1.7.36"}) {
		t.Errorf("parent: %v", root)
	}
	var found bool
	for _, f := range findings {
		switch {
		case f.RuleID == "GHSA-jfh8-c2jp-5v3q" && f.File == "app/pom.xml":
			found = f.Line == depLine(t, appPOM, "log4j-core")
		case f.RuleID == RuleUnpinned:
			t.Errorf("unpinned: %s", f.Message)
		}
	}
	if !found {
		t.Errorf("no Log4Shell finding on app/pom.xml's log4j-core line: %v", sortedKeys(byRule(findings)))
	}

	// Without Options.Root the parent cannot be read: what it manages is reported unpinned,
	// and what the <parent> element itself says still resolves.
	s = New(localDB(t), Options{})
	findings = scanTree(t, s, dir)
	app = packagesIn(s, "app/pom.xml")
	if p := app["org.apache.logging.log4j:log4j-core"]; p.Version != "" || p.Constraint != "no version" {
		t.Errorf("log4j-core without the parent: %+v", p)
	}
	if v := app["com.example.shop:shop-testkit"].Version; v != "1.4.0" {
		t.Errorf("shop-testkit without the parent: %q", v)
	}
	if _, ok := app["org.slf4j:slf4j-api"]; ok {
		t.Errorf("inherited dependency without the parent")
	}
	un := unpinned(findings)
	if f, ok := un["app/pom.xml org.apache.logging.log4j:log4j-core"]; !ok || f.Severity != scan.Low || f.Line != depLine(t, appPOM, "log4j-core") {
		t.Errorf("unpinned log4j-core: %+v (have %v)", f, sortedKeys(un))
	}
	if _, ok := byRule(findings)[log4shell]; ok {
		t.Errorf("matched a version that is not known")
	}
}

func TestPOMXMLUnresolved(t *testing.T) {
	const dir = "testdata/pomxml/unresolved"
	s := New(localDB(t), Options{Root: os.DirFS(dir)})
	findings := scanTree(t, s, dir)
	pkgs := packagesIn(s, "pom.xml")
	for name, want := range map[string][2]string{
		"org.apache.logging.log4j:log4j-core":              {"${log4j.version}", "${log4j.version}"},
		"org.springframework.boot:spring-boot-starter-web": {"", "no version"}, // managed by a remote parent
		"com.example:unresolved-demo-model":                {"3.0.0", ""},      // ${project.version} → ${revision}
	} {
		p, ok := pkgs[name]
		if !ok || p.Version != want[0] || p.Constraint != want[1] {
			t.Errorf("%s: %+v, want version %q constraint %q", name, p, want[0], want[1])
		}
	}
	un := unpinned(findings)
	f, ok := un["pom.xml org.apache.logging.log4j:log4j-core"]
	if !ok || f.Line != depLine(t, dir+"/pom.xml", "log4j-core") || !strings.Contains(f.Message, "(${log4j.version})") {
		t.Errorf("unpinned log4j-core: %+v", f)
	}
	if len(un) != 2 || len(findings) != 2 {
		t.Errorf("findings %v", sortedKeys(byRule(findings)))
	}
}

func TestPOMXMLRanges(t *testing.T) {
	const dir = "testdata/pomxml/range"
	s := New(localDB(t), Options{})
	findings := scanTree(t, s, dir)
	if f, ok := byRule(findings)[log4shell]; !ok || f.Line != depLine(t, dir+"/pom.xml", "log4j-core") {
		t.Errorf("[2.14.1] is exactly 2.14.1: %v", sortedKeys(byRule(findings)))
	}
	pkgs := packagesIn(s, "pom.xml")
	for name, c := range map[string]string{
		"org.apache.logging.log4j:log4j-api":          "[2.0,3.0)",
		"com.fasterxml.jackson.core:jackson-databind": "(,2.13.0]",
		"org.apache.commons:commons-text":             "no version", // LATEST
	} {
		if p := pkgs[name]; p.Constraint != c || p.Pinned() {
			t.Errorf("%s: %+v, want constraint %q", name, p, c)
		}
	}
	if un := unpinned(findings); len(un) != 3 {
		t.Errorf("unpinned %v", sortedKeys(un))
	}
}

func TestPOMXMLUnreadable(t *testing.T) {
	malformed, err := os.ReadFile("testdata/pomxml/malformed/pom.xml")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"mismatched tag":  string(malformed),
		"empty":           "",
		"not xml":         "this is not a pom\n",
		"truncated":       "<project><dependencies><dependency><groupId>a</groupId>",
		"other root":      `<settings><localRepository>/tmp</localRepository></settings>`,
		"utf-16 declared": `<?xml version="1.0" encoding="UTF-16"?><project/>`,
		"bad boolean":     `<project><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId><optional>maybe</optional></dependency></dependencies></project>`,
		"deep":            strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000),
		"deep in project": "<project>" + strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000) + "</project>",
		"undefined entity": `<project><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId>
			<version>&xxe;</version></dependency></dependencies></project>`,
		"external entity": `<?xml version="1.0"?><!DOCTYPE project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
			<project><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId>
			<version>&xxe;</version></dependency></dependencies></project>`,
	} {
		t.Run(name, func(t *testing.T) {
			s := New(localDB(t), Options{})
			fs, err := s.ScanFile(context.Background(), scan.File{Path: "mod/pom.xml", Data: []byte(data)})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].RuleID != RuleUnreadable || fs[0].Severity != scan.Medium || fs[0].File != "mod/pom.xml" ||
				!strings.Contains(fs[0].Message, "as java/pomxml") {
				t.Errorf("%+v", fs)
			} else {
				t.Log(fs[0].Message)
			}
			if n := len(s.Packages()); n != 0 {
				t.Errorf("%d packages from an unreadable pom", n)
			}
		})
	}
}

func TestPOMXMLLatin1(t *testing.T) {
	const dir = "testdata/pomxml/latin1"
	s := New(localDB(t), Options{})
	findings := scanTree(t, s, dir)
	if _, ok := byRule(findings)[log4shell]; !ok || len(findings) != 1 {
		t.Errorf("ISO-8859-1 pom: %v", sortedKeys(byRule(findings)))
	}
}

func TestPOMXMLLocalBOM(t *testing.T) {
	const dir = "testdata/pomxml/bom"
	s := New(localDB(t), Options{Root: os.DirFS(dir)})
	findings := scanTree(t, s, dir)
	app := packagesIn(s, "app/pom.xml")
	// log4j-core is managed by the local BOM (a module of the parent); spring-core by
	// spring-boot-dependencies, which is not in the tree.
	if !sameMap(versions(app), map[string]string{
		"org.apache.logging.log4j:log4j-core": "2.14.1",
		"org.springframework:spring-core":     "",
	}) {
		t.Errorf("app: %v", versions(app))
	}
	if f, ok := byRule(findings)[log4shell]; !ok || f.File != "app/pom.xml" {
		t.Errorf("no Log4Shell finding through the local BOM: %v", sortedKeys(byRule(findings)))
	}
	if un := unpinned(findings); len(un) != 1 || un["app/pom.xml org.springframework:spring-core"].Line == 0 {
		t.Errorf("unpinned %v", un)
	}
	if n := len(packagesIn(s, "shop-bom/pom.xml")) + len(packagesIn(s, "pom.xml")); n != 0 {
		t.Errorf("%d packages from dependency management", n)
	}
}

// recordingFS records every name asked of it.
type recordingFS struct {
	fsys  fs.FS
	mu    sync.Mutex
	names []string
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
	return r.fsys.Open(name)
}

func TestPOMXMLParentOutsideRoot(t *testing.T) {
	const dir = "testdata/pomxml/escape/root"
	rec := &recordingFS{fsys: os.DirFS(dir)}
	s := New(localDB(t), Options{Root: rec})
	findings := scanTree(t, s, dir)
	app := packagesIn(s, "app/pom.xml")
	if !sameMap(versions(app), map[string]string{"org.apache.logging.log4j:log4j-core": ""}) {
		t.Errorf("a parent outside the root was used: %v", versions(app))
	}
	if _, ok := byRule(findings)[log4shell]; ok {
		t.Errorf("a version managed outside the root was matched")
	}
	for _, n := range rec.names {
		if !fs.ValidPath(n) || strings.Contains(n, "outside") {
			t.Errorf("asked the tree for %q", n)
		}
	}
	// Control: with the root one level up, the same relativePath is inside and is followed.
	s = New(localDB(t), Options{Root: os.DirFS("testdata/pomxml/escape")})
	findings = scanTree(t, s, "testdata/pomxml/escape")
	if got := versions(packagesIn(s, "root/app/pom.xml")); !sameMap(got, map[string]string{
		"org.apache.logging.log4j:log4j-core":     "2.14.1",
		"commons-collections:commons-collections": "3.2.1",
	}) {
		t.Errorf("inside the root: %v", got)
	}
	if f, ok := byRule(findings)[log4shell]; !ok || f.File != "root/app/pom.xml" {
		t.Errorf("control: %v", sortedKeys(byRule(findings)))
	}

	for _, c := range []struct{ from, rel, want string }{
		{"app/pom.xml", "../pom.xml", "pom.xml"},
		{"a/b/pom.xml", "..", "a"},
		{"a/b/pom.xml", `..\parent\pom.xml`, "a/parent/pom.xml"},
		{"pom.xml", "../pom.xml", ""},
		{"app/pom.xml", "../../x/pom.xml", ""},
		{"app/pom.xml", "/etc/maven/pom.xml", ""},
		{"app/pom.xml", `C:\maven\pom.xml`, ""},
		{"app/pom.xml", "sub/../../../pom.xml", ""},
		{"app/pom.xml", "", ""},
	} {
		got, ok := pomRelPath(c.from, c.rel)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("pomRelPath(%q, %q) = %q %v, want %q", c.from, c.rel, got, ok, c.want)
		}
	}
}

// extractPOM runs the extractor on name in fsys and converts what it returns.
func extractPOM(t testing.TB, fsys fs.FS, name string) ([]Package, error) {
	t.Helper()
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := pomXML{}.Extract(context.Background(), &filesystem.ScanInput{
		FS: rootFS{fsys}, Path: name, Reader: bytes.NewReader(data),
	})
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, ep := range inv.Packages {
		out = append(out, convert(name, ep))
	}
	return out, nil
}

func byName(ps []Package) map[string]Package {
	m := map[string]Package{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

// pom writes a minimal pom.
func pom(artifact, parent, relPath, props string, deps ...string) []byte {
	var b strings.Builder
	b.WriteString("<project>\n")
	if parent != "" {
		fmt.Fprintf(&b, "<parent><groupId>g</groupId><artifactId>%s</artifactId><version>1</version>", parent)
		if relPath != "" {
			fmt.Fprintf(&b, "<relativePath>%s</relativePath>", relPath)
		}
		b.WriteString("</parent>\n")
	} else {
		b.WriteString("<groupId>g</groupId><version>1</version>\n")
	}
	fmt.Fprintf(&b, "<artifactId>%s</artifactId>\n<properties>%s</properties>\n<dependencies>\n", artifact, props)
	for _, d := range deps {
		name, version, _ := strings.Cut(d, "@")
		fmt.Fprintf(&b, "<dependency><groupId>g</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n", name, version)
	}
	b.WriteString("</dependencies>\n</project>\n")
	return []byte(b.String())
}

func TestPOMXMLLimits(t *testing.T) {
	t.Run("parent depth", func(t *testing.T) {
		// Level 0 is the top; the pom at level 11 has 11 ancestors, each at ../pom.xml. w is
		// defined 10 levels up, v 11: only the first is within pomMaxParents.
		fsys := fstest.MapFS{}
		dir := "."
		for i := 0; i <= 11; i++ {
			parent, props := "", ""
			if i > 0 {
				parent = fmt.Sprintf("l%d", i-1)
				dir += "/d"
			}
			switch i {
			case 0:
				props = "<v>2.0</v>"
			case 1:
				props = "<w>1.0</w>"
			}
			var deps []string
			if i == 11 {
				deps = []string{"a@${w}", "b@${v}"}
			}
			fsys[strings.TrimPrefix(dir+"/pom.xml", "./")] = &fstest.MapFile{Data: pom(fmt.Sprintf("l%d", i), parent, "", props, deps...)}
		}
		ps, err := extractPOM(t, fsys, strings.TrimPrefix(dir+"/pom.xml", "./"))
		if err != nil {
			t.Fatal(err)
		}
		got := byName(ps)
		if got["g:a"].Version != "1.0" || got["g:b"].Version != "${v}" || len(got) != 2 {
			t.Errorf("%+v", ps)
		}
	})
	t.Run("parent cycle", func(t *testing.T) {
		fsys := fstest.MapFS{
			"c/pom.xml": {Data: pom("c", "d", "../d", "", "x@1")},
			"d/pom.xml": {Data: pom("d", "c", "../c/pom.xml", "", "y@2")},
			"e/pom.xml": {Data: pom("e", "e", "pom.xml", "", "z@3")}, // its own parent
		}
		ps, err := extractPOM(t, fsys, "c/pom.xml")
		if err != nil {
			t.Fatal(err)
		}
		if got := byName(ps); len(got) != 2 || got["g:x"].Version != "1" || got["g:y"].Version != "2" {
			t.Errorf("%+v", ps)
		}
		if ps, err := extractPOM(t, fsys, "e/pom.xml"); err != nil || len(ps) != 1 {
			t.Errorf("%+v %v", ps, err)
		}
	})
	t.Run("property expansion", func(t *testing.T) {
		// p60 would expand to 2^60 characters; a and b refer to each other.
		var props strings.Builder
		props.WriteString("<p0>x</p0>")
		for i := 1; i <= 60; i++ {
			fmt.Fprintf(&props, "<p%d>${p%d}${p%d}</p%d>", i, i-1, i-1, i)
		}
		props.WriteString("<a>${b}</a><b>${a}</b><ok>${p3}</ok>")
		fsys := fstest.MapFS{"pom.xml": {Data: pom("top", "", "", props.String(), "big@${p60}", "cycle@${a}", "fine@${ok}", "medium@${p15}")}}
		start := time.Now()
		ps, err := extractPOM(t, fsys, "pom.xml")
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		got := byName(ps)
		if got["g:big"].Constraint != "${p60}" || got["g:cycle"].Constraint != "${a}" || got["g:fine"].Version != "xxxxxxxx" {
			t.Errorf("%+v", ps)
		}
		if v := got["g:medium"].Version; len(v) != 1<<15 {
			t.Errorf("p15: %d characters", len(v))
		}
	})
	t.Run("reads", func(t *testing.T) {
		// 200 modules and an import of a BOM that is none of them: at most pomMaxReads files.
		fsys := fstest.MapFS{}
		var mods strings.Builder
		for i := range 200 {
			fmt.Fprintf(&mods, "<module>m%d</module>", i)
			fsys[fmt.Sprintf("m%d/pom.xml", i)] = &fstest.MapFile{Data: pom(fmt.Sprintf("m%d", i), "top", "", "")}
		}
		fsys["pom.xml"] = &fstest.MapFile{Data: []byte(`<project><groupId>g</groupId><artifactId>top</artifactId><version>1</version>
			<modules>` + mods.String() + `</modules>
			<dependencyManagement><dependencies><dependency><groupId>g</groupId><artifactId>bom</artifactId>
			<version>1</version><type>pom</type><scope>import</scope></dependency></dependencies></dependencyManagement>
			<dependencies><dependency><groupId>g</groupId><artifactId>managed</artifactId></dependency></dependencies></project>`)}
		rec := &recordingFS{fsys: fsys}
		ps, err := extractPOM(t, rec, "pom.xml")
		if err != nil {
			t.Fatal(err)
		}
		opened := map[string]bool{}
		for _, n := range rec.names {
			opened[n] = true
		}
		if len(ps) != 1 || ps[0].Constraint != "no version" || len(opened) > pomMaxReads+2 {
			t.Errorf("%+v; %d files opened", ps, len(opened))
		}
	})
}

func TestPOMXMLWants(t *testing.T) {
	s := New(nil, Options{})
	for p, want := range map[string]bool{
		"pom.xml": true, "services/api/pom.xml": true,
		"log4j-core-2.14.1.pom": false, "pom.xml.bak": false, "my-pom.xml": false,
	} {
		if got := s.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

func TestPOMXMLCycloneDX(t *testing.T) {
	const dir = "testdata/pomxml/multi"
	s := New(nil, Options{Root: os.DirFS(dir)})
	scanTree2(t, s, dir)
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, CycloneDX(s.Packages(), SBOM{})); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components []struct {
			PURL string `json:"purl"`
			Evid struct {
				Occurrences []struct {
					Location string `json:"location"`
					Line     int    `json:"line"`
				} `json:"occurrences"`
			} `json:"evidence"`
		} `json:"components"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	occ := map[string][]string{}
	for _, c := range doc.Components {
		for _, o := range c.Evid.Occurrences {
			occ[c.PURL] = append(occ[c.PURL], fmt.Sprintf("%s:%d", o.Location, o.Line))
		}
	}
	for purl, want := range map[string][]string{
		"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1":         {fmt.Sprintf("app/pom.xml:%d", depLine(t, dir+"/app/pom.xml", "log4j-core"))},
		"pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2": {fmt.Sprintf("app/pom.xml:%d", depLine(t, dir+"/app/pom.xml", "jackson-databind"))},
		"pkg:maven/org.slf4j/slf4j-api@1.7.36": {
			fmt.Sprintf("app/pom.xml:%d", lineWith(t, dir+"/app/pom.xml", "<parent>")),
			fmt.Sprintf("core/pom.xml:%d", lineWith(t, dir+"/core/pom.xml", "<parent>")),
			fmt.Sprintf("pom.xml:%d", depLine(t, dir+"/pom.xml", "slf4j-api")),
		},
	} {
		if got := occ[purl]; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", purl, got, want)
		}
	}
}

// FuzzPomXML runs the extractor on a child pom and a parent at ../pom.xml, both from the
// fuzzer, seeded with the fixtures. pom files come from untrusted repositories.
func FuzzPomXML(f *testing.F) {
	var seeds [][]byte
	err := filepath.WalkDir("testdata/pomxml", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "pom.xml" {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			seeds = append(seeds, data)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	parent, err := os.ReadFile("testdata/pomxml/multi/pom.xml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s, parent)
	}
	f.Fuzz(func(t *testing.T, child, parent []byte) {
		fsys := fstest.MapFS{
			"pom.xml":         {Data: parent},
			"app/pom.xml":     {Data: child},
			"app/sub/pom.xml": {Data: child},
		}
		for _, name := range []string{"app/pom.xml", "app/sub/pom.xml"} {
			ps, err := extractPOM(t, fsys, name)
			if err != nil {
				continue
			}
			lines := bytes.Count(child, []byte("\n")) + 1
			for _, p := range ps {
				g, a, ok := strings.Cut(p.Name, ":")
				if !ok || g == "" || a == "" || strings.Contains(p.Name, "${") || p.Ecosystem != "Maven" {
					t.Fatalf("package %+v", p)
				}
				if p.Line < 0 || p.Line > lines || p.File != name {
					t.Fatalf("location %+v of %d lines", p, lines)
				}
				if len(p.Version) > pomMaxValue+len(child)+len(parent) {
					t.Fatalf("version of %d characters", len(p.Version))
				}
			}
		}
	})
}
