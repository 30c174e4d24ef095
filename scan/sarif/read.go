// Package sarif reads and writes SARIF 2.1.0, the format code scanners share: Read turns the
// results of any scanner (CodeQL, Semgrep, gosec, …) into scan.Findings so that the gate judges
// them like Rampart's own, and Write turns findings into a log that GitHub code scanning accepts.
package sarif

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan"
)

// Limits of Read unless Options say otherwise. A CodeQL log of a large repository is tens of
// megabytes; GitHub itself keeps 25,000 results per run.
const (
	DefaultMaxSize    = 100 << 20
	DefaultMaxResults = 100_000
	maxMessage        = 2000 // bytes of a finding's message kept
)

// Options tune Read. The zero value is ready to use.
type Options struct {
	// Root is the scanned tree's directory: absolute locations under it ("file:///home/runner/
	// work/app/app/main.go") become relative to it, like the findings of Rampart's scanners.
	Root string
	// MaxSize is the largest log read, in bytes; zero means DefaultMaxSize.
	MaxSize int64
	// MaxResults is the most results read from one log; zero means DefaultMaxResults.
	MaxResults int
}

// Read reads a SARIF 2.1.0 log with the default Options. See Options.Read.
func Read(r io.Reader, path string) ([]scan.Finding, error) { return Options{}.Read(r, path) }

// Read reads a SARIF 2.1.0 log from r (path names it in errors) and returns one finding per
// result, fingerprinted, in the log's order. Each finding has Scanner "sarif" and Tool the run's
// tool.driver.name. Its severity comes from the rule's (or result's) "security-severity" property
// when there is one, as GitHub reads it (9.0 and above critical, 7.0 high, 4.0 medium, above 0
// low, else info), else from the result's level or the rule's default level (error high, warning
// medium, note low, none info; warning when neither says). Results that are not problems (kind
// pass or notApplicable), suppressed in the source or by the tool (a suppression whose status is
// accepted or unset) or gone from a baseline (baselineState absent) are left out. A result's
// fingerprints or partialFingerprints, when present, identify it instead of its message.
//
// A log written by Write is read back as it was written: scanners, rule ids, severities and
// fingerprints included, so that a server judges an uploaded report as the CLI did.
//
// A log that is not JSON, not SARIF 2.1.0 or larger than the limits is an EINVALID or ETOOLARGE
// *rampart.Error naming path (and the line and column of a JSON syntax error).
func (o Options) Read(r io.Reader, name string) ([]scan.Finding, error) {
	maxSize, maxResults := o.MaxSize, o.MaxResults
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if maxResults <= 0 {
		maxResults = DefaultMaxResults
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "%s: cannot read: %v", name, err)
	}
	if int64(len(data)) > maxSize {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "%s is larger than %d MiB", name, maxSize>>20).
			WithDetail("split the log per tool, or leave out results you do not gate on")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte-order mark, as some Windows tools write
	if err := checkShape(data); err != nil {
		return nil, invalid(name, data, err)
	}
	log, err := sarif.FromBytes(data)
	if err != nil {
		return nil, invalid(name, data, err)
	}
	if log.Version != "2.1.0" {
		return nil, rampart.Errorf(rampart.EINVALID, "%s: SARIF version %q is not supported", name, log.Version).
			WithDetail(`only SARIF 2.1.0 is read: "version": "2.1.0"`)
	}
	n := 0
	for _, run := range log.Runs {
		if run != nil {
			n += len(run.Results)
		}
	}
	if n > maxResults {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "%s has %d results, more than %d", name, n, maxResults).
			WithDetail("raise the tool's severity threshold or split the log")
	}
	var out []scan.Finding
	for _, run := range log.Runs {
		if run == nil {
			continue
		}
		rr := newRunReader(run, o.Root)
		for _, res := range run.Results {
			if f, ok := rr.finding(res); ok {
				out = append(out, f)
			}
		}
	}
	scan.Fingerprint(out)
	return out, nil
}

