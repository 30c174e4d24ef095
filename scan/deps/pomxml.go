package deps

// The pom.xml extractor. osv-scalibr's own (java/pomxml) resolves parents and BOMs through its
// deps.dev client, which pulls grpc and oauth2 into the build; this one is offline and reads
// only the scanned tree. The Maven model (XML decoding, property interpolation, parent merging,
// dependency management and BOM imports, profiles) is deps.dev/util/maven's, as in osv-scalibr.
//
// What it reports for a pom.xml (files named exactly pom.xml; *.pom files are the published
// descriptors of other artifacts, e.g. in a checked-in Maven repository, not this project's
// build, and are left out):
//
//   - the dependencies of the project's effective model: its own <dependencies>, those of
//     profiles active by default (other activations depend on the build machine), and those
//     inherited from local parents. All scopes are included (test, provided, system, optional),
//     as osv-scanner does; the scope is kept in the package metadata. Dependency management
//     (plugins and <dependencyManagement> entries themselves) is not a dependency.
//   - local parents: <parent><relativePath> (default ../pom.xml; a directory means its
//     pom.xml) is read through ScanInput.FS when it stays inside the scanned root, and merged
//     when its groupId:artifactId, and its version when both are literal, are the ones the
//     child names, as Maven checks. An empty <relativePath/> (for Maven: from a repository
//     only) is treated like the default: a ../pom.xml with exactly the parent's coordinates is
//     that parent. At most pomMaxParents levels. A parent that is absent, does not match, or
//     lies outside the root is not merged: what it would have managed stays unknown.
//   - import-scope BOMs (<dependencyManagement> entries with <type>pom</type> and
//     <scope>import</scope>) are resolved only when the BOM is local: one of the files of the
//     parent chain or a module they list (two levels of <modules>). Others would need a
//     repository: skipped, and the versions they manage stay unknown.
//   - versions: ${properties} are interpolated (child over parent; project.version,
//     project.groupId, project.parent.version and their pom.* forms included); a version
//     missing from the dependency comes from dependency management. "[1.2.3]" is exactly
//     1.2.3. What stays unresolved is reported the way this package reports every unpinned
//     requirement (a low "unpinned" finding from Finish, no advisory matching): the version
//     text is kept when it is a placeholder ("${log4j.version}") or a range ("[2.0,3.0)");
//     it is empty ("no version") when the version was to come from a parent or BOM that could
//     not be read, or is LATEST or RELEASE.
//   - dependencies whose groupId or artifactId stays a placeholder cannot be named and are left
//     out (in practice these are the reactor's own modules, which have no advisories).
//   - lines: a dependency declared in the file points to its <dependency> element; one
//     inherited from a parent points to the <parent> element.
//
// A pom.xml that is not well-formed XML, or whose root element is not <project>, is an
// extraction error, which ScanFile reports as an unreadable manifest. Parents and modules that
// cannot be parsed are treated as absent. Non-UTF-8 encodings are read as ISO-8859-1: Maven
// coordinates are ASCII, so only names and descriptions may come out garbled.
//
// pom files come from untrusted repositories: sizes, the parents and modules read, and the
// work of property interpolation (which grows exponentially when properties refer to
// others twice over) are bounded.

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"deps.dev/util/maven"
	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/javalockfile"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/google/osv-scalibr/inventory"
	"github.com/google/osv-scalibr/plugin"
	"github.com/google/osv-scalibr/purl"
)

// pomXMLName names the pom.xml extractor in unreadable-manifest findings.
const pomXMLName = "java/pomxml"

// Limits on the work one pom.xml can cause.
const (
	pomMaxSize     = 16 << 20 // bytes of one pom file (the scan driver's own limit is lower)
	pomMaxDepth    = 1000     // nesting of elements
	pomMaxParents  = 10       // local parents merged above one pom
	pomMaxReads    = 64       // other pom files read for one pom.xml: parents, modules, BOMs
	pomModuleDepth = 2        // levels of <modules> searched for a local BOM
	pomMaxValue    = 64 << 10 // characters of one interpolated value
	pomMaxWork     = 16 << 20 // characters written by interpolation for one pom.xml
)

// errBOMNotLocal tells maven.Project.ProcessDependencies that an import is skipped.
var errBOMNotLocal = errors.New("deps: the BOM is not in the scanned tree")

