package pipeline

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// separator divides a golden file into the pipeline YAML and the expected output.
const separator = "----------\n"

// eventPrefix starts a comment line in a golden file's YAML that names an event to plan.
const eventPrefix = "# event: "

// goldenResult is the output for one event of a golden file that parses.
type goldenResult struct {
	Triggered bool  `json:"triggered"`
	Plan      *Plan `json:"plan"`
}

// splitGolden returns the YAML input and expected output of a golden file.
func splitGolden(t testing.TB, data []byte) (input, want []byte) {
	in, out, ok := bytes.Cut(data, []byte(separator))
	if !ok {
		t.Fatalf("no separator line %q", strings.TrimSpace(separator))
	}
	return in, out
}

// goldenEvents reads the "# event: {...}" lines of input; without any, a push to main.
func goldenEvents(t testing.TB, input []byte) []Event {
	var evs []Event
	for _, line := range strings.Split(string(input), "\n") {
		if rest, ok := strings.CutPrefix(line, eventPrefix); ok {
			var ev Event
			if err := json.Unmarshal([]byte(rest), &ev); err != nil {
				t.Fatalf("bad event line %q: %v", line, err)
			}
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		evs = []Event{{Kind: EventPush, Branch: "main", Ref: "refs/heads/main"}}
	}
	return evs
}

// goldenOutput is what a golden file records: the errors of Parse, one per line, or for each
// event whether it triggers the pipeline and its plan.
func goldenOutput(t testing.TB, input []byte) []byte {
	p, err := Parse(".rampart.yml", input)
	if err != nil {
		return []byte(err.Error() + "\n")
	}
	var results []goldenResult
	for _, ev := range goldenEvents(t, input) {
		plan, err := p.Plan(ev)
		if err != nil {
			t.Fatalf("Plan(%+v): %v", ev, err)
		}
		results = append(results, goldenResult{Triggered: p.Triggered(ev), Plan: plan})
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep && readable in reasons
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestGolden runs every testdata/*.txt file: YAML, a separator line, the expected output.
// Run with -update to rewrite the expected outputs after a deliberate change, then review
// the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d golden files, want at least 25", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want := splitGolden(t, data)
			got := goldenOutput(t, input)
			if *update {
				var b bytes.Buffer
				b.Write(input)
				b.WriteString(separator)
				b.Write(got)
				if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update to accept)\n--- got:\n%s\n--- want:\n%s", file, got, want)
			}
		})
	}
}
