package gitgate

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// bigPack writes the pack of a repository of random blobs (files of size
// bytes each, count of them in one commit) to a file and returns its path.
// Random content does not compress or deltify: the pack is as large as
// the files.
func bigPack(tb testing.TB, files, size int) string {
	tb.Helper()
	r := newRepo(tb)
	buf := make([]byte, size)
	for i := range files {
		if _, err := rand.Read(buf); err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(r.dir, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("blob%03d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	c := r.commit("random blobs", nil)
	return r.packFile(c)
}

// deltaPack is the pack of a text file of size bytes edited over four
// commits, deltified, so the parser's and the reader's delta bases count.
func deltaPack(tb testing.TB, size int) string {
	tb.Helper()
	r := newRepo(tb)
	text := lines(size/64, "big")
	var c string
	for i := range 4 {
		n := strings.Count(text, "\n")
		text = withLine(text, 1+(i+1)*n/5, fmt.Sprintf("edit %d", i))
		c = r.commit(fmt.Sprintf("edit %d", i), map[string]string{"big.txt": text})
	}
	path := r.packFile(c, "--delta-base-offset", "--window=10")
	pack, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if packTypes(tb, pack)[plumbing.OFSDeltaObject] < 3 {
		tb.Fatal("git did not deltify the edits")
	}
	return path
}

// packFile writes pack-objects' output for rev to a file.
func (r *repo) packFile(rev string, args ...string) string {
	r.t.Helper()
	path := filepath.Join(r.t.TempDir(), "push.pack")
	f, err := os.Create(path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("git", append([]string{"pack-objects", "--stdout", "--revs", "-q"}, args...)...)
	var stderr strings.Builder
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = r.dir, r.env, f, &stderr
	cmd.Stdin = strings.NewReader(rev + "\n")
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git pack-objects: %v\n%s", err, stderr.String())
	}
	return path
}

// peakHeap runs f while sampling the heap in use, and returns the most it
// saw above what was in use before.
func peakHeap(f func()) (peak uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > base && ms.HeapInuse-base > peak {
			peak = ms.HeapInuse - base
		}
	}
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak
}

// BenchmarkInspect100MB inspects a 100 MB push three ways (many blobs,
// one blob, a deltified file) and reports the peak heap above the
// baseline (peak-heap-MB) and the pack's size (pack-MB):
//
//	go test -run '^$' -bench Inspect100MB -benchtime 1x ./gitgate
func BenchmarkInspect100MB(b *testing.B) {
	for _, tc := range []struct {
		name string
		pack func(testing.TB) string
	}{
		{"100-blobs-of-1MB", func(tb testing.TB) string { return bigPack(tb, 100, 1<<20) }},
		{"1-blob-of-100MB", func(tb testing.TB) string { return bigPack(tb, 1, 100<<20) }},
		{"25MB-file-4-edits", func(tb testing.TB) string { return deltaPack(tb, 25<<20) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := tc.pack(b)
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			p := pushFile(b, path)
			var worst uint64
			b.ResetTimer()
			for range b.N {
				peak := peakHeap(func() {
					if _, err := p.Inspect(context.Background(), &markerScanner{marker: "FAKESECRET"}, false); err != nil {
						b.Fatal(err)
					}
				})
				worst = max(worst, peak)
			}
			b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(st.Size())/(1<<20), "pack-MB")
			b.SetBytes(st.Size())
		})
	}
}

// TestInspectMemoryBounded: a push of one 16 MB blob, and one of a
// 4 MB file edited four times (deltas on deltas), are inspected in
// a few MB of heap: no object is held whole. BenchmarkInspect100MB
// reports the numbers for 100 MB.
func TestInspectMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 20 MB of packs")
	}
	const limit = 8 << 20
	// The sampling sees what it should: a 32 MB buffer held for 20 ms.
	if peak := peakHeap(func() {
		b := make([]byte, 32<<20)
		for i := range b {
			b[i] = 1
		}
		time.Sleep(20 * time.Millisecond)
		runtime.KeepAlive(b)
	}); peak < 30<<20 {
		t.Fatalf("peakHeap saw %d bytes of a 32 MB buffer", peak)
	}
	for name, path := range map[string]string{
		"one 16 MB blob": bigPack(t, 1, 16<<20),
		"4 MB, 4 edits":  deltaPack(t, 4<<20),
	} {
		p := pushFile(t, path)
		var res *Result
		peak := peakHeap(func() {
			var err error
			if res, err = p.Inspect(context.Background(), &markerScanner{marker: "FAKESECRET"}, false); err != nil {
				t.Fatal(err)
			}
		})
		if res.Blobs == 0 {
			t.Errorf("%s: no blob decoded", name)
		}
		t.Logf("%s: peak heap %.1f MB", name, float64(peak)/(1<<20))
		if peak > limit {
			t.Errorf("%s: peak heap %d MB, want under %d MB", name, peak>>20, limit>>20)
		}
	}
}