// pomXML is the offline pom.xml extractor (filesystem.Extractor). It has no state; Extract may
// be called concurrently.
type pomXML struct{}

// newPOMXML returns the pom.xml extractor; it has the signature of osv-scalibr's constructors.
func newPOMXML(*cpb.PluginConfig) (filesystem.Extractor, error) { return pomXML{}, nil }

func (pomXML) Name() string { return pomXMLName }
func (pomXML) Version() int { return 0 }

// Requirements: none. Parents are read through ScanInput.FS, never the host file system.
func (pomXML) Requirements() *plugin.Capabilities { return &plugin.Capabilities{} }

// FileRequired reports whether the file is named pom.xml.
func (pomXML) FileRequired(api filesystem.FileAPI) bool {
	return path.Base(api.Path()) == "pom.xml"
}

// Extract returns the dependencies of the pom.xml in input (see the comment at the top of the
// file). It fails only when the file itself cannot be read as a POM, or ctx ends.
func (pomXML) Extract(ctx context.Context, input *filesystem.ScanInput) (inventory.Inventory, error) {
	data, err := io.ReadAll(io.LimitReader(input.Reader, pomMaxSize+1))
	if err != nil {
		return inventory.Inventory{}, err
	}
	if len(data) > pomMaxSize {
		return inventory.Inventory{}, fmt.Errorf("larger than %d MiB", pomMaxSize>>20)
	}
	p := path.Clean(input.Path)
	main, err := parsePOM(p, data)
	if err != nil {
		return inventory.Inventory{}, err
	}
	r := &pomResolver{ctx: ctx, fsys: input.FS, files: map[string]*pomFile{p: main}}
	pkgs := r.packages(main, input.Path)
	if err := ctx.Err(); err != nil {
		return inventory.Inventory{}, err
	}
	return inventory.Inventory{Packages: pkgs}, nil
}

// pomFile is a parsed pom file and where its dependencies are written.
type pomFile struct {
	path    string // slash-separated, in the scanned tree
	project maven.Project
	// lines holds the line of each element of project.Dependencies; profileLines the same for
	// each profile's; parentLine is the line of <parent>. Zero when unknown.
	lines        []int
	profileLines [][]int
	parentLine   int
}

// parsePOM decodes a pom file with deps.dev's Maven model and records its line numbers.
func parsePOM(name string, data []byte) (*pomFile, error) {
	f := &pomFile{path: name}
	// The token walk goes first: it stops at pomMaxDepth, which encoding/xml's decoding
	// does not do for elements it skips.
	root, err := f.scanLines(data)
	switch {
	case errors.Is(err, io.EOF) && root == "":
		return nil, errors.New("no XML element")
	case err != nil:
		return nil, fmt.Errorf("not well-formed XML: %w", err)
	case root != "project":
		return nil, fmt.Errorf("the root element is <%s>, not a Maven <project>", root)
	}
	if err := newPOMDecoder(data).Decode(&f.project); err != nil {
		return nil, fmt.Errorf("not a Maven POM: %w", err)
	}
	if len(f.lines) != len(f.project.Dependencies) || len(f.profileLines) != len(f.project.Profiles) {
		f.lines, f.profileLines = nil, nil // cannot happen: the same decoder saw the same elements
	}
	for i := range f.profileLines {
		if len(f.profileLines[i]) != len(f.project.Profiles[i].Dependencies) {
			f.profileLines = nil
			break
		}
	}
	return f, nil
}

// scanLines walks the tokens of the root element, failing on malformed XML and on nesting
// deeper than pomMaxDepth, and records the lines of the elements that encoding/xml decodes
// into Project.Dependencies, Project.Profiles[i].Dependencies and Project.Parent (matched by
// local name, as encoding/xml does). It returns the root's name.
func (f *pomFile) scanLines(data []byte) (string, error) {
	d := newPOMDecoder(data)
	var (
		root  string
		names [4]string // the path below the root, as deep as it matters
		depth int       // of the current element below the root; the root is 0
	)
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = t.Name.Local
				continue
			}
			depth++
			if depth > pomMaxDepth {
				return "", fmt.Errorf("elements nested more than %d deep", pomMaxDepth)
			}
			if depth > len(names) {
				continue
			}
			names[depth-1] = t.Name.Local
			line, _ := d.InputPos()
			switch {
			case depth == 1 && names[0] == "parent":
				f.parentLine = line
			case depth == 2 && names[0] == "dependencies" && names[1] == "dependency":
				f.lines = append(f.lines, line)
			case depth == 2 && names[0] == "profiles" && names[1] == "profile":
				f.profileLines = append(f.profileLines, nil)
			case depth == 4 && names[0] == "profiles" && names[1] == "profile" && names[2] == "dependencies" && names[3] == "dependency":
				i := len(f.profileLines) - 1
				f.profileLines[i] = append(f.profileLines[i], line)
			}
		case xml.EndElement:
			if depth == 0 {
				return root, nil
			}
			depth--
		}
	}
}

