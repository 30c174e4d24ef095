package sarif_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gosarif "github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/xeipuuv/gojsonschema"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan"
	"github.com/rampart-ci/rampart/scan/sarif"
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files in testdata")

// separator divides a golden file's input from its expected output.
const separator = "----------\n"

// golden runs convert on the input of every file in dir and compares with the expected output.
func golden(t *testing.T, dir string, convert func(t *testing.T, input []byte) []byte) {
	names, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden files in testdata/%s: %v", dir, err)
	}
	for _, name := range names {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := bytes.Cut(data, []byte("\n"+separator))
			if !ok {
				t.Fatalf("%s: no %q line between input and expected output", name, strings.TrimSpace(separator))
			}
			input = append(input, '\n')
			got := convert(t, input)
			if *update {
				out := append(append(input, separator...), got...)
				if err := os.WriteFile(name, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from the golden file (go test -run %s -update rewrites it):\n%s", name, t.Name(), got)
			}
		})
	}
}

func TestReadGolden(t *testing.T) {
	golden(t, "read", func(t *testing.T, input []byte) []byte {
		fs, err := sarif.Options{Root: "/home/runner/work/app/app"}.Read(bytes.NewReader(input), "input.sarif")
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.MarshalIndent(fs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(out, '\n')
	})
}

func TestWriteGolden(t *testing.T) {
	golden(t, "write", func(t *testing.T, input []byte) []byte {
		var fs []scan.Finding
		if err := json.Unmarshal(input, &fs); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := sarif.Write(&out, fs, "1.4.0"); err != nil {
			t.Fatal(err)
		}
		validate(t, out.Bytes())
		return out.Bytes()
	})
}

// validate checks a log against the SARIF 2.1.0 schema and what GitHub code scanning requires
// beyond it.
func validate(t *testing.T, data []byte) {
	t.Helper()
	schema, err := os.ReadFile("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors() {
		t.Errorf("not valid SARIF 2.1.0: %s", e)
	}
	log, err := gosarif.FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name == nil || *log.Runs[0].Tool.Driver.Name != "rampart" {
		t.Fatal("want one run of the tool rampart")
	}
	run := log.Runs[0]
	for _, r := range run.Tool.Driver.Rules {
		if r.ShortDescription == nil || r.Help == nil || r.Properties == nil || r.Properties.Properties["security-severity"] == nil {
			t.Errorf("rule %s lacks a short description, help or security-severity", *r.ID)
		}
		if len(r.Properties.Tags) > 20 {
			t.Errorf("rule %s has %d tags; GitHub keeps 20", *r.ID, len(r.Properties.Tags))
		}
	}
	for i, res := range run.Results {
		if res.RuleID == nil || res.Message == nil || res.Message.Text == nil || *res.Message.Text == "" {
			t.Errorf("result %d lacks a rule id or message", i)
		}
		if res.RuleIndex < 0 || res.RuleIndex >= len(run.Tool.Driver.Rules) || *run.Tool.Driver.Rules[res.RuleIndex].ID != *res.RuleID {
			t.Errorf("result %d: ruleIndex %d does not point at rule %s", i, res.RuleIndex, *res.RuleID)
		}
		for _, l := range res.Locations {
			if u := l.PhysicalLocation.ArtifactLocation.URI; u == nil || strings.HasPrefix(*u, "/") || strings.Contains(*u, " ") {
				t.Errorf("result %d: location URI %v is not a relative URI reference", i, u)
			}
		}
	}
}

// TestRoundTrip: Rampart's own log reads back as the findings written.
func TestRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/write/mixed.txt")
	if err != nil {
		t.Fatal(err)
	}
	input, _, _ := bytes.Cut(data, []byte("\n"+separator))
	var want []scan.Finding
	if err := json.Unmarshal(input, &want); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sarif.Write(&buf, want, "dev"); err != nil {
		t.Fatal(err)
	}
	got, err := sarif.Read(&buf, "rampart.sarif")
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Snippet = "" // not written: a secret's redacted text has no place in an upload
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("read back:\n%s", g)
	}
}

