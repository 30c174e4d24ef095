// Package mask replaces the secret values of a job with "***" in its output, as a stream.
//
// A [Masker] is built once per job from the job's secret values. For every value it derives the
// forms in which a job commonly prints it (see [New] for the list: the value and the lines of a
// multi-line value, base64 in every alignment, base64 of base64, base32, hex, URL, JSON and shell
// escaping) and masks each of them wherever it appears. A [Writer] applies it to a stream: the
// agent wraps a job's console output in one before upload, and the server again before storage;
// [Masker.String] masks one-shot text such as job summaries, annotations and error messages.
//
// Guarantees:
//   - Every occurrence of every form is replaced, however the stream is cut into Write calls: the
//     Writer holds back the end of its input while it could be the start of a form, and no longer.
//     Bytes that cannot start a form are written out by the Write that received them, so a live
//     log stays live; what is held back is always shorter than the longest form, not counting
//     the escape sequences within it and an unfinished one (at most 64 bytes) at its end.
//   - ANSI CSI sequences (colours, cursor moves) and carriage returns inside a printed value do
//     not hide it: matching skips them, and the whole span is masked, escapes included. Nor
//     does a CSI sequence hide a value in its parameters ("\x1b[12345678m").
//   - Overlapping and adjacent occurrences become a single "***".
//   - Text without any form passes through byte for byte.
//   - The cost per byte barely grows with the number of secrets: ordinary text is passed over
//     with one probe of a bit set per five bytes, and only where that hits are the positions
//     looked at one by one (over 600 MB/s on one core with 1,000 secrets, see BenchmarkWriter).
//
// Limits (what no masker of this kind can promise):
//   - A value printed in pieces with other text between them, or in an encoding not listed in
//     [New] (reversed, encrypted, base64 wrapped into lines, one character per line …), is not
//     recognised. Masking defends against accidental disclosure and against the encodings seen
//     in real incidents, not against a job set on exfiltrating its own secrets. Only CSI
//     sequences and carriage returns are skipped: other escape sequences or backspaces inside a
//     value hide it.
//   - Values shorter than [rampart.MinSecretLength] are refused: masking them would mask ordinary
//     text everywhere. For the same reason only the lines of a multi-line value that are at least
//     that long are masked on their own, and an encoded form is used only when it is that long.
//   - For base64 and base32 embedded in a longer encoded blob, only the characters fully
//     determined by the value's bytes are masked: up to one character on each side mixes bits of
//     the value with bits of its neighbours and stays visible.
//   - [Writer.Flush] writes out what is held back; should a value continue after it, the rest of
//     it is still masked, but the part written before the flush is not taken back.
package mask

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/rampart-ci/rampart"
)

// Redacted is what replaces every masked span.
const Redacted = "***"

// prefixLen is the length of the fingerprint every form is found by. It equals
// rampart.MinSecretLength, so that every form is at least that long and has a full fingerprint.
const prefixLen = 8

// gramLen and stride define the sampling prefilter: the text is probed only at every stride-th
// position, with the gramLen bytes there. Every needle, being at least prefixLen long, contains
// the gram at each of its offsets 0…stride-1, so whichever of those positions is probed, a
// needle starting at any of the stride positions before it is seen.
const (
	gramLen = 4
	stride  = prefixLen - gramLen + 1
)

// hashMul is the multiplier of the Fibonacci hashes (2^64 / golden ratio).
const hashMul = 0x9E3779B97F4A7C15

// Masker finds the secret values of one job, in all the forms listed at [New], in text. It is
// immutable, and safe for concurrent use by any number of Writers and goroutines.
type Masker struct {
	// needles are the forms to mask (visible bytes only, see visible), grouped by their first
	// prefixLen bytes and, within a group, longest first.
	needles []string
	// groups maps the little-endian fingerprint of a group to its range in needles.
	groups map[uint64][2]int32
	// grams has the bit hash(g)>>gramShift set for every gram g at offsets 0…stride-1 of a
	// needle; one probe of it rejects stride positions of ordinary text.
	grams     []uint64
	gramShift uint
	// filter has the bit hash(fingerprint)>>shift set for every group: one probe rejects nearly
	// every candidate position that grams let through, without a map lookup.
	filter []uint64
	shift  uint
	// prefixes are the big-endian fingerprints, sorted, to tell whether the last few bytes of a
	// stream (fewer than prefixLen) could begin a needle.
	prefixes []uint64
	// longest is the length of the longest needle.
	longest int
}

