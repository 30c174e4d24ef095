package pipeline

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// errBadPattern is returned for malformed glob patterns.
var errBadPattern = errors.New("malformed pattern")

// checkGlob reports whether pattern is a valid glob: path.Match syntax, where "**" is allowed
// and matches across slashes.
func checkGlob(pattern string) error {
	if pattern == "" {
		return errors.New("empty pattern")
	}
	// path.Match checks the whole pattern even when the name does not match, and "**" is
	// valid path.Match syntax, so one call validates.
	if _, err := path.Match(pattern, ""); err != nil {
		return errBadPattern
	}
	return nil
}

// matchGlob reports whether name matches pattern. Without "**" this is exactly path.Match:
// '*' and '?' do not match '/'. "**" matches any sequence, slashes included, so that
// "release/**" covers "release/1.x/hotfix". Malformed patterns match nothing.
func matchGlob(pattern, name string) bool {
	if !strings.Contains(pattern, "**") {
		ok, err := path.Match(pattern, name)
		return ok && err == nil
	}
	re, err := globRegexp(pattern)
	if err != nil {
		return false
	}
	return re.MatchString(name)
}

// globRegexp translates pattern to an anchored regular expression. Go's regexp runs in linear
// time, which a backtracking "**" matcher would not.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	if err := checkGlob(pattern); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pattern); {
		switch c := pattern[i]; c {
		case '*':
			if strings.HasPrefix(pattern[i:], "**") {
				b.WriteString(`.*`)
				i += 2
				for i < len(pattern) && pattern[i] == '*' {
					i++
				}
				continue
			}
			b.WriteString(`[^/]*`)
			i++
		case '?':
			b.WriteString(`[^/]`)
			i++
		case '\\':
			r, n := utf8.DecodeRuneInString(pattern[i+1:])
			b.WriteString(regexp.QuoteMeta(string(r)))
			i += 1 + n
		case '[':
			n, class := globClass(pattern[i:])
			if n == 0 {
				return nil, errBadPattern
			}
			b.WriteString(class)
			i += n
		default:
			r, n := utf8.DecodeRuneInString(pattern[i:])
			b.WriteString(regexp.QuoteMeta(string(r)))
			i += n
		}
	}
	b.WriteString(`)$`)
	return regexp.Compile(b.String())
}

// globClass translates the character class at the start of p ("[...]", path.Match syntax)
// and returns its length in p, or 0 if it is malformed.
func globClass(p string) (int, string) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(p) && p[i] == '^' {
		b.WriteByte('^')
		i++
	}
	// lit reads one possibly escaped rune of the class.
	lit := func() (rune, bool) {
		if i >= len(p) {
			return 0, false
		}
		if p[i] == '\\' {
			i++
			if i >= len(p) {
				return 0, false
			}
		}
		r, n := utf8.DecodeRuneInString(p[i:])
		i += n
		return r, true
	}
	nranges, emitted := 0, 0
	for {
		if i >= len(p) {
			return 0, ""
		}
		if p[i] == ']' && nranges > 0 {
			i++
			break
		}
		lo, ok := lit()
		if !ok {
			return 0, ""
		}
		hi := lo
		if i < len(p) && p[i] == '-' {
			i++
			if hi, ok = lit(); !ok {
				return 0, ""
			}
		}
		nranges++
		// path.Match accepts a reversed range and lets it match nothing; so do we.
		if lo > hi {
			continue
		}
		// Hex escapes keep '-', '^' and ']' literal inside the regexp class.
		fmt.Fprintf(&b, `\x{%x}`, lo)
		if hi != lo {
			fmt.Fprintf(&b, `-\x{%x}`, hi)
		}
		emitted++
	}
	if emitted == 0 {
		// Every range was empty: "[…]" matches no rune and "[^…]" every rune.
		if strings.HasPrefix(b.String(), "[^") {
			return i, `[\x{0}-\x{10ffff}]`
		}
		return i, `[^\x{0}-\x{10ffff}]`
	}
	b.WriteByte(']')
	return i, b.String()
}

// MatchGlob reports whether name matches pattern, as branch and tag filters match: '*' stops at
// '/', "**" does not. Servers use it for environments' allowed branches, so that both read
// patterns the same way.
func MatchGlob(pattern, name string) bool { return matchGlob(pattern, name) }

// CheckGlob returns an error describing what is wrong with pattern, or nil.
func CheckGlob(pattern string) error { return checkGlob(pattern) }