// TestReadFingerprints: a result keeps its fingerprint when lines move, and tools' own
// fingerprints are used.
func TestReadFingerprints(t *testing.T) {
	doc := func(line int, fp string) string {
		pf := ""
		if fp != "" {
			pf = `, "partialFingerprints": {"primaryLocationLineHash": "` + fp + `"}`
		}
		return `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "gosec"}}, "results": [
			{"ruleId": "G101", "message": {"text": "Potential hardcoded credentials"}` + pf + `,
			 "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.go"}, "region": {"startLine": ` + string(rune('0'+line)) + `}}}]}]}]}`
	}
	read := func(s string) string {
		t.Helper()
		fs, err := sarif.Read(strings.NewReader(s), "x.sarif")
		if err != nil || len(fs) != 1 {
			t.Fatalf("Read: %v, %d findings", err, len(fs))
		}
		return fs[0].Fingerprint
	}
	if read(doc(3, "")) != read(doc(7, "")) {
		t.Error("fingerprint changed with the line")
	}
	if read(doc(3, "aaaa:1")) == read(doc(3, "bbbb:1")) {
		t.Error("different partialFingerprints, same fingerprint")
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		opts      sarif.Options
		code      string
		want      string
	}{
		{"not json", "{\n  \"version\": \"2.1.0\",\n  runs: []\n}", sarif.Options{}, rampart.EINVALID, "x.sarif:3:3: not valid JSON"},
		{"truncated", `{"version": "2.1.0", "runs": [`, sarif.Options{}, rampart.EINVALID, "ends early"},
		{"not sarif", `{"findings": []}`, sarif.Options{}, rampart.EINVALID, `no "version"`},
		{"no runs", `{"version": "2.1.0"}`, sarif.Options{}, rampart.EINVALID, `no "runs"`},
		{"old version", `{"version": "1.0.0", "runs": []}`, sarif.Options{}, rampart.EINVALID, `SARIF version "1.0.0" is not supported`},
		{"wrong type", "{\"version\": \"2.1.0\",\n\"runs\": {}}", sarif.Options{}, rampart.EINVALID, "x.sarif:2:9: not SARIF 2.1.0: runs is a JSON object, want an array"},
		{"array", `[]`, sarif.Options{}, rampart.EINVALID, "not SARIF"},
		{"too large", `{"version": "2.1.0", "runs": []}`, sarif.Options{MaxSize: 10}, rampart.ETOOLARGE, "larger than"},
		{"too many results", `{"version": "2.1.0", "runs": [{"results": [{}, {}, {}]}]}`, sarif.Options{MaxResults: 2}, rampart.ETOOLARGE, "3 results, more than 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.Read(strings.NewReader(tt.doc), "x.sarif")
			if rampart.ErrorCode(err) != tt.code || !strings.Contains(rampart.ErrorMessage(err), tt.want) {
				t.Errorf("err = %v; want code %s and a message containing %q", err, tt.code, tt.want)
			}
		})
	}
}

// TestReadLenient: what is missing is filled in rather than refused.
func TestReadLenient(t *testing.T) {
	doc := `{"version": "2.1.0", "runs": [null, {"results": [null, {"message": {}}, {"ruleId": "R1", "level": "none",
		"message": {"id": "default", "arguments": ["x"]}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/%E2%9C%93.py"}}}]}],
		"tool": {"driver": {"name": "custom", "rules": [{"id": "R1", "messageStrings": {"default": {"text": "bad {0} here {1}"}}}]}}}]}`
	fs, err := sarif.Read(strings.NewReader(doc), "x.sarif")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2: %+v", len(fs), fs)
	}
	if fs[0].Tool != "custom" || fs[0].Severity != scan.Medium || fs[0].File != "" {
		t.Errorf("bare result: %+v", fs[0])
	}
	if f := fs[1]; f.Message != "bad x here {1}" || f.Severity != scan.Info || f.File != "src/✓.py" {
		t.Errorf("result with a message string: %+v", f)
	}
}

func FuzzRead(f *testing.F) {
	for _, dir := range []string{"read", "write"} {
		names, _ := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			input, output, _ := bytes.Cut(data, []byte("\n"+separator))
			if dir == "read" {
				f.Add(input)
			} else {
				f.Add(output)
			}
		}
	}
	f.Add([]byte(`{"version":"2.1.0","runs":[{"results":[{"ruleIndex":-5,"rule":{"index":99,"toolComponent":{"index":7}},"locations":[{"physicalLocation":{"artifactLocation":{"index":3,"uriBaseId":"A"}}}]}],"originalUriBaseIds":{"A":{"uri":"file:///x/","uriBaseId":"A"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := sarif.Options{Root: "/src", MaxSize: 1 << 20}.Read(bytes.NewReader(data), "fuzz.sarif")
		if err != nil {
			if rampart.ErrorCode(err) == rampart.EINTERNAL {
				t.Fatalf("not a user error: %v", err)
			}
			return
		}
		for _, f := range fs {
			if len(f.Fingerprint) != 32 || f.Severity.Rank() < 0 || f.Line < 0 || f.Column < 0 {
				t.Fatalf("bad finding %+v", f)
			}
		}
		// What was read can be written.
		if err := sarif.Write(&bytes.Buffer{}, fs, "fuzz"); err != nil {
			t.Fatal(err)
		}
	})
}
