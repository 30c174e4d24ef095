package iac

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart/scan"
)

func TestDetect(t *testing.T) {
	k8s := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	workflow := "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
	arm := `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "resources": []}`
	tests := []struct {
		name, path, data string
		want             Kind
	}{
		{"terraform", "infra/main.tf", `resource "a" "b" {}`, KindTerraform},
		{"opentofu", "infra/main.tofu", `resource "a" "b" {}`, KindTerraform},
		{"dockerfile", "Dockerfile", "FROM alpine:3.22\n", KindDockerfile},
		{"dockerfile suffix", "build/api.Dockerfile", "FROM alpine:3.22\n", KindDockerfile},
		{"dockerfile prefix", "Dockerfile.dev", "FROM alpine:3.22\n", KindDockerfile},
		{"containerfile", "Containerfile", "FROM alpine:3.22\n", KindDockerfile},
		{"kubernetes", "deploy/cm.yaml", k8s, KindKubernetes},
		{"workflow by path", ".github/workflows/ci.yml", "on: push\njobs: {}\n", KindActions},
		{"workflow by content", "templates/ci.yaml", workflow, KindActions},
		{"rampart pipeline", ".rampart.yml", workflow, ""},
		{"arm", "azure/main.json", arm, KindARM},
		{"package.json", "package.json", `{"name": "x", "$schema": "y"}`, ""},
		{"plain yaml", "config.yaml", "a: 1\n", ""},
		{"compose", "docker-compose.yml", "services:\n  web:\n    image: nginx\n", ""},
		{"helm template", "chart/templates/deploy.yaml", "apiVersion: v1\nkind: {{ .Values.kind }}\nmetadata:\n  name: {{ include \"x\" . }}\n  {{- with .Values.labels }}\n", ""},
		{"go file", "main.go", "package main", ""},
		{"go file named dockerfile", "scan/iac/dockerfile.go", "package iac", ""},
		{"dockerfile template", "Dockerfile.j2", "FROM {{ base }}", ""},
		{"terraform json", "main.tf.json", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Parse(tt.path, []byte(tt.data))
			if got != tt.want {
				t.Errorf("Parse(%q) kind = %q (err %v), want %q", tt.path, got, err, tt.want)
			}
			if tt.want != "" && !wantsPath(tt.path) {
				t.Errorf("Wants(%q) = false", tt.path)
			}
		})
	}
}

func TestParseDockerfile(t *testing.T) {
	src := "# escape=\\\n" +
		"# a comment\n" +
		"FROM --platform=$BUILDPLATFORM golang:1.26 AS build\n" + // 3
		"RUN apt-get update \\\n" + // 4
		"    # a comment inside\n" +
		"\n" +
		"    && apt-get install -y git\n" +
		"ENV A=1 B=\"two words\"\n" + // 8
		"ENV LEGACY value with spaces\n" + // 9
		"CMD [\"/app\", \"--flag\"]\n" + // 10
		"RUN <<EOF\n" + // 11
		"set -e\n" +
		"curl https://x | sh\n" +
		"EOF\n" +
		"FROM scratch\n" + // 15
		"COPY --from=build /out /\n"
	ins := parseDockerfileInstructions([]byte(src))
	type want struct {
		cmd   string
		line  int
		value string
		stage int
	}
	wants := []want{
		{"from", 3, "golang:1.26 AS build", 0},
		{"run", 4, "apt-get update && apt-get install -y git", 0},
		{"env", 8, `A=1 B="two words"`, 0},
		{"env", 9, "LEGACY value with spaces", 0},
		{"cmd", 10, `["/app", "--flag"]`, 0},
		{"run", 11, "<<EOF", 0},
		{"from", 15, "scratch", 1},
		{"copy", 16, "/out /", 1},
	}
	if len(ins) != len(wants) {
		t.Fatalf("got %d instructions: %+v", len(ins), ins)
	}
	for i, w := range wants {
		g := ins[i]
		if g.Cmd != w.cmd || g.Line != w.line || g.Value != w.value || g.Stage != w.stage {
			t.Errorf("instruction %d = {%s %d %q %d}, want %+v", i, g.Cmd, g.Line, g.Value, g.Stage, w)
		}
	}
	if ins[0].Flags[0] != "--platform=$BUILDPLATFORM" || ins[7].Flags[0] != "--from=build" {
		t.Errorf("flags: %v %v", ins[0].Flags, ins[7].Flags)
	}
	if !ins[4].JSON || len(ins[4].Args) != 2 || ins[4].Args[1] != "--flag" {
		t.Errorf("JSON form: %+v", ins[4])
	}
	if len(ins[5].Heredocs) != 1 || !strings.Contains(ins[5].Heredocs[0], "curl https://x | sh") || ins[5].EndLine != 14 {
		t.Errorf("heredoc: %+v", ins[5])
	}
	pairs := keyValues("env", ins[2].Value)
	if len(pairs) != 2 || pairs[1].(map[string]any)["value"] != "two words" {
		t.Errorf("pairs: %v", pairs)
	}
	legacy := keyValues("env", ins[3].Value)
	if len(legacy) != 1 || legacy[0].(map[string]any)["value"] != "value with spaces" {
		t.Errorf("legacy ENV: %v", legacy)
	}

	// The here-document's curl | sh is seen by the rules.
	fs := scanString(t, "Dockerfile", src)
	if !hasRule(fs, "RIAC-DF-007", 11) {
		t.Errorf("curl | sh in a here-document not found: %v", ids(fs))
	}

	// The escape directive changes the continuation character.
	ins = parseDockerfileInstructions([]byte("# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nRUN dir `\n  c:\\\\\nUSER ContainerUser\n"))
	if len(ins) != 3 || ins[1].Value != `dir c:\\` || ins[2].Line != 5 {
		t.Errorf("escape directive: %+v", ins)
	}
}

