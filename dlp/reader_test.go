package dlp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// retained is how much buffer a reader made by NewReader holds.
func retained(r io.Reader) int { return cap(r.(*reader).buf) }

// maxRetained is the bound NewReader promises, plus what slices.Grow may
// round an allocation up by.
const maxRetained = Overlap + Chunk + align + 16<<10

// reads is a reader that returns its parts one Read each.
type reads struct{ parts [][]byte }

func (r *reads) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	if r.parts[0] = r.parts[0][n:]; len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	return n, nil
}

// stream reads all of src through a reader in the given mode, and returns
// what came out, the findings and the error that ended it (nil for
// io.EOF).
func stream(t testing.TB, src io.Reader, block bool) ([]byte, []Finding, error) {
	t.Helper()
	var fs []Finding
	out, err := io.ReadAll(detector(t).NewReader(src, block, func(f Finding) { fs = append(fs, f) }))
	return out, fs, err
}

// checkStream checks one streamed body with the secret of f at offset at:
// report mode hands on every byte and finds it once; block mode finds it
// once, returns ErrBlocked, and hands on nothing from the secret's first
// byte on.
func checkStream(t *testing.T, f fixture, body []byte, at int, block bool, src io.Reader) {
	t.Helper()
	out, fs, err := stream(t, src, block)
	want := []Finding{{f.rule, int64(at)}}
	if !slices.Equal(fs, want) {
		t.Fatalf("findings %v, want %v", fs, want)
	}
	if !block {
		if err != nil || !bytes.Equal(out, body) {
			t.Fatalf("report mode: %d of %d bytes out, %v", len(out), len(body), err)
		}
		return
	}
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("block mode: error %v, want ErrBlocked", err)
	}
	if len(out) > at || !bytes.Equal(out, body[:len(out)]) {
		t.Fatalf("block mode: %d bytes out, secret at %d", len(out), at)
	}
}

func TestStreamSplitAcrossTwoReads(t *testing.T) {
	for _, f := range fixtures(t) {
		prefix := "POST notes\n{\"text\": \""
		body := []byte(prefix + f.secret + "\", \"more\": \"lorem ipsum\"}\n")
		for _, block := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/block=%v", f.name, block), func(t *testing.T) {
				for k := 0; k <= len(body); k++ {
					if raceOn && k%17 != 0 && k != len(prefix) && k != len(prefix)+1 {
						continue
					}
					src := &reads{[][]byte{slices.Clone(body[:k]), slices.Clone(body[k:])}}
					t.Run("", func(t *testing.T) { checkStream(t, f, body, len(prefix), block, src) })
					if t.Failed() {
						t.Fatalf("split at %d", k)
					}
				}
			})
		}
	}
}

func TestStreamOneByteReads(t *testing.T) {
	for _, f := range fixtures(t) {
		prefix := strings.Repeat("filler text, ", 100) + "key="
		body := []byte(prefix + f.secret + "\nend\n")
		for _, block := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/block=%v", f.name, block), func(t *testing.T) {
				checkStream(t, f, body, len(prefix), block, iotest.OneByteReader(bytes.NewReader(body)))
			})
		}
	}
}

// TestStreamAcrossWindows puts the secret across the boundary of the first
// window of a body bigger than a window, at every offset (a sample of them
// for the longer secrets), read in reads of a window and of odd sizes.
func TestStreamAcrossWindows(t *testing.T) {
	line := "the quick brown fox jumps over the lazy dog 0123456789\n"
	filler := strings.Repeat(line, (Chunk+4<<10)/len(line))
	for _, f := range fixtures(t) {
		var shifts []int
		for j := -2; j <= len(f.secret)+2; j++ {
			if j < 6 || j > len(f.secret)-6 || j%13 == 0 {
				shifts = append(shifts, j)
			}
		}
		if raceOn {
			shifts = []int{-1, 0, 1, len(f.secret) / 2, len(f.secret) - 1, len(f.secret), len(f.secret) + 1}
		}
		for _, block := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/block=%v", f.name, block), func(t *testing.T) {
				for _, j := range shifts {
					// The secret starts j bytes before the end of the
					// first window, after a space (AWS's rule wants a
					// word boundary).
					at := Chunk - j
					body := []byte(filler[:at-1] + " " + f.secret + " " + filler[at:])
					for _, size := range []int{Chunk, 4093} {
						src := &sized{bytes.NewReader(body), size}
						t.Run("", func(t *testing.T) { checkStream(t, f, body, at, block, src) })
						if t.Failed() {
							t.Fatalf("secret at %d, reads of %d", at, size)
						}
					}
				}
			})
		}
	}
}

// sized reads at most n bytes a Read.
type sized struct {
	r io.Reader
	n int
}

func (s *sized) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

// TestStreamFindsEncoded: a secret encoded, in a body, split across reads.
func TestStreamFindsEncoded(t *testing.T) {
	for _, f := range fixtures(t) {
		for name, enc := range encodings {
			prefix := `{"attachment": {"name": "notes.txt", "data": "`
			e, ok := enc(f.secret)
			body := []byte(prefix + e + `"}}`)
			for _, block := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/block=%v", f.name, name, block), func(t *testing.T) {
					if !ok {
						_, fs, _ := stream(t, iotest.HalfReader(bytes.NewReader(body)), block)
						findsEncoded(t, fs, f, len(prefix), ok)
						return
					}
					checkStream(t, f, body, len(prefix), block, iotest.HalfReader(bytes.NewReader(body)))
				})
			}
		}
	}
}

