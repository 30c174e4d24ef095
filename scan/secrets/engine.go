package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

const (
	// defaultSpan is how far a multi-line expression may reach beyond its keyword's line.
	defaultSpan = 4096
	// longLine: on a line longer than this (minified code, data blobs) a single-line rule's
	// window is the keyword's occurrence ± longLine/2 instead of the whole line.
	longLine = 4096
	// lineContext: an allowlist regex on the "line" sees at most this much of it either side
	// of the match.
	lineContext = 512
)

// engine is a compiled rule set. It is immutable and safe for concurrent use.
type engine struct {
	rules    []compiledRule
	ac       *automaton // nil when no rule has keywords
	kwRules  [][]int32  // keyword index → rules having it
	noKW     []int32    // rules without keywords: tried on whole files
	pathOnly []int32    // rules with a Path and no Regex
	global   []Allowlist
}

type compiledRule struct {
	Rule
	multiline bool // Regex matches across lines
	span      int
	// anchored is Regex anchored at the start (^), for rules whose matches start with a keyword;
	// leadBoundary: Regex starts with \b, which anchored lacks and find checks itself.
	anchored     *regexp.Regexp
	leadBoundary bool
}

// compile checks rules and allowlists and builds the keyword automaton.
func compile(rules []Rule, global []Allowlist) (*engine, error) {
	e := &engine{global: global}
	kwIndex := map[string]int32{}
	var keywords []string
	var errs []error
	seen := map[string]bool{}
	for _, r := range rules {
		if r.ID == "" {
			errs = append(errs, fmt.Errorf("secrets: a rule has no id (description %q)", r.Description))
			continue
		}
		if seen[r.ID] {
			errs = append(errs, fmt.Errorf("secrets: rule %q: defined twice", r.ID))
			continue
		}
		seen[r.ID] = true
		if r.Regex == nil && r.Path == nil {
			errs = append(errs, fmt.Errorf("secrets: rule %q: has neither a regex nor a path", r.ID))
			continue
		}
		if r.Regex != nil && (r.SecretGroup < 0 || r.SecretGroup > r.Regex.NumSubexp()) {
			errs = append(errs, fmt.Errorf("secrets: rule %q: secretGroup %d, but the regex has %d groups", r.ID, r.SecretGroup, r.Regex.NumSubexp()))
			continue
		}
		for _, a := range r.Allowlists {
			if err := checkAllowlist(a); err != nil {
				errs = append(errs, fmt.Errorf("secrets: rule %q: %w", r.ID, err))
			}
		}
		cr := compiledRule{Rule: r, span: r.Span}
		if cr.span <= 0 {
			cr.span = defaultSpan
		}
		if r.Regex != nil {
			cr.multiline = multiLine(r)
			if r.keywordStart && len(r.Keywords) > 0 {
				cr.anchored, cr.leadBoundary = anchor(r.Regex)
			}
		}
		idx := int32(len(e.rules))
		e.rules = append(e.rules, cr)
		switch {
		case r.Regex == nil:
			e.pathOnly = append(e.pathOnly, idx)
			continue
		case len(r.Keywords) == 0:
			e.noKW = append(e.noKW, idx)
			continue
		}
		for _, k := range r.Keywords {
			k = strings.ToLower(k)
			if k == "" {
				continue
			}
			ki, ok := kwIndex[k]
			if !ok {
				ki = int32(len(keywords))
				kwIndex[k] = ki
				keywords = append(keywords, k)
				e.kwRules = append(e.kwRules, nil)
			}
			if !slices.Contains(e.kwRules[ki], idx) {
				e.kwRules[ki] = append(e.kwRules[ki], idx)
			}
		}
	}
	for _, a := range global {
		if err := checkAllowlist(a); err != nil {
			errs = append(errs, fmt.Errorf("secrets: global allowlist: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keywords) > 0 {
		e.ac = newAutomaton(keywords)
	}
	return e, nil
}

func checkAllowlist(a Allowlist) error {
	switch strings.ToUpper(a.Condition) {
	case "", "OR", "AND":
	default:
		return fmt.Errorf("allowlist %q: condition %q: use OR or AND", a.Description, a.Condition)
	}
	switch strings.ToLower(a.RegexTarget) {
	case "", "secret", "match", "line":
	default:
		return fmt.Errorf("allowlist %q: regexTarget %q: use secret, match or line", a.Description, a.RegexTarget)
	}
	return nil
}

// multiLineRE finds, in an expression's source, the constructs that match line breaks on
// purpose: \n, a class of everything ([\s\S] and the like), the s flag.
var multiLineRE = regexp.MustCompile(`\\n|\[\\s\\S\]|\[\\S\\s\]|\[\\w\\W\]|\[\\W\\w\]|\[\\d\\D\]|\[\\D\\d\]|\(\?[imU]*s`)

// multiLine reports whether a rule's expression is meant to match across lines. Only such
// rules look beyond the lines of their keywords: a \s or a [^"] that could match a newline
// by accident does not make a rule multi-line (it would make it scan kilobytes per keyword).
func multiLine(r Rule) bool {
	return r.Span > 0 || multiLineRE.MatchString(r.Regex.String())
}

// anchor returns re anchored at the start of the text, without a leading \b (reported as
// lead: the caller checks it, since the text it is run on starts at the keyword).
func anchor(re *regexp.Regexp) (anchored *regexp.Regexp, lead bool) {
	src, flags := re.String(), ""
	if rest, ok := strings.CutPrefix(src, "(?i)"); ok {
		src, flags = rest, "(?i)"
	}
	src, lead = strings.CutPrefix(src, `\b`)
	a, err := regexp.Compile(`^(?:` + flags + src + `)`)
	if err != nil {
		return nil, false
	}
	return a, lead
}

// isWord reports whether c is an ASCII word character, as \b sees it.
func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// match is one secret found: rule index and the secret's byte offsets.
type match struct {
	rule       int
	start, end int
}

// window is a part of the text a rule's expression is run on: anchored at start for a rule
// whose matches start with a keyword, unless whole; everywhere in it for other rules.
type window struct {
	start, end int
	whole      bool
}

// maxChain is how many overlapping anchored windows a rule may have in a row (keywords
// repeated on one line, say) before they are replaced by one window searched as a whole: each
// anchored attempt may read to the end of its window, so many of them would cost quadratic time.
const maxChain = 8

// find returns the matches in data, ordered by position, overlapping matches reduced to the
// one of the earliest rule (rules are ordered specific first). active, when non-nil, says
// which rules apply (see activeFor).
func (e *engine) find(data []byte, path string, active []bool) []match {
	if active == nil {
		active = e.activeFor(path)
	}
	windows := e.windows(data, active)
	var ms []match
	for ri := range e.rules {
		r := &e.rules[ri]
		if !active[ri] || r.Regex == nil {
			continue
		}
		ws := windows[ri]
		if len(r.Keywords) == 0 {
			ws = []window{{start: 0, end: len(data)}}
		}
		if r.anchored != nil {
			for _, w := range ws {
				if w.whole {
					ms = e.matchAll(ms, ri, data, path, w)
					continue
				}
				if r.leadBoundary && (w.start > 0 && isWord(data[w.start-1])) == isWord(data[w.start]) {
					continue
				}
				loc := r.anchored.FindSubmatchIndex(data[w.start:w.end])
				g := 2 * r.SecretGroup
				if loc == nil || loc[g] < 0 || loc[g] == loc[g+1] {
					continue
				}
				m := match{rule: ri, start: w.start + loc[g], end: w.start + loc[g+1]}
				if e.keep(r, data, path, m, w.start+loc[0], w.start+loc[1]) {
					ms = append(ms, m)
				}
			}
			continue
		}
		for _, w := range ws {
			ms = e.matchAll(ms, ri, data, path, w)
		}
	}
	return dedupe(ms)
}

// matchAll appends the matches of rule ri anywhere in window w.
func (e *engine) matchAll(ms []match, ri int, data []byte, path string, w window) []match {
	r := &e.rules[ri]
	g := 2 * r.SecretGroup
	for _, loc := range r.Regex.FindAllSubmatchIndex(data[w.start:w.end], -1) {
		if loc[g] < 0 || loc[g] == loc[g+1] {
			continue
		}
		m := match{rule: ri, start: w.start + loc[g], end: w.start + loc[g+1]}
		if e.keep(r, data, path, m, w.start+loc[0], w.start+loc[1]) {
			ms = append(ms, m)
		}
	}
	return ms
}

// windows finds the keywords and returns, for each rule, the parts of data its expression must
// see: for a rule whose matches start with a keyword, from each keyword occurrence to the end
// of its line (the expression is tried there, anchored); for other rules the lines on which
// their keywords occur (around the keyword on very long lines). Multi-line rules see their span
// beyond the line. A rule's line windows are ordered and do not overlap; adjacent lines stay
// separate windows, as expressions run fastest on short inputs.
func (e *engine) windows(data []byte, active []bool) [][]window {
	windows := make([][]window, len(e.rules))
	if e.ac == nil {
		return windows
	}
	chain := make([]int, len(e.rules))     // length of the current run of overlapping anchored windows
	chainFrom := make([]int, len(e.rules)) // where a whole window replacing the run starts
	lineStart, lineEnd := -1, -1           // the line of the current hit, cached: hits cluster
	for _, h := range e.ac.find(data) {
		pos := h.start
		for _, ri := range e.kwRules[h.kw] {
			if !active[ri] {
				continue
			}
			ws := windows[ri]
			r := &e.rules[ri]
			n := len(ws)
			if r.anchored != nil && n > 0 && ws[n-1].start == pos && !ws[n-1].whole {
				continue // another keyword at the same place
			}
			if r.anchored == nil && n > 0 && pos < ws[n-1].end {
				continue // already covered
			}
			if lineStart < 0 || pos < lineStart || pos >= lineEnd {
				lineStart = bytes.LastIndexByte(data[:pos], '\n') + 1
				lineEnd = bytes.IndexByte(data[pos:], '\n')
				if lineEnd < 0 {
					lineEnd = len(data)
				} else {
					lineEnd += pos
				}
			}
			if r.anchored != nil {
				// From the keyword to the end of its line (or of the span, or a long line's cut).
				end := lineEnd
				if r.multiline {
					end = max(lineEnd, lineBefore(data, min(len(data), lineEnd+r.span)))
				} else if lineEnd-pos > longLine {
					end = pos + longLine
				}
				switch {
				case n > 0 && ws[n-1].whole && pos < ws[n-1].end:
					ws[n-1].end = max(ws[n-1].end, end)
				case n > 0 && pos < ws[n-1].end && chain[ri] >= maxChain:
					// Too many overlapping attempts: search their stretch once instead.
					ws = append(ws[:n-chain[ri]], window{start: chainFrom[ri], end: end, whole: true})
					chain[ri] = 0
				default:
					if n > 0 && pos < ws[n-1].end {
						chain[ri]++
					} else {
						chain[ri] = 1
						switch {
						case r.multiline:
							chainFrom[ri] = lineAfter(data, max(0, lineStart-r.span))
						case lineEnd-lineStart > longLine:
							chainFrom[ri] = max(lineStart, pos-longLine/2)
						default:
							chainFrom[ri] = lineStart
						}
					}
					ws = append(ws, window{start: pos, end: end})
				}
				windows[ri] = ws
				continue
			}
			w := window{start: lineStart, end: lineEnd}
			if r.multiline {
				w.start = lineAfter(data, max(0, lineStart-r.span))
				w.end = lineBefore(data, min(len(data), lineEnd+r.span))
			} else if lineEnd-lineStart > longLine {
				w.start = max(lineStart, pos-longLine/2)
				w.end = min(lineEnd, pos+longLine/2)
			}
			if n := len(ws); n > 0 && w.start < ws[n-1].end {
				ws[n-1].end = max(ws[n-1].end, w.end)
			} else {
				ws = append(ws, w)
			}
			windows[ri] = ws
		}
	}
	return windows
}

// activeFor says which rules apply to a file at path.
func (e *engine) activeFor(path string) []bool {
	active := make([]bool, len(e.rules))
	for i := range e.rules {
		r := &e.rules[i]
		active[i] = r.Regex != nil && (r.Path == nil || (path != "" && r.Path.MatchString(path)))
	}
	return active
}

// lineAfter moves i forward to the start of a line (i itself when it is one).
func lineAfter(data []byte, i int) int {
	if i == 0 || data[i-1] == '\n' {
		return i
	}
	if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(data)
}

// lineBefore moves i back to the end of a line (i itself when it is one).
func lineBefore(data []byte, i int) int {
	if i == len(data) || data[i] == '\n' {
		return i
	}
	return max(0, bytes.LastIndexByte(data[:i], '\n'))
}

// keep applies the entropy floor, placeholder filtering and the allowlists to a match.
func (e *engine) keep(r *compiledRule, data []byte, path string, m match, mstart, mend int) bool {
	secret := string(data[m.start:m.end])
	if r.Entropy > 0 && Entropy(secret) < r.Entropy {
		return false
	}
	if Placeholder(secret) {
		return false
	}
	if len(r.Allowlists) == 0 && len(e.global) == 0 {
		return true
	}
	t := target{data: data, path: path, secret: secret, mstart: mstart, mend: mend}
	for i := range r.Allowlists {
		if t.allowed(&r.Allowlists[i]) {
			return false
		}
	}
	for i := range e.global {
		if t.allowed(&e.global[i]) {
			return false
		}
	}
	return true
}

// target is what an allowlist looks at.
type target struct {
	data         []byte
	path, secret string
	mstart, mend int
}

func (t *target) allowed(a *Allowlist) bool {
	and := strings.EqualFold(a.Condition, "AND")
	var results []bool
	if len(a.Paths) > 0 {
		results = append(results, t.path != "" && anyMatch(a.Paths, t.path))
	}
	if len(a.Regexes) > 0 {
		var s string
		switch strings.ToLower(a.RegexTarget) {
		case "match":
			s = string(t.data[t.mstart:t.mend])
		case "line":
			// The line, or lineContext bytes of it either side of the match on long lines.
			from := max(0, t.mstart-lineContext)
			ls := from + bytes.LastIndexByte(t.data[from:t.mstart], '\n') + 1
			to := min(len(t.data), t.mend+lineContext)
			le := bytes.IndexByte(t.data[t.mend:to], '\n')
			if le < 0 {
				le = to
			} else {
				le += t.mend
			}
			s = string(t.data[ls:le])
		default:
			s = t.secret
		}
		results = append(results, anyMatch(a.Regexes, s))
	}
	if len(a.StopWords) > 0 {
		low := strings.ToLower(t.secret)
		hit := false
		for _, w := range a.StopWords {
			if w != "" && strings.Contains(low, strings.ToLower(w)) {
				hit = true
				break
			}
		}
		results = append(results, hit)
	}
	if len(results) == 0 {
		return false
	}
	if and {
		return !slices.Contains(results, false)
	}
	return slices.Contains(results, true)
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// dedupe orders matches by position and drops a match that overlaps a kept one: among
// overlapping matches those of earlier rules (more specific: rules are ordered so) win.
func dedupe(ms []match) []match {
	if len(ms) < 2 {
		return ms
	}
	slices.SortFunc(ms, func(a, b match) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return a.rule - b.rule
	})
	out := ms[:0:0]
	for i := 0; i < len(ms); {
		// A cluster: matches chained by overlap.
		j, end := i+1, ms[i].end
		for j < len(ms) && ms[j].start < end {
			end = max(end, ms[j].end)
			j++
		}
		if j == i+1 {
			out = append(out, ms[i])
			i = j
			continue
		}
		cluster := slices.Clone(ms[i:j])
		slices.SortStableFunc(cluster, func(a, b match) int { return a.rule - b.rule })
		var kept []match
		for _, m := range cluster {
			if !slices.ContainsFunc(kept, func(k match) bool { return m.start < k.end && k.start < m.end }) {
				kept = append(kept, m)
			}
		}
		slices.SortFunc(kept, func(a, b match) int { return a.start - b.start })
		out = append(out, kept...)
		i = j
	}
	return out
}
