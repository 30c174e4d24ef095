package pipeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rampart-ci/rampart"
)

// Error is one problem found in a pipeline file. Line and Column are 1-based; both are zero
// for problems of the whole file (empty, too large). Field is the dotted path of the offending
// key, such as "jobs.build.steps[0].run", or "" when the problem is not about one key.
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Hint says what to write instead, or is "" when the message says it all.
	Hint string `json:"hint,omitempty"`
}

// Error formats e as "file:line:col: field: message; hint", the form editors and terminals
// turn into links.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Errors is the error Parse returns: every problem found in one file, sorted by position.
// It is never empty.
type Errors struct {
	List []Error `json:"errors"`
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i := range e.List {
		lines[i] = e.List[i].Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems one by one, so that errors.As can find the first *Error.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i := range e.List {
		errs[i] = &e.List[i]
	}
	return errs
}

// As lets the server and the CLI treat a bad pipeline file as the user's mistake: it fills a
// **rampart.Error with code EINVALID (ETOOLARGE for a file over the size limit), a one-line
// message and every problem in the detail. Without it the file's problems would be reported
// as "internal error".
func (e *Errors) As(target any) bool {
	t, ok := target.(**rampart.Error)
	if !ok || len(e.List) == 0 {
		return false
	}
	code := rampart.EINVALID
	if e.List[0].Message == msgTooLarge {
		code = rampart.ETOOLARGE
	}
	msg := fmt.Sprintf("%s: %d problems", e.List[0].File, len(e.List))
	if len(e.List) == 1 {
		msg = e.List[0].Error()
	}
	*t = &rampart.Error{Code: code, Message: msg, Detail: e.Error()}
	return true
}

// sortErrors orders problems by position and drops exact duplicates, which aliases can cause
// when the same bad node is reached twice.
func sortErrors(list []Error) []Error {
	slices.SortStableFunc(list, func(a, b Error) int {
		return cmp.Or(
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(list)
}

// suggest returns the candidate closest to word, or "" when none is close enough to be a
// plausible typo. Case and the choice between '-' and '_' never count as differences, since
// those are the commonest slips when people move between CI systems.
func suggest(word string, candidates []string) string {
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ToLower(s), "-", "_")
	}
	w := norm(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(w, norm(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 1
	if n := utf8.RuneCountInString(word); n >= 5 {
		limit = 2
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b in runes:
// Levenshtein plus transposition of neighbours, the commonest typo ("nmae").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Words compared here are keys and names, so capping the work keeps a hostile
	// 1 MiB key from costing a quadratic amount of time.
	if len(ra) > 128 || len(rb) > 128 {
		if a == b {
			return 0
		}
		return max(len(ra), len(rb))
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// didYouMean is the hint for a misspelt word: a suggestion when one is close, otherwise the
// list of valid choices.
func didYouMean(word string, candidates []string, what string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	if len(candidates) == 0 {
		return ""
	}
	return fmt.Sprintf("valid %s: %s", what, strings.Join(candidates, ", "))
}
