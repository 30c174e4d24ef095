package mask

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"sync"
)

// ErrClosed is returned by Write and Flush after Close.
var ErrClosed = errors.New("mask: write to a closed Writer")

// chunkSize bounds how much of one Write is processed at a time, so that a huge Write does not
// make the Writer's buffers huge.
const chunkSize = 32 << 10

// Writer masks a stream with a Masker and writes the result to another writer. It holds back
// the end of what it was given only while that end could be the beginning of a secret's form;
// everything else goes out in the Write that brought it. Call Close after the last Write to
// write out what is held back, and Flush, for instance when the stream has been idle for a
// while, to write it out sooner.
//
// A Writer is safe for concurrent use (the agent's idle timer may Flush while output arrives);
// concurrent Writes are masked in the order they take the Writer's lock.
type Writer struct {
	mu sync.Mutex
	m  *Masker
	w  io.Writer

	sp splitter
	// raw holds the input not written out yet: raw[k] is byte rawOff+k of the input. Everything
	// before rawOff has been written (or masked).
	raw    []byte
	rawOff int64
	// scan is the first visible position not decided yet: a needle may begin there.
	scan int64
	// regions are the visible spans to mask that are not entirely written out yet, in order,
	// merged where they overlap or touch.
	regions []span
	// lastStar is the input offset at which the last Redacted written ended, so that a span
	// masked in two steps (a Flush in its middle, or touching spans) gives one "***".
	lastStar int64
	ms       []span // scratch for scan
	out      []byte // scratch for the output of one step
	err      error  // the first error of w, returned ever after
	closed   bool
}

// NewWriter returns a Writer that writes what it is given to w, with everything m finds masked.
// Close does not close w.
func NewWriter(m *Masker, w io.Writer) *Writer {
	return &Writer{m: m, w: w, sp: splitter{m: m, bps: []breakpoint{{}}}, lastStar: -1}
}

// Write masks p and writes out everything that cannot be the beginning of a form of a secret.
// It returns len(p) unless writing to the underlying writer failed; after such a failure every
// call returns that error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		c := p[:min(len(p), chunkSize)]
		p = p[len(c):]
		w.raw = append(w.raw, c...)
		w.sp.feed(c)
		w.decide(false)
		if err := w.emit(false); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// Flush writes out what Write held back, masked as far as it is a form of a secret on its own,
// except an unfinished ANSI escape sequence (at most 64 bytes), which the next byte decides.
// Should what it wrote be the beginning of a form that the next Write completes, the rest of the
// form is masked then, but what Flush wrote stays written. After Close it does nothing.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return w.err
	}
	// Decide as if the stream ended here, but keep w.scan: the text after the flush is matched
	// together with what was flushed.
	w.decide(true)
	return w.emit(true)
}

// Close writes out what is held back, masked, and makes further Writes fail. It does not close
// the underlying writer. Closing twice does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if w.sp.st != escNone {
		w.sp.abort() // an escape sequence cut off by the end of the stream is text
	}
	w.decide(true)
	return w.emit(true)
}

// decide scans the undecided visible text and records what to mask. With final the text is
// taken to end here (for Flush and Close), and w.scan stays where it was.
func (w *Writer) decide(final bool) {
	sp := &w.sp
	und, ms := w.m.scan(sp.vis, int(w.scan-sp.visOff), final, w.ms[:0])
	for _, r := range ms {
		r.a += sp.visOff
		r.b += sp.visOff
		if k := len(w.regions) - 1; k >= 0 && r.a <= w.regions[k].b {
			w.regions[k].b = max(w.regions[k].b, r.b)
		} else {
			w.regions = append(w.regions, r)
		}
	}
	w.ms = ms
	if !final {
		w.scan = sp.visOff + int64(und)
	}
}

// emit writes out the input up to the first byte that may still belong to a form not decided
// yet (with final: all of it), masking the decided regions, then drops what is no longer needed.
func (w *Writer) emit(final bool) error {
	sp := &w.sp
	// An unfinished escape sequence is held even by Flush: should it turn out to be text, it
	// may be part of a form.
	safe := sp.in
	if sp.st != escNone {
		safe = sp.escAt
	}
	if !final && w.scan < sp.visEnd() {
		safe = sp.orig(w.scan)
	}
	// After a Flush, the undecided text may have been written out already.
	safe = max(safe, w.rawOff)
	out := w.out[:0]
	pos := w.rawOff
	for len(w.regions) > 0 {
		r := w.regions[0]
		// The region covers its visible bytes and what is invisible between them, not the
		// escapes before its first or after its last byte: a masked value keeps its colour.
		s, e := sp.orig(r.a), sp.orig(r.b-1)+1
		if e > pos { // else a Flush wrote it out before it was found, or it is done
			s = max(s, pos)
			if s >= safe {
				break
			}
			out = append(out, w.raw[pos-w.rawOff:s-w.rawOff]...)
			if w.lastStar != s {
				out = append(out, Redacted...)
			}
			pos = min(e, safe)
			w.lastStar = pos
		}
		if !final && r.b >= w.scan {
			// A needle may still begin inside the region or right after it, and then joins
			// it: keep the region, and hold the escapes after it, which that needle would
			// cover.
			safe = pos
			break
		}
		w.regions = w.regions[1:]
	}
	out = append(out, w.raw[pos-w.rawOff:safe-w.rawOff]...)
	w.out = out[:0]

	// Drop what is written out, and the visible text and offset mapping no longer needed.
	w.raw = append(w.raw[:0], w.raw[safe-w.rawOff:]...)
	w.rawOff = safe
	if k := w.scan - sp.visOff; k > 0 {
		sp.vis = append(sp.vis[:0], sp.vis[k:]...)
		sp.visOff = w.scan
	}
	lower := w.scan
	if len(w.regions) > 0 {
		lower = min(lower, w.regions[0].a)
	} else {
		w.regions = nil // rather than a slice that has crept along its array
	}
	if j := sp.bpIndex(lower); j > 0 {
		sp.bps = append(sp.bps[:0], sp.bps[j:]...)
	}

	if len(out) == 0 {
		return nil
	}
	if _, err := w.w.Write(out); err != nil {
		w.err = err
		return err
	}
	return nil
}

