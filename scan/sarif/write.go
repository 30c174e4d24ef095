package sarif

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/rampart-ci/rampart/scan"
)

const (
	toolName = "rampart"
	toolURI  = "https://github.com/rampart-ci/rampart"
	// fingerprintKey names Rampart's fingerprint among a result's partialFingerprints; GitHub
	// keeps alerts with equal partial fingerprints as one alert across runs.
	fingerprintKey = "rampart/v1"
	// srcRoot is the base id of every location: the root of the scanned tree, which GitHub
	// resolves to the repository's checkout.
	srcRoot = "%SRCROOT%"
)

// Write writes findings as a SARIF 2.1.0 log of one run of the tool "rampart" (toolVersion is
// its version) that GitHub code scanning accepts: one rule per rule id, with a description,
// help (the fix), a "security-severity" GitHub ranks alerts by and tags; one result per finding
// with its level, message, location relative to the scanned root and the partial fingerprint
// "rampart/v1", so that an alert stays one alert while code moves. Findings of other tools
// (Scanner "sarif") keep their tool in the rule id: "gosec/G101".
//
// Severities map to security-severity 9.5 (critical), 8.0 (high), 5.5 (medium), 2.0 (low) and
// 0.0 (info), and to the levels error (critical, high), warning (medium) and note. Read gives the
// findings back as they were.
func Write(w io.Writer, findings []scan.Finding, toolVersion string) error {
	log := sarif.NewReport()
	run := sarif.NewRunWithInformationURI(toolName, toolURI)
	if toolVersion != "" {
		run.Tool.Driver.WithVersion(toolVersion)
	}

	// One rule per id, in id order; its severity is the highest of its findings.
	type ruleInfo struct {
		first scan.Finding
		sev   scan.Severity
		index int
	}
	rules := map[string]*ruleInfo{}
	for _, f := range findings {
		id := ruleID(f)
		if r, ok := rules[id]; !ok {
			rules[id] = &ruleInfo{first: f, sev: f.Severity}
		} else if f.Severity.Rank() > r.sev.Rank() {
			r.sev = f.Severity
		}
	}
	for i, id := range slices.Sorted(maps.Keys(rules)) {
		r := rules[id]
		r.index = i
		run.Tool.Driver.AddRule(newRule(id, r.first, r.sev))
	}

	for _, f := range findings {
		id := ruleID(f)
		res := sarif.NewResult()
		res.WithRuleID(id)
		res.RuleIndex = rules[id].index
		res.Level = level(f.Severity)
		msg := f.Message
		if msg == "" {
			msg = id
		}
		res.WithMessage(sarif.NewTextMessage(msg))
		if f.File != "" {
			al := sarif.NewArtifactLocation().WithURI(fileURI(f.File)).WithURIBaseID(srcRoot)
			pl := sarif.NewPhysicalLocation().WithArtifactLocation(al)
			if f.Line > 0 {
				region := sarif.NewRegion().WithStartLine(f.Line)
				if f.Column > 0 {
					region.WithStartColumn(f.Column)
				}
				pl.WithRegion(region)
			}
			res.AddLocation(sarif.NewLocation().WithPhysicalLocation(pl))
		}
		if f.Fingerprint != "" {
			res.WithPartialFingerprints(map[string]string{fingerprintKey: f.Fingerprint})
		}
		props := sarif.NewPropertyBag()
		props.Add("scanner", f.Scanner)
		props.Add("severity", string(f.Severity))
		for _, kv := range [][2]string{
			{"tool", f.Tool}, {"fix", f.Fix}, {"package", f.Package}, {"version", f.Version},
			{"ecosystem", f.Ecosystem}, {"fixed_version", f.FixedVersion},
		} {
			if kv[1] != "" {
				props.Add(kv[0], kv[1])
			}
		}
		if len(f.Aliases) > 0 {
			props.Add("aliases", f.Aliases)
		}
		res.WithProperties(props)
		run.AddResult(res)
	}
	log.AddRun(run)
	var raw bytes.Buffer
	if err := log.Write(&raw); err != nil {
		return fmt.Errorf("write SARIF: %w", err)
	}
	out, err := compact(raw.Bytes())
	if err != nil {
		return fmt.Errorf("write SARIF: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// compact drops from the library's log what only repeats the specification's defaults (empty
// arrays, indexes of -1, "kind": "fail", "language": "en-US", …), so that the log holds what a
// reader needs and nothing that could trip one. The results array stays even when empty: it
// says that the tool ran and found nothing.
func compact(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, _ = compactValue("", v)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// defaults are properties whose value, when equal to the given JSON, the specification implies.
var defaults = map[string]string{
	"index": "-1", "id": "-1", "rank": "-1", "byteOffset": "-1", "charOffset": "-1",
	"parentIndex": "-1", "length": "-1", "ruleIndex": "-1",
	"kind": `"fail"`, "language": `"en-US"`, "isComprehensive": "false", "enabled": "true",
	"contents":         `["localizedData","nonLocalizedData"]`,
	"newlineSequences": `["\r\n","\n"]`,
}

// compactValue returns v without defaults, and whether it says anything at all.
func compactValue(key string, v any) (any, bool) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if e, ok := compactValue("", e); ok {
				out = append(out, e)
			}
		}
		return out, len(out) > 0 || key == "results"
	case map[string]any:
		if key == "properties" || key == "partialFingerprints" || key == "fingerprints" {
			return x, len(x) > 0 // a property bag is the tool's own: kept as written
		}
		for k, e := range x {
			if d, ok := defaults[k]; ok {
				if b, err := json.Marshal(e); err == nil && string(b) == d {
					delete(x, k)
					continue
				}
			}
			if e, ok := compactValue(k, e); ok {
				x[k] = e
			} else {
				delete(x, k)
			}
		}
		return x, len(x) > 0
	}
	return v, true
}

// ruleID is the SARIF rule id of f: its own, or "tool/rule" for another tool's finding.
func ruleID(f scan.Finding) string {
	if f.Scanner == scan.ScannerSARIF && f.Tool != "" {
		return f.Tool + "/" + f.RuleID
	}
	return cmp.Or(f.RuleID, f.Scanner)
}

func newRule(id string, f scan.Finding, sev scan.Severity) *sarif.ReportingDescriptor {
	title, tags, helpURI := id, []string{"security"}, ""
	switch f.Scanner {
	case scan.ScannerSecrets:
		title = "Hard-coded secret: " + f.RuleID
		tags = append(tags, "secret", "external/cwe/cwe-798")
	case scan.ScannerDependencies:
		title = "Vulnerable dependency: " + f.RuleID
		tags = append(tags, "dependency", "external/cwe/cwe-1395")
		if f.Ecosystem != "" {
			tags = append(tags, strings.ToLower(f.Ecosystem))
		}
		helpURI = "https://osv.dev/vulnerability/" + url.PathEscape(f.RuleID)
	case scan.ScannerIaC:
		title = "Infrastructure-as-code misconfiguration: " + f.RuleID
		tags = append(tags, "iac", "configuration")
	case scan.ScannerSARIF:
		title = cmp.Or(f.Tool, "SARIF") + ": " + f.RuleID
		if f.Tool != "" {
			tags = append(tags, f.Tool)
		}
	default:
		if f.Scanner != "" {
			title = f.Scanner + ": " + f.RuleID
			tags = append(tags, f.Scanner)
		}
	}
	desc := cmp.Or(f.Message, title)
	text, md := desc, desc
	if f.Fix != "" {
		text += "\n\nFix: " + f.Fix
		md += "\n\n**Fix:** " + f.Fix
	}
	if len(f.Aliases) > 0 {
		text += "\n\nAlso known as: " + strings.Join(f.Aliases, ", ")
		md += "\n\nAlso known as: " + strings.Join(f.Aliases, ", ")
	}
	props := sarif.NewPropertyBag().WithTags(tags)
	props.Add("security-severity", securityScore(sev))
	props.Add("precision", "high")
	r := sarif.NewReportingDescriptor().
		WithID(id).
		WithShortDescription(sarif.NewMultiformatMessageString().WithText(title)).
		WithFullDescription(sarif.NewMultiformatMessageString().WithText(desc)).
		WithHelp(sarif.NewMultiformatMessageString().WithText(text).WithMarkdown(md)).
		WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level(sev))).
		WithProperties(props)
	if helpURI != "" {
		r.WithHelpURI(helpURI)
	}
	return r
}

// securityScore is the "security-severity" of a severity: the middle of GitHub's band for it.
func securityScore(s scan.Severity) string {
	switch s {
	case scan.Critical:
		return "9.5"
	case scan.High:
		return "8.0"
	case scan.Medium:
		return "5.5"
	case scan.Low:
		return "2.0"
	}
	return "0.0"
}

func level(s scan.Severity) string {
	switch s {
	case scan.Critical, scan.High:
		return sarif.LevelError
	case scan.Medium:
		return sarif.LevelWarning
	}
	return sarif.LevelNote
}

// fileURI is a relative URI reference for a slash-separated path: "dir/a b.go" → "dir/a%20b.go".
func fileURI(p string) string {
	u := url.URL{Path: p}
	return u.String()
}