// New returns a Masker of secrets. It masks, for every value v:
//
//   - v itself; for a multi-line v also each line (and each line without its surrounding
//     blanks) of at least 8 bytes, but never the short lines such as "{" or "-----";
//   - base64, standard and URL alphabet, padded and unpadded, of v and of v+"\n" (what
//     `echo "$SECRET" | base64` prints), and, for v inside a longer base64'd blob, the part of
//     the encoding determined by v alone, at each of the three byte alignments;
//   - base64 of base64, as the tj-actions/changed-files payload printed secrets: the padded
//     standard base64 of the standard base64 of v and of v+"\n" (`… | base64 | base64`),
//     and, for any of those inner texts and the inner part determined by v alone, inside a
//     longer text, the part of its standard or URL base64 they determine, at each alignment;
//   - base32, standard and extended-hex alphabet, padded, and the part determined by v alone at
//     each of the five alignments;
//   - hex, lower and upper case;
//   - URL encoding: query escaping (space as "+") and path escaping (space as "%20"), with upper
//     and lower case percent escapes;
//   - JSON string escaping: as Go writes it (with and without HTML escapes such as \u003c) and
//     as Python's json.dumps does (non-ASCII as \uXXXX); Go quoting (strconv.Quote and
//     QuoteToASCII);
//   - shell quoting: inside single quotes, inside double quotes, and backslash escaping as
//     bash's printf %q does.
//
// Inside single quotes, a quote may be written either of the two usual ways:
//
//	it'\''s    it'"'"'s
//
// Carriage returns and ANSI CSI sequences in a value are ignored, as they are in the text
// searched. A value shorter than rampart.MinSecretLength (8) bytes, ignoring those, is refused
// with an EINVALID error naming its index, never its content. Forms shorter than 8 bytes are not
// used. Duplicate values are fine; New(nil) returns a Masker that masks nothing.
func New(secrets []string) (*Masker, error) {
	set := map[string]struct{}{}
	for i, s := range secrets {
		if len(visible([]byte(s))) < rampart.MinSecretLength {
			return nil, rampart.Errorf(rampart.EINVALID, "secret value #%d is shorter than %d characters", i+1, rampart.MinSecretLength).
				WithDetail("a shorter value cannot be masked in logs without masking ordinary text everywhere")
		}
		for _, f := range forms([]byte(s)) {
			if v := visible(f); len(v) >= prefixLen {
				set[string(v)] = struct{}{}
			}
		}
	}
	return build(set), nil
}

// build indexes needles.
func build(set map[string]struct{}) *Masker {
	m := &Masker{groups: make(map[uint64][2]int32)}
	m.needles = make([]string, 0, len(set))
	for n := range set {
		m.needles = append(m.needles, n)
		m.longest = max(m.longest, len(n))
	}
	slices.SortFunc(m.needles, func(a, b string) int {
		if c := bytes.Compare([]byte(a[:prefixLen]), []byte(b[:prefixLen])); c != 0 {
			return c
		}
		return len(b) - len(a)
	})
	for i := 0; i < len(m.needles); {
		j := i + 1
		for j < len(m.needles) && m.needles[j][:prefixLen] == m.needles[i][:prefixLen] {
			j++
		}
		m.groups[binary.LittleEndian.Uint64([]byte(m.needles[i]))] = [2]int32{int32(i), int32(j)}
		m.prefixes = append(m.prefixes, binary.BigEndian.Uint64([]byte(m.needles[i])))
		i = j
	}
	if len(m.groups) == 0 {
		return m
	}
	// Bit sets of about 64 bits per entry keep false positives near 1.5%; the caps keep them
	// within the caches. 1,000 secrets make about 40,000 needles in 20,000 groups: a 256 KiB
	// filter and a 1 MiB gram set (the cap, about 4% false positives).
	m.filter, m.shift = bitSet(len(m.groups), 1<<22)
	for k := range m.groups {
		h := (k * hashMul) >> m.shift
		m.filter[h>>6] |= 1 << (h & 63)
	}
	m.grams, m.gramShift = bitSet(len(m.needles)*stride, 1<<23)
	for _, nd := range m.needles {
		for d := range stride {
			h := (uint64(binary.LittleEndian.Uint32([]byte(nd[d:]))) * hashMul) >> m.gramShift
			m.grams[h>>6] |= 1 << (h & 63)
		}
	}
	return m
}

// bitSet returns an empty bit set for n entries, at most maxBits long, and the shift that turns
// a 64-bit hash into an index of it.
func bitSet(n, maxBits int) ([]uint64, uint) {
	logBits := bits.Len(uint(n*64 - 1))
	logBits = min(max(logBits, 12), bits.Len(uint(maxBits-1)))
	return make([]uint64, 1<<(logBits-6)), uint(64 - logBits)
}

// span is a half-open range [a, b) of positions.
type span struct{ a, b int64 }

