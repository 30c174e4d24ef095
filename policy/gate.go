// Package policy decides whether findings fail a gate. The decision is written in Rego: a
// default policy (verified secrets; critical or high vulnerabilities that have a fix; high IaC
// findings; high findings of other scanners) plus custom policies in conftest's style, each
// saying why it denies. Waivers, approved by a person and always expiring, excuse single
// findings by fingerprint. A local ignore file (ParseIgnoreFile) is for the CLI alone: the
// server's gate never reads it.
package policy

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan"
)

//go:embed default.rego
var defaultPolicy string

// DefaultPolicyName is the file name the default policy is known by in errors.
const DefaultPolicyName = "rampart/default.rego"

// MaxPolicySize is the largest custom policy file accepted, in bytes.
const MaxPolicySize = 1 << 20

// Rule names a policy's package may define: deny and violation fail the gate (their messages
// are Verdict.Failures), warn does not (Verdict.Warnings). Each is a set of strings, or of
// objects with a "msg" string, as in conftest.
var (
	failRules = []string{"deny", "violation"}
	warnRules = []string{"warn"}
)

// Module is a Rego policy file.
type Module struct {
	Name   string // file name, for errors
	Source string
}

// Gate evaluates findings against the default policy and custom ones. It is immutable and safe
// for concurrent use.
type Gate struct {
	queries []query
}

type query struct {
	name string // data.pkg.rule
	fail bool
	pq   rego.PreparedEvalQuery
}

// Waiver excuses one finding, by fingerprint, until it expires: a person (Approver) accepted the
// risk for a Reason. A waiver without an expiry counts as expired: none is forever.
type Waiver struct {
	Fingerprint string    `json:"fingerprint"`
	Reason      string    `json:"reason"`
	Approver    string    `json:"approver"`
	Expires     time.Time `json:"expires"`
}

// Active reports whether w excuses findings at now.
func (w Waiver) Active(now time.Time) bool {
	return w.Fingerprint != "" && !w.Expires.IsZero() && now.Before(w.Expires)
}

// WaiverOf returns the gate's view of a stored waiver: a revoked waiver expired when it was
// revoked.
func WaiverOf(w *rampart.Waiver) Waiver {
	exp := w.ExpiresAt
	if w.RevokedAt != nil && w.RevokedAt.Before(exp) {
		exp = *w.RevokedAt
	}
	return Waiver{Fingerprint: w.Fingerprint, Reason: w.Reason, Approver: w.Approver, Expires: exp}
}

// Verdict is the gate's decision.
type Verdict struct {
	Pass bool `json:"pass"`
	// Failures are the messages of the deny rules, each naming the fingerprint of the finding
	// it is about (as the default policy does); sorted.
	Failures []string `json:"failures"`
	// Warnings are the messages of warn rules and notes about waivers that no longer count;
	// sorted.
	Warnings []string `json:"warnings,omitempty"`
	// Waived are the fingerprints of the findings an active waiver excused from the gate;
	// sorted.
	Waived []string `json:"waived,omitempty"`
}

// DefaultGate returns the gate of the default policy alone.
func DefaultGate() (*Gate, error) { return NewGate(nil) }

// LoadGate returns the gate of the default policy plus every .rego file in dir (not those
// ending in _test.rego, which are tests of the policies). A policy in any package is read: the
// deny, violation and warn rules of each package are evaluated against the same input as the
// default policy's, {"findings": [...], "waived": [...]}. A policy in package rampart.gate adds
// to the default's rules and may use its helpers (at_least, where). Errors are EINVALID
// *rampart.Errors naming the file and line.
func LoadGate(dir string) (*Gate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, rampart.Errorf(rampart.EINVALID, "gate policy directory %s does not exist", dir)
		}
		return nil, rampart.Errorf(rampart.EINVALID, "cannot read gate policy directory %s: %v", dir, err)
	}
	var mods []Module
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego") {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			return nil, rampart.Errorf(rampart.EINVALID, "cannot read %s: %v", p, err)
		}
		if st.Size() > MaxPolicySize {
			return nil, rampart.Errorf(rampart.EINVALID, "%s is larger than %d KiB", p, MaxPolicySize>>10)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, rampart.Errorf(rampart.EINVALID, "cannot read %s: %v", p, err)
		}
		mods = append(mods, Module{Name: p, Source: string(data)})
	}
	if len(mods) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "no .rego files in %s", dir).
			WithDetail("a gate policy is a Rego file with deny rules, e.g. package rampart.gate; deny contains msg if { ... }")
	}
	return NewGate(mods)
}

