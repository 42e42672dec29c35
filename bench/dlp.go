package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"bottle.dev/bottle/dlp"
)

// dlpRows measures the sidecar's secret pattern detection (package dlp)
// on its own, in this process: a mixed corpus of request bodies streamed
// through dlp's reader in report and in block mode, for at least d each.
// A row's throughput is MB/s of wall time; NsPerMB and CPUNsPerMB are the
// cost of each MB scanned, in wall and in CPU time.
func dlpRows(quick bool, d time.Duration) ([]Row, error) {
	t0 := time.Now()
	det, err := dlp.New()
	if err != nil {
		return nil, err
	}
	initMS := float64(time.Since(t0).Microseconds()) / 1000
	size := 8 << 20
	if quick {
		size = 1 << 20
	}
	corpus, parts := dlpCorpus(size)
	var rows []Row
	for _, block := range []bool{false, true} {
		mode := "report"
		if block {
			mode = "block"
		}
		row := Row{Scenario: "DLP scan of request bodies (mixed corpus)", Subject: "bottle dlp, " + mode, Unit: "MB/s"}
		var scanned int64
		cpu0, wall0 := cpuTime(), time.Now()
		buf := make([]byte, 32<<10)
		for scanned == 0 || time.Since(wall0) < d {
			r := det.NewReader(bytes.NewReader(corpus), block, func(dlp.Finding) { row.Errors++ })
			n, err := io.CopyBuffer(io.Discard, r, buf)
			scanned += n
			if err != nil {
				row.Errors++
				row.Note = err.Error()
				break
			}
		}
		wall, cpu := time.Since(wall0), cpuTime()-cpu0
		mb := float64(scanned) / 1e6
		row.Throughput = mb / wall.Seconds()
		row.NsPerMB = float64(wall.Nanoseconds()) / mb
		row.CPUNsPerMB = float64(cpu.Nanoseconds()) / mb
		if row.Note == "" {
			row.Note = fmt.Sprintf("%.1f MB corpus (%s); rules built in %.0f ms", float64(len(corpus))/1e6, parts, initMS)
		}
		fmt.Fprintf(os.Stderr, "  %-38s %-10s %10.1f MB/s\n", row.Scenario, row.Subject, row.Throughput)
		rows = append(rows, row)
	}
	return rows, nil
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dlpCorpus is about size bytes of what an agent sends, in turns of equal
// weight: model API requests (JSON with source code in the prompt), a
// minified JavaScript file (the Go installation's), a gzipped tarball of
// this repository's Go files, and git pack data of its history. It has no
// secret: a finding is an error. It returns the corpus and the names of
// the parts it has.
func dlpCorpus(size int) ([]byte, string) {
	var parts [][]byte
	var names []string
	add := func(name string, b []byte) {
		if len(b) > 0 {
			parts, names = append(parts, b), append(names, name)
		}
	}
	code := goFiles()
	add("JSON API bodies", apiBodies(code, size/4))
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	js, _ := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "src/internal/trace/traceviewer/static/webcomponents.min.js"))
	add("minified JavaScript", js)
	add("gzipped tarball", gzipTar(code))
	pack, _ := exec.Command("sh", "-c", "echo HEAD | git pack-objects --revs --stdout -q").Output()
	add("git pack data", pack[:min(len(pack), size/4)])
	var out []byte
	for len(out) < size {
		for _, p := range parts {
			out = append(out, p[:min(len(p), size/len(parts))]...)
		}
	}
	return out[:size], strings.Join(names, ", ")
}

// goFiles is the repository's Go source, by path.
func goFiles() map[string][]byte {
	files := map[string][]byte{}
	filepath.WalkDir(".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".") && p != ".") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			if b, err := os.ReadFile(p); err == nil {
				files[p] = b
			}
		}
		return nil
	})
	return files
}

// apiBodies are model API requests whose prompts carry source files, up
// to about size bytes.
func apiBodies(code map[string][]byte, size int) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for b.Len() < size {
		n := b.Len()
		for _, path := range slices.Sorted(maps.Keys(code)) {
			src := code[path]
			enc.Encode(map[string]any{
				"model": "claude-sonnet-4-5", "max_tokens": 8192, "stream": true,
				"metadata": map[string]any{"user_id": "session_7f3a9c2e4b1d"},
				"messages": []any{
					map[string]any{"role": "user", "content": "Review " + path + "; keep the cache_key and token_count fields."},
					map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": string(src)}}},
					map[string]any{"role": "user", "content": []any{map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png",
						"data": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}, 200))}}}},
				},
			})
			if b.Len() >= size {
				break
			}
		}
		if b.Len() == n {
			break // no source files
		}
	}
	return b.Bytes()
}

func gzipTar(files map[string][]byte) []byte {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, path := range slices.Sorted(maps.Keys(files)) {
		src := files[path]
		tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(src)), ModTime: time.Unix(1700000000, 0)})
		tw.Write(src)
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}
