package policy_test

import (
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/scan"
)

func TestParseIgnoreFile(t *testing.T) {
	src := `# Findings we do not want to see locally.

0b8e3f3c6a1d4e2f9a7b5c3d1e0f2a4b   # test fixture key, revoked
5d2c7e9a1b3f                        # short form, as the table prints it
rule:G104                           # errors of Close are not checked on purpose
jwt # sample tokens in the docs
`
	f, err := policy.ParseIgnoreFile(".rampartignore", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(f.Entries), f.Entries)
	}
	if e := f.Entries[2]; e.RuleID != "G104" || e.Line != 5 || e.Reason != "errors of Close are not checked on purpose" {
		t.Errorf("entry 3: %+v", e)
	}
	fs := []scan.Finding{
		{Fingerprint: "0b8e3f3c6a1d4e2f9a7b5c3d1e0f2a4b", RuleID: "aws-access-key-id"},
		{Fingerprint: "5d2c7e9a1b3f4c6d8e0a2b4c6d8e0f1a", RuleID: "GHSA-x"},
		{Fingerprint: "7f1e2d3c4b5a69788796a5b4c3d2e1f0", RuleID: "G104"},
		{Fingerprint: "e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4", RuleID: "jwt"},
		{Fingerprint: "c3d4e5f60718293a4b5c6d7e8f901a2b", RuleID: "github-token"},
	}
	kept, ignored := f.Apply(fs)
	if len(kept) != 1 || kept[0].RuleID != "github-token" || len(ignored) != 4 {
		t.Errorf("kept %+v, ignored %d", kept, len(ignored))
	}
}

func TestParseIgnoreFileErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"no reason", "# ok\n0b8e3f3c6a1d4e2f9a7b5c3d1e0f2a4b\n", ".rampartignore:2: \"0b8e3f3c6a1d4e2f9a7b5c3d1e0f2a4b\" has no reason"},
		{"empty reason", "G101 #   \n", ".rampartignore:1:"},
		{"two entries", "G101 G102 # both\n", ".rampartignore:1: one fingerprint or rule id per line"},
		{"rule prefix alone", "rule: # x\n", "rule: without a rule id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.ParseIgnoreFile(".rampartignore", strings.NewReader(tt.src))
			if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(rampart.ErrorMessage(err), tt.want) {
				t.Errorf("err = %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func TestIgnorePaths(t *testing.T) {
	f, err := policy.ParseIgnoreFile(".rampartignore", strings.NewReader("path:**/testdata/**  # fixtures plant findings on purpose\npath:scan/*_test.go  # rule tables\n"))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{
		"scan/iac/testdata/k8s/fail.yaml": true,
		"testdata/x":                      true,
		"scan/secrets_test.go":            true,
		"scan/secrets/secrets_test.go":    false,
		"main.go":                         false,
		"mytestdata/x":                    false,
	} {
		if _, got := f.Match(scan.Finding{File: file, RuleID: "r"}); got != want {
			t.Errorf("%s: ignored %v, want %v", file, got, want)
		}
	}
	if _, err := policy.ParseIgnoreFile("x", strings.NewReader("path:  # nothing\n")); err == nil {
		t.Error("an empty path pattern was accepted")
	}
}