// scan looks for needles starting at positions from… of vis and appends each match, as the
// longest needle found at its position, to ms. It returns the first position it could not
// decide: one where a needle may begin whose end is not in vis yet. With final, the text is
// taken to end with vis, so every position is decided and the result is len(vis).
//
// Why nothing is missed: a needle at position i has at least prefixLen bytes, so its grams at
// offsets 0…stride-1 are in grams, and one of the probed positions q lies in i…i+stride-1;
// the probe at q is followed by a look at each position q-stride+1…q, which finds i's
// fingerprint in filter and groups and compares the needles of its group. A needle that
// begins at i but runs past the end of vis has vis[i:] as a prefix, which is checked for every
// needle of the group (or, for fewer than prefixLen bytes, against the sorted fingerprints).
func (m *Masker) scan(vis []byte, from int, final bool, ms []span) (int, []span) {
	n := len(vis)
	if len(m.filter) == 0 {
		return n, ms
	}
	grams, gshift, gmask := m.grams, m.gramShift, uint64(len(m.grams)-1)
	i := from
	// Probe q = i+stride-1 for the positions i…q, as long as each of them has a full
	// fingerprint in vis; the few positions after are looked at one by one.
	for q := i + stride - 1; q+prefixLen <= n; q += stride {
		h := (uint64(binary.LittleEndian.Uint32(vis[q:])) * hashMul) >> gshift
		if grams[(h>>6)&gmask]&(1<<(h&63)) == 0 {
			i = q + 1
			continue
		}
		for ; i <= q; i++ {
			var wait bool
			if ms, wait = m.look(vis, i, final, ms); wait {
				return i, ms
			}
		}
	}
	for ; i+prefixLen <= n; i++ {
		var wait bool
		if ms, wait = m.look(vis, i, final, ms); wait {
			return i, ms
		}
	}
	if final {
		return n, ms
	}
	for ; i < n; i++ {
		if m.couldBegin(vis[i:]) {
			return i, ms
		}
	}
	return n, ms
}

// look appends the longest needle at position i of vis, if any, to ms, or reports wait when a
// longer needle may begin there but vis ends before it could end (never with final). vis[i:]
// has at least prefixLen bytes.
func (m *Masker) look(vis []byte, i int, final bool, ms []span) ([]span, bool) {
	x := binary.LittleEndian.Uint64(vis[i:])
	h := (x * hashMul) >> m.shift
	if m.filter[(h>>6)&uint64(len(m.filter)-1)]&(1<<(h&63)) == 0 {
		return ms, false
	}
	l, wait := m.at(vis[i:], x, final)
	if l > 0 {
		ms = append(ms, span{int64(i), int64(i + l)})
	}
	return ms, wait
}

// at returns the length of the longest needle at the start of rest, whose fingerprint is x, or
// wait when a longer needle may begin there but rest ends before it could end (never with final).
func (m *Masker) at(rest []byte, x uint64, final bool) (n int, wait bool) {
	g, ok := m.groups[x]
	if !ok {
		return 0, false
	}
	for _, nd := range m.needles[g[0]:g[1]] {
		if len(nd) <= len(rest) {
			if nd == string(rest[:len(nd)]) {
				return len(nd), false // the longest needle here; shorter ones lie inside it
			}
		} else if !final && nd[:len(rest)] == string(rest) {
			return 0, true
		}
	}
	return 0, false
}

// couldBegin reports whether p, shorter than prefixLen, is the beginning of some needle.
func (m *Masker) couldBegin(p []byte) bool {
	var buf [prefixLen]byte
	copy(buf[:], p)
	lo := binary.BigEndian.Uint64(buf[:]) // the smallest fingerprint beginning with p
	j := sort.Search(len(m.prefixes), func(k int) bool { return m.prefixes[k] >= lo })
	if j == len(m.prefixes) {
		return false
	}
	drop := uint(8 * (prefixLen - len(p)))
	return m.prefixes[j]>>drop == lo>>drop
}

// contains reports whether p contains a needle.
func (m *Masker) contains(p []byte) bool {
	_, ms := m.scan(p, 0, true, nil)
	return len(ms) > 0
}

// String returns s with every form of every secret replaced by [Redacted]. Use it for text that
// is not a stream: job summaries, annotations, error messages.
func (m *Masker) String(s string) string {
	if len(m.filter) == 0 {
		return s
	}
	return string(m.Bytes([]byte(s)))
}

// Bytes returns a copy of b with every form of every secret replaced by [Redacted].
func (m *Masker) Bytes(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b))
	w := NewWriter(m, &out)
	_, _ = w.Write(b) // a bytes.Buffer does not fail
	_ = w.Close()
	return out.Bytes()
}

// Len returns the number of distinct forms the Masker looks for.
func (m *Masker) Len() int { return len(m.needles) }

// Format prints a summary, never the forms: a Masker put in a log line or an error message by
// mistake must not print the secrets it holds (fmt would print the fields of the struct).
func (m *Masker) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "mask.Masker{%d forms}", len(m.needles))
}
