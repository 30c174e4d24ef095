package deps

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/rampart-ci/rampart/scan"
)

// Advisory is an OSV record (https://ossf.github.io/osv-schema/), reduced to the fields that
// matching and reporting use; the database stores records in this shape.
type Advisory struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified,omitempty"`
	Withdrawn        string          `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"` // not stored: Summary is filled from it when empty
	Severity         []SeverityEntry `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// SeverityEntry is one OSV severity: Type "CVSS_V2", "CVSS_V3", "CVSS_V4" or "Ubuntu", Score the
// vector or rating.
type SeverityEntry struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package of an advisory.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl,omitempty"`
	} `json:"package"`
	Severity          []SeverityEntry `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`

	// The advisory's severity for this package, once prepared.
	sev             scan.Severity
	rated, sevReady bool
}

// Range is an OSV range: Type "SEMVER", "ECOSYSTEM" or "GIT" (GIT ranges are not matched: we
// know versions, not commits).
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`

	// parsed holds Events parsed in the ecosystem and sorted, once prepared.
	parsed   []parsedEvent
	prepared bool
}

// Event is one event of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Vuln is an advisory that affects a package version.
type Vuln struct {
	ID       string
	Aliases  []string // other ids of the same vulnerability (CVE, GHSA, …), sorted
	Summary  string
	Severity scan.Severity
	// SeverityUnrated is set when no record of the vulnerability carries a severity; Severity is
	// then High, so that the default gate (critical or high with a fix) fails closed.
	SeverityUnrated bool
	// Fixed is the lowest fixed version above the package's version; empty when none is known.
	Fixed string
}

var (
	// errBadVersion: a package version the ecosystem's semantics cannot parse or compare.
	errBadVersion = errors.New("version cannot be compared")
	pep503        = regexp.MustCompile(`[-_.]+`)
)

// NormalizeName returns the form of a package name that the database index uses: PEP 503 for
// PyPI (lower case, runs of -_. as one -), lower case for the case-insensitive NuGet, Packagist
// and Hex, and the name unchanged elsewhere. Go module paths keep their case:
// github.com/Azure/go-ntlmssp is not github.com/azure/go-ntlmssp.
func NormalizeName(ecosystem, name string) string {
	name = strings.TrimSpace(name)
	switch baseEcosystem(ecosystem) {
	case "PyPI":
		return pep503.ReplaceAllString(strings.ToLower(name), "-")
	case "NuGet", "Packagist", "Hex":
		return strings.ToLower(name)
	}
	return name
}

// baseEcosystem drops an OSV ecosystem's suffix ("Debian:12" is "Debian").
func baseEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// parsedEvent is an event with its version parsed in the range's ecosystem.
type parsedEvent struct {
	kind int // order on ties: introduced first, so that introduced=fixed=x is not affected
	v    semantic.Version
	raw  string
	zero bool // introduced "0"
}

const (
	evIntroduced = iota
	evFixed
	evLimit
	evLastAffected
)

// affects evaluates one affected entry for a parsed version: whether it is affected and the
// lowest fixed version above it. Events whose version does not parse are skipped.
func (a *Affected) affects(eco string, v semantic.Version, raw string) (bool, string) {
	hit := false
	fixed := ""
	var fixedV semantic.Version
	for i := range a.Ranges {
		r := &a.Ranges[i]
		if r.Type != "SEMVER" && r.Type != "ECOSYSTEM" {
			continue
		}
		if !r.prepared {
			r.prepare(eco)
		}
		evs := r.parsed
		in := false
		for _, e := range evs {
			c := 1 // v compared with the event's version
			if !e.zero {
				c, _ = v.Compare(e.v)
			}
			switch e.kind {
			case evIntroduced:
				if c >= 0 {
					in = true
				}
			case evFixed, evLimit:
				if c >= 0 {
					in = false
				}
			case evLastAffected:
				if c > 0 {
					in = false
				}
			}
		}
		if !in {
			continue
		}
		hit = true
		// The fix: the lowest fixed event above v (ranges may be listed in any order).
		for _, e := range evs {
			if e.kind != evFixed {
				continue
			}
			if c, _ := v.Compare(e.v); c >= 0 {
				continue
			}
			if fixedV == nil {
				fixedV, fixed = e.v, e.raw
			} else if c, _ := e.v.Compare(fixedV); c < 0 {
				fixedV, fixed = e.v, e.raw
			}
			break // events are sorted: the first one above v is the lowest
		}
	}
	if !hit {
		for _, s := range a.Versions {
			if s == raw {
				hit = true
				break
			}
			if sv, err := semantic.Parse(s, eco); err == nil {
				if c, err := v.Compare(sv); err == nil && c == 0 {
					hit = true
					break
				}
			}
		}
	}
	return hit, fixed
}

// prepare parses and sorts the range's events in the ecosystem. Records read from a DB are
// prepared before they are shared; events whose version does not parse are left out.
func (r *Range) prepare(eco string) {
	evs := make([]parsedEvent, 0, len(r.Events))
	for _, e := range r.Events {
		pe := parsedEvent{}
		switch {
		case e.Introduced != "":
			pe.kind, pe.raw = evIntroduced, e.Introduced
			pe.zero = e.Introduced == "0"
		case e.Fixed != "":
			pe.kind, pe.raw = evFixed, e.Fixed
		case e.LastAffected != "":
			pe.kind, pe.raw = evLastAffected, e.LastAffected
		case e.Limit != "":
			pe.kind, pe.raw = evLimit, e.Limit
			if e.Limit == "*" {
				continue // no limit
			}
		default:
			continue
		}
		if !pe.zero {
			pv, err := semantic.Parse(strings.TrimPrefix(pe.raw, r.prefix(eco)), eco)
			if err != nil {
				continue
			}
			pe.v = pv
		}
		evs = append(evs, pe)
	}
	slices.SortStableFunc(evs, func(x, y parsedEvent) int {
		switch {
		case x.zero && y.zero:
		case x.zero:
			return -1
		case y.zero:
			return 1
		default:
			if c, _ := x.v.Compare(y.v); c != 0 {
				return c
			}
		}
		return x.kind - y.kind
	})
	r.parsed, r.prepared = evs, true
}

// prepare prepares every SEMVER and ECOSYSTEM range of a.
func (a *Advisory) prepare() {
	for i := range a.Affected {
		aff := &a.Affected[i]
		for j := range aff.Ranges {
			if t := aff.Ranges[j].Type; t == "SEMVER" || t == "ECOSYSTEM" {
				aff.Ranges[j].prepare(aff.Package.Ecosystem)
			}
		}
		aff.sev, aff.rated = severityOf(a, aff)
		aff.sevReady = true
	}
}

// prefix is what a range's versions may carry that the package's do not: Go's SEMVER ranges are
// written without the "v" of module versions, but be lenient with records that keep it.
func (r Range) prefix(eco string) string {
	if r.Type == "SEMVER" && baseEcosystem(eco) == "Go" {
		return "v"
	}
	return ""
}

// match returns the vulnerabilities among advs that affect eco/name@version, one per
// vulnerability: records that name each other as aliases (GO-… and GHSA-… of one bug) are
// merged, the ecosystem's own id first.
func match(advs []*Advisory, eco, name, version string) ([]Vuln, error) {
	v, err := semantic.Parse(version, eco)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadVersion, err)
	}
	norm := NormalizeName(eco, name)
	type hit struct {
		adv   *Advisory
		fixed string
		sev   scan.Severity
		rated bool
	}
	var hits []hit
	for _, a := range advs {
		if a.Withdrawn != "" {
			continue
		}
		found := false
		h := hit{adv: a}
		for i := range a.Affected {
			aff := &a.Affected[i]
			if aff.Package.Ecosystem != eco || NormalizeName(eco, aff.Package.Name) != norm {
				continue
			}
			ok, fixed := aff.affects(eco, v, version)
			if !ok {
				continue
			}
			if !found || (fixed != "" && (h.fixed == "" || less(eco, fixed, h.fixed))) {
				h.fixed = fixed
			}
			sev, rated := aff.sev, aff.rated
			if !aff.sevReady {
				sev, rated = severityOf(a, aff)
			}
			if !found || rated && (!h.rated || sev.Rank() > h.sev.Rank()) {
				h.sev, h.rated = sev, rated
			}
			found = true
		}
		if found {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	// Group the hits that are aliases of one another (union-find over ids).
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, h := range hits {
		for _, id := range append([]string{h.adv.ID}, h.adv.Aliases...) {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]hit{}
	for i, h := range hits {
		groups[find(i)] = append(groups[find(i)], h)
	}
	out := make([]Vuln, 0, len(groups))
	for _, g := range groups {
		slices.SortFunc(g, func(x, y hit) int {
			if d := idRank(x.adv.ID) - idRank(y.adv.ID); d != 0 {
				return d
			}
			return strings.Compare(x.adv.ID, y.adv.ID)
		})
		rep := g[0]
		vu := Vuln{ID: rep.adv.ID, Summary: rep.adv.Summary, Fixed: rep.fixed, Severity: scan.High, SeverityUnrated: true}
		ids := map[string]bool{}
		for _, h := range g {
			ids[h.adv.ID] = true
			for _, al := range h.adv.Aliases {
				ids[al] = true
			}
			if vu.Summary == "" {
				vu.Summary = h.adv.Summary
			}
			if vu.Fixed == "" {
				vu.Fixed = h.fixed
			}
			if h.rated && (vu.SeverityUnrated || h.sev.Rank() > vu.Severity.Rank()) {
				vu.Severity, vu.SeverityUnrated = h.sev, false
			}
		}
		delete(ids, vu.ID)
		vu.Aliases = sortedKeys(ids)
		out = append(out, vu)
	}
	slices.SortFunc(out, func(x, y Vuln) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// idRank prefers an ecosystem's own advisory id (GO-, PYSEC-, RUSTSEC-, …) over GHSA and CVE.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 2
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 0
}

func less(eco, a, b string) bool {
	va, err := semantic.Parse(a, eco)
	if err != nil {
		return a < b
	}
	c, err := va.CompareStr(b)
	if err != nil {
		return a < b
	}
	return c < 0
}

// severityOf rates an advisory for one affected package. In order: malicious packages (MAL-
// ids) are critical; informational advisories (RustSec's unmaintained/unsound) are low; a CVSS
// v3 vector gives its base score's rating; then a textual severity in database_specific or
// ecosystem_specific (GitHub's "MODERATE" and the like); then a CVSS v2 vector. rated is false
// when none of these is present (most of the Go vulnerability database); the caller decides.
func severityOf(a *Advisory, aff *Affected) (sev scan.Severity, rated bool) {
	if strings.HasPrefix(a.ID, "MAL-") {
		return scan.Critical, true
	}
	if informational(aff.DatabaseSpecific) {
		return scan.Low, true
	}
	entries := append(slices.Clone(aff.Severity), a.Severity...)
	best := -1.0
	for _, e := range entries {
		if e.Type != "CVSS_V3" && !strings.HasPrefix(e.Score, "CVSS:3.") {
			continue
		}
		if s, err := CVSS3BaseScore(e.Score); err == nil && s > best {
			best = s
		}
	}
	if best >= 0 {
		return CVSS3Rating(best), true
	}
	for _, raw := range []json.RawMessage{aff.DatabaseSpecific, aff.EcosystemSpecific, a.DatabaseSpecific} {
		var m struct {
			Severity any `json:"severity"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
			continue
		}
		if s, ok := m.Severity.(string); ok && s != "" {
			if sv, err := scan.ParseSeverity(s); err == nil && sv != scan.Info {
				return sv, true
			}
		}
	}
	for _, e := range entries {
		if e.Type != "CVSS_V2" {
			continue
		}
		if s, err := CVSS2BaseScore(e.Score); err == nil && s > best {
			best = s
		}
	}
	if best >= 0 {
		return CVSS2Rating(best), true
	}
	return scan.High, false
}

func informational(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var m struct {
		Informational *string `json:"informational"`
	}
	return json.Unmarshal(raw, &m) == nil && m.Informational != nil && *m.Informational != ""
}