// newPOMDecoder returns a decoder configured as Maven files need: HTML entities (&nbsp; and the
// like appear in descriptions) and declared encodings other than UTF-8.
func newPOMDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Entity = xml.HTMLEntity
	d.CharsetReader = pomCharsetReader
	return d
}

// pomCharsetReader reads ASCII as is and any other declared encoding except UTF-16 and UTF-32
// as ISO-8859-1 (encoding/xml handles UTF-8 itself). ISO-8859-1 is exact for the encoding
// most often declared besides UTF-8; for the others only non-ASCII text, which Maven
// coordinates do not have, comes out wrong.
func pomCharsetReader(label string, r io.Reader) (io.Reader, error) {
	switch l := strings.ToLower(strings.TrimSpace(label)); {
	case l == "us-ascii" || l == "ascii" || l == "utf8":
		return r, nil
	case strings.HasPrefix(l, "utf-16") || strings.HasPrefix(l, "utf-32") || strings.HasPrefix(l, "ucs-") || strings.HasPrefix(l, "utf16") || strings.HasPrefix(l, "utf32"):
		return nil, fmt.Errorf("encoding %q is not supported", label)
	}
	return &latin1Reader{r: r}, nil
}

// latin1Reader decodes ISO-8859-1 into UTF-8.
type latin1Reader struct {
	r   io.Reader
	in  [4096]byte
	out []byte
	err error
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.out) == 0 && l.err == nil {
		var n int
		n, l.err = l.r.Read(l.in[:])
		l.out = l.out[:0]
		for _, b := range l.in[:n] {
			l.out = utf8.AppendRune(l.out, rune(b))
		}
	}
	if len(l.out) == 0 {
		return 0, l.err
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

// pomResolver reads the other pom files of the tree that one pom.xml refers to. It serves one
// Extract call.
type pomResolver struct {
	ctx   context.Context
	fsys  scalibrfs.FS        // the scanned tree; nil when there is none
	files map[string]*pomFile // read so far, by path; nil for a file that could not be used
	reads int                 // files read, at most pomMaxReads
	work  int                 // characters written by interpolation, at most pomMaxWork
}

// packages returns the dependencies of main's effective model as scalibr packages located in
// file.
func (r *pomResolver) packages(main *pomFile, file string) []*extractor.Package {
	p, chain := r.effective(main)

	// Interpolate every field of the dependencies and of dependency management; a value that
	// stays unresolved keeps its text.
	var fields []*maven.String
	for _, list := range [][]maven.Dependency{p.Dependencies, p.DependencyManagement.Dependencies} {
		for i := range list {
			d := &list[i]
			fields = append(fields, &d.GroupID, &d.ArtifactID, &d.Version, &d.Type, &d.Classifier, &d.Scope)
		}
	}
	r.interpolate(&p, fields)

	// Where each dependency is declared: the file's own come first in p.Dependencies, then
	// those of its default profiles (in the order MergeProfiles merged them), then inherited
	// ones. ProcessDependencies keeps the first of equal keys, and so does this map.
	lines := slices.Clone(main.lines)
	if lines == nil {
		lines = make([]int, len(main.project.Dependencies))
	}
	for i, prof := range main.project.Profiles {
		if !prof.Activation.ActiveByDefault.Boolean() {
			continue
		}
		if main.profileLines != nil {
			lines = append(lines, main.profileLines[i]...)
		} else {
			lines = append(lines, make([]int, len(prof.Dependencies))...)
		}
	}
	origin := map[maven.DependencyKey]int{}
	for i, d := range p.Dependencies {
		line := main.parentLine
		if i < len(lines) {
			line = lines[i]
		}
		k := d.Key()
		if _, seen := origin[k]; !seen {
			origin[k] = line
		}
	}

	p.ProcessDependencies(func(g, a, v maven.String) (maven.DependencyManagement, error) {
		return r.importBOM(chain, g, a, v)
	})

	var out []*extractor.Package
	for _, d := range p.Dependencies {
		if d.GroupID == "" || d.ArtifactID == "" || d.GroupID.ContainsProperty() || d.ArtifactID.ContainsProperty() {
			continue
		}
		m := &javalockfile.Metadata{
			GroupID:      string(d.GroupID),
			ArtifactID:   string(d.ArtifactID),
			Classifier:   string(d.Classifier),
			DepGroupVals: []string{},
		}
		if d.Type != "" && d.Type != "jar" {
			m.Type = string(d.Type)
		}
		if d.Scope != "" && d.Scope != "compile" {
			m.DepGroupVals = []string{string(d.Scope)}
		}
		out = append(out, &extractor.Package{
			Name:     d.Name(),
			Version:  pomVersion(string(d.Version)),
			PURLType: purl.TypeMaven,
			Location: extractor.LocationFromPathAndLine(file, origin[d.Key()]),
			Metadata: m,
		})
	}
	return out
}

// pomVersion turns a Maven version requirement into the version reported: a soft requirement
// ("2.14.1") and a hard one of a single version ("[2.14.1]") as the version, anything else
// (a range, a placeholder) as its text, which convert then reports as unpinned. LATEST and
// RELEASE name no version.
func pomVersion(v string) string {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "LATEST") || strings.EqualFold(v, "RELEASE") {
		return ""
	}
	if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
		if inner := strings.TrimSpace(v[1 : len(v)-1]); inner != "" && !strings.ContainsAny(inner, ",[]()") {
			return inner
		}
	}
	return v
}

