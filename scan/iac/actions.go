package iac

import (
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// isWorkflowPath reports a GitHub Actions workflow: .github/workflows/*.yml or *.yaml.
func isWorkflowPath(p string) bool {
	dir, base := path.Split(p)
	ext := strings.ToLower(path.Ext(base))
	return (ext == ".yml" || ext == ".yaml") && strings.HasSuffix(dir, ".github/workflows/")
}

// isWorkflowContent reports a YAML mapping with "on" and "jobs" whose jobs have runs-on or
// uses: a GitHub Actions workflow stored elsewhere (templates, fixtures).
func isWorkflowContent(root map[string]any) bool {
	_, hasOn := root["on"]
	jobs, ok := root["jobs"].(map[string]any)
	if !hasOn || !ok {
		return false
	}
	for k, j := range jobs {
		if k == lineKey || k == linesKey {
			continue
		}
		if jm, ok := j.(map[string]any); ok {
			if _, ok := jm["runs-on"]; ok {
				return true
			}
			if _, ok := jm["uses"]; ok {
				return true
			}
		}
	}
	return false
}

// workflowRoot parses a workflow file into its annotated root mapping (nil if it is not one).
func workflowRoot(data []byte) (map[string]any, *yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, nil, err
	}
	c := &yamlConv{annotate: true}
	v, err := c.value(&n, 0)
	if err != nil {
		return nil, nil, err
	}
	root, _ := v.(map[string]any)
	return root, &n, nil
}

// parseWorkflow normalises a GitHub Actions workflow for the rules:
//
//	{"name", "on": {event: config}, "on_line", "has_permissions", "permissions",
//	 "permissions_line", "env", "env_lines",
//	 "jobs": [{"id", "line", "name", "runs_on": [labels], "runs_on_line", "has_permissions",
//	           "permissions", "permissions_line", "if", "uses", "uses_line", "with",
//	           "secrets", "secrets_line", "env", "env_lines",
//	           "steps": [{"index", "line", "id", "name", "uses", "uses_line", "run",
//	                      "run_line", "run_start_line", "with", "with_lines", "env",
//	                      "env_lines", "if"}]}]}
//
// "on" is always an object, whether the file wrote a string, a list or a mapping. Values are
// plain (no annotations); the *_line fields carry the lines.
func parseWorkflow(root map[string]any, node *yaml.Node) []Document {
	in := map[string]any{"name": root["name"]}
	on := map[string]any{}
	switch v := plain(root["on"]).(type) {
	case string:
		on[v] = nil
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				on[s] = nil
			}
		}
	case map[string]any:
		on = v
	}
	in["on"] = on
	in["on_line"] = lineOf(root, "on")
	setPermissions(in, root)
	env, envLines := plainWithLines(root["env"])
	in["env"], in["env_lines"] = env, envLines

	jobsObj, _ := root["jobs"].(map[string]any)
	ids := make([]string, 0, len(jobsObj))
	for id := range jobsObj {
		if id != lineKey && id != linesKey {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return lineOf(jobsObj, ids[a]) < lineOf(jobsObj, ids[b]) })
	jobs := make([]any, 0, len(ids))
	scalars := runScalars(node)
	for _, id := range ids {
		j, _ := jobsObj[id].(map[string]any)
		if j == nil {
			continue
		}
		job := map[string]any{"id": id, "line": lineOf(jobsObj, id), "name": plain(j["name"]), "if": plain(j["if"])}
		job["runs_on"] = runsOn(plain(j["runs-on"]))
		job["runs_on_line"] = lineOf(j, "runs-on")
		setPermissions(job, j)
		job["uses"] = plain(j["uses"])
		job["uses_line"] = lineOf(j, "uses")
		job["with"] = plain(j["with"])
		job["secrets"] = plain(j["secrets"])
		job["secrets_line"] = lineOf(j, "secrets")
		job["container"] = plain(j["container"])
		env, envLines := plainWithLines(j["env"])
		job["env"], job["env_lines"] = env, envLines
		stepsRaw, _ := j["steps"].([]any)
		steps := make([]any, 0, len(stepsRaw))
		for i, sr := range stepsRaw {
			s, _ := sr.(map[string]any)
			if s == nil {
				continue
			}
			step := map[string]any{"index": i, "line": lineOf(s, ""), "id": plain(s["id"]), "name": plain(s["name"]), "if": plain(s["if"])}
			if u, ok := s["uses"].(string); ok {
				step["uses"] = u
				step["uses_line"] = lineOf(s, "uses")
			}
			if r, ok := s["run"].(string); ok {
				step["run"] = r
				step["run_line"] = lineOf(s, "run")
				step["run_start_line"] = lineOf(s, "run")
				if sl, ok := scalars[lineOf(s, "run")]; ok {
					step["run_start_line"] = sl
				}
			}
			with, withLines := plainWithLines(s["with"])
			step["with"], step["with_lines"] = with, withLines
			env, envLines := plainWithLines(s["env"])
			step["env"], step["env_lines"] = env, envLines
			steps = append(steps, step)
		}
		job["steps"] = steps
		jobs = append(jobs, job)
	}
	in["jobs"] = jobs
	return []Document{{Kind: KindActions, Input: in, Plain: plain(root)}}
}

func setPermissions(dst, src map[string]any) {
	p, ok := src["permissions"]
	dst["has_permissions"] = ok
	dst["permissions"] = plain(p)
	dst["permissions_line"] = lineOf(src, "permissions")
}

func runsOn(v any) []any {
	switch v := v.(type) {
	case string:
		return []any{v}
	case []any:
		return v
	case map[string]any:
		out := []any{}
		if g, ok := v["group"].(string); ok {
			out = append(out, "group:"+g)
		}
		switch l := v["labels"].(type) {
		case string:
			out = append(out, l)
		case []any:
			out = append(out, l...)
		}
		return out
	}
	return []any{}
}

func plainWithLines(v any) (map[string]any, map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, map[string]any{}
	}
	lines, _ := m[linesKey].(map[string]any)
	if lines == nil {
		lines = map[string]any{}
	}
	return plain(m).(map[string]any), lines
}

// runScalars maps the line of each "run:" key to the first line of its script: the next line
// for block scalars (| and >), the same line otherwise.
func runScalars(n *yaml.Node) map[int]int {
	out := map[int]int{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "run" && v.Kind == yaml.ScalarNode {
					if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
						out[k.Line] = v.Line + 1
					} else {
						out[k.Line] = v.Line
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}