// NewGate returns the gate of the default policy plus custom (see LoadGate). Custom policies
// run without network access: http.send and the like are not available to them.
func NewGate(custom []Module) (*Gate, error) {
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1}
	modules := map[string]*ast.Module{}
	all := append([]Module{{Name: DefaultPolicyName, Source: defaultPolicy}}, custom...)
	for _, m := range all {
		if _, dup := modules[m.Name]; dup {
			return nil, rampart.Errorf(rampart.EINVALID, "policy %s given twice", m.Name)
		}
		mod, err := ast.ParseModuleWithOpts(m.Name, m.Source, popts)
		if err != nil {
			return nil, policyError(err)
		}
		modules[m.Name] = mod
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, policyError(compiler.Errors)
	}

	// The rules to query: every fail and warn rule of every package, in a stable order.
	type target struct {
		pkg, rule string
		fail      bool
	}
	var targets []target
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		mod := modules[name]
		pkg := mod.Package.Path.String()
		for _, r := range mod.Rules {
			head := r.Head.Ref()
			if len(head) != 1 {
				continue
			}
			rule := head[0].String()
			fail := slices.Contains(failRules, rule)
			if !fail && !slices.Contains(warnRules, rule) {
				continue
			}
			t := target{pkg, rule, fail}
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	g := &Gate{}
	for _, t := range targets {
		q := t.pkg + "." + t.rule
		pq, err := rego.New(
			rego.Compiler(compiler),
			rego.Query(q),
			rego.StrictBuiltinErrors(true), // a failing builtin is an error, never a silently missing denial
		).PrepareForEval(context.Background())
		if err != nil {
			return nil, policyError(err)
		}
		g.queries = append(g.queries, query{name: q, fail: t.fail, pq: pq})
	}
	return g, nil
}

// capabilities are OPA's built-ins minus those that reach outside: a gate policy judges the
// findings it is given, it does not fetch or look up anything.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.AllowNet = []string{}
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		switch b.Name {
		case "http.send", "net.lookup_ip_addr", "opa.runtime", "providers.aws.sign_req", "trace":
			return true
		}
		return false
	})
	return c
}

// policyError turns OPA's errors into an EINVALID error listing each as file:line: message.
func policyError(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return rampart.Errorf(rampart.EINVALID, "invalid gate policy: %v", err)
	}
	var lines []string
	for _, e := range errs {
		loc := ""
		if e.Location != nil {
			loc = fmt.Sprintf("%s:%d: ", e.Location.File, e.Location.Row)
		}
		lines = append(lines, loc+e.Message)
	}
	return rampart.Errorf(rampart.EINVALID, "invalid gate policy: %s", strings.Join(lines, "; ")).
		WithDetail("fix the policy; `opa check` shows the same errors")
}

// Evaluate judges findings. A finding whose fingerprint has an active waiver (see
// Waiver.Active) is left out of input.findings and put in input.waived and Verdict.Waived; an
// expired waiver excuses nothing and is mentioned in Verdict.Warnings. The verdict passes when
// no fail rule of any policy has a message. An error evaluating a policy is returned, never
// taken for a pass.
func (g *Gate) Evaluate(ctx context.Context, findings []scan.Finding, waivers []Waiver, now time.Time) (*Verdict, error) {
	active := map[string]bool{}
	v := &Verdict{Failures: []string{}}
	for _, w := range waivers {
		if w.Active(now) {
			active[w.Fingerprint] = true
		}
	}
	inputFindings := []scan.Finding{}
	var waived []scan.Finding
	for _, f := range findings {
		if f.Fingerprint != "" && active[f.Fingerprint] {
			waived = append(waived, f)
			v.Waived = append(v.Waived, f.Fingerprint)
		} else {
			inputFindings = append(inputFindings, f)
		}
	}
	present := map[string]bool{}
	for _, f := range findings {
		present[f.Fingerprint] = true
	}
	for _, w := range waivers {
		if !w.Active(now) && present[w.Fingerprint] && !active[w.Fingerprint] {
			if w.Expires.IsZero() {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s: the waiver has no expiry date and does not count", w.Fingerprint))
			} else {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s: the waiver approved by %s expired on %s and no longer counts",
					w.Fingerprint, w.Approver, w.Expires.UTC().Format(time.DateOnly)))
			}
		}
	}
	if waived == nil {
		waived = []scan.Finding{}
	}
	input, err := toInput(map[string]any{"findings": inputFindings, "waived": waived})
	if err != nil {
		return nil, err
	}
	for _, q := range g.queries {
		rs, err := q.pq.Eval(ctx, rego.EvalInput(input))
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", q.name, err)
		}
		msgs, err := messages(q.name, rs)
		if err != nil {
			return nil, err
		}
		if q.fail {
			v.Failures = append(v.Failures, msgs...)
		} else {
			v.Warnings = append(v.Warnings, msgs...)
		}
	}
	slices.Sort(v.Failures)
	v.Failures = slices.Compact(v.Failures)
	slices.Sort(v.Warnings)
	slices.Sort(v.Waived)
	v.Waived = slices.Compact(v.Waived)
	v.Pass = len(v.Failures) == 0
	return v, nil
}

// toInput turns the input into plain JSON values, as a policy sees them in `rampart scan
// --format json`.
func toInput(x any) (any, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// messages reads the members of a deny or warn set: strings, or objects with a "msg".
func messages(name string, rs rego.ResultSet) ([]string, error) {
	var out []string
	for _, r := range rs {
		for _, e := range r.Expressions {
			set, ok := e.Value.([]any)
			if !ok {
				return nil, rampart.Errorf(rampart.EINVALID, "gate policy rule %s is not a set", name).
					WithDetail("write it as `deny contains msg if { ... }`")
			}
			for _, m := range set {
				switch m := m.(type) {
				case string:
					out = append(out, m)
				case map[string]any:
					if s, ok := m["msg"].(string); ok {
						out = append(out, s)
						continue
					}
					b, _ := json.Marshal(m)
					out = append(out, string(b))
				default:
					b, _ := json.Marshal(m)
					out = append(out, string(b))
				}
			}
		}
	}
	return out, nil
}
