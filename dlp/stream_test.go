package dlp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"bottle.dev/bottle/internal/chunky"
)

// TestStreamPassesEveryByte: a large binary body comes out of a reader in
// either mode byte for byte as it went in, whatever the sizes of the reads
// on either side (windows, overlap and compaction never drop, repeat or
// reorder a byte).
func TestStreamPassesEveryByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 12<<20)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	for _, block := range []bool{true, false} {
		for name, mk := range map[string]func(io.Reader) io.Reader{
			"half":     iotest.HalfReader,
			"data-err": iotest.DataErrReader,
			"chunky":   func(r io.Reader) io.Reader { return chunky.New(r, rand.New(rand.NewPCG(3, 4)), 20000) },
			"small":    func(r io.Reader) io.Reader { return chunky.New(r, rand.New(rand.NewPCG(3, 4)), 300) },
		} {
			src := body
			if name == "small" {
				src = body[:1<<20]
			}
			r := detector(t).NewReader(mk(bytes.NewReader(src)), block, nil)
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
					t.Fatalf("block=%v %s: %v", block, name, err)
				}
			}
			if !bytes.Equal(out.Bytes(), src) {
				t.Errorf("block=%v %s: %d bytes out of %d, not the same", block, name, out.Len(), len(src))
			}
		}
	}
}
