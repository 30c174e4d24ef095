// Package secrets finds credentials in text: well-known token formats (cloud keys, git host
// tokens, chat and payment tokens, private keys, connection strings, Rampart's own credentials)
// and password-like assignments of high-entropy values.
//
// Rules have gitleaks' shape — an id, a regular expression whose secret is one capture group,
// keywords of which one must occur before the expression is tried, an optional entropy floor,
// an optional path expression and allowlists — and LoadGitleaksConfig reads gitleaks v8 TOML
// files, so that a team keeps its existing configuration. The engine is our own: one
// Aho-Corasick pass over each file finds the keywords, and each rule's expression (RE2, linear
// time) runs only on the lines around its keywords' occurrences.
//
// The pipeline parser uses a Detector to refuse literal credentials in .rampart.yml;
// `rampart scan` uses a Scanner on whole trees. Secret values never leave this package
// unredacted except in Finding.Secret, which callers must pass through Redact.
package secrets

import (
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/rampart-ci/rampart/scan"
)

// Rule detects one kind of credential.
type Rule struct {
	ID          string
	Description string // short, for messages: "GitHub token"
	// Regex matches the credential in context; SecretGroup names the capture group holding the
	// secret itself (0: the whole match). A rule with a Path and no Regex reports files whose
	// path matches (a keystore file, say).
	Regex       *regexp.Regexp
	SecretGroup int
	// Keywords: at least one must occur (ASCII-case-insensitively) near the match — on its line,
	// or within Span bytes of it for an expression that can match across lines. They make
	// scanning fast: most lines contain none. A rule without keywords is tried on whole files.
	Keywords []string
	// Entropy is the minimum Shannon entropy, in bits per byte, of the secret; 0 for none.
	Entropy float64
	// Path, when set, restricts the rule to files whose slash-separated path matches.
	Path *regexp.Regexp
	// Allowlists exempt matches of this rule; see Allowlist.
	Allowlists []Allowlist
	// Severity of the rule's findings; empty means scan.High.
	Severity scan.Severity
	// Span is how far, in bytes before and after the keyword's line, an expression that can
	// match a newline may reach (private keys, JSON key files); 0 means 4096.
	Span int

	// keywordStart: every match of Regex starts with one of Keywords, so the expression is tried,
	// anchored, only where a keyword starts (the built-in rules; much faster than whole lines).
	keywordStart bool
}

// Allowlist exempts matches from being reported, as gitleaks' allowlists do. With Condition
// "OR" (or empty) a match is exempt when any criterion that is set holds; with "AND" when all
// that are set hold. The criteria: the file's path matches one of Paths; the target (the secret,
// the whole match or the line, by RegexTarget) matches one of Regexes; the secret contains one
// of StopWords (case-insensitively). An allowlist with no criteria exempts nothing.
type Allowlist struct {
	Description string
	Condition   string // "OR" (default) or "AND"
	Paths       []*regexp.Regexp
	Regexes     []*regexp.Regexp
	RegexTarget string // "secret" (default), "match" or "line"
	StopWords   []string
}

// Finding is one credential found in text. Secret is the matched value; callers must redact it
// before showing a finding to anyone (see Redact).
type Finding struct {
	RuleID      string
	Description string
	Secret      string
	Start, End  int // byte offsets of the secret in the text
}

// Detector runs a rule set over strings. It is immutable and safe for concurrent use.
type Detector struct {
	eng func() *engine
}

// defaultEngine compiles the default rules once, on first use, so that importing the package
// (the pipeline parser does) costs nothing until a credential is looked for.
var defaultEngine = sync.OnceValue(func() *engine {
	e, err := compile(DefaultRules(), DefaultAllowlists())
	if err != nil {
		panic(err) // the default rules are tested
	}
	return e
})

// New returns a Detector with rules; nil means DefaultRules, together with DefaultAllowlists.
// It panics if a rule is invalid (a SecretGroup the expression does not have, no Regex and no
// Path), as regexp.MustCompile does; NewScanner returns the error instead.
func New(rules []Rule) *Detector {
	if rules == nil {
		return &Detector{eng: defaultEngine}
	}
	eng, err := compile(rules, nil)
	if err != nil {
		panic(err)
	}
	return &Detector{eng: func() *engine { return eng }}
}

// Find returns every credential in text, in order of position. Path-restricted rules do not
// apply: text has no path.
func (d *Detector) Find(text string) []Finding {
	eng := d.eng()
	ms := eng.find([]byte(text), "", nil)
	out := make([]Finding, len(ms))
	for i, m := range ms {
		r := &eng.rules[m.rule]
		out[i] = Finding{RuleID: r.ID, Description: r.Description, Secret: text[m.start:m.end], Start: m.start, End: m.end}
	}
	return out
}

