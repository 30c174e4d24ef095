package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-ci/rampart/scan/secrets"
)

// msgTooLarge is the message of the file-size error; Errors.As looks for it to choose the
// error code.
const msgTooLarge = "file is larger than 1 MiB"

var (
	jobNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretRE  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	labelRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envTgtRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// yamlErrRE picks the position out of the YAML library's messages, which have no
	// structured form.
	yamlErrRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(?:column (\d+): )?(.*)$`)
	anchorRE  = regexp.MustCompile(`unknown anchor '([^']*)'`)
	ifBangRE  = regexp.MustCompile(`^\s*(?:-\s+)?if:\s*!`)
)

// Keys of each mapping, in the order hints list them.
var (
	topKeys         = []string{"on", "env", "jobs"}
	onKeys          = []string{EventPush, EventPullRequest, EventSchedule, EventManual}
	pushKeys        = []string{"branches", "tags"}
	pullRequestKeys = []string{"branches"}
	scheduleKeys    = []string{"cron"}
	jobKeys         = []string{"runs-on", "timeout", "env", "network", "if", "needs", "steps", "artifacts", "secrets", "environment", "scan", "sarif"}
	stepKeys        = []string{"name", "run", "env"}
)

// Keys people bring from other CI systems, with what to write here instead. Typos are
// caught by edit distance; these are the words too different for that.
var (
	topAliases = map[string]string{
		"variables": `write "env"`, "environment": `write "env"`, "stages": `Rampart orders jobs by "needs"`,
		"name": `the pipeline's name is its project's; remove it`, "pipeline": `write "jobs"`, "steps": `put steps in a job under "jobs"`,
	}
	onAliases = map[string]string{
		"pr": `write "pull_request"`, "merge_request": `write "pull_request"`, "workflow_dispatch": `write "manual"`,
		"cron": `write "schedule: [{cron: ...}]"`, "tag": `write "push: {tags: [...]}"`, "tags": `write "push: {tags: [...]}"`,
		"pull_request_target": `not supported; "pull_request" runs without secrets for forks`,
	}
	filterAliases = map[string]string{
		"branches-ignore": "not supported; list the branches that should trigger, or use a job's if",
		"tags-ignore":     "not supported; list the tags that should trigger, or use a job's if",
		"paths":           "path filters are not supported; use a job's if",
		"paths-ignore":    "path filters are not supported; use a job's if",
	}
	jobAliases = map[string]string{
		"depends_on": `write "needs"`, "depends-on": `write "needs"`, "dependencies": `write "needs"`,
		"timeout-minutes": `write "timeout" with a unit, e.g. timeout: 30m`, "timeout_minutes": `write "timeout" with a unit, e.g. timeout: 30m`,
		"when": `write "if"`, "script": `write "steps: [{run: ...}]"`, "commands": `write "steps: [{run: ...}]"`,
		"variables": `write "env"`, "labels": `write "runs-on"`, "image": "containers are not supported; pick agents with runs-on",
		"container": "containers are not supported; pick agents with runs-on", "services": "service containers are not supported",
	}
	stepAliases = map[string]string{
		"script": `write "run"`, "command": `write "run"`, "commands": `write "run"`, "cmd": `write "run"`, "shell": `write "run"`,
		"uses": "Rampart has no actions; write the commands with run", "with": `write "env"`, "variables": `write "env"`,
		"environment": `write "env"`, "if": "steps have no conditions; put the condition in the job's if or in the shell",
	}
)

// Parse parses and validates a pipeline file. filename is used in messages only. On failure
// the error is an *Errors listing every problem found, sorted by position; the Pipeline is
// then nil. Parse does no I/O and is safe for concurrent use.
func Parse(filename string, data []byte) (*Pipeline, error) {
	p := &parser{file: filename, data: data, credentialAt: map[int]bool{}}
	pl := p.parse(data)
	if len(data) <= MaxFileSize {
		p.literalCredentials(data)
	}
	if len(p.errs) > 0 {
		return nil, &Errors{List: sortErrors(p.errs)}
	}
	return pl, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file      string
	data      []byte
	lines     []string // of data, split on first use
	errs      []Error
	nodes     int
	exhausted bool
	// needNodes keeps the YAML node of every needs entry, to point cycle errors at it.
	needNodes map[*Job][]*yaml.Node
	// credentialAt marks lines already reported for a literal credential.
	credentialAt map[int]bool
}

// pair is one key and value of a mapping.
type pair struct {
	key   *yaml.Node
	name  string
	value *yaml.Node
}

// maxErrors caps the problems reported for one file: past it, more are noise, and computing
// their hints for a hostile file would cost unbounded time.
const maxErrors = 100

