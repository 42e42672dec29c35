package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// naiveEnds returns, for each end position (exclusive) where some pattern
// ends in b, the length of the longest one ending there.
func naiveEnds(patterns [][]byte, b []byte) map[int]int {
	ends := map[int]int{}
	for i := range b {
		for _, p := range patterns {
			if bytes.HasPrefix(b[i:], p) {
				e := i + len(p)
				ends[e] = max(ends[e], len(p))
			}
		}
	}
	return ends
}

// randPatterns makes distinct patterns over a small alphabet, so that they
// overlap, share prefixes and contain each other.
func randPatterns(r *rand.Rand, n int) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	for len(out) < n {
		p := make([]byte, 1+r.IntN(6))
		for i := range p {
			p[i] = "abc"[r.IntN(3)]
		}
		if !seen[string(p)] {
			seen[string(p)] = true
			out = append(out, p)
		}
	}
	return out
}

func randText(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcd"[r.IntN(4)]
	}
	return b
}

// TestMatcherFindsEveryEnd: the automaton reports a match at exactly the
// positions where a brute-force search finds one, with the longest pattern.
func TestMatcherFindsEveryEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		pats := randPatterns(r, 1+r.IntN(8))
		m := newMatcher(pats)
		text := randText(r, r.IntN(60))
		want := naiveEnds(pats, text)
		got := map[int]int{}
		var st state
		pos := 0
		for pos < len(text) {
			var n, id int
			st, n, id = m.scan(st, text[pos:])
			pos += n
			if id >= 0 {
				got[pos] = len(pats[id])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: patterns %q in %q: got ends %v; want %v", round, pats, text, got, want)
		}
	}
}

// chunked returns a reader that yields b in reads of the given sizes, in
// turn.
func chunked(b []byte, sizes ...int) io.Reader {
	return &chunkReader{b: b, sizes: sizes}
}

type chunkReader struct {
	b     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(c.sizes[c.i%len(c.sizes)], len(c.b), len(p))
	c.i++
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

var errFound = errors.New("found")

// TestFindReaderStopsBeforeTheLastByte: whatever the read sizes, a stream
// without a match passes through unchanged, and one with a match ends with
// the match's error having released no byte from the match's first on.
func TestFindReaderStopsBeforeTheLastByte(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 500 {
		pats := randPatterns(r, 1+r.IntN(5))
		m := newMatcher(pats)
		text := randText(r, r.IntN(200))
		ends := naiveEnds(pats, text)
		first := -1 // the first position where a match ends
		for e := range ends {
			if first < 0 || e < first {
				first = e
			}
		}
		for _, sizes := range [][]int{{1}, {3, 7, 2}, {64}, {5}} {
			fr := newFindReader(m, chunked(text, sizes...), func(int) error { return errFound })
			got, err := io.ReadAll(fr)
			if first < 0 {
				if err != nil || !bytes.Equal(got, text) {
					t.Fatalf("round %d sizes %v: no match, got %q, %v; want %q", round, sizes, got, err, text)
				}
				continue
			}
			// Every pattern that ends at first starts at first-len; the
			// shortest start is first minus the longest.
			start := first - ends[first]
			if !errors.Is(err, errFound) || len(got) > start || !bytes.Equal(got, text[:len(got)]) {
				t.Fatalf("round %d sizes %v: patterns %q in %q: released %q (%v); a match starts at %d", round, sizes, pats, text, got, err, start)
			}
		}
	}
}

// TestFindReaderGoesOn: a match the callback accepts does not stop the
// stream, nor change it.
func TestFindReaderGoesOn(t *testing.T) {
	m := newMatcher([][]byte{[]byte("needle")})
	text := bytes.Repeat([]byte("hay needle hay "), 5000)
	n := 0
	got, err := io.ReadAll(newFindReader(m, iotest.HalfReader(bytes.NewReader(text)), func(int) error { n++; return nil }))
	if err != nil || !bytes.Equal(got, text) || n != 5000 {
		t.Fatalf("got %d bytes, %v, %d matches", len(got), err, n)
	}
}

// TestReplaceReaderMatchesReplace: streaming replacement gives the same
// bytes as replacing in the whole buffer, whatever the read sizes.
func TestReplaceReaderMatchesReplace(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		pats := randPatterns(r, 1+r.IntN(5))
		repl := make([][]byte, len(pats))
		for i := range repl {
			repl[i] = []byte(fmt.Sprintf("<%d>", i))
		}
		m := newMatcher(pats)
		text := randText(r, r.IntN(200))
		want, _ := m.replace(text, repl)
		for _, sizes := range [][]int{{1}, {2, 9}, {64}, {7}} {
			got, err := io.ReadAll(newReplaceReader(m, chunked(text, sizes...), repl))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d sizes %v: patterns %q in %q: got %q, %v; want %q", round, sizes, pats, text, got, err, want)
			}
		}
		// And what is left has no match: replacement is complete.
		if m.contains(want) {
			t.Fatalf("round %d: patterns %q: %q still holds one", round, pats, want)
		}
	}
}

func TestReplaceWholeBuffer(t *testing.T) {
	m := newMatcher([][]byte{[]byte("secret"), []byte("cre")})
	got, ok := m.replace([]byte("a secret and a crest"), [][]byte{[]byte("S"), []byte("C")})
	// "cre" ends before "secret" does: the leftmost end wins.
	if !ok || string(got) != "a seCt and a Cst" {
		t.Errorf("got %q, %v", got, ok)
	}
	if got, ok := m.replace([]byte("nothing"), nil); ok || string(got) != "nothing" {
		t.Errorf("got %q, %v", got, ok)
	}
}

// TestStreamsAreNotDelayed: a read that ends in bytes that begin no pattern
// is released at once, without waiting for more input: each event of an
// event stream arrives as it is sent.
func TestStreamsAreNotDelayed(t *testing.T) {
	m := newMatcher([][]byte{[]byte("bottle-secret-x"), []byte("dGhlIHNlY3JldA")})
	for _, mode := range []string{"find", "replace"} {
		pr, pw := io.Pipe()
		var rd io.Reader
		if mode == "find" {
			rd = newFindReader(m, pr, func(int) error { return errFound })
		} else {
			rd = newReplaceReader(m, pr, [][]byte{[]byte("A"), []byte("B")})
		}
		buf := make([]byte, 1024)
		for _, ev := range []string{"data: one\n\n", "data: two bott", "le-secret\n\n"} {
			go pw.Write([]byte(ev))
			var got []byte
			deadline := time.After(5 * time.Second)
			want := ev
			if ev == "data: two bott" {
				want = "data: two " // "bott" could begin a match: held
			}
			if ev == "le-secret\n\n" {
				want = "bottle-secret\n\n"
			}
			for len(got) < len(want) {
				ch := make(chan int)
				go func() { n, _ := rd.Read(buf); ch <- n }()
				select {
				case n := <-ch:
					got = append(got, buf[:n]...)
				case <-deadline:
					t.Fatalf("%s: %q not released; got %q", mode, want, got)
				}
			}
			if string(got) != want {
				t.Fatalf("%s: got %q; want %q", mode, got, want)
			}
		}
		pw.Close()
	}
}

func TestEmptyMatcher(t *testing.T) {
	m := newMatcher(nil)
	if m.contains([]byte("anything")) {
		t.Error("an empty set matches")
	}
	got, err := io.ReadAll(newReplaceReader(m, bytes.NewReader([]byte("abc")), nil))
	if err != nil || string(got) != "abc" {
		t.Errorf("%q %v", got, err)
	}
}