// Entropy returns the Shannon entropy of s in bits per byte.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// placeholderRE matches whole values that stand for a credential rather than being one.
var placeholderRE = regexp.MustCompile(`(?is)^(?:` +
	`\$\{\{?.*\}\}?|\$\(.*\)|\$[A-Z_][A-Z0-9_]*|%[A-Z_][A-Z0-9_]*%|\{\{.*\}\}|%\(\w+\)s|<[^>]*>|\[[^\]]*\]|` + // references and templates
	`password|passwd|pass|pwd|secret|token|apikey|api_key|key|user|username|admin|root|test|testing|guest|demo|default|none|null|nil|empty|` +
	`true|false|undefined|required|optional|string|foo|bar|foobar|baz|hunter2|letmein|welcome|mysecret|mypassword|secretpassword|s3cr3t|p@ssw0rd|passw0rd` +
	`)$`)

// placeholderWordRE finds words that mark a value as a stand-in. The words match in lower case,
// upper case or title case only, so that a long random token does not contain one by chance.
var placeholderWordRE = func() *regexp.Regexp {
	words := []string{"changeme", "change_me", "change-me", "example", "sample", "placeholder", "dummy", "redacted",
		"fake", "notreal", "not_real", "notasecret", "not_a_secret", "not-a-secret", "your_token", "yourtoken", "your-token",
		"your_key", "yourkey", "your-key", "your_api_key", "your-api-key", "yourapikey", "your_secret", "your-secret",
		"yoursecret", "your_password", "your-password", "yourpassword", "insert_here", "insert-here", "inserthere",
		"replace_me", "replaceme", "replace-me", "todo", "fixme", "xxxx"}
	var alts []string
	for _, w := range words {
		alts = append(alts, regexp.QuoteMeta(w), regexp.QuoteMeta(strings.ToUpper(w)),
			regexp.QuoteMeta(strings.ToUpper(w[:1])+w[1:]))
	}
	alts = append(alts, `\*\*\*`, `\.\.\.`, `…`, `•••`, `123456789`, `(?i:abcdefghij)`, `(?i:qwerty)`)
	return regexp.MustCompile(strings.Join(alts, "|"))
}()

// Placeholder reports whether s is obviously not a real credential: a variable reference
// (${VAR}, $VAR, ${{ secrets.X }}, %VAR%, {{ .Values.x }}), an <angle-bracket> placeholder, a
// value containing a word such as changeme, example or redacted, a masked or elided value (xxxx,
// ***, ...), a run of eight equal filler characters, or a bare word such as password or test.
// Documented example keys (AWS's AKIAIOSFODNN7EXAMPLE) are placeholders by the word they
// contain; see DefaultAllowlists for the ones that contain none.
func Placeholder(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	if fillerRun(s) {
		return true
	}
	return placeholderRE.MatchString(s) || placeholderWordRE.MatchString(s)
}

// fillerRun reports whether s has eight equal filler characters in a row ("00000000",
// "########"). Letters other than x are not filler: base64 of binary keys has runs of A.
func fillerRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case 'x', 'X', '*', '#', '0', '.', '?':
		default:
			run = 0
			continue
		}
		if i > 0 && s[i-1] == c {
			run++
		} else {
			run = 1
		}
		if run >= 8 {
			return true
		}
	}
	return false
}

// Redact shows at most the first four characters of a secret (fewer for short ones: a quarter
// of its length) and hides the rest behind a fixed-width mask, so that a person can tell which
// credential leaked without the finding leaking it again.
func Redact(secret string) string {
	if len(secret) <= 8 {
		return "****"
	}
	n := min(4, len(secret)/4)
	return secret[:n] + strings.Repeat("*", 8)
}

// sensitiveNameRE matches variable names that hold credentials.
var sensitiveNameRE = regexp.MustCompile(`(?i)(token|passw(or)?d|pwd|secret|credential|api[_-]?key|access[_-]?key|private[_-]?key|auth|(^|[_-])key($|[_-]))`)

// SensitiveName reports whether an environment variable or field name usually holds a credential.
func SensitiveName(name string) bool { return sensitiveNameRE.MatchString(name) }

// LooksLikeCredential reports whether value, assigned to name, is probably a literal credential:
// a known token format anywhere in it, or a high-entropy value assigned to a credential-like name.
// It returns the reason in words for messages; the value itself is never part of the reason.
func (d *Detector) LooksLikeCredential(name, value string) (bool, string) {
	if fs := d.Find(value); len(fs) > 0 {
		return true, fs[0].Description
	}
	v := strings.TrimSpace(value)
	if SensitiveName(name) && len(v) >= 12 && !strings.ContainsAny(v, " \t\n") && !Placeholder(v) && Entropy(v) >= 3.5 {
		return true, "a high-entropy value assigned to a credential-like name"
	}
	return false, ""
}
