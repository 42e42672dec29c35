package guard

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/chunky"
)

// TestRequestBodyPassesEveryByte: a guarded body of random bytes strewn
// with prefixes of the value (held back, then released) and whole
// placeholders of a credential bound to the host (matched, and let
// through) comes out byte for byte as it went in, whatever the sizes of
// the reads on either side.
func TestRequestBodyPassesEveryByte(t *testing.T) {
	v := testValue(t)
	c := testCred("forge", allowlist.CredBasic, v, "git.test")
	s := mustCompile(t, []*cred{c})
	rng := rand.New(rand.NewPCG(1, 2))
	tails := []string{v[:len(v)/2], c.placeholder, "tv_"}
	var b bytes.Buffer
	for b.Len() < 16<<20 {
		chunk := make([]byte, rng.IntN(3000))
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		b.Write(chunk)
		p := tails[rng.IntN(len(tails))]
		b.WriteString(p[:1+rng.IntN(len(p))])
	}
	body := b.Bytes()
	for name, mk := range map[string]func(io.Reader) io.Reader{
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data-err": iotest.DataErrReader,
		"chunky":   func(r io.Reader) io.Reader { return chunky.New(r, rand.New(rand.NewPCG(3, 4)), 700) },
	} {
		src := body
		if name == "one-byte" {
			src = body[:1<<20]
		}
		r := s.RequestBody(io.NopCloser(mk(bytes.NewReader(src))), "git.test")
		var out bytes.Buffer
		buf := make([]byte, 64<<10)
		crng := rand.New(rand.NewPCG(5, 6))
		for {
			n, err := r.Read(buf[:1+crng.IntN(len(buf))])
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !bytes.Equal(out.Bytes(), src) {
			t.Errorf("%s: %d bytes out of %d, not the same", name, out.Len(), len(src))
		}
	}
}
