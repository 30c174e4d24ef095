package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// maxExtendDepth bounds chains of [extend] path = "…", as gitleaks does.
const maxExtendDepth = 2

// LoadGitleaksConfig reads a gitleaks v8 configuration file (.gitleaks.toml) and returns its
// rules and global allowlists, for Config.Rules and Config.Allowlists. It understands:
//
//   - [[rules]] with id, description, regex, secretGroup, entropy, keywords, path and tags, and
//     their allowlists ([[rules.allowlists]], or the older [rules.allowlist]) with description,
//     condition (OR, AND), regexTarget (secret, match, line), regexes, paths and stopwords;
//   - global allowlists: [allowlist] and [[allowlists]], the latter with targetRules to apply
//     it to some rules only;
//   - [extend]: useDefault = true starts from Rampart's built-in rules and allowlists (not
//     gitleaks' own, which they cover); path = "base.toml" starts from another file, read
//     relative to this one; disabledRules drops rules of the base. A rule whose id is in the
//     base changes the base rule: fields it sets replace the base's, its keywords, tags and
//     allowlists are added.
//
// Allowlist commits are accepted and ignored: `rampart scan` reads a tree, not a history.
// Expressions must be RE2 (Go's regexp, which gitleaks uses too); a rule using PCRE-only syntax
// such as a lookaround or a backreference is an error that names the rule and the construct.
// Composite rules ([[rules.required]]) and [extend] url are errors too.
func LoadGitleaksConfig(path string) ([]Rule, []Allowlist, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("gitleaks config: %w", err)
	}
	return parseGitleaks(data, path, filepath.Dir(path), 0)
}

// ParseGitleaksConfig is LoadGitleaksConfig for a configuration in memory; an [extend] path is
// read relative to the current directory.
func ParseGitleaksConfig(data []byte) ([]Rule, []Allowlist, error) {
	return parseGitleaks(data, "gitleaks config", ".", 0)
}

type glConfig struct {
	Title       string `toml:"title"`
	Description string `toml:"description"`
	Extend      struct {
		Path          string   `toml:"path"`
		URL           string   `toml:"url"`
		UseDefault    bool     `toml:"useDefault"`
		DisabledRules []string `toml:"disabledRules"`
	} `toml:"extend"`
	Rules      []glRule      `toml:"rules"`
	Allowlist  *glAllowlist  `toml:"allowlist"`
	Allowlists []glAllowlist `toml:"allowlists"`
}

type glRule struct {
	ID          string        `toml:"id"`
	Description string        `toml:"description"`
	Regex       string        `toml:"regex"`
	SecretGroup int           `toml:"secretGroup"`
	Entropy     float64       `toml:"entropy"`
	Keywords    []string      `toml:"keywords"`
	Path        string        `toml:"path"`
	Tags        []string      `toml:"tags"`
	Allowlist   *glAllowlist  `toml:"allowlist"`
	Allowlists  []glAllowlist `toml:"allowlists"`
	Required    []any         `toml:"required"`
}

type glAllowlist struct {
	Description    string   `toml:"description"`
	Condition      string   `toml:"condition"`
	MatchCondition string   `toml:"matchCondition"`
	RegexTarget    string   `toml:"regexTarget"`
	Regexes        []string `toml:"regexes"`
	Paths          []string `toml:"paths"`
	Commits        []string `toml:"commits"`
	StopWords      []string `toml:"stopwords"`
	TargetRules    []string `toml:"targetRules"`
}

