package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A team's existing .gitleaks.toml: extends the defaults, adds a rule, changes a default rule,
// disables one, and has global and per-rule allowlists of both spellings.
const teamConfig = `
title = "team config"

[extend]
useDefault = true
disabledRules = ["twilio-api-key"]

[[rules]]
id = "acme-internal-token"
description = "ACME internal token"
regex = '''\b(acme_[a-z0-9]{32})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["ACME_"]
tags = ["internal"]

  [[rules.allowlists]]
  description = "test fixtures"
  condition = "AND"
  paths = ['''(^|/)fixtures/''']
  regexes = ['''^acme_0''']

[[rules]]
id = "github-pat"
description = "GitHub personal access token"
[rules.allowlist]
stopwords = ["zzzz"]

[allowlist]
description = "global"
paths = ['''(^|/)third_party/''']
stopwords = ["notsecret"]

[[allowlists]]
description = "docs examples for the ACME rule"
targetRules = ["acme-internal-token"]
regexTarget = "line"
regexes = ['''# example$''']
`

func TestGitleaksConfig(t *testing.T) {
	rules, al, err := ParseGitleaksConfig([]byte(teamConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(DefaultRules()) { // one disabled, one added
		t.Errorf("%d rules, want %d", len(rules), len(DefaultRules()))
	}
	s := newScanner(t, Config{Rules: rules, Allowlists: al})
	acme := fill("acme_{lo:32}")
	gh := fill("ghp_{an:36}")
	cases := []struct {
		name, path, text string
		want             []string // rule ids
	}{
		{"custom rule", "svc/config.go", "tok := \"" + acme + "\"\n", []string{"acme-internal-token"}},
		{"custom keyword is case-insensitive", "svc/a.txt", "x " + acme + "\n", []string{"acme-internal-token"}},
		{"rule allowlist AND: both hold", "svc/fixtures/a.txt", "acme_0" + acme[6:] + "\n", nil},
		{"rule allowlist AND: path only", "svc/fixtures/a.txt", acme + "\n", []string{"acme-internal-token"}},
		{"targeted global allowlist", "docs/a.md", acme + " # example\n", nil},
		{"global path", "third_party/lib/a.go", acme + " " + gh + "\n", nil},
		{"global stopword", "a.txt", "acme_notsecret" + acme[14:] + "\n", nil},
		{"global stopword control", "a.txt", "acme_n0tsecret" + acme[14:] + "\n", []string{"acme-internal-token"}},
		{"default rule kept, description changed", "a.txt", "t=" + gh + "\n", []string{"github-pat"}},
		{"default rule's added allowlist", "a.txt", "t=ghp_zzzz" + gh[8:] + "\n", nil},
		{"disabled default rule", "a.txt", fill("k=SK{hex:32}") + "\n", nil},
		{"default allowlists still apply", "a.txt", "id=AKIAIOSFODNN7EXAMPLE\n", nil},
		{"default lockfile path", "go.sum", gh + "\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range scanText(t, s, tc.path, tc.text) {
				got = append(got, f.RuleID)
				if f.RuleID == "github-pat" && f.Message != "GitHub personal access token" {
					t.Errorf("message %q", f.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGitleaksConfigExtendPathAndStandalone(t *testing.T) {
	dir := t.TempDir()
	base := `
[[rules]]
id = "base-rule"
regex = '''base_[0-9]{8}'''
keywords = ["base_"]
[[rules]]
id = "keystore"
path = '''\.jks$'''
`
	top := `
[extend]
path = "base.toml"
[[rules]]
id = "top-rule"
regex = '''top_[0-9]{8}'''
keywords = ["top_"]
`
	if err := os.WriteFile(filepath.Join(dir, "base.toml"), []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitleaks.toml"), []byte(top), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, al, err := LoadGitleaksConfig(filepath.Join(dir, ".gitleaks.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rules {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "base-rule,keystore,top-rule" || al == nil || len(al) != 0 {
		t.Fatalf("rules %v, allowlists %v", ids, al)
	}
	s := newScanner(t, Config{Rules: rules, Allowlists: al})
	fs := scanText(t, s, "a.txt", "base_73829104 top_51928374 "+fill("ghp_{an:36}"))
	if len(fs) != 2 || fs[0].RuleID != "base-rule" || fs[1].RuleID != "top-rule" {
		t.Errorf("findings %+v: want the two custom rules only (no defaults without useDefault)", fs)
	}
	if fs := scanText(t, s, "keys/release.jks", "\x00binary"); len(fs) != 1 || fs[0].RuleID != "keystore" {
		t.Errorf("path rule: %+v", fs)
	}
}

func TestGitleaksConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"lookahead", `[[rules]]
id = "pcre-rule"
regex = '''token(?=[0-9]{8})'''`, `rule "pcre-rule": regex: uses a lookahead`},
		{"lookbehind", `[[rules]]
id = "lb"
regex = '''(?<!x)key_[0-9]+'''`, `rule "lb": regex: uses a lookbehind`},
		{"backreference", `[[rules]]
id = "br"
regex = '''(['"])[a-z]{8}\1'''`, `rule "br": regex: uses a backreference`},
		{"possessive", `[[rules]]
id = "pos"
regex = '''a++b'''`, `rule "pos": regex: uses a possessive quantifier`},
		{"bad allowlist regex", `[[rules]]
id = "al"
regex = '''x_[0-9]+'''
[[rules.allowlists]]
regexes = ['''(?!y)''']`, `rule "al": allowlists[0]: regexes: uses a lookahead`},
		{"no regex no path", `[[rules]]
id = "empty"`, `rule "empty": has neither regex nor path`},
		{"bad secret group", `[[rules]]
id = "grp"
regex = '''x([0-9]+)'''
secretGroup = 3`, `rule "grp": secretGroup 3`},
		{"unknown target", `[[allowlists]]
targetRules = ["nope"]
regexes = ['''x''']`, `targetRules: no rule "nope"`},
		{"unknown disabled", `[extend]
useDefault = true
disabledRules = ["nope"]`, `disabledRules: no rule "nope"`},
		{"condition", `[allowlist]
condition = "XOR"
paths = ['''x''']`, `condition "XOR"`},
		{"composite", `[[rules]]
id = "comp"
regex = '''x'''
[[rules.required]]
id = "other"`, `composite rules`},
		{"url", `[extend]
url = "https://example.org/gitleaks.toml"`, `url is not supported`},
		{"toml syntax", "[[rules]\nid = 1", `gitleaks config:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseGitleaksConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
