// Package secrets finds credentials in text: well-known token formats (cloud keys, git host
// tokens, chat and payment tokens, private keys, Rampart's own credentials) and password-like
// assignments of high-entropy values. Rules follow gitleaks' shape — an id, a regular expression
// whose secret is one capture group, keywords that must occur before the expression is tried,
// and an optional entropy floor — so that its rule files can be loaded later.
//
// The pipeline parser uses it to refuse literal credentials in .rampart.yml; `rampart scan` uses
// it on whole trees.
package secrets

import (
	"math"
	"regexp"
	"strings"
)

// Rule detects one kind of credential.
type Rule struct {
	ID          string
	Description string
	// Regex matches the credential in context; SecretGroup names the capture group holding the
	// secret itself (0: the whole match).
	Regex       *regexp.Regexp
	SecretGroup int
	// Keywords: at least one must occur (case-insensitively) in the text before Regex is run.
	// They make scanning fast: most text contains none.
	Keywords []string
	// Entropy is the minimum Shannon entropy, in bits per character, of the secret; 0 for none.
	Entropy float64
}

// Finding is one credential found in text. Secret is the matched value; callers must redact it
// before showing a finding to anyone (see Redact).
type Finding struct {
	RuleID      string
	Description string
	Secret      string
	Start, End  int // byte offsets of the secret in the text
}

// Detector runs a rule set. It is immutable and safe for concurrent use.
type Detector struct {
	rules []Rule
}

// New returns a Detector with rules; nil means DefaultRules.
func New(rules []Rule) *Detector {
	if rules == nil {
		rules = DefaultRules()
	}
	return &Detector{rules: rules}
}

// Find returns every credential in text, in order of position.
func (d *Detector) Find(text string) []Finding {
	lower := strings.ToLower(text)
	var out []Finding
	for _, r := range d.rules {
		if len(r.Keywords) > 0 && !containsAny(lower, r.Keywords) {
			continue
		}
		for _, m := range r.Regex.FindAllStringSubmatchIndex(text, -1) {
			g := r.SecretGroup
			if 2*g+1 >= len(m) || m[2*g] < 0 {
				continue
			}
			secret := text[m[2*g]:m[2*g+1]]
			if r.Entropy > 0 && Entropy(secret) < r.Entropy {
				continue
			}
			if Placeholder(secret) {
				continue
			}
			out = append(out, Finding{RuleID: r.ID, Description: r.Description, Secret: secret, Start: m[2*g], End: m[2*g+1]})
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Start < fs[j-1].Start; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

func containsAny(lower string, keywords []string) bool {
	for _, k := range keywords {
		if strings.Contains(lower, k) {
			return true
		}
	}
	return false
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

var placeholderRE = regexp.MustCompile(`(?i)^(\$\{\{?.*\}\}?|\$[A-Z_][A-Z0-9_]*|<[^>]*>|x{6,}|\*{3,}|.*(changeme|change_me|example|placeholder|dummy|your[_-]?(token|key|secret|password)|redacted|not[_-]?a[_-]?secret).*)$`)

// Placeholder reports whether s is obviously not a real credential: a variable reference
// (${VAR}, $VAR, ${{ secrets.X }}), an <angle-bracket> placeholder, or a word such as changeme or
// example.
func Placeholder(s string) bool { return placeholderRE.MatchString(strings.TrimSpace(s)) }

// Redact shows the first four characters of a secret and hides the rest, so that a person can
// tell which credential leaked without the finding leaking it again.
func Redact(secret string) string {
	if len(secret) <= 8 {
		return "****"
	}
	return secret[:4] + strings.Repeat("*", 8)
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