func (p *parser) errorAt(n *yaml.Node, field, hint, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		return
	}
	if len(p.errs) == maxErrors-1 {
		p.exhausted = true
		p.errs = append(p.errs, Error{File: p.file, Message: fmt.Sprintf("too many problems; showing the first %d found", maxErrors-1)})
		return
	}
	e := Error{File: p.file, Field: field, Message: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) parse(data []byte) *Pipeline {
	if len(data) > MaxFileSize {
		p.errorAt(nil, "", fmt.Sprintf("the file is %d bytes; split the pipeline or move scripts into files in the repository", len(data)), msgTooLarge)
		return nil
	}
	root := p.decode(data)
	if root == nil {
		return nil
	}
	return p.pipeline(root)
}

// decode parses the YAML text into a node tree, turning the library's errors into positioned
// ones. It returns nil if there is nothing to walk.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML library is large and fed with untrusted text; a panic in it must
		// become a refused file, not a crashed server.
		if r := recover(); r != nil {
			p.errorAt(nil, "", "", "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorAt(nil, "", "a minimal pipeline is: jobs: {build: {steps: [{run: make}]}}", "file is empty")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorAt(&extra, "", "remove the --- line and everything after it, or merge the documents", "file holds more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errorAt(nil, "", "a minimal pipeline is: jobs: {build: {steps: [{run: make}]}}", "file is empty")
		return nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		p.errorAt(nil, "", "a minimal pipeline is: jobs: {build: {steps: [{run: make}]}}", "file is empty")
		return nil
	}
	return root
}

func (p *parser) yamlError(err error) {
	msg := err.Error()
	if strings.HasPrefix(msg, "yaml: unmarshal errors:") {
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:"))
	}
	e := Error{File: p.file, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlErrRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column, _ = strconv.Atoi(m[2])
		e.Message = "invalid YAML: " + m[3]
	}
	lines := strings.Split(string(p.data), "\n")
	// The library's messages describe the parser's state, not the writer's mistake; these
	// are the mistakes behind the common ones.
	switch {
	case strings.Contains(msg, "unknown anchor"):
		if m := anchorRE.FindStringSubmatch(msg); m != nil {
			for i, l := range lines {
				if c := strings.Index(l, "*"+m[1]); c >= 0 {
					e.Line, e.Column = i+1, utf8.RuneCountInString(l[:c])+1
					break
				}
			}
		}
		e.Hint = "define the anchor (&name) before the alias (*name) that uses it"
	case strings.Contains(msg, "cannot start any token") && e.Line > 0 && e.Line <= len(lines) && strings.Contains(lines[e.Line-1], "\t"):
		e.Hint = "indent with spaces, not tabs"
	case strings.Contains(msg, "mapping values are not allowed"):
		e.Hint = `quote values that contain ": ", e.g. run: "echo a: b", or use a block: run: |`
	default:
		e.Hint = "check the indentation, and quote values that contain \": \" or start with ! & * [ { or @"
	}
	for i, l := range lines {
		if ifBangRE.MatchString(l) {
			// "if: !cond" is the commonest way to trip YAML here: ! starts a tag.
			e.Line, e.Column = i+1, strings.Index(l, "!")+1
			e.Message = `invalid YAML: a condition starting with "!" is read as a YAML tag`
			e.Hint = `quote the whole condition: if: "!startsWith(branch, 'x')"`
			break
		}
	}
	if e.Line > 0 && e.Column == 0 {
		e.Column = 1
	}
	p.errs = append(p.errs, e)
}

// visit resolves aliases and charges the node budget. It returns nil once the budget is
// spent, after reporting that once; every walker stops on nil.
func (p *parser) visit(n *yaml.Node) *yaml.Node {
	if n == nil || p.exhausted {
		return nil
	}
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			p.errorAt(n, "", "", "unresolvable alias")
			return nil
		}
		n = n.Alias
	}
	p.nodes++
	if p.nodes > MaxNodes {
		p.exhausted = true
		p.errorAt(n, "", "aliases that reference aliases multiply; expand fewer of them",
			"document is too large: more than %d YAML nodes after expanding aliases", MaxNodes)
		return nil
	}
	return n
}

// kindName describes the type of n for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	}
	return "an alias"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// customTag reports (once) a YAML tag the format does not use, such as "!secret".
