package dlp

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// mixed is the benchmark's corpus: each benign sample and some prose, in
// turn, to about size bytes.
func mixed(b testing.TB, size int) []byte {
	samples := benign(b)
	prose, _ := io.ReadAll(newWords(1 << 20))
	samples["prose"] = prose
	var keys []string
	for k := range samples {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []byte
	for len(out) < size {
		for _, k := range keys {
			out = append(out, samples[k]...)
		}
	}
	return out[:size]
}

// BenchmarkScanStream is the cost of scanning a request body, per corpus
// and on all of them mixed (MB/s; ns/op is per body).
func BenchmarkScanStream(b *testing.B) {
	d := detector(b)
	corpora := benign(b)
	prose, _ := io.ReadAll(newWords(4 << 20))
	corpora["prose"] = prose
	corpora["mixed"] = mixed(b, 8<<20)
	names := []string{"mixed", "json api bodies", "minified javascript", "gzipped tarball", "git pack data", "prose"}
	for _, name := range names {
		for _, block := range []bool{false, true} {
			mode := "report"
			if block {
				mode = "block"
			}
			body := corpora[name]
			b.Run(name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				buf := make([]byte, 32<<10)
				for b.Loop() {
					r := d.NewReader(bytes.NewReader(body), block, func(f Finding) { b.Fatalf("finding %v", f) })
					if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkScanField is the cost of scanning a URL.
func BenchmarkScanField(b *testing.B) {
	d := detector(b)
	u := []byte("https://api.example.com/v1/repos/example/project/pulls?state=open&per_page=100&page=2&sort=updated")
	b.ReportAllocs()
	b.SetBytes(int64(len(u)))
	for b.Loop() {
		if fs := d.Scan(u); len(fs) > 0 {
			b.Fatal(fs)
		}
	}
}

// BenchmarkNew is the cost of building a Detector (once per sidecar).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}
