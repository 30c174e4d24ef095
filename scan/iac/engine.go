package iac

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rampart-ci/rampart/scan"
)

// builtinPolicies holds the built-in rules: policies/lib/*.rego (helpers, package
// rampart.lib.*) and policies/<kind>/*.rego, each file one rule in its own package
// rampart.iac.<kind>.<name> with a __rego_metadata__ object and a deny set.
//
//go:embed policies
var builtinPolicies embed.FS

// Rule describes one built-in rule.
type Rule struct {
	ID          string // "RIAC-K8S-001"
	Kind        Kind
	Title       string
	Severity    scan.Severity
	Description string
	Fix         string
	Package     string // Rego package, "rampart.iac.kubernetes.privileged"
}

// ruleSet is the compiled rules of one kind: one prepared query evaluating all of them.
type ruleSet struct {
	query rego.PreparedEvalQuery
	rules map[string]Rule // by the last segment of the package
}

var idPrefix = map[Kind]string{
	KindKubernetes: "RIAC-K8S-", KindTerraform: "RIAC-TF-", KindDockerfile: "RIAC-DF-",
	KindActions: "RIAC-GHA-", KindARM: "RIAC-ARM-",
}

// compileBuiltin compiles the embedded rules, one prepared query per kind, and checks their
// metadata.
func compileBuiltin(ctx context.Context, fsys fs.FS) (map[Kind]*ruleSet, []Rule, error) {
	lib, err := readModules(fsys, "policies/lib")
	if err != nil {
		return nil, nil, err
	}
	sets := map[Kind]*ruleSet{}
	var all []Rule
	ids := map[string]string{}
	for _, k := range Kinds() {
		mods, err := readModules(fsys, "policies/"+string(k))
		if err != nil {
			return nil, nil, err
		}
		if len(mods) == 0 {
			continue
		}
		prefix := "rampart.iac." + string(k) + "."
		opts := []func(*rego.Rego){}
		pkgs := map[string]string{} // leaf → file
		for name, src := range mods {
			m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return nil, nil, err
			}
			pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
			leaf, ok := strings.CutPrefix(pkg, prefix)
			if !ok || strings.Contains(leaf, ".") {
				return nil, nil, fmt.Errorf("%s: package %s: want %s<rule>", name, pkg, prefix)
			}
			if other, dup := pkgs[leaf]; dup {
				return nil, nil, fmt.Errorf("%s: package %s is also declared in %s", name, pkg, other)
			}
			pkgs[leaf] = name
			opts = append(opts, rego.ParsedModule(m))
		}
		for name, src := range lib {
			opts = append(opts, rego.Module(name, src))
		}
		base := "data.rampart.iac." + string(k)
		meta, err := rego.New(append(opts, rego.Query(base+"[rule].__rego_metadata__ = meta"))...).Eval(ctx)
		if err != nil {
			return nil, nil, err
		}
		rs := &ruleSet{rules: map[string]Rule{}}
		for _, r := range meta {
			leaf, _ := r.Bindings["rule"].(string)
			m, _ := r.Bindings["meta"].(map[string]any)
			rule, err := ruleFromMetadata(k, prefix+leaf, m)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", pkgs[leaf], err)
			}
			if other, dup := ids[rule.ID]; dup {
				return nil, nil, fmt.Errorf("%s: rule id %s is also used by %s", pkgs[leaf], rule.ID, other)
			}
			ids[rule.ID] = pkgs[leaf]
			rs.rules[leaf] = rule
			all = append(all, rule)
		}
		for leaf, file := range pkgs {
			if _, ok := rs.rules[leaf]; !ok {
				return nil, nil, fmt.Errorf("%s: no __rego_metadata__", file)
			}
		}
		rs.query, err = rego.New(append(opts, rego.Query(base+"[rule].deny[result]"))...).PrepareForEval(ctx)
		if err != nil {
			return nil, nil, err
		}
		sets[k] = rs
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return sets, all, nil
}

