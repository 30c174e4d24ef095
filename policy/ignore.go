package policy

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan"
)

// IgnoreFileName is the local ignore file the CLI reads at the root of a scanned tree.
const IgnoreFileName = ".rampartignore"

// IgnoreFile is a parsed .rampartignore: findings a developer chose not to see locally, each
// entry with its reason. Only the CLI applies it; the server's gate takes waivers, which a
// person approves and which expire, so that a file in the repository cannot open the gate.
type IgnoreFile struct {
	Entries []IgnoreEntry
}

// IgnoreEntry is one line of an ignore file: a fingerprint (or a prefix of one, at least 12 hex
// digits, as the table shows them) or a rule id, and why.
type IgnoreEntry struct {
	Fingerprint string
	RuleID      string
	// Path is a slash-separated glob ("**" crosses directories) of files whose findings are
	// ignored, e.g. test fixtures that plant secrets on purpose.
	Path   string
	Reason string
	Line   int
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{12,32}$`)

// ParseIgnoreFile reads an ignore file; name is used in errors. Each line is
//
//	ENTRY  # reason
//
// where ENTRY is a fingerprint, "rule:" and a rule id, "path:" and a glob of files (with ** for
// any number of directories), or a bare rule id (anything that is not 12 to 32 lowercase hex
// digits), and the reason is required. Blank lines and lines starting
// with # are comments. Errors are EINVALID *rampart.Errors naming the file and line.
func ParseIgnoreFile(name string, r io.Reader) (*IgnoreFile, error) {
	f := &IgnoreFile{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, reason, _ := strings.Cut(line, "#")
		entry, reason = strings.TrimSpace(entry), strings.TrimSpace(reason)
		if reason == "" {
			return nil, rampart.Errorf(rampart.EINVALID, "%s:%d: %q has no reason", name, n, entry).
				WithDetail("say why after a #, e.g.: %s  # test fixture, not a real key", entry)
		}
		if strings.ContainsAny(entry, " \t") {
			return nil, rampart.Errorf(rampart.EINVALID, "%s:%d: one fingerprint or rule id per line, not %q", name, n, entry)
		}
		e := IgnoreEntry{Reason: reason, Line: n}
		switch {
		case strings.HasPrefix(entry, "rule:"):
			e.RuleID = strings.TrimPrefix(entry, "rule:")
			if e.RuleID == "" {
				return nil, rampart.Errorf(rampart.EINVALID, "%s:%d: rule: without a rule id", name, n)
			}
		case strings.HasPrefix(entry, "path:"):
			e.Path = strings.TrimPrefix(entry, "path:")
			if _, err := globRE(e.Path); e.Path == "" || err != nil {
				return nil, rampart.Errorf(rampart.EINVALID, "%s:%d: bad path pattern %q", name, n, e.Path).
					WithDetail("use a glob such as path:**/testdata/** or path:internal/*_test.go")
			}
		case hexRE.MatchString(entry):
			e.Fingerprint = entry
		default:
			e.RuleID = entry
		}
		f.Entries = append(f.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "%s:%d: %v", name, n+1, err)
	}
	return f, nil
}

// Match returns the entry that ignores fd, if any.
func (f *IgnoreFile) Match(fd scan.Finding) (IgnoreEntry, bool) {
	if f == nil {
		return IgnoreEntry{}, false
	}
	for _, e := range f.Entries {
		if e.Fingerprint != "" && fd.Fingerprint != "" && strings.HasPrefix(fd.Fingerprint, e.Fingerprint) {
			return e, true
		}
		if e.RuleID != "" && e.RuleID == fd.RuleID {
			return e, true
		}
		if e.Path != "" {
			if re, err := globRE(e.Path); err == nil && re.MatchString(fd.File) {
				return e, true
			}
		}
	}
	return IgnoreEntry{}, false
}

// Apply splits findings into those kept and those the file ignores.
func (f *IgnoreFile) Apply(findings []scan.Finding) (kept, ignored []scan.Finding) {
	for _, fd := range findings {
		if _, ok := f.Match(fd); ok {
			ignored = append(ignored, fd)
		} else {
			kept = append(kept, fd)
		}
	}
	return kept, ignored
}

// String shows an entry as it is written.
func (e IgnoreEntry) String() string {
	id := e.Fingerprint
	switch {
	case e.Path != "":
		id = "path:" + e.Path
	case id == "":
		id = "rule:" + e.RuleID
	}
	return fmt.Sprintf("%s  # %s", id, e.Reason)
}

// globRE translates a path glob to a regular expression: "**" matches any number of
// directories, "*" and "?" stay within one.
func globRE(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
