package web

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of rendering a log. Logs are written by untrusted build steps: nothing in them may
// make the renderer hold more than these bounds, however the bytes are arranged.
const (
	// maxLineBytes is the text kept of one line; the rest is in the downloadable full log.
	maxLineBytes = 16 << 10
	// maxPending bounds an escape sequence or character left unfinished at the end of a chunk;
	// a longer one is garbage and shown as nothing.
	maxPending = 256
)

// segment is a run of a line's text in one style. Class is a space-separated list of the
// stylesheet's ANSI classes (fN foreground, gN background, b bold, d dim, i italic, u
// underline); the text is plain text, escaped wherever it is shown.
type segment struct {
	Text  string `json:"t"`
	Class string `json:"c,omitempty"`
}

// logLine is one line of a log, numbered from 1.
type logLine struct {
	N    int64     `json:"n"`
	Segs []segment `json:"s"`
	// Open marks a line that has not ended yet: text of the same number that follows continues it.
	Open bool `json:"open,omitempty"`
	// Cut marks a line longer than maxLineBytes whose end is not shown.
	Cut bool `json:"cut,omitempty"`
}

// style is the graphic rendition ANSI SGR sequences select.
type style struct {
	fg, bg                       int8 // -1 for the default, else 0..15
	bold, dim, italic, underline bool
}

var plain = style{fg: -1, bg: -1}

func (s style) class() string {
	if s == plain {
		return ""
	}
	var parts []string
	if s.fg >= 0 {
		parts = append(parts, "f"+strconv.Itoa(int(s.fg)))
	}
	if s.bg >= 0 {
		parts = append(parts, "g"+strconv.Itoa(int(s.bg)))
	}
	if s.bold {
		parts = append(parts, "b")
	}
	if s.dim {
		parts = append(parts, "d")
	}
	if s.italic {
		parts = append(parts, "i")
	}
	if s.underline {
		parts = append(parts, "u")
	}
	return strings.Join(parts, " ")
}

// renderer turns log bytes into numbered lines of styled text. It keeps state across writes, so
// that a line, an escape sequence or a UTF-8 character split between two chunks comes out whole.
// It is not safe for concurrent use.
type renderer struct {
	n    int64 // the number of the line the next byte belongs to
	open bool  // line n has begun
	from int64 // lines before from are parsed for their styles but not kept
	st   style
	cls  string
	cr   bool   // a '\r' was seen: a '\n' follows, or the line is overwritten
	pend []byte // an escape sequence or UTF-8 character unfinished at the end of the last write
	cur  logLine
	text []byte // the current segment's text
	size int    // bytes kept of line n
	done []logLine
}

// newRenderer starts at line n; open says whether line n began before the first byte written.
func newRenderer(n int64, open bool, from int64) *renderer {
	if n < 1 {
		n = 1
	}
	return &renderer{n: n, open: open, from: from, st: plain}
}

func (rd *renderer) keep() bool { return rd.n >= rd.from }

func (rd *renderer) write(b []byte) {
	if len(rd.pend) > 0 {
		b = append(rd.pend[:len(rd.pend):len(rd.pend)], b...)
		rd.pend = nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		if rd.cr {
			rd.cr = false
			if c != '\n' {
				rd.overwrite()
			}
		}
		switch {
		case c == '\n':
			rd.endLine()
			i++
		case c == '\r':
			rd.cr, rd.open = true, true
			i++
		case c == 0x1b:
			n, complete := escapeLen(b[i:])
			if !complete {
				if len(b)-i <= maxPending {
					rd.pend = append([]byte(nil), b[i:]...)
					return
				}
				n = 1 // garbage: drop the ESC, show the rest as text
			}
			rd.open = true
			rd.escape(b[i : i+n])
			i += n
		case c == '\t':
			rd.add(b[i : i+1])
			i++
		case c < 0x20 || c == 0x7f:
			rd.open = true // other control characters would only garble the view
			i++
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(b) && b[j] >= 0x20 && b[j] < 0x7f {
				j++
			}
			rd.add(b[i:j])
			i = j
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				if !utf8.FullRune(b[i:]) {
					rd.pend = append([]byte(nil), b[i:]...)
					return
				}
				rd.add([]byte(string(utf8.RuneError)))
				i++
				continue
			}
			rd.add(b[i : i+size])
			i += size
		}
	}
}

// add appends text to line n in the current style.
func (rd *renderer) add(s []byte) {
	rd.open = true
	if !rd.keep() {
		return
	}
	if room := maxLineBytes - rd.size; len(s) > room {
		for room > 0 && !utf8.RuneStart(s[room]) {
			room--
		}
		s = s[:room]
		rd.cur.Cut = true
	}
	if len(s) == 0 {
		return
	}
	rd.text = append(rd.text, s...)
	rd.size += len(s)
}

// flush closes the current segment.
func (rd *renderer) flush() {
	if len(rd.text) > 0 {
		rd.cur.Segs = append(rd.cur.Segs, segment{Text: string(rd.text), Class: rd.cls})
		rd.text = rd.text[:0]
	}
}

func (rd *renderer) endLine() {
	rd.flush()
	if rd.keep() {
		rd.cur.N = rd.n
		rd.done = append(rd.done, rd.cur)
	}
	rd.cur = logLine{}
	rd.n++
	rd.open, rd.size = false, 0
}

