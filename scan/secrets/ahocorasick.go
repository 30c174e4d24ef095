package secrets

import "slices"

// automaton is an Aho-Corasick automaton over lower-case keywords that reads text once,
// folding ASCII upper case to lower case as it goes. It is a full DFA over byte classes: every
// byte that occurs in no keyword shares class 0, so the table is (states × classes), a few
// hundred kilobytes for a few hundred keywords, instead of (states × 256).
//
// States are numbered so that every state with an output (a keyword ends there) comes after
// every state without one; the inner loop then tests one comparison per byte.
type automaton struct {
	class    [256]uint8
	nclass   int
	delta    []int32 // delta[s+c] is the next state's offset (state number × nclass)
	firstOut int32   // offsets ≥ firstOut have outputs
	outStart []int32 // outputs of state number n: out[outStart[n]:outStart[n+1]]
	out      []int32 // keyword indexes
	lens     []int32 // keyword lengths
	maxLen   int32
}

// newAutomaton builds the automaton. Keywords must be non-empty; they are matched
// ASCII-case-insensitively (the caller lower-cases them).
func newAutomaton(keywords []string) *automaton {
	a := &automaton{lens: make([]int32, len(keywords))}
	// Byte classes: one per distinct (lower-cased) byte in the keywords.
	var cls [256]int
	n := 1
	for _, k := range keywords {
		for i := 0; i < len(k); i++ {
			c := lower(k[i])
			if cls[c] == 0 {
				cls[c] = n
				n++
			}
		}
	}
	for c := 0; c < 256; c++ {
		a.class[c] = uint8(cls[lower(byte(c))])
	}
	if n > 256 {
		// More than 255 distinct bytes cannot happen: there are 256 byte values and A-Z fold.
		panic("secrets: too many byte classes")
	}
	a.nclass = n

	// The trie, with -1 for a missing edge.
	next := [][]int32{newRow(n)}
	outs := [][]int32{nil}
	for ki, k := range keywords {
		a.lens[ki] = int32(len(k))
		a.maxLen = max(a.maxLen, a.lens[ki])
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := a.class[k[i]]
			if next[s][c] < 0 {
				next = append(next, newRow(n))
				outs = append(outs, nil)
				next[s][c] = int32(len(next) - 1)
			}
			s = next[s][c]
		}
		outs[s] = append(outs[s], int32(ki))
	}

	// Breadth-first: failure links, then complete the transition function.
	fail := make([]int32, len(next))
	queue := make([]int32, 0, len(next))
	for c := 0; c < n; c++ {
		if t := next[0][c]; t < 0 {
			next[0][c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		outs[s] = append(outs[s], outs[fail[s]]...)
		for c := 0; c < n; c++ {
			t := next[s][c]
			if t < 0 {
				next[s][c] = next[fail[s]][c]
				continue
			}
			fail[t] = next[fail[s]][c]
			queue = append(queue, t)
		}
	}

	// Renumber: states without outputs first.
	order := make([]int32, 0, len(next))
	for s := range next {
		if len(outs[s]) == 0 {
			order = append(order, int32(s))
		}
	}
	firstOut := len(order)
	for s := range next {
		if len(outs[s]) > 0 {
			order = append(order, int32(s))
		}
	}
	if order[0] != 0 {
		// The root has no output (keywords are non-empty), so it stays state 0.
		panic("secrets: automaton root moved")
	}
	renum := make([]int32, len(next))
	for newID, old := range order {
		renum[old] = int32(newID)
	}
	a.delta = make([]int32, len(next)*n)
	a.outStart = make([]int32, len(next)+1)
	for newID, old := range order {
		for c := 0; c < n; c++ {
			a.delta[newID*n+c] = renum[next[old][c]] * int32(n)
		}
		o := slices.Clone(outs[old])
		slices.Sort(o)
		a.out = append(a.out, slices.Compact(o)...)
		a.outStart[newID+1] = int32(len(a.out))
	}
	a.firstOut = int32(firstOut * n)
	return a
}

func newRow(n int) []int32 {
	r := make([]int32, n)
	for i := range r {
		r[i] = -1
	}
	return r
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hit is an occurrence of keyword kw starting at offset start.
type hit struct {
	start int
	kw    int32
}

// interleaveMin is the input size from which find runs several scans side by side.
const interleaveMin = 16 << 10

// lanes is how many scans find interleaves.
const lanes = 4

// find returns every occurrence of every keyword in data, ordered by end offset. It reads data
// once. A DFA step waits on the previous step's table load, so on large inputs find cuts data
// into four parts, overlapping by a keyword length, and runs their scans in one loop, which
// the processor overlaps: about twice the throughput of one scan.
func (a *automaton) find(data []byte) []hit {
	if len(data) < interleaveMin {
		return a.run(data, 0, len(data), nil)
	}
	// Lane k scans data[from[k]:to[k]] and reports keywords starting before limit[k].
	var from, to, limit [lanes]int
	part := len(data) / lanes
	for k := range lanes {
		from[k] = k * part
		limit[k] = from[k] + part
		if k == lanes-1 {
			limit[k] = len(data)
		}
		to[k] = min(len(data), limit[k]+int(a.maxLen)-1)
	}
	delta, class, firstOut := a.delta, &a.class, a.firstOut
	var hits [lanes][]hit
	var s0, s1, s2, s3 int32
	d0, d1, d2, d3 := data[from[0]:to[0]], data[from[1]:to[1]], data[from[2]:to[2]], data[from[3]:to[3]]
	n := min(len(d0), len(d1), len(d2), len(d3))
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	for i := range d0 {
		s0 = delta[s0+int32(class[d0[i]])]
		s1 = delta[s1+int32(class[d1[i]])]
		s2 = delta[s2+int32(class[d2[i]])]
		s3 = delta[s3+int32(class[d3[i]])]
		if s0 >= firstOut || s1 >= firstOut || s2 >= firstOut || s3 >= firstOut {
			for k, s := range [lanes]int32{s0, s1, s2, s3} {
				if s >= firstOut {
					hits[k] = a.emit(hits[k], s, i, from[k], limit[k])
				}
			}
		}
	}
	// The lanes' tails, one at a time, from the states they reached.
	var out []hit
	for k, s := range [lanes]int32{s0, s1, s2, s3} {
		for i := from[k] + n; i < to[k]; i++ {
			if s = delta[s+int32(class[data[i]])]; s >= firstOut {
				hits[k] = a.emit(hits[k], s, i-from[k], from[k], limit[k])
			}
		}
		out = append(out, hits[k]...)
	}
	return out
}

// run scans data[from:to] from the root state.
func (a *automaton) run(data []byte, from, to int, hits []hit) []hit {
	delta, class, firstOut := a.delta, &a.class, a.firstOut
	s := int32(0)
	for i := from; i < to; i++ {
		if s = delta[s+int32(class[data[i]])]; s >= firstOut {
			hits = a.emit(hits, s, i-from, from, to)
		}
	}
	return hits
}

// emit appends the keywords ending at offset i (relative to base) in state s whose start,
// made absolute, is before limit.
func (a *automaton) emit(hits []hit, s int32, i, base, limit int) []hit {
	id := s / int32(a.nclass)
	for _, k := range a.out[a.outStart[id]:a.outStart[id+1]] {
		start := base + i + 1 - int(a.lens[k])
		if start < limit {
			hits = append(hits, hit{start, k})
		}
	}
	return hits
}
