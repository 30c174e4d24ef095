package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// render feeds chunks through a renderer from line 1 and returns its lines, the last one open
// when the text does not end with a newline, as JSON for easy comparison.
func render(chunks ...string) string {
	rd := newRenderer(1, false, 1)
	for _, c := range chunks {
		rd.write([]byte(c))
	}
	b, _ := json.Marshal(rd.take())
	return string(b)
}

func TestRendererStylesAndText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "a\nb\n", `[{"n":1,"s":[{"t":"a"}]},{"n":2,"s":[{"t":"b"}]}]`},
		{"empty lines", "\n\nx", `[{"n":1,"s":null},{"n":2,"s":null},{"n":3,"s":[{"t":"x"}],"open":true}]`},
		{"colours", "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[39;22m plain\n",
			`[{"n":1,"s":[{"t":"red","c":"f1"},{"t":" "},{"t":"bold green","c":"f2 b"},{"t":" plain"}]}]`},
		{"bright and background", "\x1b[93;44mx\x1b[m\n", `[{"n":1,"s":[{"t":"x","c":"f11 g4"}]}]`},
		{"256 and truecolour map to the 16", "\x1b[38;5;196ma\x1b[38;2;0;0;250mb\x1b[0m\n", `[{"n":1,"s":[{"t":"a","c":"f9"},{"t":"b","c":"f4"}]}]`},
		{"styles carry across lines", "\x1b[33ma\nb\x1b[0m\n", `[{"n":1,"s":[{"t":"a","c":"f3"}]},{"n":2,"s":[{"t":"b","c":"f3"}]}]`},
		{"crlf", "a\r\nb\r\n", `[{"n":1,"s":[{"t":"a"}]},{"n":2,"s":[{"t":"b"}]}]`},
		{"carriage return overwrites", "10%\r50%\r100%\n", `[{"n":1,"s":[{"t":"100%"}]}]`},
		{"cursor moves and titles dropped", "\x1b[2K\x1b]0;title\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1b(Bok\n", `[{"n":1,"s":[{"t":"linkok"}]}]`},
		{"control characters dropped", "a\x00b\x07c\td\n", `[{"n":1,"s":[{"t":"abc\td"}]}]`},
		{"markup is text", "<script>alert(1)</script>\n", `[{"n":1,"s":[{"t":"\u003cscript\u003ealert(1)\u003c/script\u003e"}]}]`},
		{"invalid utf-8", "a\xffb\n", "[{\"n\":1,\"s\":[{\"t\":\"a\ufffdb\"}]}]"},
		{"unknown sgr ignored", "\x1b[5;99;38;9mx\n", `[{"n":1,"s":[{"t":"x"}]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.in); got != tc.want {
				t.Errorf("render(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestRendererAnySplit cuts a log with escapes, multi-byte characters and CRLFs at every byte
// and checks that two chunks render like one: agents cut logs wherever their buffer fills.
func TestRendererAnySplit(t *testing.T) {
	log := "héllo \x1b[1;31mwörld\x1b[0m ✓\r\nprogress 1\rprogress 2\n\x1b]8;;http://x\x07ok\x1b]8;;\x07 😀\n"
	want := render(log)
	for i := 0; i <= len(log); i++ {
		if got := render(log[:i], log[i:]); got != want {
			t.Fatalf("split at %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestRendererCutsLongLines(t *testing.T) {
	rd := newRenderer(1, false, 1)
	for range 100 {
		rd.write([]byte(strings.Repeat("é", 1000)))
	}
	rd.write([]byte("\nnext\n"))
	lines := rd.take()
	if len(lines) != 2 || !lines[0].Cut || lines[1].Cut {
		t.Fatalf("lines: %d, cut %v", len(lines), lines[0].Cut)
	}
	n := 0
	for _, s := range lines[0].Segs {
		n += len(s.Text)
	}
	if n > maxLineBytes || n < maxLineBytes-4 || !strings.HasSuffix(lines[0].Segs[len(lines[0].Segs)-1].Text, "é") {
		t.Fatalf("kept %d bytes of the long line, want at most %d ending in a whole character", n, maxLineBytes)
	}
}

// TestRendererContinuesOpenLines checks the stream's view: an open line comes out with what it
// has so far, and the rest later under the same number.
func TestRendererContinuesOpenLines(t *testing.T) {
	rd := newRenderer(7, true, 1)
	rd.write([]byte("rest\nnew "))
	first, _ := json.Marshal(rd.take())
	rd.write([]byte("line\n"))
	second, _ := json.Marshal(rd.take())
	if string(first) != `[{"n":7,"s":[{"t":"rest"}]},{"n":8,"s":[{"t":"new "}],"open":true}]` || string(second) != `[{"n":8,"s":[{"t":"line"}]}]` {
		t.Fatalf("first %s\nsecond %s", first, second)
	}
}

func TestRendererSkipsLinesBeforeFrom(t *testing.T) {
	rd := newRenderer(1, false, 3)
	rd.write([]byte("\x1b[32ma\nb\nc\nd\n"))
	got, _ := json.Marshal(rd.take())
	if string(got) != `[{"n":3,"s":[{"t":"c","c":"f2"}]},{"n":4,"s":[{"t":"d","c":"f2"}]}]` {
		t.Fatalf("got %s", got)
	}
}

// FuzzRenderer feeds arbitrary bytes, cut in two anywhere: the renderer must not panic, must
// number lines consecutively, keep no line longer than its bound, and render a split log like
// the whole one.
func FuzzRenderer(f *testing.F) {
	for _, s := range []string{"a\nb", "\x1b[31mx\x1b[0m\n", "\x1b]8;;u\x07t\x1b]8;;\x07", "\r\n\r", "\xf0\x9f\x98", "\x1b[38;5;", "\x1b[38;2;1;2m"} {
		f.Add([]byte(s), uint16(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		i := int(cut) % (len(data) + 1)
		whole := render(string(data))
		if split := render(string(data[:i]), string(data[i:])); split != whole {
			t.Fatalf("split at %d renders differently:\n%s\n%s", i, split, whole)
		}
		var lines []logLine
		if err := json.Unmarshal([]byte(whole), &lines); err != nil {
			t.Fatal(err)
		}
		for k, l := range lines {
			if l.N != int64(k+1) {
				t.Fatalf("line %d numbered %d", k+1, l.N)
			}
			n := 0
			for _, s := range l.Segs {
				n += len(s.Text)
				if strings.ContainsAny(s.Text, "\x1b\n\r") {
					t.Fatalf("control character in text %q", s.Text)
				}
			}
			if n > maxLineBytes {
				t.Fatalf("line %d keeps %d bytes", l.N, n)
			}
		}
	})
}

func TestLayoutGraph(t *testing.T) {
	job := func(id int64, name string, needs ...string) *rampart.Job {
		return &rampart.Job{ID: id, Name: name, Needs: needs}
	}
	g := layoutGraph([]*rampart.Job{
		job(1, "build"), job(2, "lint"), job(3, "test", "build"), job(4, "scan", "build"),
		job(5, "package", "test", "lint", "scan"), job(6, "ghost", "nothing"), job(7, "self", "self"),
	})
	col := func(i int) int { return (g.Nodes[i].X - padding) / (nodeW + colGap) }
	row := func(i int) int { return (g.Nodes[i].Y - padding) / (nodeH + rowGap) }
	for i, want := range [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {0, 2}, {0, 3}} {
		if got := [2]int{col(i), row(i)}; got != want {
			t.Errorf("%s at column,row %v, want %v", g.Nodes[i].Job.Name, got, want)
		}
	}
	if len(g.Edges) != 5 {
		t.Errorf("%d edges, want 5 (unknown and self needs have none)", len(g.Edges))
	}
	if g.Width != padding+3*nodeW+2*colGap+padding || g.Height != padding+4*nodeH+3*rowGap+padding {
		t.Errorf("size %dx%d", g.Width, g.Height)
	}
	long := layoutGraph([]*rampart.Job{job(1, strings.Repeat("x", 40))})
	if l := []rune(long.Nodes[0].Label); len(l) != maxLabel || l[len(l)-1] != '…' {
		t.Errorf("long name label %q", long.Nodes[0].Label)
	}
	// A cycle, which the parser refuses, still lays out.
	if c := layoutGraph([]*rampart.Job{job(1, "a", "b"), job(2, "b", "a")}); len(c.Nodes) != 2 {
		t.Error("cycle")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/projects/p?x=1#frag":  "/projects/p?x=1",
		"/settings/audit":       "/settings/audit",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"/login?next=/x":        "/",
		"/a\r\nSet-Cookie: x":   "/",
		"evil.example":          "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