// overwrite starts line n afresh, as a terminal does after a lone carriage return: progress
// bars show their last state instead of every state one after another.
func (rd *renderer) overwrite() {
	rd.text = rd.text[:0]
	rd.cur.Segs, rd.cur.Cut, rd.size = nil, false, 0
}

// lines returns the complete lines rendered since the last call.
func (rd *renderer) lines() []logLine {
	out := rd.done
	rd.done = nil
	return out
}

// take returns the complete lines since the last call and, when the current line has begun,
// its text so far marked open; the next text of that line comes out as a continuation.
func (rd *renderer) take() []logLine {
	out := rd.lines()
	rd.flush()
	if rd.open && rd.keep() && len(rd.cur.Segs) > 0 {
		out = append(out, logLine{N: rd.n, Segs: rd.cur.Segs, Open: true, Cut: rd.cur.Cut})
		rd.cur.Segs = nil
	}
	return out
}

// escapeLen returns the length of the escape sequence at the start of b (b[0] is ESC), and
// false when b ends before the sequence does.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '[': // CSI: parameters, intermediates, one final byte
		for j := 2; j < len(b); j++ {
			switch c := b[j]; {
			case c >= 0x40 && c <= 0x7e:
				return j + 1, true
			case c < 0x20 || c > 0x7e:
				return j, true // malformed: end it here
			case j > 64:
				return j, true
			}
		}
		return 0, false
	case ']': // OSC: until BEL or ESC \
		for j := 2; j < len(b); j++ {
			if b[j] == 0x07 {
				return j + 1, true
			}
			if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
				return j + 2, true
			}
		}
		return 0, false
	case '(', ')', '*', '+':
		if len(b) < 3 {
			return 0, false
		}
		return 3, true
	}
	return 2, true
}

// escape applies an escape sequence: SGR (colours and emphasis) changes the style; everything
// else — cursor movement, titles, hyperlinks — is dropped.
func (rd *renderer) escape(seq []byte) {
	if len(seq) < 3 || seq[1] != '[' || seq[len(seq)-1] != 'm' {
		return
	}
	next := rd.st
	params := strings.FieldsFunc(string(seq[2:len(seq)-1]), func(r rune) bool { return r == ';' || r == ':' })
	if len(params) == 0 {
		params = []string{"0"}
	}
	for i := 0; i < len(params); i++ {
		p, err := strconv.Atoi(params[i])
		if err != nil {
			continue
		}
		switch {
		case p == 0:
			next = plain
		case p == 1:
			next.bold = true
		case p == 2:
			next.dim = true
		case p == 3:
			next.italic = true
		case p == 4:
			next.underline = true
		case p == 22:
			next.bold, next.dim = false, false
		case p == 23:
			next.italic = false
		case p == 24:
			next.underline = false
		case p >= 30 && p <= 37:
			next.fg = int8(p - 30)
		case p == 39:
			next.fg = -1
		case p >= 40 && p <= 47:
			next.bg = int8(p - 40)
		case p == 49:
			next.bg = -1
		case p >= 90 && p <= 97:
			next.fg = int8(p - 90 + 8)
		case p >= 100 && p <= 107:
			next.bg = int8(p - 100 + 8)
		case p == 38 || p == 48:
			c, used := extendedColour(params[i+1:])
			i += used
			if c >= 0 {
				if p == 38 {
					next.fg = c
				} else {
					next.bg = c
				}
			}
		}
	}
	if next != rd.st {
		rd.flush()
		rd.st, rd.cls = next, next.class()
	}
}

// extendedColour reads the arguments of SGR 38/48 (5;N or 2;R;G;B) and returns the nearest of
// the 16 basic colours — the page may not carry arbitrary colours without inline styles — and
// how many parameters it used.
func extendedColour(ps []string) (int8, int) {
	if len(ps) == 0 {
		return -1, 0
	}
	num := func(i int) int {
		if i >= len(ps) {
			return -1
		}
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			return -1
		}
		return n
	}
	switch num(0) {
	case 5:
		n := num(1)
		if n < 0 || n > 255 {
			return -1, min(2, len(ps))
		}
		if n < 16 {
			return int8(n), 2
		}
		r, g, b := xterm256(n)
		return nearest(r, g, b), 2
	case 2:
		r, g, b := num(1), num(2), num(3)
		if r < 0 || g < 0 || b < 0 {
			return -1, min(4, len(ps))
		}
		return nearest(r, g, b), 4
	}
	return -1, 1
}

func xterm256(n int) (int, int, int) {
	if n >= 232 {
		v := 8 + 10*(n-232)
		return v, v, v
	}
	n -= 16
	level := [6]int{0, 95, 135, 175, 215, 255}
	return level[n/36], level[n/6%6], level[n%6]
}

// basic is the default xterm palette of the 16 basic colours.
var basic = [16][3]int{
	{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
	{127, 127, 127}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
}

func nearest(r, g, b int) int8 {
	best, bestD := 0, 1<<62
	for i, c := range basic {
		dr, dg, db := r-c[0], g-c[1], b-c[2]
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	return int8(best)
}