func parseGitleaks(data []byte, name, dir string, depth int) ([]Rule, []Allowlist, error) {
	var c glConfig
	if err := toml.Unmarshal(data, &c); err != nil {
		var derr *toml.DecodeError
		if errors.As(err, &derr) {
			row, col := derr.Position()
			return nil, nil, fmt.Errorf("%s:%d:%d: %v", name, row, col, derr)
		}
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}

	// The base: built-in rules, another file, or nothing.
	var base []Rule
	var global []Allowlist
	extending := c.Extend.UseDefault || c.Extend.Path != ""
	switch {
	case c.Extend.URL != "":
		return nil, nil, fmt.Errorf("%s: [extend] url is not supported: download the file and use path", name)
	case c.Extend.UseDefault && c.Extend.Path != "":
		return nil, nil, fmt.Errorf("%s: [extend] has both useDefault and path: choose one", name)
	case c.Extend.UseDefault:
		base, global = DefaultRules(), DefaultAllowlists()
	case c.Extend.Path != "":
		if depth >= maxExtendDepth {
			return nil, nil, fmt.Errorf("%s: [extend] path %q: configurations extend each other more than %d deep", name, c.Extend.Path, maxExtendDepth)
		}
		p := c.Extend.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		bdata, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: [extend] path: %w", name, err)
		}
		if base, global, err = parseGitleaks(bdata, p, filepath.Dir(p), depth+1); err != nil {
			return nil, nil, err
		}
	}
	var errs []error
	for _, id := range c.Extend.DisabledRules {
		i := slices.IndexFunc(base, func(r Rule) bool { return r.ID == id })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: [extend] disabledRules: no rule %q in the base configuration", name, id))
			continue
		}
		base = slices.Delete(base, i, i+1)
	}

	rules := base
	for i, gr := range c.Rules {
		where := fmt.Sprintf("%s: rule %q", name, gr.ID)
		if gr.ID == "" {
			where = fmt.Sprintf("%s: rules[%d]", name, i)
			errs = append(errs, fmt.Errorf("%s: has no id", where))
			continue
		}
		if len(gr.Required) > 0 {
			errs = append(errs, fmt.Errorf("%s: composite rules ([[rules.required]]) are not supported: split it into separate rules", where))
			continue
		}
		r := Rule{ID: gr.ID, Description: gr.Description, SecretGroup: gr.SecretGroup, Entropy: gr.Entropy}
		if r.Description == "" {
			r.Description = gr.ID
		}
		for _, k := range gr.Keywords {
			r.Keywords = append(r.Keywords, strings.ToLower(k))
		}
		var err error
		if gr.Regex != "" {
			if r.Regex, err = compileGitleaksRegex(gr.Regex); err != nil {
				errs = append(errs, fmt.Errorf("%s: regex: %w", where, err))
				continue
			}
		}
		if gr.Path != "" {
			if r.Path, err = compileGitleaksRegex(gr.Path); err != nil {
				errs = append(errs, fmt.Errorf("%s: path: %w", where, err))
				continue
			}
		}
		als := gr.Allowlists
		if gr.Allowlist != nil {
			als = append([]glAllowlist{*gr.Allowlist}, als...)
		}
		for j, ga := range als {
			a, err := convertAllowlist(ga)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: allowlists[%d]: %w", where, j, err))
				continue
			}
			if len(ga.TargetRules) > 0 {
				errs = append(errs, fmt.Errorf("%s: allowlists[%d]: targetRules belongs in a global [[allowlists]]", where, j))
			}
			r.Allowlists = append(r.Allowlists, a)
		}

		if k := slices.IndexFunc(rules, func(b Rule) bool { return b.ID == r.ID }); k >= 0 {
			if !extending && k >= len(base) {
				errs = append(errs, fmt.Errorf("%s: defined twice", where))
				continue
			}
			rules[k] = mergeRule(rules[k], r, gr)
			continue
		}
		if r.Regex == nil && r.Path == nil {
			errs = append(errs, fmt.Errorf("%s: has neither regex nor path, so it can never match", where))
			continue
		}
		if r.Regex != nil && (r.SecretGroup < 0 || r.SecretGroup > r.Regex.NumSubexp()) {
			errs = append(errs, fmt.Errorf("%s: secretGroup %d, but the regex has %d groups", where, r.SecretGroup, r.Regex.NumSubexp()))
			continue
		}
		rules = append(rules, r)
	}

	gals := c.Allowlists
	if c.Allowlist != nil {
		gals = append([]glAllowlist{*c.Allowlist}, gals...)
	}
	for j, ga := range gals {
		a, err := convertAllowlist(ga)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: global allowlists[%d]: %w", name, j, err))
			continue
		}
		if len(ga.TargetRules) == 0 {
			global = append(global, a)
			continue
		}
		for _, id := range ga.TargetRules {
			k := slices.IndexFunc(rules, func(r Rule) bool { return r.ID == id })
			if k < 0 {
				errs = append(errs, fmt.Errorf("%s: global allowlists[%d]: targetRules: no rule %q", name, j, id))
				continue
			}
			rules[k].Allowlists = append(slices.Clip(rules[k].Allowlists), a)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if global == nil {
		global = []Allowlist{}
	}
	return rules, global, nil
}

