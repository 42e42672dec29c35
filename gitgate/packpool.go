package gitgate

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// scanWorkers is how many small blobs are scanned at once, while the
// decoding goes on: the Scanner (gitleaks' rules, 2 to 90 MB/s) is
// slower than the decoding (100 MB/s and more), and is safe for
// concurrent use.
func scanWorkers() int { return min(max(runtime.GOMAXPROCS(0)-1, 1), 4) }

// scanPool scans blobs of up to smallScan on scanWorkers goroutines. Each
// blob is copied into one of a few buffers, so at most 2*workers+1 blobs
// are held at once (256 KiB each).
type scanPool struct {
	ctx  context.Context // done: the blobs queued are not scanned
	s    Scanner
	pk   *pack
	jobs chan scanJob
	bufs chan []byte
	wg   sync.WaitGroup

	mu  sync.Mutex
	err error // the first Scanner error
}

type scanJob struct {
	i int
	b []byte
}

func newScanPool(ctx context.Context, s Scanner, pk *pack) *scanPool {
	n := scanWorkers()
	p := &scanPool{ctx: ctx, s: s, pk: pk, jobs: make(chan scanJob, n), bufs: make(chan []byte, 2*n+1)}
	for range cap(p.bufs) {
		p.bufs <- nil // grown as the blobs need, up to smallScan
	}
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p
}

// submit queues blob i's content b (copied) to be scanned.
func (p *scanPool) submit(i int, b []byte) {
	buf := append((<-p.bufs)[:0], b...)
	p.jobs <- scanJob{i: i, b: buf}
}

func (p *scanPool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		if p.ctx.Err() != nil {
			p.bufs <- j.b
			continue
		}
		hits, err := scanSync(p.s, j.b, p.pk.hitsLeft())
		p.bufs <- j.b
		if err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = fmt.Errorf("scanning the blob at pack offset %d: %w", p.pk.objs[j.i].off, err)
			}
			p.mu.Unlock()
			continue
		}
		p.pk.keep(j.i, hits)
	}
}

// failed is the first Scanner error so far.
func (p *scanPool) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait waits for the blobs queued and returns the first Scanner error.
func (p *scanPool) wait() error {
	close(p.jobs)
	p.wg.Wait()
	return p.failed()
}

// hitsLeft is how many more hits the push may keep.
func (pk *pack) hitsLeft() int {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return maxHits - pk.nhits
}

// keep keeps object i's hits, as many as the push may still keep.
func (pk *pack) keep(i int, hits []hit) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	hits = hits[:min(len(hits), maxHits-pk.nhits)]
	if len(hits) > 0 {
		pk.hits[i] = hits
		pk.nhits += len(hits)
	}
}
