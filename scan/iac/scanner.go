package iac

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rampart-ci/rampart/scan"
)

// RuleParseError is the rule id of the info finding reported for an IaC file that does not
// parse.
const RuleParseError = "RIAC-PARSE"

// Scanner evaluates the built-in rules and the user's policies on IaC files. It is immutable
// after New and safe for concurrent use.
type Scanner struct {
	sets  map[Kind]*ruleSet
	rules []Rule
	user  []userQuery
}

type config struct {
	policyDirs []string
	noBuiltin  bool
}

// Option configures New.
type Option func(*config)

// WithPolicies adds the conftest-style policies in dir (all .rego files below it, _test.rego
// files excepted). Rules named deny, violation or warn (or deny_<x> and so on), in any
// package, are evaluated on every parsed document: for Kubernetes the object itself
// (input.kind, input.spec...), for the other kinds the form conftest gives (see Document.Plain).
// A rule may return strings or objects {"msg", "id", "severity", "line"}; deny and violation
// are high severity, warn medium, unless the object says otherwise.
func WithPolicies(dir string) Option {
	return func(c *config) { c.policyDirs = append(c.policyDirs, dir) }
}

// WithoutBuiltinRules evaluates only the user's policies.
func WithoutBuiltinRules() Option {
	return func(c *config) { c.noBuiltin = true }
}

// New compiles the built-in rules (once; a few hundred milliseconds) and the policies of
// WithPolicies. An invalid user policy is an error naming its file and line.
func New(ctx context.Context, opts ...Option) (*Scanner, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Scanner{sets: map[Kind]*ruleSet{}}
	for _, dir := range cfg.policyDirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("iac: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("iac: policies: %s is not a directory", dir)
		}
		qs, err := compileUser(ctx, os.DirFS(dir), filepath.ToSlash(dir))
		if err != nil {
			return nil, fmt.Errorf("iac: %w", err)
		}
		s.user = append(s.user, qs...)
	}
	if !cfg.noBuiltin {
		sets, rules, err := compileBuiltin(ctx, builtinPolicies)
		if err != nil {
			return nil, fmt.Errorf("iac: built-in rules: %w", err)
		}
		s.sets, s.rules = sets, rules
	}
	return s, nil
}

// Rules returns the built-in rules, ordered by id.
func (s *Scanner) Rules() []Rule { return append([]Rule(nil), s.rules...) }

// Name returns scan.ScannerIaC.
func (s *Scanner) Name() string { return scan.ScannerIaC }

// Wants reports whether path may be an IaC file: *.tf, *.tofu, *.yaml, *.yml, *.json,
// Dockerfiles and Containerfiles. The content decides the rest (ScanFile ignores YAML that is
// not Kubernetes or a workflow, and JSON that is not an ARM template).
func (s *Scanner) Wants(path string) bool { return wantsPath(path) }

// Finish returns nothing: every finding belongs to one file.
func (s *Scanner) Finish(context.Context) ([]scan.Finding, error) { return nil, nil }

// ScanFile parses f and evaluates the rules on each of its documents. A file that does not
// parse gives one info finding (RuleParseError), not an error; errors are for a cancelled
// context or a failing policy evaluation.
func (s *Scanner) ScanFile(ctx context.Context, f scan.File) ([]scan.Finding, error) {
	kind, docs, perr := Parse(f.Path, f.Data)
	if kind == "" {
		return nil, nil
	}
	var out []scan.Finding
	if perr != nil {
		out = append(out, scan.Finding{
			RuleID: RuleParseError, Severity: scan.Info, Line: errorLine(perr),
			Message:  fmt.Sprintf("%s file could not be parsed, so it was not checked: %s", kind, firstLine(perr.Error())),
			Fix:      "Fix the syntax error.",
			Identity: RuleParseError,
		})
	}
	for _, d := range docs {
		fs, err := s.evalDocument(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("iac: %s: %w", f.Path, err)
		}
		out = append(out, fs...)
	}
	seen := map[string]int{}
	for i := range out {
		out[i].Scanner = scan.ScannerIaC
		out[i].File = f.Path
		key := out[i].RuleID + "\x00" + out[i].Identity
		out[i].SetFingerprint(seen[key])
		seen[key]++
	}
	scan.Sort(out)
	return out, nil
}

// Evaluate runs the rules on one parsed document; ScanFile is Parse followed by Evaluate of
// each document. Findings have no File, Scanner or Fingerprint.
func (s *Scanner) Evaluate(ctx context.Context, d Document) ([]scan.Finding, error) {
	return s.evalDocument(ctx, d)
}

func (s *Scanner) evalDocument(ctx context.Context, d Document) ([]scan.Finding, error) {
	var out []scan.Finding
	if rs := s.sets[d.Kind]; rs != nil {
		input, err := ast.InterfaceToValue(d.Input)
		if err != nil {
			return nil, err
		}
		res, err := rs.query.Eval(ctx, rego.EvalParsedInput(input))
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			leaf, _ := r.Bindings["rule"].(string)
			rule, ok := rs.rules[leaf]
			if !ok {
				continue
			}
			v := toResult(r.Bindings["result"])
			line := v.line
			if line == 0 {
				line = d.Line
			}
			out = append(out, scan.Finding{
				RuleID: rule.ID, Severity: rule.Severity, Line: line, Message: v.msg, Fix: rule.Fix,
				Identity: identity(rule.ID, d.Address, v.resource, v.msg),
			})
		}
	}
	if len(s.user) > 0 {
		input, err := ast.InterfaceToValue(d.Plain)
		if err != nil {
			return nil, err
		}
		for _, q := range s.user {
			res, err := q.query.Eval(ctx, rego.EvalParsedInput(input))
			if err != nil {
				return nil, fmt.Errorf("policy %s.%s: %w", q.pkg, q.rule, err)
			}
			for _, r := range res {
				for _, e := range r.Expressions {
					out = append(out, userFindings(q, d, e.Value)...)
				}
			}
		}
	}
	return out, nil
}

func userFindings(q userQuery, d Document, v any) []scan.Finding {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case bool:
		if v {
			items = []any{q.pkg + "." + q.rule}
		}
	case nil:
	default:
		items = []any{v}
	}
	out := make([]scan.Finding, 0, len(items))
	for _, it := range items {
		r := toResult(it)
		id := r.id
		if id == "" {
			id = q.pkg + "." + q.rule
		}
		sev := scan.High
		if strings.HasPrefix(q.rule, "warn") {
			sev = scan.Medium
		}
		if r.severity != "" {
			if ps, err := scan.ParseSeverity(r.severity); err == nil {
				sev = ps
			}
		}
		line := r.line
		if line == 0 {
			line = d.Line
		}
		out = append(out, scan.Finding{
			RuleID: id, Severity: sev, Line: line, Message: r.msg, Tool: "policy",
			Identity: identity(id, d.Address, r.resource, r.msg),
		})
	}
	return out
}

// identity is what a finding's fingerprint is made from: the rule, the object of the file
// and the resource the rule names (or, failing that, the message), never the line.
func identity(id, address, resource, msg string) string {
	if resource == "" {
		resource = msg
	}
	return id + "\x00" + address + "\x00" + resource
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func errorLine(err error) int {
	var diags hcl.Diagnostics
	if errors.As(err, &diags) {
		for _, d := range diags {
			if d.Subject != nil {
				return d.Subject.Start.Line
			}
		}
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

var _ scan.Scanner = (*Scanner)(nil)