func (p *parser) customTag(n *yaml.Node, field string) bool {
	if n.Tag == "" || strings.HasPrefix(n.Tag, "!!") || n.Tag == "!" {
		return false
	}
	if strings.HasPrefix(n.Tag, "tag:yaml.org,2002:") {
		return false
	}
	if strings.HasSuffix(field, ".if") || field == "if" {
		p.errorAt(n, field, `quote the whole condition: if: "!startsWith(branch, 'x')"`,
			"the condition starts with \"!\", which YAML reads as a tag (%s)", n.Tag)
		return true
	}
	p.errorAt(n, field, "remove the tag; quote the value if it starts with !", "YAML tags such as %q are not supported", n.Tag)
	return true
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// mapping returns the pairs of mapping n, merging "<<" merge keys (explicit keys win) and
// reporting duplicate and non-string keys. ok is false if n is not a mapping.
func (p *parser) mapping(n *yaml.Node, field, hint string) (pairs []pair, ok bool) {
	if n.Kind != yaml.MappingNode {
		if !p.customTag(n, field) {
			p.errorAt(n, field, hint, "expected a mapping (key: value), got %s", kindName(n))
		}
		return nil, false
	}
	seen := make(map[string]*yaml.Node)
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.visit(n.Content[i]), n.Content[i+1]
		if k == nil {
			return pairs, true
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, p.mergePairs(v, field)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorAt(k, field, "keys must be plain strings", "key is %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorAt(k, join(field, k.Value), "remove one of them",
				"duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		pairs = append(pairs, pair{key: k, name: k.Value, value: v})
	}
	for _, m := range merged {
		if _, dup := seen[m.name]; !dup {
			seen[m.name] = m.key
			pairs = append(pairs, m)
		}
	}
	return pairs, true
}

// mergePairs returns the pairs a "<<" merge key brings in: from a mapping or a list of them,
// earlier ones winning, as YAML's merge key type defines.
func (p *parser) mergePairs(v *yaml.Node, field string) []pair {
	v = p.visit(v)
	if v == nil {
		return nil
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, s := range v.Content {
			if s = p.visit(s); s != nil {
				sources = append(sources, s)
			}
		}
	default:
		p.errorAt(v, join(field, "<<"), "merge an alias of a mapping: <<: *defaults", "merge key needs a mapping, got %s", kindName(v))
		return nil
	}
	var out []pair
	seen := make(map[string]bool)
	for _, s := range sources {
		if s.Kind != yaml.MappingNode {
			p.errorAt(s, join(field, "<<"), "merge an alias of a mapping: <<: *defaults", "merge key needs a mapping, got %s", kindName(s))
			continue
		}
		pairs, _ := p.mapping(s, field, "")
		for _, pr := range pairs {
			if !seen[pr.name] {
				seen[pr.name] = true
				out = append(out, pr)
			}
		}
	}
	return out
}

// unknownKey reports a key that is not one of known.
func (p *parser) unknownKey(pr pair, field string, known []string, aliases map[string]string) {
	if p.exhausted {
		return
	}
	hint, ok := aliases[pr.name]
	if !ok {
		hint = didYouMean(pr.name, known, "keys")
	}
	p.errorAt(pr.key, join(field, pr.name), hint, "unknown key %q", pr.name)
}

// str returns the text of scalar n. Numbers and booleans are taken as written, so that
// "version: 1.10" stays "1.10".
func (p *parser) str(n *yaml.Node, field, hint string) (string, bool) {
	if n = p.visit(n); n == nil {
		return "", false
	}
	if p.customTag(n, field) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorAt(n, field, hint, "expected a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// strList returns a list of strings written as one string or as a list. It returns the nodes
// of the items too, for messages about single items.
func (p *parser) strList(n *yaml.Node, field, hint string) ([]string, []*yaml.Node, bool) {
	if n = p.visit(n); n == nil {
		return nil, nil, false
	}
	if p.customTag(n, field) {
		return nil, nil, false
	}
	switch {
	case isNull(n):
		return nil, nil, true
	case n.Kind == yaml.ScalarNode:
		return []string{n.Value}, []*yaml.Node{n}, true
	case n.Kind != yaml.SequenceNode:
		p.errorAt(n, field, hint, "expected a string or a list of strings, got %s", kindName(n))
		return nil, nil, false
	}
	var (
		vals  []string
		nodes []*yaml.Node
		ok    = true
	)
	for i, item := range n.Content {
		s, good := p.str(item, index(field, i), hint)
		if !good {
			ok = false
			continue
		}
		vals = append(vals, s)
		nodes = append(nodes, p.resolved(item))
	}
	return vals, nodes, ok
}

// resolved follows aliases without charging the budget, for positions of nodes already
// visited.
func (p *parser) resolved(n *yaml.Node) *yaml.Node {
	for hops := 0; n.Kind == yaml.AliasNode && n.Alias != nil && hops <= 100; hops++ {
		n = n.Alias
	}
	return n
}

// env parses an env mapping.
func (p *parser) env(n *yaml.Node, field string) map[string]string {
	if n = p.visit(n); n == nil || isNull(n) {
		return nil
	}
	pairs, ok := p.mapping(n, field, "write env as a mapping: env: {NAME: value}")
	if !ok {
		return nil
	}
	env := make(map[string]string, len(pairs))
	for _, pr := range pairs {
		f := join(field, pr.name)
		switch {
		case !envNameRE.MatchString(pr.name):
			p.errorAt(pr.key, f, "names are letters, digits and _, not starting with a digit", "invalid variable name %q", pr.name)
			continue
		case strings.HasPrefix(strings.ToUpper(pr.name), "RAMPART_"):
			p.errorAt(pr.key, f, "choose another name", "variable names starting with RAMPART_ are reserved for the variables Rampart sets")
			continue
		}
		v := p.visit(pr.value)
		if v == nil {
			continue
		}
		if isNull(v) {
			env[pr.name] = ""
			continue
		}
		if p.customTag(v, f) {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			p.errorAt(v, f, `values are strings; quote it, or use a shell command in run for computed values`,
				"expected a string, got %s", kindName(v))
			continue
		}
		if ok, why := credentials.LooksLikeCredential(pr.name, v.Value); ok && !p.credentialAt[v.Line] {
			p.credentialAt[v.Line] = true
			p.errorAt(v, f, vaultHint(pr.name), "literal credential in the pipeline (%s)", why)
			continue
		}
		env[pr.name] = v.Value
	}
	return env
}

// credentials detects literal credentials; it is immutable and shared.
var credentials = secrets.New(nil)

func vaultHint(name string) string {
	if name == "" {
		name = "NAME"
	}
	return fmt.Sprintf("anyone who can read the repository can read it: move it into the vault with `rampart secret set PROJECT %s`, "+
		"declare `secrets: [%s]` on the job, and revoke the exposed value", name, name)
}

// literalCredentials reports every credential of a known format anywhere in the file: in env,
// in run scripts, in comments. Values are never part of the message.
func (p *parser) literalCredentials(data []byte) {
	if p.credentialAt == nil {
		p.credentialAt = map[int]bool{}
	}
	for _, f := range credentials.Find(string(data)) {
		line := 1 + strings.Count(string(data[:f.Start]), "\n")
		if p.credentialAt[line] {
			continue
		}
		p.credentialAt[line] = true
		col := f.Start - strings.LastIndex(string(data[:f.Start]), "\n")
		p.errorAt(&yaml.Node{Line: line, Column: col}, "", vaultHint(""), "literal credential in the pipeline (%s)", f.Description)
	}
}

// pipeline walks the root mapping.
func (p *parser) pipeline(root *yaml.Node) *Pipeline {
	if root = p.visit(root); root == nil {
		return nil
	}
	pairs, ok := p.mapping(root, "", "a pipeline is a mapping with the keys on, env and jobs")
	if !ok {
		return nil
	}
	pl := &Pipeline{File: p.file}
	var jobs *pair
	sawOn := false
	for i, pr := range pairs {
		switch {
		case pr.name == "on":
			sawOn = true
			pl.On = p.triggers(pr)
		case pr.name == "env":
			pl.Env = p.env(pr.value, "env")
		case pr.name == "jobs":
			jobs = &pairs[i]
		case strings.HasPrefix(pr.name, "x-"):
			// Extension keys are ignored so that they can hold anchors for aliases.
		default:
			p.unknownKey(pr, "", topKeys, topAliases)
		}
	}
	if !sawOn {
		pl.On = Triggers{Push: &PushTrigger{}, Manual: true}
	}
	if jobs == nil {
		p.errorAt(root, "jobs", "add jobs: {build: {steps: [{run: make}]}}", "missing key \"jobs\"")
	} else {
		pl.Jobs = p.jobs(*jobs)
		for _, j := range pl.Jobs {
			j.pipeline = pl
		}
		p.checkNeeds(pl)
	}
	return pl
}

// triggers walks the "on" key.
func (p *parser) triggers(pr pair) Triggers {
	var t Triggers
	n := p.visit(pr.value)
	if n == nil {
		return t
	}
	const hint = "write on: push, on: [push, manual], or a mapping such as on: {push: {branches: [main]}}"
	switch {
	case isNull(n) || n.Kind == yaml.MappingNode && len(n.Content) == 0 || n.Kind == yaml.SequenceNode && len(n.Content) == 0:
		p.errorAt(pr.key, "on", "remove on to use the default (push and manual), or list events", "no events listed, so nothing would start the pipeline")
	case n.Kind == yaml.ScalarNode || n.Kind == yaml.SequenceNode:
		names, nodes, _ := p.strList(n, "on", hint)
		seen := make(map[string]bool)
		for i, name := range names {
			f := index("on", i)
			if n.Kind == yaml.ScalarNode {
				f = "on"
			}
			if seen[name] {
				p.errorAt(nodes[i], f, "remove the duplicate", "event %q listed twice", name)
				continue
			}
			seen[name] = true
			switch name {
			case EventPush:
				t.Push = &PushTrigger{}
			case EventPullRequest:
				t.PullRequest = &PullRequestTrigger{}
			case EventManual:
				t.Manual = true
			case EventSchedule:
				p.errorAt(nodes[i], f, `write on: {schedule: [{cron: "0 3 * * 1"}]}`, "schedule needs cron specs")
			default:
				h, ok := onAliases[name]
				if !ok {
					h = didYouMean(name, onKeys, "events")
				}
				p.errorAt(nodes[i], f, h, "unknown event %q", name)
			}
		}
	default:
		pairs, ok := p.mapping(n, "on", hint)
		if !ok {
			return t
		}
		for _, pr := range pairs {
			f := join("on", pr.name)
			switch pr.name {
			case EventPush:
				t.Push = &PushTrigger{}
				filters := p.filters(pr.value, f, pushKeys)
				t.Push.Branches, t.Push.Tags = filters["branches"], filters["tags"]
			case EventPullRequest:
				t.PullRequest = &PullRequestTrigger{Branches: p.filters(pr.value, f, pullRequestKeys)["branches"]}
			case EventSchedule:
				t.Schedule = p.schedules(pr.value, f)
			case EventManual:
				t.Manual = p.manual(pr)
			default:
				h, ok := onAliases[pr.name]
				if !ok {
					h = didYouMean(pr.name, onKeys, "events")
				}
				p.errorAt(pr.key, f, h, "unknown event %q", pr.name)
			}
		}
	}
	return t
}

// filters walks the branch and tag filters of push or pull_request.
func (p *parser) filters(n *yaml.Node, field string, keys []string) map[string][]string {
	out := make(map[string][]string)
	if n = p.visit(n); n == nil || isNull(n) {
		return out
	}
	pairs, ok := p.mapping(n, field, fmt.Sprintf("write %s: {branches: [main]} or %s: {} for every branch", field, field))
	if !ok {
		return out
	}
	for _, pr := range pairs {
		f := join(field, pr.name)
		if !slices.Contains(keys, pr.name) {
			p.unknownKey(pr, field, keys, filterAliases)
			continue
		}
		pats, nodes, ok := p.strList(pr.value, f, fmt.Sprintf(`write %s: [main, "release/*"]`, pr.name))
		if !ok {
			continue
		}
		if len(pats) == 0 {
			p.errorAt(pr.key, f, fmt.Sprintf("remove %s to select all, or list patterns", pr.name), "empty list would select nothing")
			continue
		}
		for i, pat := range pats {
			if err := checkGlob(pat); err != nil {
				p.errorAt(nodes[i], index(f, i), `patterns use path.Match syntax: * and ? (not across /), [a-z], \ to escape, and ** across /`,
					"bad pattern %q: %v", pat, err)
			}
		}
		out[pr.name] = pats
	}
	return out
}

// schedules walks "schedule: [{cron: ...}]".
func (p *parser) schedules(n *yaml.Node, field string) []string {
	const hint = `write schedule: [{cron: "0 3 * * 1"}]`
	if n = p.visit(n); n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		if !p.customTag(n, field) {
			p.errorAt(n, field, hint, "expected a list of {cron: ...} entries, got %s", kindName(n))
		}
		return nil
	}
	if len(n.Content) == 0 {
		p.errorAt(n, field, hint+", or remove schedule", "empty list of schedules")
		return nil
	}
	var specs []string
	for i, item := range n.Content {
		f := index(field, i)
		item = p.visit(item)
		if item == nil {
			return specs
		}
		if item.Kind == yaml.ScalarNode && !isNull(item) {
			p.errorAt(item, f, fmt.Sprintf("write - cron: %q", item.Value), "expected {cron: ...}, got a string")
			continue
		}
		pairs, ok := p.mapping(item, f, hint)
		if !ok {
			continue
		}
		var cronNode *yaml.Node
		for _, pr := range pairs {
			if pr.name != "cron" {
				p.unknownKey(pr, f, scheduleKeys, nil)
				continue
			}
			cronNode = pr.value
		}
		if cronNode == nil {
			p.errorAt(item, f, hint, "missing key \"cron\"")
			continue
		}
		spec, ok := p.str(cronNode, join(f, "cron"), `write cron: "0 3 * * 1"`)
		if !ok {
			continue
		}
		if err := checkCron(spec); err != nil {
			p.errorAt(p.resolved(cronNode), join(f, "cron"),
				`write five fields, minute hour day-of-month month day-of-week, e.g. "0 3 * * 1", or a descriptor such as @daily`,
				"invalid cron spec %q: %v", spec, err)
			continue
		}
		specs = append(specs, spec)
	}
	return specs
}

// checkCron checks spec and that it fires at all: "0 0 30 2 *" parses but never runs, which
// is surely a mistake. The reference time is fixed so that Parse reads no clock.
func checkCron(spec string) error {
	sched, err := parseCron(spec)
	if err != nil {
		return err
	}
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return errors.New("it never fires")
	}
	return nil
}

// manual walks "manual:", which takes no settings: null, {} or a boolean.
func (p *parser) manual(pr pair) bool {
	n := p.visit(pr.value)
	if n == nil {
		return false
	}
	switch {
	case isNull(n):
		return true
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool":
		v, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return v
	case n.Kind == yaml.MappingNode:
		pairs, _ := p.mapping(n, "on.manual", "")
		for _, k := range pairs {
			p.errorAt(k.key, join("on.manual", k.name), "manual takes no settings; write manual: {}", "unknown key %q", k.name)
		}
		return true
	}
	p.errorAt(n, "on.manual", "write manual: {}", "expected {}, got %s", kindName(n))
	return false
}

// jobs walks the "jobs" mapping.
func (p *parser) jobs(pr pair) []*Job {
	const hint = "write jobs as a mapping of names to jobs: jobs: {build: {steps: [{run: make}]}}"
	n := p.visit(pr.value)
	if n == nil {
		return nil
	}
	if isNull(n) || n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		p.errorAt(pr.key, "jobs", hint, "no jobs")
		return nil
	}
	pairs, ok := p.mapping(n, "jobs", hint)
	if !ok {
		return nil
	}
	if len(pairs) > MaxJobs {
		p.errorAt(pairs[MaxJobs].key, "jobs", "split the pipeline", "more than %d jobs", MaxJobs)
		pairs = pairs[:MaxJobs]
	}
	p.needNodes = make(map[*Job][]*yaml.Node)
	var jobs []*Job
	for _, pr := range pairs {
		if j := p.job(pr); j != nil {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// suggestJobName turns an invalid name into a valid one, for the hint.
func suggestJobName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "-_")
	if len(s) > MaxNameLength {
		s = s[:MaxNameLength]
	}
	if !jobNameRE.MatchString(s) {
		return ""
	}
	return s
}

// job walks one job. It returns a Job even when the job has problems, so that needs naming
// it are not reported as unknown too.
func (p *parser) job(pr pair) *Job {
	field := join("jobs", pr.name)
	j := &Job{Name: pr.name, Timeout: DefaultTimeout, Network: NetworkDefault, Line: pr.key.Line, Column: pr.key.Column}
	if !jobNameRE.MatchString(pr.name) || len(pr.name) > MaxNameLength {
		hint := fmt.Sprintf("names are lower-case letters, digits, '-' and '_', start with a letter or digit, and have at most %d characters", MaxNameLength)
		if s := suggestJobName(pr.name); s != "" && s != pr.name {
			hint = fmt.Sprintf("write %q; %s", s, hint)
		}
		p.errorAt(pr.key, field, hint, "invalid job name %q", pr.name)
	}
	n := p.visit(pr.value)
	if n == nil {
		return j
	}
	if isNull(n) {
		p.errorAt(pr.key, field, "add steps: [{run: make}]", "job %q is empty", pr.name)
		return j
	}
	pairs, ok := p.mapping(n, field, "a job is a mapping with steps: and other keys")
	if !ok {
		return j
	}
	sawSteps := false
	for _, kv := range pairs {
		f := join(field, kv.name)
		switch kv.name {
		case "runs-on":
			labels, nodes, _ := p.strList(kv.value, f, "write runs-on: linux or runs-on: [linux, go]")
			for i, l := range labels {
				if !labelRE.MatchString(l) || len(l) > 64 {
					p.errorAt(nodes[i], f, "labels are letters, digits, '.', '-' and '_'", "invalid label %q", l)
				}
			}
			j.RunsOn = labels
		case "timeout":
			j.Timeout = p.timeout(kv.value, f)
		case "env":
			j.Env = p.env(kv.value, f)
		case "network":
			if s, ok := p.str(kv.value, f, "write network: none or network: default"); ok {
				if s != NetworkNone && s != NetworkDefault {
					p.errorAt(p.resolved(kv.value), f, didYouMean(s, []string{NetworkNone, NetworkDefault}, "values"),
						"network must be %q or %q, not %q", NetworkNone, NetworkDefault, s)
				}
				j.Network = s
			}
		case "if":
			j.If, j.cond = p.condition(kv.value, f)
		case "needs":
			needs, nodes, _ := p.strList(kv.value, f, "write needs: build or needs: [build, lint]")
			j.Needs = needs
			p.needNodes[j] = nodes
		case "steps":
			sawSteps = true
			j.Steps = p.steps(kv, f)
		case "artifacts":
			j.Artifacts = p.artifacts(kv.value, f)
		case "secrets":
			j.Secrets = p.secrets(kv.value, f)
		case "scan":
			j.Scan = p.scanners(kv.value, f)
		case "sarif":
			j.SARIF = p.artifacts(kv.value, f)
		case "environment":
			if s, ok := p.str(kv.value, f, "write environment: production"); ok {
				if !envTgtRE.MatchString(s) || len(s) > 64 {
					p.errorAt(p.resolved(kv.value), f, "environment names are letters, digits, '.', '-' and '_', at most 64 characters",
						"invalid environment name %q", s)
				}
				j.Environment = s
			}
		default:
			p.unknownKey(kv, field, jobKeys, jobAliases)
		}
	}
	if !sawSteps {
		p.errorAt(pr.key, field, "add steps: [{run: make}]", "job %q has no steps", pr.name)
	}
	return j
}

func (p *parser) timeout(n *yaml.Node, field string) time.Duration {
	const hint = "write a duration with a unit, such as 90s, 10m or 1h30m"
	s, ok := p.str(n, field, hint)
	if !ok {
		return DefaultTimeout
	}
	at := p.resolved(n)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		if _, nerr := strconv.Atoi(s); nerr == nil {
			p.errorAt(at, field, fmt.Sprintf("add a unit: %sm for minutes", s), "duration %q has no unit", s)
		} else {
			p.errorAt(at, field, hint, "invalid duration %q", s)
		}
	case d <= 0:
		p.errorAt(at, field, hint, "timeout must be positive, not %s", s)
	case d > MaxTimeout:
		p.errorAt(at, field, "split the job, or use a shorter timeout", "timeout %s is longer than the maximum of 24h", s)
	default:
		return d
	}
	return DefaultTimeout
}

// condition parses an "if" value and points errors at the exact character when the value
// is written on one line.
func (p *parser) condition(n *yaml.Node, field string) (string, expr) {
	src, ok := p.str(n, field, `write a condition such as if: branch == 'main'`)
	if !ok {
		return "", nil
	}
	at := p.resolved(n)
	if p.lines == nil {
		p.lines = strings.Split(string(p.data), "\n")
	}
	x, err := parseCondition(src)
	if err != nil {
		var ee *ExprError
		if !errors.As(err, &ee) {
			p.errorAt(at, field, "", "invalid condition: %v", err)
			return src, nil
		}
		e := Error{File: p.file, Line: at.Line, Column: at.Column, Field: field,
			Message: "invalid condition: " + ee.Message, Hint: ee.Hint}
		if col, ok := p.exprColumn(at, src, ee.Offset); ok {
			e.Column = col
		}
		p.errs = append(p.errs, e)
		return src, nil
	}
	return src, x
}

// exprColumn maps a byte offset in the condition src, the value of node at, to a column of
// the file. It succeeds only when the text at the node's position reads exactly src (after
// an opening quote), since escapes and folded lines would make any mapping a guess.
func (p *parser) exprColumn(at *yaml.Node, src string, off int) (int, bool) {
	if at.Line < 1 || at.Line > len(p.lines) || at.Column < 1 {
		return 0, false
	}
	line := []rune(p.lines[at.Line-1])
	start := at.Column - 1
	if at.Style == yaml.SingleQuotedStyle || at.Style == yaml.DoubleQuotedStyle {
		start++
	} else if at.Style != 0 {
		return 0, false
	}
	if start > len(line) || !strings.HasPrefix(string(line[start:]), src) {
		return 0, false
	}
	return start + 1 + utf8.RuneCountInString(src[:off]), true
}

// steps walks a job's steps.
func (p *parser) steps(kv pair, field string) []Step {
	const hint = "write steps as a list: steps: [{run: make}]"
	n := p.visit(kv.value)
	if n == nil {
		return nil
	}
	if isNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		p.errorAt(kv.key, field, "add at least one step: steps: [{run: make}]", "no steps")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		if !p.customTag(n, field) {
			h := hint
			if n.Kind == yaml.MappingNode {
				h = "put a - before each step: steps: [{run: make}]"
			}
			p.errorAt(n, field, h, "expected a list of steps, got %s", kindName(n))
		}
		return nil
	}
	var steps []Step
	for i, item := range n.Content {
		f := index(field, i)
		item = p.visit(item)
		if item == nil {
			return steps
		}
		if item.Kind == yaml.ScalarNode && !isNull(item) {
			p.errorAt(item, f, fmt.Sprintf("write - run: %s", firstLine(item.Value)), "a step is a mapping with run:, not a string")
			continue
		}
		if isNull(item) {
			p.errorAt(item, f, "write - run: make", "empty step")
			continue
		}
		pairs, ok := p.mapping(item, f, "write - run: make")
		if !ok {
			continue
		}
		st := Step{Line: item.Line}
		sawRun := false
		for _, kv := range pairs {
			sf := join(f, kv.name)
			switch kv.name {
			case "name":
				st.Name, _ = p.str(kv.value, sf, "write name: compile")
			case "run":
				sawRun = true
				if s, ok := p.str(kv.value, sf, "write run: make, or a block: run: |"); ok {
					if strings.TrimSpace(s) == "" {
						p.errorAt(p.resolved(kv.value), sf, "write the commands to run, or remove the step", "empty run")
					}
					st.Run = s
				}
			case "env":
				st.Env = p.env(kv.value, sf)
			default:
				p.unknownKey(kv, f, stepKeys, stepAliases)
			}
		}
		if !sawRun {
			p.errorAt(item, f, "add run: with the commands of the step", "step has no run")
		}
		steps = append(steps, st)
	}
	return steps
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// artifacts walks a job's artifact patterns. They must stay inside the workspace: the agent
// uploads what they match, and a pattern reaching outside would upload the agent's files.
func (p *parser) artifacts(n *yaml.Node, field string) []string {
	pats, nodes, _ := p.strList(n, field, `write artifacts: [bin/app, "dist/*.tar.gz"]`)
	for i, pat := range pats {
		f := index(field, i)
		switch {
		case strings.HasPrefix(pat, "/"):
			p.errorAt(nodes[i], f, "write the path relative to the workspace", "artifact path %q is absolute", pat)
		case slices.Contains(strings.Split(pat, "/"), ".."):
			p.errorAt(nodes[i], f, "artifacts must be inside the workspace", "artifact path %q contains ..", pat)
		default:
			if err := checkGlob(pat); err != nil {
				p.errorAt(nodes[i], f, `patterns use path.Match syntax: * and ? (not across /), [a-z], \ to escape, and ** across /`,
					"bad pattern %q: %v", pat, err)
			}
		}
	}
	return pats
}

// Scanners a job can ask for with scan:.
var scannerNames = []string{"secrets", "dependencies", "iac"}

func (p *parser) scanners(n *yaml.Node, field string) []string {
	names, nodes, _ := p.strList(n, field, "write scan: [secrets, dependencies, iac]")
	seen := make(map[string]bool)
	for i, s := range names {
		f := index(field, i)
		switch {
		case !slices.Contains(scannerNames, s):
			p.errorAt(nodes[i], f, didYouMean(s, scannerNames, "scanners"), "unknown scanner %q", s)
		case seen[s]:
			p.errorAt(nodes[i], f, "remove the duplicate", "scanner %q listed twice", s)
		}
		seen[s] = true
	}
	return names
}

func (p *parser) secrets(n *yaml.Node, field string) []string {
	names, nodes, _ := p.strList(n, field, "write secrets: [DEPLOY_TOKEN]")
	seen := make(map[string]bool)
	for i, s := range names {
		f := index(field, i)
		switch {
		case !secretRE.MatchString(s):
			hint := "secret names are upper-case letters, digits and _, not starting with a digit"
			if up := strings.ToUpper(s); secretRE.MatchString(up) {
				hint = fmt.Sprintf("write %q; %s", up, hint)
			}
			p.errorAt(nodes[i], f, hint, "invalid secret name %q", s)
		case seen[s]:
			p.errorAt(nodes[i], f, "remove the duplicate", "secret %q listed twice", s)
		}
		seen[s] = true
	}
	return names
}

// checkNeeds reports needs naming unknown jobs, duplicates, and cycles.
func (p *parser) checkNeeds(pl *Pipeline) {
	names := make([]string, len(pl.Jobs))
	byName := make(map[string]*Job, len(pl.Jobs))
	for i, j := range pl.Jobs {
		names[i] = j.Name
		byName[j.Name] = j
	}
	for _, j := range pl.Jobs {
		if p.exhausted {
			return
		}
		seen := make(map[string]bool)
		nodes := p.needNodes[j]
		for i, need := range j.Needs {
			f := index(join(join("jobs", j.Name), "needs"), i)
			var at *yaml.Node
			if i < len(nodes) {
				at = nodes[i]
			}
			switch {
			case need == j.Name:
				p.errorAt(at, f, "remove it", "job %q needs itself", j.Name)
			case byName[need] == nil:
				if p.exhausted {
					return
				}
				others := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == j.Name })
				p.errorAt(at, f, didYouMean(need, others, "jobs"), "unknown job %q", need)
			case seen[need]:
				p.errorAt(at, f, "remove the duplicate", "job %q listed twice", need)
			}
			seen[need] = true
		}
	}
	if p.exhausted {
		return
	}
	for _, c := range findCycles(pl.Jobs, maxCycles) {
		j, next := c[0], c[1]
		i := slices.Index(j.Needs, next.Name)
		var at *yaml.Node
		if i >= 0 && i < len(p.needNodes[j]) {
			at = p.needNodes[j][i]
		}
		path := make([]string, len(c))
		for i, cj := range c {
			path[i] = cj.Name
		}
		p.errorAt(at, index(join(join("jobs", j.Name), "needs"), i), "a job cannot wait for itself; remove one of these needs",
			"cycle in needs: %s", strings.Join(path, " -> "))
	}
}

