package iac

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart/scan"
)

func TestUserPolicies(t *testing.T) {
	s, err := New(context.Background(), WithPolicies("testdata/policies"))
	if err != nil {
		t.Fatal(err)
	}
	scanOne := func(path, src string) []scan.Finding {
		fs, err := s.ScanFile(context.Background(), scan.File{Path: path, Data: []byte(src)})
		if err != nil {
			t.Fatal(err)
		}
		var user []scan.Finding
		for _, f := range fs {
			if !strings.HasPrefix(f.RuleID, "RIAC-") {
				user = append(user, f)
			}
		}
		return user
	}

	k8s := scanOne("deploy.yaml", `apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers: [{name: a, image: "a:1"}]
`)
	want := map[string]scan.Severity{"main.deny": scan.High, "main.warn": scan.Medium}
	if len(k8s) != 2 {
		t.Fatalf("kubernetes: %+v", k8s)
	}
	for _, f := range k8s {
		if sev, ok := want[f.RuleID]; !ok || f.Severity != sev || f.Line != 5 || f.Fingerprint == "" {
			t.Errorf("kubernetes finding %+v", f)
		}
	}
	if !strings.Contains(k8s[0].Message+k8s[1].Message, "Deployment/web has no team label") {
		t.Errorf("messages: %q, %q", k8s[0].Message, k8s[1].Message)
	}

	df := scanOne("Dockerfile", "FROM alpine:latest\nUSER 1\n")
	if len(df) != 1 || df[0].RuleID != "docker.deny_latest" || df[0].Message != "do not use alpine:latest" {
		t.Errorf("dockerfile: %+v", df)
	}

	tf := scanOne("s3.tf", `resource "aws_s3_bucket" "a" {
  tags = { owner = "team-a" }
}
resource "aws_s3_bucket" "b" {
  bucket = var.name
}
`)
	if len(tf) != 1 || tf[0].RuleID != "ORG-TF-001" || tf[0].Severity != scan.Critical || tf[0].Message != "aws_s3_bucket.b has no owner tag" {
		t.Errorf("terraform: %+v", tf)
	}
}

func TestUserPoliciesOnly(t *testing.T) {
	s, err := New(context.Background(), WithPolicies("testdata/policies"), WithoutBuiltinRules())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules()) != 0 {
		t.Errorf("built-in rules loaded")
	}
	fs, err := s.ScanFile(context.Background(), scan.File{Path: "Dockerfile", Data: []byte("FROM alpine:latest\n")})
	if err != nil || len(fs) != 1 {
		t.Errorf("%v %+v", err, fs)
	}
}

func TestBadPolicies(t *testing.T) {
	for _, dir := range []string{"testdata/badpolicy", "testdata/does-not-exist", "testdata/kubernetes"} {
		_, err := New(context.Background(), WithPolicies(dir))
		if err == nil {
			t.Errorf("%s: no error", dir)
			continue
		}
		t.Log(err)
	}
	_, err := New(context.Background(), WithPolicies("testdata/badpolicy"))
	if err == nil || !strings.Contains(err.Error(), "testdata/badpolicy/bad.rego:5") {
		t.Errorf("error does not name the file and line: %v", err)
	}
}