// effective returns the project of f with its default profiles and its local parents merged
// and groupId and version inherited, and the files merged, f first. The files' projects are
// not changed.
func (r *pomResolver) effective(f *pomFile) (maven.Project, []*pomFile) {
	p := cloneProject(f.project)
	chain := []*pomFile{f}
	for cur := f; len(chain) <= pomMaxParents; {
		par := r.parentOf(cur)
		if par == nil || slices.Contains(chain, par) {
			break
		}
		pp := cloneProject(par.project)
		p.MergeParent(pp)
		chain = append(chain, par)
		cur = par
	}
	return p, chain
}

// cloneProject returns a copy of p that can be changed, and merged into, without changing p,
// with its groupId and version inherited from its <parent> element when it has none and its
// profiles active by default merged.
func cloneProject(p maven.Project) maven.Project {
	p.Dependencies = slices.Clone(p.Dependencies)
	p.DependencyManagement.Dependencies = slices.Clone(p.DependencyManagement.Dependencies)
	p.Properties.Properties = slices.Clone(p.Properties.Properties)
	p.Repositories = slices.Clip(p.Repositories)
	p.Licenses = slices.Clip(p.Licenses)
	p.Developers = slices.Clip(p.Developers)
	p.Build.PluginManagement.Plugins = slices.Clip(p.Build.PluginManagement.Plugins)
	if p.GroupID == "" {
		p.GroupID = p.Parent.GroupID
	}
	if p.Version == "" {
		p.Version = p.Parent.Version
	}
	// Without a JDK or OS, MergeProfiles merges the profiles active by default and returns no
	// error.
	_ = p.MergeProfiles("", maven.ActivationOS{})
	return p
}

// pomKey returns the coordinates of p, groupId and version inherited from its <parent>.
func pomKey(p *maven.Project) maven.ProjectKey {
	k := p.ProjectKey
	if k.GroupID == "" {
		k.GroupID = p.Parent.GroupID
	}
	if k.Version == "" {
		k.Version = p.Parent.Version
	}
	return k
}

// parentOf returns the local parent of f, or nil when it has none that can be used: no
// <parent>, the file is missing, outside the tree or unreadable, or names another project.
func (r *pomResolver) parentOf(f *pomFile) *pomFile {
	par := f.project.Parent
	if par.GroupID == "" || par.ArtifactID == "" {
		return nil
	}
	rel := string(par.RelativePath)
	if rel == "" {
		rel = "../pom.xml"
	}
	p, ok := pomRelPath(f.path, rel)
	if !ok {
		return nil
	}
	pf := r.loadPOM(p)
	if pf == nil {
		return nil
	}
	k := pomKey(&pf.project)
	if k.GroupID != par.GroupID || k.ArtifactID != par.ArtifactID {
		return nil
	}
	if k.Version != "" && par.Version != "" && k.Version != par.Version &&
		!k.Version.ContainsProperty() && !par.Version.ContainsProperty() {
		return nil // another version of the parent: Maven takes it from a repository
	}
	return pf
}