// mergeRule applies an extending configuration's rule to the base rule of the same id.
func mergeRule(b, r Rule, gr glRule) Rule {
	if gr.Description != "" {
		b.Description = gr.Description
	}
	if r.Regex != nil {
		b.Regex = r.Regex
		b.SecretGroup = r.SecretGroup
		b.keywordStart = false
	} else if gr.SecretGroup != 0 {
		b.SecretGroup = r.SecretGroup
	}
	if r.Entropy != 0 {
		b.Entropy = r.Entropy
	}
	if r.Path != nil {
		b.Path = r.Path
	}
	b.Keywords = append(slices.Clip(b.Keywords), r.Keywords...)
	b.Allowlists = append(slices.Clip(b.Allowlists), r.Allowlists...)
	return b
}

func convertAllowlist(ga glAllowlist) (Allowlist, error) {
	a := Allowlist{Description: ga.Description, RegexTarget: strings.ToLower(ga.RegexTarget), StopWords: ga.StopWords}
	a.Condition = strings.ToUpper(ga.Condition)
	if a.Condition == "" {
		a.Condition = strings.ToUpper(ga.MatchCondition)
	}
	if err := checkAllowlist(a); err != nil {
		return a, err
	}
	for _, s := range ga.Regexes {
		re, err := compileGitleaksRegex(s)
		if err != nil {
			return a, fmt.Errorf("regexes: %w", err)
		}
		a.Regexes = append(a.Regexes, re)
	}
	for _, s := range ga.Paths {
		re, err := compileGitleaksRegex(s)
		if err != nil {
			return a, fmt.Errorf("paths: %w", err)
		}
		a.Paths = append(a.Paths, re)
	}
	if len(ga.Commits) > 0 && len(a.Regexes) == 0 && len(a.Paths) == 0 && len(a.StopWords) == 0 {
		// Only commits: it can never apply to a tree; keep it inert rather than fail.
		return Allowlist{Description: a.Description}, nil
	}
	if len(ga.Commits) > 0 && a.Condition == "AND" {
		// An AND with commits can never hold on a tree.
		return Allowlist{Description: a.Description}, nil
	}
	return a, nil
}

// pcreOnly lists constructs of PCRE (and other engines) that RE2 lacks, with advice.
var pcreOnly = []struct {
	re     *regexp.Regexp
	what   string
	advice string
}{
	{regexp.MustCompile(`\(\?<[=!]`), "a lookbehind", "match the preceding context as part of the expression (a non-capturing group) and put the secret in a capture group named by secretGroup"},
	{regexp.MustCompile(`\(\?[=!]`), "a lookahead", "match the following context as part of the expression, or exclude values with an allowlist regex, and put the secret in a capture group named by secretGroup"},
	{regexp.MustCompile(`\(\?>`), "an atomic group", "use a plain non-capturing group (?:…); RE2 never backtracks, so it is not needed"},
	{regexp.MustCompile(`\\[1-9]|\\k<`), "a backreference", "RE2 cannot refer back to a group; match the repeated part explicitly or drop the condition"},
	{regexp.MustCompile(`(?:[*+?}])\+`), "a possessive quantifier", "drop the extra +; RE2 never backtracks, so it is not needed"},
	{regexp.MustCompile(`\\[ZG]`), `\Z or \G`, `use \z or $ for the end of the text`},
	{regexp.MustCompile(`\(\?[imsU-]*[^imsU:)P<=!>-]`), "an inline flag RE2 does not know", "RE2 knows the flags i, m, s and U"},
}

// compileGitleaksRegex compiles an expression of a gitleaks file, explaining PCRE-only syntax.
func compileGitleaksRegex(s string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(s)
	if err == nil {
		return re, nil
	}
	for _, p := range pcreOnly {
		if p.re.MatchString(s) {
			return nil, fmt.Errorf("uses %s, which Go's regular expressions (RE2) do not support: %s", p.what, p.advice)
		}
	}
	return nil, err
}
