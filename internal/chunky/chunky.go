// Package chunky is a test reader that returns data in reads of random
// sizes, for tests that a stream passes every byte whatever the reads.
package chunky

import (
	"io"
	"math/rand/v2"
)

// Reader reads at most a random 1 to Max bytes of R at a time.
type Reader struct {
	R   io.Reader
	Rng *rand.Rand
	Max int
}

func (c *Reader) Read(p []byte) (int, error) {
	if n := 1 + c.Rng.IntN(c.Max); n < len(p) {
		p = p[:n]
	}
	return c.R.Read(p)
}

// New returns a Reader of r whose reads are 1 to max bytes, sized by rng.
func New(r io.Reader, rng *rand.Rand, max int) *Reader { return &Reader{R: r, Rng: rng, Max: max} }