// maxCycles caps the cycles reported: a dense graph has very many, and a few are enough to
// show what to fix.
const maxCycles = 10

// findCycles returns up to limit cycles: one for every back edge a depth-first search in file order meets,
// each as a closed path (first job repeated at the end), rotated to start at the job listed
// first in the file. Needs that name unknown jobs or the job itself are ignored; those are
// reported on their own.
func findCycles(jobs []*Job, limit int) [][]*Job {
	pos := make(map[string]int, len(jobs))
	for i, j := range jobs {
		pos[j.Name] = i
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(jobs))
	var (
		stack  []int
		cycles [][]*Job
		seen   = make(map[string]bool)
	)
	var dfs func(i int)
	dfs = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, need := range jobs[i].Needs {
			k, ok := pos[need]
			if !ok || k == i {
				continue
			}
			if len(cycles) >= limit {
				break
			}
			switch color[k] {
			case white:
				dfs(k)
			case grey:
				start := slices.Index(stack, k)
				cyc := slices.Clone(stack[start:])
				// Rotate to start at the earliest job so each cycle has one spelling.
				m := slices.Index(cyc, slices.Min(cyc))
				cyc = append(cyc[m:], cyc[:m]...)
				var path []*Job
				var key strings.Builder
				for _, c := range cyc {
					path = append(path, jobs[c])
					fmt.Fprintf(&key, "%d,", c)
				}
				if !seen[key.String()] {
					seen[key.String()] = true
					// The search walks needs edges (job -> what it needs); the
					// path reads the same way.
					cycles = append(cycles, append(path, path[0]))
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range jobs {
		if color[i] == white {
			dfs(i)
		}
	}
	return cycles
}