func ruleFromMetadata(k Kind, pkg string, m map[string]any) (Rule, error) {
	str := func(key string) string { s, _ := m[key].(string); return s }
	r := Rule{ID: str("id"), Kind: k, Title: str("title"), Description: str("description"), Fix: str("fix"), Package: pkg}
	sev, err := scan.ParseSeverity(str("severity"))
	if err != nil {
		return r, err
	}
	r.Severity = sev
	if !strings.HasPrefix(r.ID, idPrefix[k]) || r.Title == "" || r.Description == "" || r.Fix == "" || str("severity") == "" {
		return r, fmt.Errorf("metadata of %s needs id (%sNNN), title, severity, description and fix", pkg, idPrefix[k])
	}
	return r, nil
}

// readModules returns the .rego files directly in dir, by path.
func readModules(fsys fs.FS, dir string) (map[string]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".rego") || strings.HasSuffix(e.Name(), "_test.rego") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[path.Join(dir, e.Name())] = string(b)
	}
	return out, nil
}

// result is one deny result of a rule: {"msg", "line", "resource"}; a plain string is a msg.
type result struct {
	msg      string
	line     int
	resource string
	id       string
	severity string
}

func toResult(v any) result {
	switch v := v.(type) {
	case string:
		return result{msg: v}
	case map[string]any:
		r := result{}
		r.msg, _ = v["msg"].(string)
		if r.msg == "" {
			r.msg, _ = v["message"].(string)
		}
		r.line = toInt(v["line"])
		r.resource, _ = v["resource"].(string)
		r.id, _ = v["id"].(string)
		if r.id == "" {
			r.id, _ = v["rule_id"].(string)
		}
		r.severity, _ = v["severity"].(string)
		if r.msg == "" {
			b, _ := json.Marshal(v)
			r.msg = string(b)
		}
		return r
	case bool:
		return result{}
	}
	b, _ := json.Marshal(v)
	return result{msg: string(b)}
}

func toInt(v any) int {
	switch v := v.(type) {
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			f, _ := v.Float64()
			return int(f)
		}
		return int(i)
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// userRuleName matches the rules conftest evaluates: deny, violation and warn, optionally
// with a suffix (deny_privileged).
var userRuleName = regexp.MustCompile(`^(deny|violation|warn)(_[A-Za-z0-9_]+)?$`)

// userQuery is one conftest-style rule of a user policy.
type userQuery struct {
	pkg, rule string // "main", "deny"
	query     rego.PreparedEvalQuery
}

// compileUser loads every .rego file of fsys (named dir/<path> in errors) (recursively, without _test.rego files) and
// prepares a query for each deny/violation/warn rule of every package. Files in Rego v1 and
// in the older v0 syntax (deny[msg] { ... }) are both accepted.
func compileUser(ctx context.Context, fsys fs.FS, dir string) ([]userQuery, error) {
	mods := map[string]*ast.Module{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := path.Join(dir, p)
		m, err := ast.ParseModuleWithOpts(name, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			m0, err0 := ast.ParseModuleWithOpts(name, string(b), ast.ParserOptions{RegoVersion: ast.RegoV0})
			if err0 != nil {
				return err // the v1 error: that is the syntax to write
			}
			m = m0
		}
		mods[name] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("policies: no .rego files in %s", dir)
	}
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("policies: %w", c.Errors)
	}
	type key struct{ pkg, rule string }
	seen := map[key]bool{}
	var keys []key
	for _, m := range mods {
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) == 0 {
				continue
			}
			name := ref[0].Value.String()
			if !userRuleName.MatchString(name) || seen[key{pkg, name}] {
				continue
			}
			seen[key{pkg, name}] = true
			keys = append(keys, key{pkg, name})
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].pkg != keys[j].pkg {
			return keys[i].pkg < keys[j].pkg
		}
		return keys[i].rule < keys[j].rule
	})
	out := make([]userQuery, 0, len(keys))
	for _, k := range keys {
		q, err := rego.New(rego.Compiler(c), rego.Query("data."+k.pkg+"."+k.rule)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policies: %s.%s: %w", k.pkg, k.rule, err)
		}
		out = append(out, userQuery{pkg: k.pkg, rule: k.rule, query: q})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("policies: no deny, violation or warn rules in %s", dir)
	}
	return out, nil
}