func TestParseKubernetes(t *testing.T) {
	src := `---
# first
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: a
      namespace: shop
    spec:
      containers:
        - name: c
          image: nginx
---
just: yaml
`
	kind, docs, err := Parse("all.yaml", []byte(src))
	if err != nil || kind != KindKubernetes {
		t.Fatal(kind, err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents", len(docs))
	}
	if docs[0].Address != "Namespace/shop" || docs[0].Line != 3 {
		t.Errorf("doc 0: %q line %d", docs[0].Address, docs[0].Line)
	}
	if docs[1].Address != "Pod/shop/a" || docs[1].Line != 11 {
		t.Errorf("doc 1: %q line %d", docs[1].Address, docs[1].Line)
	}
	if _, ok := docs[1].Plain.(map[string]any)[lineKey]; ok {
		t.Error("plain document carries annotations")
	}
	fs := scanString(t, "all.yaml", src)
	if !hasRule(fs, "RIAC-K8S-013", 19) {
		t.Errorf("image without tag at line 19 not found: %v", ids(fs))
	}
}

func TestYAMLAliasBomb(t *testing.T) {
	src := `apiVersion: v1
kind: ConfigMap
metadata: {name: x}
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
`
	fs := scanString(t, "bomb.yaml", src)
	if len(fs) != 1 || fs[0].RuleID != RuleParseError {
		t.Errorf("want one parse error finding, got %v", ids(fs))
	}
}

func TestParseTerraform(t *testing.T) {
	src := `variable "cidr" {}

resource "aws_security_group" "web" {
  name = "web-${var.env}"
  tags = { Name = "web", Owner = var.owner }
  count = length(var.x)

  dynamic "ingress" {
    for_each = var.ports
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
}

resource "aws_iam_policy" "p" {
  policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "*", Resource = aws_s3_bucket.b.arn }] })
}
`
	_, docs, err := Parse("main.tf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := docs[0].Input
	res := in["resources"].([]any)
	sg := res[0].(map[string]any)
	if sg["address"] != "aws_security_group.web" || sg["line"] != 3 {
		t.Errorf("sg: %v %v", sg["address"], sg["line"])
	}
	attrs := sg["attributes"].(map[string]any)
	name := attrs["name"].(map[string]any)
	if name[unknownKey] != true || name["expr"] != `"web-${var.env}"` || name["refs"].([]any)[0] != "var.env" {
		t.Errorf("name: %v", name)
	}
	tags := attrs["tags"].(map[string]any)
	if tags["Name"] != "web" || tags["Owner"].(map[string]any)[unknownKey] != true {
		t.Errorf("tags: %v", tags)
	}
	if sg["lines"].(map[string]any)["tags"] != 5 {
		t.Errorf("lines: %v", sg["lines"])
	}
	ing := sg["blocks"].(map[string]any)["ingress"].([]any)[0].(map[string]any)
	if ing["line"] != 8 || ing["attributes"].(map[string]any)["protocol"] != "tcp" {
		t.Errorf("dynamic ingress: %v", ing)
	}
	pol := res[1].(map[string]any)["attributes"].(map[string]any)["policy"].(map[string]any)
	st := pol["Statement"].([]any)[0].(map[string]any)
	if st["Action"] != "*" || st["Resource"].(map[string]any)["refs"].([]any)[0] != "aws_s3_bucket.b" {
		t.Errorf("jsonencode: %v", st)
	}
	// hcl2json-compatible form.
	b, _ := json.Marshal(docs[0].Plain)
	if !strings.Contains(string(b), `"resource":{"aws_iam_policy":{"p":[{"policy":{"Statement":[{"Action":"*","Effect":"Allow","Resource":"${aws_s3_bucket.b.arn}"}]}}]}`) {
		t.Errorf("plain: %s", b)
	}

	// The ingress rule of a dynamic block has unknown ports: no port rule fires, but the
	// unknown value does not crash the rules either.
	fs := scanString(t, "main.tf", src)
	for _, f := range fs {
		if f.RuleID == "RIAC-TF-005" || f.RuleID == "RIAC-TF-010" {
			t.Errorf("unexpected %s: %s", f.RuleID, f.Message)
		}
	}
}

func TestParseWorkflow(t *testing.T) {
	for _, on := range []string{"on: pull_request_target", "on: [push, pull_request_target]", "on:\n  pull_request_target:\n    types: [opened]"} {
		src := on + `
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.head_ref }}
`
		kind, docs, err := Parse(".github/workflows/x.yaml", []byte(src))
		if err != nil || kind != KindActions {
			t.Fatal(kind, err)
		}
		in := docs[0].Input
		if _, ok := in["on"].(map[string]any)["pull_request_target"]; !ok {
			t.Errorf("%q: on = %v", on, in["on"])
		}
		fs := scanString(t, ".github/workflows/x.yaml", src)
		if !hasRule(fs, "RIAC-GHA-001", strings.Count(on, "\n")+8) {
			t.Errorf("%q: %v", on, ids(fs))
		}
	}
}

func TestParseARMNested(t *testing.T) {
	_, docs, err := Parse("t.json", []byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
 "resources": [{"type": "Microsoft.Sql/servers", "name": "s",
   "resources": [{"type": "firewallRules", "name": "all", "properties": {}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rs := docs[0].Input["resources"].([]any)
	child := rs[1].(map[string]any)
	if child["type"] != "Microsoft.Sql/servers/firewallRules" || child["name"] != "s/all" || child[lineKey] != 3 {
		t.Errorf("child: %v", child)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ path, data string }{
		{"main.tf", "resource \"a\" \"b\" {\n  x = \n}\n"},
		{".github/workflows/ci.yml", "on: push\njobs:\n  a: [\n"},
		{"k8s.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n spec: [\n"},
		{"azure.json", `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "resources": [`},
	}
	for _, tt := range tests {
		fs := scanString(t, tt.path, tt.data)
		if len(fs) != 1 || fs[0].RuleID != RuleParseError || fs[0].Severity != scan.Info {
			t.Errorf("%s: want one info parse finding, got %+v", tt.path, fs)
		}
	}
}

// TestFingerprintStable: inserting lines above a finding keeps its fingerprint.
func TestFingerprintStable(t *testing.T) {
	src := "FROM alpine:3.22\nRUN curl https://x | sh\n"
	a := scanString(t, "Dockerfile", src)
	b := scanString(t, "Dockerfile", "# hello\n\n"+src)
	fp := func(fs []scan.Finding) map[string]int {
		m := map[string]int{}
		for _, f := range fs {
			m[f.Fingerprint] = f.Line
		}
		return m
	}
	fa, fb := fp(a), fp(b)
	if len(fa) == 0 || len(fa) != len(a) {
		t.Fatalf("fingerprints not unique: %v", a)
	}
	for k, l := range fa {
		if lb, ok := fb[k]; !ok || lb != l+2 {
			t.Errorf("fingerprint %s: line %d → %d (present %v)", k, l, lb, ok)
		}
	}
}

func TestJunkNeverCrashes(t *testing.T) {
	s := testScanner(t)
	junk := []string{"", "\x00\xff\xfe", "{{{{", "[", "FROM", "RUN \\", "resource {", "apiVersion: v1\nkind: [", "---\n---\n", "on:\njobs:\n  x: 1\n"}
	for _, p := range []string{"Dockerfile", "a.tf", "a.yaml", ".github/workflows/a.yml", "a.json"} {
		for _, j := range junk {
			if _, err := s.ScanFile(context.Background(), scan.File{Path: p, Data: []byte(j)}); err != nil {
				t.Errorf("%s %q: %v", p, j, err)
			}
		}
	}
}

func scanString(t *testing.T, path, src string) []scan.Finding {
	t.Helper()
	fs, err := testScanner(t).ScanFile(context.Background(), scan.File{Path: path, Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func hasRule(fs []scan.Finding, id string, line int) bool {
	for _, f := range fs {
		if f.RuleID == id && f.Line == line {
			return true
		}
	}
	return false
}

func ids(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID+":"+itoa(f.Line))
	}
	return out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
