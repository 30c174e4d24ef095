// Package iac checks infrastructure as code for insecure settings: Terraform (HCL), Kubernetes
// manifests, Dockerfiles, GitHub Actions workflows and Azure Resource Manager templates.
//
// Each file is parsed into a JSON-like document that keeps line numbers, and Rego policies
// (OPA) are evaluated on it. The built-in rules are embedded (policies/<kind>/*.rego, one
// package per rule under rampart.iac.<kind>); users add conftest-style policies with
// WithPolicies. The Scanner implements scan.Scanner.
//
// A built-in rule is one file, policies/<kind>/<name>.rego, in package
// rampart.iac.<kind>.<name>, with a __rego_metadata__ object (id RIAC-<K8S|TF|DF|GHA|ARM>-NNN,
// title, severity, description, fix) and a deny set of {"msg", "line", "resource"} objects;
// "resource" names what the finding is about (a container, a resource address, a job's step)
// so that its fingerprint survives line shifts. Shared helpers live in policies/lib
// (package rampart.lib.*). Each rule has testdata/<kind>/<id>/fail.<ext>, pass.<ext> and
// expect (the line the failing fixture must be reported at); TestRuleFixtures runs them all.
package iac

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// Kind is a kind of IaC file.
type Kind string

// The kinds of file the package reads. The value is also the Rego package segment of the
// kind's rules (rampart.iac.<kind>.<rule>).
const (
	KindTerraform  Kind = "terraform"
	KindKubernetes Kind = "kubernetes"
	KindDockerfile Kind = "dockerfile"
	KindActions    Kind = "actions"
	KindARM        Kind = "arm"
)

// Kinds lists every kind.
func Kinds() []Kind {
	return []Kind{KindTerraform, KindKubernetes, KindDockerfile, KindActions, KindARM}
}

// Document is one parsed unit that policies run on: a Kubernetes object, or a whole file for
// the other kinds.
type Document struct {
	Kind Kind
	// Line is where the document starts in the file (Kubernetes objects); 0 for whole files.
	Line int
	// Address names the document within its file ("Deployment/prod/web"); "" for whole files.
	Address string
	// Input is the document for the built-in rules: normalised and annotated with lines (see
	// the parse functions of each kind).
	Input map[string]any
	// Plain is the document as conftest would give it to a policy, without annotations.
	Plain any
}

// maxFileSize is the largest file the scanner parses; IaC files are far smaller, and larger
// YAML or JSON is generated data.
const maxFileSize = 4 << 20

// wantsPath reports whether a file may be IaC, by its name only.
func wantsPath(p string) bool {
	if isDockerfileName(p) || isWorkflowPath(p) {
		return true
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".tf", ".tofu", ".yaml", ".yml", ".json":
		return !strings.HasSuffix(strings.ToLower(p), ".tf.json")
	}
	return false
}

// Parse detects the kind of the file at p (slash-separated) from its name and content and
// parses it. It returns kind "" and no error for files that are not IaC. A file of a known
// kind that does not parse returns its kind and the error; documents parsed before the error
// (earlier objects of a multi-document YAML file) are returned with it.
func Parse(p string, data []byte) (Kind, []Document, error) {
	if len(data) > maxFileSize {
		return "", nil, nil
	}
	if isDockerfileName(p) {
		docs, err := parseDockerfile(data)
		return KindDockerfile, docs, err
	}
	ext := strings.ToLower(path.Ext(p))
	switch ext {
	case ".tf", ".tofu":
		docs, err := parseTerraform(p, data)
		return KindTerraform, docs, err
	case ".json":
		if !looksLikeARM(data) {
			return "", nil, nil
		}
		docs, err := parseARM(data)
		if err != nil {
			return KindARM, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if len(docs) == 0 {
			return "", nil, nil
		}
		return KindARM, docs, nil
	case ".yaml", ".yml":
		return parseYAML(p, data)
	}
	return "", nil, nil
}

func parseYAML(p string, data []byte) (Kind, []Document, error) {
	base := strings.ToLower(path.Base(p))
	if base == ".rampart.yml" || base == ".rampart.yaml" {
		return "", nil, nil // Rampart's own pipelines: checked by package pipeline
	}
	workflow := isWorkflowPath(p)
	if workflow || bytes.Contains(data, []byte("jobs")) {
		root, node, err := workflowRoot(data)
		if err != nil {
			if workflow {
				return KindActions, nil, err
			}
		} else if root != nil && (workflow || isWorkflowContent(root)) {
			return KindActions, parseWorkflow(root, node), nil
		} else if workflow {
			return "", nil, nil
		}
	}
	if !looksLikeKubernetes(data) {
		return "", nil, nil
	}
	docs, err := parseKubernetes(data)
	if err != nil && len(docs) == 0 && isTemplated(data) {
		return "", nil, nil // a Helm template: valid only after rendering
	}
	if len(docs) == 0 && err == nil {
		return "", nil, nil
	}
	if err != nil && len(docs) == 0 && !bytes.Contains(data, []byte("apiVersion:")) {
		return "", nil, nil
	}
	return KindKubernetes, docs, err
}