// pomRelPath resolves rel (a relativePath or module, slash- or backslash-separated; a
// directory stands for its pom.xml, which loadPOM adds) against the directory of the pom file
// from. It refuses absolute paths and paths that leave the scanned root.
func pomRelPath(from, rel string) (string, bool) {
	rel = strings.ReplaceAll(strings.TrimSpace(rel), `\`, "/")
	if rel == "" || strings.HasPrefix(rel, "/") || len(rel) >= 2 && rel[1] == ':' {
		return "", false
	}
	p := path.Join(path.Dir(from), rel)
	if p == "." || !fs.ValidPath(p) { // ValidPath refuses ".." elements, which Join leaves only in front
		return "", false
	}
	return p, true
}

// loadPOM reads and parses the pom file at p (or p/pom.xml when p is a directory) in the
// tree, at most pomMaxReads files per Extract, and returns nil when it cannot.
func (r *pomResolver) loadPOM(p string) *pomFile {
	if r.fsys == nil || r.ctx.Err() != nil {
		return nil
	}
	if f, ok := r.files[p]; ok {
		return f
	}
	if r.reads >= pomMaxReads {
		return nil
	}
	r.reads++
	r.files[p] = nil
	if info, err := r.fsys.Stat(p); err != nil {
		return nil
	} else if info.IsDir() {
		return r.loadPOM(path.Join(p, "pom.xml"))
	}
	data, err := r.readFile(p)
	if err != nil {
		return nil
	}
	f, err := parsePOM(p, data)
	if err != nil {
		return nil
	}
	r.files[p] = f
	return f
}

func (r *pomResolver) readFile(p string) ([]byte, error) {
	f, err := r.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, pomMaxSize+1))
	if err == nil && len(data) > pomMaxSize {
		err = fmt.Errorf("%s: too large", p)
	}
	return data, err
}

// importBOM returns the dependency management of the BOM g:a:v when it is local (see
// findLocal), interpolated; errBOMNotLocal otherwise.
func (r *pomResolver) importBOM(chain []*pomFile, g, a, v maven.String) (maven.DependencyManagement, error) {
	f := r.findLocal(chain, g, a)
	if f == nil {
		return maven.DependencyManagement{}, errBOMNotLocal
	}
	b, _ := r.effective(f)
	version := b.Version
	var fields []*maven.String
	fields = append(fields, &version)
	dm := b.DependencyManagement.Dependencies
	for i := range dm {
		d := &dm[i]
		fields = append(fields, &d.GroupID, &d.ArtifactID, &d.Version, &d.Type, &d.Classifier, &d.Scope)
	}
	r.interpolate(&b, fields)
	if version != v {
		return maven.DependencyManagement{}, errBOMNotLocal // another version of the BOM
	}
	return b.DependencyManagement, nil
}

// findLocal returns the pom file in the tree with coordinates g:a: one of chain (a pom.xml and
// its parents) or one of the modules they list, to pomModuleDepth levels. Module directories
// named like the artifact are tried first.
func (r *pomResolver) findLocal(chain []*pomFile, g, a maven.String) *pomFile {
	match := func(f *pomFile) bool {
		k := pomKey(&f.project)
		return k.GroupID == g && k.ArtifactID == a
	}
	for _, f := range chain {
		if match(f) {
			return f
		}
	}
	level := chain
	for range pomModuleDepth {
		var paths []string
		for _, f := range level {
			for _, m := range f.project.Modules {
				if m.ContainsProperty() {
					continue
				}
				rel := string(m)
				if !strings.HasSuffix(rel, ".xml") {
					rel += "/pom.xml"
				}
				if p, ok := pomRelPath(f.path, rel); ok && !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
			}
		}
		named := func(p string) bool { return path.Base(path.Dir(p)) == string(a) }
		slices.SortStableFunc(paths, func(x, y string) int {
			switch nx, ny := named(x), named(y); {
			case nx && !ny:
				return -1
			case ny && !nx:
				return 1
			}
			return 0
		})
		var next []*pomFile
		for _, p := range paths {
			f := r.loadPOM(p)
			if f == nil {
				continue
			}
			if match(f) {
				return f
			}
			next = append(next, f)
		}
		level = next
	}
	return nil
}

// interpolate substitutes the properties of p into each of fields that has a placeholder, as
// maven.Project.Interpolate does, and leaves unchanged a field that it cannot resolve fully,
// that refers to a cycle of properties, or whose expansion would exceed pomMaxValue or the
// remaining pomMaxWork.
func (r *pomResolver) interpolate(p *maven.Project, fields []*maven.String) {
	// Interpolate drops a dependency that does not resolve, so each field goes in as the
	// version of a dependency whose groupId is the field's index.
	q := maven.Project{ProjectKey: p.ProjectKey, Parent: p.Parent, Properties: p.Properties}
	var c *expansionCost
	for i, f := range fields {
		if !f.ContainsProperty() {
			continue
		}
		if c == nil {
			c = newExpansionCost(p)
		}
		n, w, ok := c.of(string(*f))
		if !ok || n > pomMaxValue || w > pomMaxWork-r.work {
			continue
		}
		r.work += w
		q.Dependencies = append(q.Dependencies, maven.Dependency{GroupID: maven.String(strconv.Itoa(i)), ArtifactID: "x", Version: *f})
	}
	if len(q.Dependencies) == 0 || q.Interpolate() != nil {
		return
	}
	for _, d := range q.Dependencies {
		if i, err := strconv.Atoi(string(d.GroupID)); err == nil && i < len(fields) {
			*fields[i] = d.Version
		}
	}
}

// expansionCost computes, without expanding, what maven's interpolation of a string writes:
// the length of the result and the characters written in all (nested expansions build their
// own strings). It mirrors deps.dev/util/maven's property map and placeholder syntax.
type expansionCost struct {
	props map[string]string
	memo  map[string]propCost
}

type propCost struct {
	done, busy bool
	cyclic     bool // refers, directly or not, to itself: maven leaves it unresolved
	n, w       int  // result length and characters written, saturated at costCap
}

const costCap = 1 << 40

func newExpansionCost(p *maven.Project) *expansionCost {
	m := map[string]string{}
	for _, prop := range p.Properties.Properties {
		m[prop.Name] = prop.Value
	}
	add := func(k string, v maven.String) {
		if v == "" {
			return
		}
		if _, ok := m[k]; !ok {
			m[k] = string(v)
		}
		m["pom."+k] = string(v)
		m["project."+k] = string(v)
	}
	add("groupId", p.GroupID)
	add("version", p.Version)
	add("parent.groupId", p.Parent.GroupID)
	add("parent.version", p.Parent.Version)
	return &expansionCost{props: m, memo: map[string]propCost{}}
}

// of returns the cost of interpolating s, and false if s refers to a cycle of properties.
func (c *expansionCost) of(s string) (n, w int, ok bool) {
	pc := c.walk(s)
	return pc.n, pc.w, !pc.cyclic
}

// walk scans s for ${key} the way maven's interpolating does and adds up the costs.
func (c *expansionCost) walk(s string) propCost {
	var pc propCost
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			break
		}
		pc.n = satAdd(pc.n, i)
		s = s[i:]
		key := s[2:j]
		if _, ok := c.props[key]; ok {
			k := c.key(key)
			pc.n = satAdd(pc.n, k.n)
			pc.w = satAdd(pc.w, k.w)
			pc.cyclic = pc.cyclic || k.cyclic
		} else {
			pc.n = satAdd(pc.n, j+1) // left as written
		}
		s = s[j+1:]
	}
	pc.n = satAdd(pc.n, len(s))
	pc.w = satAdd(pc.w, pc.n)
	return pc
}

func (c *expansionCost) key(key string) propCost {
	if pc := c.memo[key]; pc.done {
		return pc
	} else if pc.busy {
		return propCost{cyclic: true}
	}
	c.memo[key] = propCost{busy: true}
	pc := c.walk(c.props[key])
	pc.done = true
	c.memo[key] = pc
	return pc
}

func satAdd(a, b int) int {
	if a+b > costCap {
		return costCap
	}
	return a + b
}

var _ filesystem.Extractor = pomXML{}
