package guard

import "io"

// matcher finds any of a set of byte patterns in a stream: an Aho–Corasick
// automaton compiled to a DFA over byte classes, so that scanning costs one
// table load per byte, whatever the number of patterns. It is immutable
// once built and safe for concurrent use; the state of a scan lives in the
// reader or the loop that runs it.
//
// A state is the longest suffix of the bytes seen so far that is a prefix
// of some pattern. Its depth is therefore exactly what a stream must hold
// back so as not to let the start of a match go before its end is known,
// and no more: a stream whose reads end in bytes that begin no pattern
// (an event stream's "\n\n") is released read by read.
type matcher struct {
	class  [256]uint8 // byte → class; bytes in no pattern share class 0
	nclass int
	// trans[row+class] is the next state, as its row offset
	// (state*nclass); the states where a pattern ends are those from
	// limit on.
	trans  []int32
	limit  int32
	depth  []int32 // by state: the length of its string
	out    []int32 // by state: the longest pattern ending there, or -1
	lens   []int   // by pattern
	maxLen int
}

// newMatcher compiles patterns; pattern i is reported as i. Patterns must
// be non-empty and distinct.
func newMatcher(patterns [][]byte) *matcher {
	m := &matcher{lens: make([]int, len(patterns))}
	var used [256]bool
	for i, p := range patterns {
		m.lens[i] = len(p)
		m.maxLen = max(m.maxLen, len(p))
		for _, b := range p {
			used[b] = true
		}
	}
	m.nclass = 1
	for b := range 256 {
		if used[b] {
			m.class[b] = uint8(m.nclass)
			m.nclass++
		}
	}
	if m.nclass > 256 { // every byte value is used: class 0 is never taken
		m.nclass = 256
		for b := range 256 {
			m.class[b] = uint8(b)
		}
	}
	nc := m.nclass

	// The trie, in the DFA's own table: -1 is "no child yet".
	states := 1
	m.trans = make([]int32, nc)
	m.out = []int32{-1}
	m.depth = []int32{0}
	for i := range m.trans {
		m.trans[i] = -1
	}
	for i, p := range patterns {
		s := 0
		for _, b := range p {
			c := int(m.class[b])
			next := m.trans[s*nc+c]
			if next < 0 {
				next = int32(states)
				states++
				m.trans[s*nc+c] = next
				for range nc {
					m.trans = append(m.trans, -1)
				}
				m.out = append(m.out, -1)
				m.depth = append(m.depth, m.depth[s]+1)
			}
			s = int(next)
		}
		m.out[s] = int32(i)
	}

	// Breadth first: failure links, then every missing transition filled
	// from the failure state's, and each state's output is its own pattern
	// or, failing that, its failure state's (the longest proper suffix).
	fail := make([]int32, states)
	queue := make([]int32, 0, states)
	for c := range nc {
		if t := m.trans[c]; t < 0 {
			m.trans[c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := int(queue[0])
		queue = queue[1:]
		if m.out[s] < 0 {
			m.out[s] = m.out[fail[s]]
		}
		for c := range nc {
			t := m.trans[s*nc+c]
			f := m.trans[int(fail[s])*nc+c]
			if t < 0 {
				m.trans[s*nc+c] = f
			} else {
				fail[t] = f
				queue = append(queue, t)
			}
		}
	}
	// Renumber the states so that those where a pattern ends come last,
	// and encode each transition as its target's row offset: a scan then
	// costs one load and one comparison per byte.
	perm := make([]int32, states)
	n := int32(0)
	for _, outs := range []bool{false, true} {
		for old := range states {
			if (m.out[old] >= 0) == outs {
				if outs && m.limit == 0 {
					m.limit = int32(int(n) * nc)
				}
				perm[old] = n
				n++
			}
		}
	}
	if m.limit == 0 {
		m.limit = int32(states * nc) // no pattern: nothing ever ends
	}
	trans := make([]int32, len(m.trans))
	depth := make([]int32, states)
	out := make([]int32, states)
	for old := range states {
		row := int(perm[old]) * nc
		for c := range nc {
			trans[row+c] = perm[m.trans[old*nc+c]] * int32(nc)
		}
		depth[perm[old]], out[perm[old]] = m.depth[old], m.out[old]
	}
	m.trans, m.depth, m.out = trans, depth, out
	return m
}

// state is a scan's position in the automaton, as a row offset of trans;
// 0 is the start.
type state int32

// scan runs b from st until a pattern ends. It returns the state, the
// number of bytes consumed, and the pattern that ended at the last of them
// (the longest one), or -1 when b was consumed without a match.
func (m *matcher) scan(st state, b []byte) (state, int, int) {
	trans, class, limit := m.trans, &m.class, m.limit
	s := int32(st)
	for i, c := range b {
		s = trans[int(s)+int(class[c])]
		if s >= limit {
			return state(s), i + 1, int(m.out[int(s)/m.nclass])
		}
	}
	return state(s), len(b), -1
}

// held is how many of the bytes seen are a prefix of some pattern, and must
// be held back.
func (m *matcher) held(st state) int { return int(m.depth[int(st)/m.nclass]) }

// each calls f for every pattern that ends in b (the longest, where several
// end at one byte), in order, until f returns false.
func (m *matcher) each(b []byte, f func(id int) bool) {
	var st state
	for len(b) > 0 {
		var n, id int
		st, n, id = m.scan(st, b)
		b = b[n:]
		if id >= 0 && !f(id) {
			return
		}
	}
}

// contains says whether any pattern occurs in b.
func (m *matcher) contains(b []byte) bool {
	found := false
	m.each(b, func(int) bool { found = true; return false })
	return found
}

// replace returns b with every match replaced by repl[id], the leftmost
// ending first, matches not overlapping; and whether anything was.
func (m *matcher) replace(b []byte, repl [][]byte) ([]byte, bool) {
	var out []byte
	done, pos := 0, 0
	for pos < len(b) {
		// Each scan starts afresh: after a match, nothing before its end
		// is looked at again.
		_, n, id := m.scan(0, b[pos:])
		pos += n
		if id < 0 {
			break
		}
		out = append(out, b[done:pos-m.lens[id]]...)
		out = append(out, repl[id]...)
		done = pos
	}
	if out == nil {
		return b, false
	}
	return append(out, b[done:]...), true
}

// streamBuf is how much a stream reads from its source at once.
const streamBuf = 32 << 10

// findReader passes a stream through unchanged, holding back its longest
// tail that is a prefix of a pattern. When a pattern ends, match decides:
// nil goes on, an error ends the stream with it before the pattern's last
// byte (or any byte after its first) is released.
type findReader struct {
	m     *matcher
	src   io.Reader
	match func(id int) error
	st    state
	buf   []byte
	out   []byte // ready to be read: a prefix of buf
	hold  []byte // held back: the rest of buf
	err   error
	total int64 // bytes released
}

func newFindReader(m *matcher, src io.Reader, match func(id int) error) *findReader {
	return &findReader{m: m, src: src, match: match, buf: make([]byte, streamBuf+m.maxLen)}
}

func (r *findReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	r.total += int64(n)
	return n, nil
}

func (r *findReader) fill() {
	h := copy(r.buf, r.hold)
	n, err := r.src.Read(r.buf[h:])
	data := r.buf[:h+n]
	for pos := h; pos < len(data); {
		st, k, id := r.m.scan(r.st, data[pos:])
		r.st, pos = st, pos+k
		if id >= 0 {
			if merr := r.match(id); merr != nil {
				r.err, r.out, r.hold = merr, nil, nil
				return
			}
		}
	}
	cut := len(data) - r.m.held(r.st)
	if err != nil {
		cut = len(data) // the end: what could still have matched did not
		r.err = err
	}
	r.out, r.hold = data[:cut], data[cut:]
}

// replaceReader passes a stream through with every match replaced by
// repl[id], holding back only what could still become a match.
type replaceReader struct {
	m    *matcher
	src  io.Reader
	repl [][]byte
	st   state
	buf  []byte // read from src; buf[:len(hold)] is the held tail
	hold []byte
	obuf []byte // the output of one fill
	out  []byte
	err  error
	n    int // matches replaced
}

func newReplaceReader(m *matcher, src io.Reader, repl [][]byte) *replaceReader {
	return &replaceReader{m: m, src: src, repl: repl, buf: make([]byte, streamBuf+m.maxLen)}
}

func (r *replaceReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *replaceReader) fill() {
	h := copy(r.buf, r.hold)
	n, err := r.src.Read(r.buf[h:])
	data := r.buf[:h+n]
	out := r.obuf[:0]
	done := 0 // data[:done] is in out
	for pos := h; pos < len(data); {
		st, k, id := r.m.scan(r.st, data[pos:])
		r.st, pos = st, pos+k
		if id >= 0 {
			out = append(out, data[done:pos-r.m.lens[id]]...)
			out = append(out, r.repl[id]...)
			done, r.st = pos, 0
			r.n++
		}
	}
	cut := len(data) - r.m.held(r.st)
	if err != nil {
		cut = len(data)
		r.err = err
	}
	out = append(out, data[done:cut]...)
	// The held tail moves to the front of buf on the next fill; it must
	// not alias what copy reads from, so keep it in place until then.
	r.hold = data[cut:]
	r.obuf, r.out = out, out
}