// gate is a reader that returns first, then blocks until release is
// closed, then returns rest.
type gate struct {
	first, rest []byte
	release     chan struct{}
	n           int
}

func (g *gate) Read(p []byte) (int, error) {
	switch g.n++; g.n {
	case 1:
		return copy(p, g.first), nil
	case 2:
		<-g.release
		return copy(p, g.rest), io.EOF
	}
	return 0, io.EOF
}

// TestReportModePassesAtOnce: in report mode a read's bytes come out
// before the rest of the body exists, unchanged, and the secret in the
// rest is still reported.
func TestReportModePassesAtOnce(t *testing.T) {
	f := fixtures(t)[0]
	g := &gate{first: []byte(strings.Repeat("x", 1000) + "\n"), rest: []byte("id=" + f.secret + "\n"), release: make(chan struct{})}
	var fs []Finding
	r := detector(t).NewReader(g, false, func(x Finding) { fs = append(fs, x) })
	p := make([]byte, 4096)
	n, err := r.Read(p)
	if err != nil || !bytes.Equal(p[:n], g.first) {
		t.Fatalf("first Read: %d bytes, %v; want the first %d bytes at once", n, err, len(g.first))
	}
	close(g.release)
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, g.rest) {
		t.Fatalf("rest: %q, %v", rest, err)
	}
	only(t, fs, f.rule, int64(len(g.first)+len("id=")))
}

// TestBlockModeHoldsBackOnlyAWindow: in block mode, of a read longer than
// a window, everything but the last window comes out before the rest of
// the body exists; the last window comes out at EOF.
func TestBlockModeHoldsBackOnlyAWindow(t *testing.T) {
	first := []byte(strings.Repeat("lorem ipsum dolor sit amet ", 40<<10/27))
	g := &gate{first: first, rest: []byte("the end\n"), release: make(chan struct{})}
	r := detector(t).NewReader(g, true, nil)
	var out []byte
	p := make([]byte, 64<<10)
	for len(out) < len(first)-Overlap-align {
		n, err := r.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("no bytes out after %d", len(out))
		}
		out = append(out, p[:n]...)
	}
	if len(out) > len(first)-Overlap+align {
		t.Errorf("%d bytes out of %d before EOF: held back %d, not about a window (%d)", len(out), len(first), len(first)-len(out), Overlap)
	}
	done := make(chan []byte)
	go func() {
		rest, _ := io.ReadAll(r)
		done <- rest
	}()
	select {
	case rest := <-done:
		t.Fatalf("the held-back window (%d bytes) came out before EOF", len(rest))
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	out = append(out, <-done...)
	if want := append(slices.Clone(first), g.rest...); !bytes.Equal(out, want) {
		t.Errorf("block mode changed the body: %d bytes out, want %d", len(out), len(want))
	}
}

// words is a reader of n bytes of lower-case words and line breaks,
// cheap to make and to scan.
type words struct {
	n    int64
	line []byte
	off  int
}

func (w *words) Read(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), w.n)]
	for i := range p {
		p[i] = w.line[w.off]
		w.off = (w.off + 1) % len(w.line)
	}
	w.n -= int64(len(p))
	return len(p), nil
}

func newWords(n int64) *words {
	return &words{n: n, line: []byte("sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium\n")}
}

// TestStreamMemoryIsFlat streams 100 MB through each mode and checks that
// the reader never holds more than its bound.
func TestStreamMemoryIsFlat(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() || raceOn {
		size = 10 << 20
	}
	for _, block := range []bool{false, true} {
		t.Run(fmt.Sprintf("block=%v", block), func(t *testing.T) {
			r := detector(t).NewReader(newWords(size), block, func(f Finding) { t.Errorf("finding %v", f) })
			p := make([]byte, 32<<10)
			var n int64
			most := 0
			for {
				k, err := r.Read(p)
				n += int64(k)
				most = max(most, retained(r))
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if n != size {
				t.Errorf("%d bytes out, want %d", n, size)
			}
			if most > maxRetained {
				t.Errorf("the reader held %d bytes, more than %d", most, maxRetained)
			}
			t.Logf("held at most %d bytes", most)
		})
	}
}

func TestStreamCleanBodyUnchanged(t *testing.T) {
	body := []byte(strings.Repeat(`{"role": "user", "content": "please refactor the parser"}`+"\n", 5000))
	for _, block := range []bool{false, true} {
		out, fs, err := stream(t, iotest.HalfReader(bytes.NewReader(body)), block)
		if err != nil || !bytes.Equal(out, body) || len(fs) > 0 {
			t.Errorf("block=%v: %d of %d bytes out, %v, findings %v", block, len(out), len(body), err, fs)
		}
	}
}

// TestStreamErrorPassesOn: an error from the body other than EOF ends the
// stream as it is, after the last window was scanned.
func TestStreamErrorPassesOn(t *testing.T) {
	f := fixtures(t)[1]
	boom := errors.New("connection reset")
	for _, block := range []bool{false, true} {
		src := io.MultiReader(strings.NewReader("x="+f.secret+"\n"), iotest.ErrReader(boom))
		_, fs, err := stream(t, src, block)
		want := boom
		if block {
			want = ErrBlocked
		}
		if !errors.Is(err, want) {
			t.Errorf("block=%v: error %v, want %v", block, err, want)
		}
		only(t, fs, f.rule, 2)
	}
}