// checkShape checks the top of the document before decoding it into the library's types, whose
// errors would not say what is missing.
func checkShape(data []byte) error {
	var top struct {
		Version *json.RawMessage `json:"version"`
		Runs    *json.RawMessage `json:"runs"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return err
	}
	if top.Version == nil {
		return errors.New(`no "version": not a SARIF log`)
	}
	if top.Runs == nil {
		return errors.New(`no "runs": not a SARIF log`)
	}
	return nil
}

// invalid describes a decoding error, with the line and column of JSON syntax errors.
func invalid(name string, data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &syn) && strings.HasPrefix(syn.Error(), "unexpected end"):
		return rampart.Errorf(rampart.EINVALID, "%s: not valid JSON: it ends early", name).WithDetail("the file may be truncated")
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset-1)
		return rampart.Errorf(rampart.EINVALID, "%s:%d:%d: not valid JSON: %v", name, line, col, syn)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset-1)
		field := typ.Field
		if field == "" {
			field = "the document"
		}
		return rampart.Errorf(rampart.EINVALID, "%s:%d:%d: not SARIF 2.1.0: %s is a JSON %s, want %s", name, line, col, field, typ.Value, typeName(typ))
	}
	return rampart.Errorf(rampart.EINVALID, "%s: not SARIF 2.1.0: %v", name, err)
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "string":
		return "a string"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return e.Type.String()
}

// position turns a 0-based byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// runReader reads the results of one run.
type runReader struct {
	run   *sarif.Run
	tool  string
	root  string
	rules map[string]*sarif.ReportingDescriptor // by id: the driver's first, then extensions'
}

func newRunReader(run *sarif.Run, root string) *runReader {
	rr := &runReader{run: run, tool: "unknown", root: root, rules: map[string]*sarif.ReportingDescriptor{}}
	if run.Tool != nil && run.Tool.Driver != nil {
		if n := str(run.Tool.Driver.Name); n != "" {
			rr.tool = n
		}
	}
	for _, c := range rr.components() {
		for _, d := range c.Rules {
			if d != nil && str(d.ID) != "" && rr.rules[str(d.ID)] == nil {
				rr.rules[str(d.ID)] = d
			}
		}
	}
	return rr
}

// components returns the driver and then the extensions (CodeQL's query packs hold its rules).
func (rr *runReader) components() []*sarif.ToolComponent {
	if rr.run.Tool == nil {
		return nil
	}
	var cs []*sarif.ToolComponent
	if rr.run.Tool.Driver != nil {
		cs = append(cs, rr.run.Tool.Driver)
	}
	for _, e := range rr.run.Tool.Extensions {
		if e != nil {
			cs = append(cs, e)
		}
	}
	return cs
}

// rule finds the descriptor of res's rule. Indexes are trusted only when they agree with the id:
// a missing "ruleIndex" decodes as 0, like a real one.
func (rr *runReader) rule(res *sarif.Result, id string) *sarif.ReportingDescriptor {
	var comp *sarif.ToolComponent
	if rr.run.Tool != nil {
		comp = rr.run.Tool.Driver
	}
	index := res.RuleIndex
	if ref := res.Rule; ref != nil {
		index = ref.Index
		if tc := ref.ToolComponent; tc != nil && rr.run.Tool != nil {
			switch {
			case str(tc.Name) != "":
				for _, c := range rr.components() {
					if str(c.Name) == str(tc.Name) {
						comp = c
					}
				}
			case tc.Index >= 0 && tc.Index < len(rr.run.Tool.Extensions):
				comp = rr.run.Tool.Extensions[tc.Index]
			}
		}
	}
	if comp != nil && index >= 0 && index < len(comp.Rules) {
		if d := comp.Rules[index]; d != nil && (id == "" || str(d.ID) == id) {
			return d
		}
	}
	return rr.rules[id]
}

func (rr *runReader) finding(res *sarif.Result) (scan.Finding, bool) {
	if res == nil {
		return scan.Finding{}, false
	}
	switch res.Kind {
	case "pass", "notApplicable":
		return scan.Finding{}, false
	}
	if str(res.BaselineState) == "absent" {
		return scan.Finding{}, false
	}
	for _, s := range res.Suppressions {
		if s != nil && (str(s.Status) == "" || str(s.Status) == "accepted") {
			return scan.Finding{}, false
		}
	}
	id := str(res.RuleID)
	if id == "" && res.Rule != nil {
		id = str(res.Rule.ID)
	}
	rule := rr.rule(res, id)
	if id == "" && rule != nil {
		id = str(rule.ID)
	}
	props := bag(res.Properties)
	var ruleProps map[string]any
	if rule != nil {
		ruleProps = bag(rule.Properties)
	}

	f := scan.Finding{
		Scanner:  scan.ScannerSARIF,
		Tool:     rr.tool,
		RuleID:   id,
		Severity: severity(res, rule, props, ruleProps),
		Message:  message(res, rule, id),
		Fix:      fix(res, props),
	}
	f.File, f.Line, f.Column = rr.location(res)
	f.Package, _ = props["package"].(string)
	f.Version, _ = props["version"].(string)
	f.Ecosystem, _ = props["ecosystem"].(string)
	f.FixedVersion, _ = props["fixed_version"].(string)
	if as, ok := props["aliases"].([]any); ok {
		for _, a := range as {
			if s, ok := a.(string); ok {
				f.Aliases = append(f.Aliases, s)
			}
		}
	}

	// Rampart's own log: restore what Write folded into SARIF.
	if rr.tool == toolName {
		if s, _ := props["scanner"].(string); s != "" {
			f.Scanner = s
			f.Tool, _ = props["tool"].(string)
			if f.Tool != "" {
				f.RuleID = strings.TrimPrefix(f.RuleID, f.Tool+"/")
			}
		}
		if fp := res.PartialFingerprints[fingerprintKey]; fingerprintRE.MatchString(fp) {
			f.Fingerprint = fp
		}
	}
	if f.Fingerprint == "" {
		f.Identity = identity(rr.tool, res)
	}
	return f, true
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// identity is what tells a result apart independently of its line: the tool's own fingerprints
// when it gives them (CodeQL's primaryLocationLineHash survives lines moving), else its message.
func identity(tool string, res *sarif.Result) string {
	fps := res.Fingerprints
	if len(fps) == 0 {
		fps = res.PartialFingerprints
	}
	var b strings.Builder
	b.WriteString(tool)
	b.WriteByte(0)
	if len(fps) == 0 {
		b.WriteString(str(messageText(res.Message)))
		return b.String()
	}
	for _, k := range slices.Sorted(maps.Keys(fps)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fps[k])
		b.WriteByte(0)
	}
	return b.String()
}

// severity: see Read.
func severity(res *sarif.Result, rule *sarif.ReportingDescriptor, props, ruleProps map[string]any) scan.Severity {
	if s, ok := securitySeverity(props); ok {
		return s
	}
	if name, ok := props["severity"].(string); ok {
		if s, err := scan.ParseSeverity(name); err == nil && name != "" {
			return s
		}
	}
	if s, ok := securitySeverity(ruleProps); ok {
		return s
	}
	level := res.Level
	if level == "" && rule != nil && rule.DefaultConfiguration != nil {
		level = rule.DefaultConfiguration.Level
	}
	switch level {
	case sarif.LevelError:
		return scan.High
	case sarif.LevelNote:
		return scan.Low
	case sarif.LevelNone:
		return scan.Info
	}
	return scan.Medium
}

// securitySeverity reads a "security-severity" property: a CVSS-like score from 0.0 to 10.0,
// as a string (as GitHub documents it) or a number.
func securitySeverity(props map[string]any) (scan.Severity, bool) {
	var score float64
	switch v := props["security-severity"].(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return "", false
		}
		score = f
	case float64:
		score = v
	default:
		return "", false
	}
	switch {
	case score != score || score < 0 || score > 10: // NaN or out of range
		return "", false
	case score >= 9:
		return scan.Critical, true
	case score >= 7:
		return scan.High, true
	case score >= 4:
		return scan.Medium, true
	case score > 0:
		return scan.Low, true
	}
	return scan.Info, true
}

var placeholderRE = regexp.MustCompile(`\{(\d+)\}`)

// message is the result's text with its {0} placeholders filled in, or the rule's message string
// it names, or the rule's description; cut to maxMessage bytes.
func message(res *sarif.Result, rule *sarif.ReportingDescriptor, id string) string {
	m := res.Message
	var text *string
	var args []string
	if m != nil {
		text, args = messageText(m), m.Arguments
		if text == nil && str(m.ID) != "" && rule != nil {
			if ms, ok := rule.MessageStrings[str(m.ID)]; ok {
				text = ms.Text
			}
		}
	}
	if str(text) == "" && rule != nil {
		for _, d := range []*sarif.MultiformatMessageString{rule.ShortDescription, rule.FullDescription} {
			if d != nil && str(d.Text) != "" {
				text = d.Text
				break
			}
		}
	}
	s := str(text)
	if len(args) > 0 {
		s = placeholderRE.ReplaceAllStringFunc(s, func(p string) string {
			i, err := strconv.Atoi(p[1 : len(p)-1])
			if err != nil || i >= len(args) {
				return p
			}
			return args[i]
		})
	}
	s = strings.TrimSpace(s)
	if s == "" {
		s = id
	}
	return truncate(s, maxMessage)
}

func messageText(m *sarif.Message) *string {
	if m == nil {
		return nil
	}
	if m.Text != nil {
		return m.Text
	}
	return m.Markdown
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// fix is the result's "fix" property (as Write puts it) or the description of its first fix.
func fix(res *sarif.Result, props map[string]any) string {
	if s, ok := props["fix"].(string); ok {
		return truncate(s, maxMessage)
	}
	for _, f := range res.Fixes {
		if f != nil && f.Description != nil {
			if s := str(messageText(f.Description)); s != "" {
				return truncate(s, maxMessage)
			}
		}
	}
	return ""
}

// location returns the file, line and column of res's first location.
func (rr *runReader) location(res *sarif.Result) (file string, line, col int) {
	var pl *sarif.PhysicalLocation
	for _, l := range res.Locations {
		if l != nil && l.PhysicalLocation != nil {
			pl = l.PhysicalLocation
			break
		}
	}
	if pl == nil {
		if res.AnalysisTarget != nil {
			return rr.file(res.AnalysisTarget), 0, 0
		}
		return "", 0, 0
	}
	if pl.ArtifactLocation != nil {
		file = rr.file(pl.ArtifactLocation)
	}
	if r := pl.Region; r != nil {
		if r.StartLine != nil && *r.StartLine > 0 {
			line = *r.StartLine
		}
		if r.StartColumn != nil && *r.StartColumn > 0 {
			col = *r.StartColumn
		}
	}
	return file, line, col
}

// file resolves an artifact location to a slash-separated path: relative to the source root
// when the log says so (a relative URI, or one under a base id), else absolute, made relative to
// Options.Root when under it.
func (rr *runReader) file(al *sarif.ArtifactLocation) string {
	if al.URI == nil && al.Index >= 0 && al.Index < len(rr.run.Artifacts) {
		if a := rr.run.Artifacts[al.Index]; a != nil && a.Location != nil {
			al = a.Location
		}
	}
	uri := str(al.URI)
	if uri == "" {
		return ""
	}
	// Resolve the base id chain ("%SRCROOT%" → "file:///src/"), at most a few levels deep.
	base := str(al.URIBaseID)
	for range 4 {
		if base == "" {
			break
		}
		b, ok := rr.run.OriginalUriBaseIds[base]
		if !ok || str(b.URI) == "" {
			break // an undefined base is the source root: the URI is relative to the tree
		}
		bu, err := url.Parse(str(b.URI))
		u, err2 := url.Parse(uri)
		if err != nil || err2 != nil {
			break
		}
		if !strings.HasSuffix(bu.Path, "/") {
			bu.Path += "/"
		}
		uri = bu.ResolveReference(u).String()
		base = str(b.URIBaseID)
	}
	p := uri
	if u, err := url.Parse(uri); err == nil {
		switch u.Scheme {
		case "file":
			p = u.Path
		case "":
			p = u.Path
		default:
			return uri // http: and the like: nothing to resolve
		}
	}
	p = strings.ReplaceAll(p, `\`, "/")
	if path.IsAbs(p) {
		if rr.root != "" {
			if rel, err := filepath.Rel(rr.root, filepath.FromSlash(p)); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return filepath.ToSlash(rel)
			}
		}
		return path.Clean(p)
	}
	return path.Clean(p)
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func bag(b *sarif.PropertyBag) map[string]any {
	if b == nil {
		return nil
	}
	return b.Properties
}