// maxEsc is the longest CSI sequence skipped as invisible. A longer one is taken as text, so
// that an endless sequence cannot make the Writer hold back without bound.
const maxEsc = 64

// States of the escape parser.
const (
	escNone = iota // in text
	escESC         // after ESC
	escCSI         // after ESC [
)

// breakpoint says that the visible bytes from vis on have cum invisible bytes before them.
type breakpoint struct{ vis, cum int64 }

// splitter separates a stream into visible bytes, which are matched, and invisible ones
// (carriage returns and ANSI CSI sequences), which are skipped, and maps visible positions back
// to input offsets.
type splitter struct {
	// m, when set, keeps a CSI sequence visible whose parameters contain a form of a secret,
	// so that "\x1b[12345678m" cannot hide a numeric secret.
	m *Masker
	// in counts the input bytes fed.
	in int64
	// vis holds visible bytes: vis[k] is visible byte visOff+k.
	vis    []byte
	visOff int64
	// bps maps visible positions to input offsets; bps[0].vis is at most every position asked
	// about. cum counts all invisible bytes so far.
	bps []breakpoint
	cum int64
	// st is the state of the escape parser; esc holds the pending sequence, which began at input
	// offset escAt.
	st    int
	esc   []byte
	escAt int64
}

func (s *splitter) visEnd() int64 { return s.visOff + int64(len(s.vis)) }

// orig returns the input offset of visible byte v.
func (s *splitter) orig(v int64) int64 {
	return v + s.bps[s.bpIndex(v)].cum
}

// bpIndex returns the index of the last breakpoint at or before visible position v.
func (s *splitter) bpIndex(v int64) int {
	if len(s.bps) == 1 {
		return 0
	}
	return sort.Search(len(s.bps), func(k int) bool { return s.bps[k].vis > v }) - 1
}

// invisible records k invisible bytes at the current end of the visible text.
func (s *splitter) invisible(k int) {
	s.cum += int64(k)
	v := s.visEnd()
	if last := &s.bps[len(s.bps)-1]; last.vis == v {
		last.cum = s.cum
	} else {
		s.bps = append(s.bps, breakpoint{v, s.cum})
	}
}

// abort makes the pending escape sequence text.
func (s *splitter) abort() {
	s.vis = append(s.vis, s.esc...)
	s.esc = s.esc[:0]
	s.st = escNone
}

// feed splits the next input bytes c.
func (s *splitter) feed(c []byte) {
	base := s.in
	s.in += int64(len(c))
	nextESC, nextCR := -1, -1 // the next ESC and CR at or after i, len(c) if none
	for i := 0; i < len(c); {
		if s.st == escNone {
			// Text runs between ESC and CR are copied whole; the two searches are remembered
			// so that a chunk full of CRs is not searched for ESC again at each one.
			if nextESC < i {
				nextESC = indexFrom(c, i, 0x1b)
			}
			if nextCR < i {
				nextCR = indexFrom(c, i, '\r')
			}
			j := min(nextESC, nextCR)
			s.vis = append(s.vis, c[i:j]...)
			if j == len(c) {
				return
			}
			if c[j] == '\r' {
				s.invisible(1)
			} else {
				s.st, s.esc, s.escAt = escESC, append(s.esc[:0], 0x1b), base+int64(j)
			}
			i = j + 1
			continue
		}
		b := c[i]
		switch {
		case s.st == escESC && b == '[':
			s.st, s.esc = escCSI, append(s.esc, b)
			i++
		case s.st == escCSI && 0x40 <= b && b <= 0x7e: // final byte
			s.esc = append(s.esc, b)
			i++
			if s.m != nil && len(s.esc) > 2+prefixLen && s.m.contains(s.esc[2:]) {
				s.abort()
			} else {
				s.invisible(len(s.esc))
				s.esc, s.st = s.esc[:0], escNone
			}
		case s.st == escCSI && 0x20 <= b && b <= 0x3f && len(s.esc) < maxEsc: // parameter or intermediate
			s.esc = append(s.esc, b)
			i++
		default:
			s.abort() // not a CSI sequence after all; b is read again as text
		}
	}
}

// indexFrom returns the index of the first b in c at or after i, or len(c).
func indexFrom(c []byte, i int, b byte) int {
	if j := bytes.IndexByte(c[i:], b); j >= 0 {
		return i + j
	}
	return len(c)
}

// visible returns the visible bytes of p: without carriage returns and CSI sequences.
func visible(p []byte) []byte {
	s := splitter{bps: []breakpoint{{}}}
	s.feed(p)
	s.abort()
	return s.vis
}

var _ io.WriteCloser = (*Writer)(nil)
