package secrets

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart/scan"
)

func newScanner(t testing.TB, c Config) *Scanner {
	t.Helper()
	s, err := NewScanner(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scanText(t testing.TB, s *Scanner, path, text string) []scan.Finding {
	t.Helper()
	fs, err := s.ScanFile(context.Background(), scan.File{Path: path, Data: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestScanFileFinding(t *testing.T) {
	s := newScanner(t, Config{})
	tok := fill("ghp_{an:36}")
	text := "package main\n\n// deploy\nconst token = \"" + tok + "\" // do not commit\n"
	fs := scanText(t, s, "cmd/deploy/main.go", text)
	if len(fs) != 1 {
		t.Fatalf("findings %+v, want one", fs)
	}
	f := fs[0]
	want := scan.Finding{Scanner: "secrets", RuleID: "github-pat", Severity: scan.High, File: "cmd/deploy/main.go",
		Line: 4, Column: 16, Message: "GitHub token", Snippet: `const token = "ghp_********" // do not commit`}
	if f.Scanner != want.Scanner || f.RuleID != want.RuleID || f.Severity != want.Severity || f.File != want.File ||
		f.Line != want.Line || f.Column != want.Column || f.Message != want.Message || f.Snippet != want.Snippet {
		t.Errorf("finding\n%+v\nwant\n%+v", f, want)
	}
	if f.Fingerprint == "" || f.Identity != identity([]byte(tok)) || f.Fix == "" {
		t.Errorf("fingerprint %q identity %q fix %q", f.Fingerprint, f.Identity, f.Fix)
	}
	if text[len("package main\n\n// deploy\n")+f.Column-1:][:len(tok)] != tok {
		t.Errorf("column %d does not point at the secret", f.Column)
	}
}

// No field of a finding shows a secret, in any of the rule table's true positives: the JSON of
// the findings contains neither the secret nor a long part of it.
func TestFindingsNeverContainSecrets(t *testing.T) {
	s := newScanner(t, Config{})
	d := New(nil)
	for _, tc := range ruleCases {
		text := fill(tc.tp)
		secrets := d.Find(text)
		fs := scanText(t, s, "config/app.env", text+"\n"+text+"\n")
		if len(fs) == 0 {
			t.Errorf("%s: no findings", tc.rule)
			continue
		}
		out, err := json.Marshal(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			v := sec.Secret
			// Any 8-byte piece after the shown prefix must be absent.
			for i := 4; i+8 <= len(v); i++ {
				piece := v[i : i+8]
				if strings.ContainsAny(piece, "\n\"\\<>&") || strings.Trim(piece, "*.-_/=") == "" {
					continue
				}
				if strings.Contains(string(out), piece) {
					t.Errorf("%s: output contains %q of the secret:\n%s", tc.rule, piece, out)
					break
				}
			}
		}
	}
}

func TestFingerprintStableAcrossLineShifts(t *testing.T) {
	s := newScanner(t, Config{})
	tok := fill("glpat-{url:20}")
	body := "GITLAB_TOKEN=" + tok + "\nAGAIN=" + tok + "\n"
	a := scanText(t, s, "ci/.env", body)
	b := scanText(t, s, "ci/.env", "# a comment\n\n# moved down\n"+body)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("findings %d and %d, want 2", len(a), len(b))
	}
	for i := range a {
		if a[i].Fingerprint != b[i].Fingerprint {
			t.Errorf("finding %d: fingerprint changed when lines were inserted above", i)
		}
		if b[i].Line != a[i].Line+3 {
			t.Errorf("finding %d: line %d, then %d", i, a[i].Line, b[i].Line)
		}
		if strings.Contains(a[i].Fingerprint, tok) {
			t.Error("fingerprint contains the secret")
		}
	}
	if a[0].Fingerprint == a[1].Fingerprint {
		t.Error("two occurrences of one secret share a fingerprint")
	}
	c := scanText(t, s, "other/.env", body)
	if c[0].Fingerprint == a[0].Fingerprint {
		t.Error("the same secret in another file has the same fingerprint")
	}
}

func TestAllowlists(t *testing.T) {
	tok := fill("ghp_{an:36}")
	line := "token = " + tok + "\n"
	re := regexp.MustCompile
	for _, tc := range []struct {
		name   string
		global []Allowlist
		rule   []Allowlist
		path   string
		want   int
	}{
		{"none", nil, nil, "a.txt", 1},
		{"global path", []Allowlist{{Paths: []*regexp.Regexp{re(`(^|/)testdata/`)}}}, nil, "pkg/testdata/a.txt", 0},
		{"global path elsewhere", []Allowlist{{Paths: []*regexp.Regexp{re(`(^|/)testdata/`)}}}, nil, "pkg/a.txt", 1},
		{"global stopword", []Allowlist{{StopWords: []string{strings.ToLower(tok[6:12])}}}, nil, "a.txt", 0},
		{"global regex on secret", []Allowlist{{Regexes: []*regexp.Regexp{re(`^ghp_`)}}}, nil, "a.txt", 0},
		{"regex on line", []Allowlist{{Regexes: []*regexp.Regexp{re(`^token = `)}, RegexTarget: "line"}}, nil, "a.txt", 0},
		{"regex on match misses", []Allowlist{{Regexes: []*regexp.Regexp{re(`^token = `)}, RegexTarget: "match"}}, nil, "a.txt", 1},
		{"rule path", nil, []Allowlist{{Paths: []*regexp.Regexp{re(`\.md$`)}}}, "README.md", 0},
		{"AND holds", nil, []Allowlist{{Condition: "AND", Paths: []*regexp.Regexp{re(`\.md$`)}, Regexes: []*regexp.Regexp{re(`^ghp_`)}}}, "README.md", 0},
		{"AND half", nil, []Allowlist{{Condition: "AND", Paths: []*regexp.Regexp{re(`\.md$`)}, Regexes: []*regexp.Regexp{re(`^gho_`)}}}, "README.md", 1},
		{"OR half", nil, []Allowlist{{Paths: []*regexp.Regexp{re(`\.md$`)}, Regexes: []*regexp.Regexp{re(`^gho_`)}}}, "README.md", 0},
		{"empty allowlist exempts nothing", []Allowlist{{Description: "empty"}}, nil, "a.txt", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := Rule{ID: "gh", Description: "GitHub token", Regex: re(`\b(ghp_[A-Za-z0-9]{36})\b`), SecretGroup: 1,
				Keywords: []string{"ghp_"}, Allowlists: tc.rule}
			s := newScanner(t, Config{Rules: []Rule{rule}, Allowlists: tc.global})
			if got := len(scanText(t, s, tc.path, line)); got != tc.want {
				t.Errorf("%d findings, want %d", got, tc.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	for _, v := range []string{"${VAR}", "$VAR", "${{ secrets.X }}", "%APPDATA%", "{{ .Values.password }}", "<your-token>",
		"changeme", "CHANGEME", "AKIAIOSFODNN7EXAMPLE", "xxxxxxxxxxxxxxxx", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"sk_live_00000000000000000000", "********", "password", "your_api_key_here", "REPLACE_ME", "abc...xyz", "TODO"} {
		if !Placeholder(v) {
			t.Errorf("Placeholder(%q) = false", v)
		}
	}
	for _, v := range []string{fill("{an:40}"), fill("{b64:64}"), "hunter2-Zk9!qLm3#x",
		"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"} {
		if Placeholder(v) {
			t.Errorf("Placeholder(%q) = true", v)
		}
	}
}

func TestWants(t *testing.T) {
	s := newScanner(t, Config{})
	for p, want := range map[string]bool{
		"main.go": true, "deploy/.env": true, "config/app.yaml": true, "id_rsa": true, "certs/client.p12": true,
		"go.sum": false, "web/package-lock.json": false, "yarn.lock": false, "static/app.min.js": false, "static/app.js.map": false,
		"web/node_modules/x/index.js": false, "logo.png": false, "dist/app.tar.gz": false, ".git/config": false,
	} {
		if got := s.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
	if s.Name() != scan.ScannerSecrets {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestScanFileSkipsBinaryLargeAndReportsKeyStores(t *testing.T) {
	s := newScanner(t, Config{MaxFileSize: 1 << 10})
	tok := fill("ghp_{an:36}")
	if fs := scanText(t, s, "bin/tool", "\x00\x01ELF token="+tok); len(fs) != 0 {
		t.Errorf("binary file: %+v", fs)
	}
	if fs := scanText(t, s, "big.txt", strings.Repeat("x", 2<<10)+" "+tok); len(fs) != 0 {
		t.Errorf("large file: %+v", fs)
	}
	fs := scanText(t, s, "certs/client.p12", "\x30\x82\x00\x00binary")
	if len(fs) != 1 || fs[0].RuleID != "pkcs12-file" || fs[0].Line != 0 {
		t.Errorf("key store: %+v", fs)
	}
	if _, err := s.Finish(context.Background()); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ScanFile(ctx, scan.File{Path: "a", Data: []byte(tok)}); err == nil {
		t.Error("ScanFile ignored a cancelled context")
	}
}

// Keywords far from the secret do not make a single-line rule run elsewhere; multi-line rules
// see their window; long lines are windowed around the keyword.
func TestWindows(t *testing.T) {
	s := newScanner(t, Config{})
	tok := fill("ghp_{an:36}")
	long := strings.Repeat("a=1;", 5000) + " token=" + tok + " " + strings.Repeat("b=2;", 5000)
	if fs := scanText(t, s, "bundle.js", long); len(fs) != 1 || fs[0].RuleID != "github-pat" {
		t.Errorf("long line: %+v", fs)
	} else if len(fs[0].Snippet) > maxSnippet+8 {
		t.Errorf("snippet of %d bytes", len(fs[0].Snippet))
	}
	key := fill("-----BEGIN OPENSSH PRIVATE KEY-----\n{b64:70}\n{b64:70}\n{b64:70}\n{b64:70}\n{b64:30}\n-----END OPENSSH PRIVATE KEY-----\n")
	text := strings.Repeat("filler line\n", 500) + key + strings.Repeat("more filler\n", 500)
	fs := scanText(t, s, "deploy/id_ed25519", text)
	if len(fs) != 1 || fs[0].RuleID != "private-key" || fs[0].Line != 501 || fs[0].Snippet != "----********" {
		t.Errorf("private key: %+v", fs)
	}
	// A custom rule without keywords runs on the whole file.
	r := Rule{ID: "internal-id", Description: "internal credential", Regex: regexp.MustCompile(`\b(INT[0-9]{12})\b`), SecretGroup: 1}
	s2 := newScanner(t, Config{Rules: []Rule{r}})
	if fs := scanText(t, s2, "a.txt", "x\ny INT839201746253 z\n"); len(fs) != 1 || fs[0].Line != 2 || fs[0].Column != 3 {
		t.Errorf("rule without keywords: %+v", fs)
	}
}

// The automaton agrees with strings.Contains on which keywords occur, case-insensitively.
func TestAutomaton(t *testing.T) {
	kws := []string{"he", "she", "his", "hers", "ghp_", "-----begin", "a", "aaa", "://"}
	a := newAutomaton(kws)
	long := strings.Repeat("xx she sells -----begin ghP_ at http://", 3000) // interleaved scans
	for _, text := range []string{"ushers", "AHISHERS", "xGHP_y", "-----BEGIN RSA", "aaaa", "http://x", "", "no match here?", long, long[1:], long[7:]} {
		counts := make([]int, len(kws))
		for _, h := range a.find([]byte(text)) {
			if !strings.EqualFold(text[h.start:h.start+len(kws[h.kw])], kws[h.kw]) {
				t.Errorf("%q: hit %q at %d", text, kws[h.kw], h.start)
			}
			counts[h.kw]++
		}
		for k, kw := range kws {
			want := 0
			low := strings.ToLower(text)
			for i := 0; i+len(kw) <= len(low); i++ {
				if low[i:i+len(kw)] == kw {
					want++
				}
			}
			if counts[k] != want {
				t.Errorf("%q: keyword %q found %d times, want %d", text, kw, counts[k], want)
			}
		}
	}
}

func TestNewScannerRejectsInvalidRules(t *testing.T) {
	for _, r := range []Rule{
		{ID: "", Regex: regexp.MustCompile(`x`)},
		{ID: "no-regex"},
		{ID: "bad-group", Regex: regexp.MustCompile(`(x)`), SecretGroup: 2},
	} {
		if _, err := NewScanner(Config{Rules: []Rule{r}}); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	if _, err := NewScanner(Config{Rules: []Rule{{ID: "x", Regex: regexp.MustCompile(`x`)}}, Allowlists: []Allowlist{{Condition: "XOR"}}}); err == nil {
		t.Error("allowlist condition XOR accepted")
	}
}

func FuzzScanFile(f *testing.F) {
	s, err := NewScanner(Config{})
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range ruleCases[:40] {
		f.Add(fill(tc.tp))
	}
	f.Add("token=ghp_Zq7R2mX9kLp4Vt8Nw3Yc6Hb1Jd5Fs0Ga2Qe7\r\npassword: \"Zk9qLm3x7Wp2\"")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n")
	f.Fuzz(func(t *testing.T, text string) {
		fs, err := s.ScanFile(context.Background(), scan.File{Path: "f.txt", Data: []byte(text)})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(text, "\n") + 1
		for _, fd := range fs {
			if fd.Line < 1 || fd.Line > lines || fd.Column < 1 || fd.Fingerprint == "" {
				t.Fatalf("finding %+v out of range (%d lines)", fd, lines)
			}
			start := lineOffset(text, fd.Line) + fd.Column - 1
			if start >= len(text) {
				t.Fatalf("finding %+v points past the end", fd)
			}
		}
		for _, fd := range New(nil).Find(text) {
			if fd.Start < 0 || fd.End > len(text) || text[fd.Start:fd.End] != fd.Secret {
				t.Fatalf("finding %+v does not locate its secret", fd)
			}
		}
	})
}

func lineOffset(text string, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		off += strings.IndexByte(text[off:], '\n') + 1
	}
	return off
}

// benchmarkSource is about 1 MB of real Go source (net/http from GOROOT) with a few credentials
// planted in it.
func benchmarkSource(b *testing.B) []byte {
	dir := filepath.Join(runtime.GOROOT(), "src", "net", "http")
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Skip("no GOROOT sources:", err)
	}
	var buf []byte
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		buf = append(buf, data...)
		if len(buf) >= 1<<20 {
			break
		}
	}
	if len(buf) < 1<<20 {
		b.Skip("less than 1 MB of sources")
	}
	buf = buf[:1<<20]
	for i, tc := range []string{"const tok = \"ghp_{an:36}\"\n", "// AKIA{b32:16}\n", "dsn := \"postgres://app:{an:16}@db/app\"\n"} {
		at := (i + 1) * len(buf) / 4
		buf = append(buf[:at:at], append([]byte(fill(tc)), buf[at:]...)...)
	}
	return buf
}

func BenchmarkScanFile(b *testing.B) {
	s, err := NewScanner(Config{})
	if err != nil {
		b.Fatal(err)
	}
	data := benchmarkSource(b)
	f := scan.File{Path: "net/http/all.go", Data: data}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		fs, err := s.ScanFile(ctx, f)
		if err != nil || len(fs) < 3 {
			b.Fatalf("%d findings, %v", len(fs), err)
		}
	}
}

// Keywords repeated thousands of times, on one line or many, take linear time: a test timeout
// here means some rule went quadratic.
func TestPathologicalInputs(t *testing.T) {
	s := newScanner(t, Config{})
	size := 128 << 10
	if raceEnabled || testing.Short() {
		size = 16 << 10
	}
	for _, unit := range []string{"curl ", "password=", "://", "-----BEGIN PRIVATE KEY-----\n", "eyJ", "token: ", "sk",
		`"type": "service_account"`, "a:b@", "xoxb-1234567890-", strings.Repeat("A", 32), "Authorization: Basic ",
		`"secret": "a1b2c3d4e5f6a7b8c9d0e1f2", `} {
		for _, sep := range []string{"", "\n", " x "} {
			data := strings.Repeat(unit+sep, size/len(unit+sep))
			t0 := time.Now()
			scanText(t, s, "f.txt", data)
			if d := time.Since(t0); d > 200*time.Millisecond {
				t.Logf("%q+%q: %v", unit, sep, d)
			}
		}
	}
}
