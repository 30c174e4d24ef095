// Package scan finds security problems in a source tree in one pass: every file is read once and
// handed to each scanner (secrets, dependencies, IaC) in parallel, and their findings are
// collected with stable fingerprints so that the same problem keeps its id across runs and line
// shifts. Findings from other tools arrive as SARIF (scan/sarif) and are gated the same way.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Severity of a finding, from most to least severe.
type Severity string

const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Severities lists every severity, most severe first.
func Severities() []Severity { return []Severity{Critical, High, Medium, Low, Info} }

// Rank orders severities: Critical is 4, Info 0, an unknown severity -1.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	case Info:
		return 0
	}
	return -1
}

// ParseSeverity reads a severity name (case-insensitive; "error"/"warning"/"note" as SARIF uses
// them map to high/medium/low).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return Critical, nil
	case "high", "error":
		return High, nil
	case "medium", "moderate", "warning":
		return Medium, nil
	case "low", "note":
		return Low, nil
	case "info", "none", "":
		return Info, nil
	}
	return "", fmt.Errorf("unknown severity %q: use critical, high, medium, low or info", s)
}

// Scanner names.
const (
	ScannerSecrets      = "secrets"
	ScannerDependencies = "dependencies"
	ScannerIaC          = "iac"
	ScannerSARIF        = "sarif"
)

// Finding is one problem found. Secret values never appear in it: Snippet is redacted by the
// scanner that made it.
type Finding struct {
	Fingerprint string   `json:"fingerprint"`
	Scanner     string   `json:"scanner"`
	RuleID      string   `json:"rule_id"`
	Severity    Severity `json:"severity"`
	File        string   `json:"file"` // slash-separated, relative to the scanned root
	Line        int      `json:"line,omitempty"`
	Column      int      `json:"column,omitempty"`
	Message     string   `json:"message"`
	Fix         string   `json:"fix,omitempty"` // a fixed version or advice
	Snippet     string   `json:"snippet,omitempty"`
	// Dependency findings.
	Package      string   `json:"package,omitempty"`
	Version      string   `json:"version,omitempty"`
	Ecosystem    string   `json:"ecosystem,omitempty"`
	FixedVersion string   `json:"fixed_version,omitempty"`
	Aliases      []string `json:"aliases,omitempty"` // CVE ids and the like
	// Tool names the scanner of a SARIF finding ("gosec", "CodeQL").
	Tool string `json:"tool,omitempty"`
	// Identity is what the fingerprint is computed from when set; scanners put there what
	// identifies the finding independently of its line (the matched text's hash, the package
	// and advisory). Not serialised.
	Identity string `json:"-"`
}

// SetFingerprint computes f.Fingerprint from the scanner, rule, file and identity: not the line,
// so that the same finding keeps its id when code above it moves. occurrence tells apart equal
// findings in one file (the second identical match is occurrence 1).
func (f *Finding) SetFingerprint(occurrence int) {
	id := f.Identity
	if id == "" {
		id = f.Message
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{f.Scanner, f.RuleID, f.File, id, fmt.Sprint(occurrence)}, "\x00")))
	f.Fingerprint = hex.EncodeToString(sum[:])[:32]
}

// Fingerprint sets the fingerprint of every finding in fs that has none. Equal findings (same
// scanner, rule, file and identity) are told apart by their order in the file: the first by line
// and column is occurrence 0, the next 1, and so on, so that ids survive code moving around them.
func Fingerprint(fs []Finding) {
	type key struct{ scanner, rule, file, id string }
	groups := map[key][]int{}
	for i := range fs {
		if fs[i].Fingerprint != "" {
			continue
		}
		id := fs[i].Identity
		if id == "" {
			id = fs[i].Message
		}
		k := key{fs[i].Scanner, fs[i].RuleID, fs[i].File, id}
		groups[k] = append(groups[k], i)
	}
	for _, idx := range groups {
		slices.SortStableFunc(idx, func(a, b int) int {
			if d := fs[a].Line - fs[b].Line; d != 0 {
				return d
			}
			return fs[a].Column - fs[b].Column
		})
		for n, i := range idx {
			fs[i].SetFingerprint(n)
		}
	}
}

// File is one file of the scanned tree, read once and shared by every scanner.
type File struct {
	Path string // slash-separated, relative to the root
	Data []byte
}

// Scanner looks at files. ScanFile is called for every file the scanner accepts, from several
// goroutines at once; Finish is called once after the last file, for scanners that need the
// whole tree (a lockfile's findings depend on the advisory database, not on one file).
type Scanner interface {
	Name() string
	// Wants reports whether the scanner needs the file at path (cheap: by name).
	Wants(path string) bool
	ScanFile(ctx context.Context, f File) ([]Finding, error)
	Finish(ctx context.Context) ([]Finding, error)
}

// BinaryScanner is a Scanner that also wants binary files (a NUL byte in the first 8000 bytes),
// which Run gives no other scanner.
type BinaryScanner interface {
	Scanner
	WantsBinary(path string) bool
}

// Warner is a Scanner with something to say besides findings: a stale advisory database, a file
// it could not parse. Run collects Warnings after Finish.
type Warner interface {
	Warnings() []string
}

// Sort orders findings by severity (most severe first), file, line and rule, so that output is
// stable.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if d := b.Severity.Rank() - a.Severity.Rank(); d != 0 {
			return d
		}
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if d := a.Line - b.Line; d != 0 {
			return d
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
}
