// Command sseclient is the client of the model-API streaming workload
// (bench/workload's Stream): it opens -streams concurrent streams of the
// origin's server-sent events at once, reads each to its end, and prints
// one workload.StreamResult as JSON on stdout: per stream the time to its
// first chunk, per chunk the time it was read minus the time the server
// stamped in it. It uses Go's default client: HTTPS_PROXY when set (CONNECT,
// then HTTP/2 or HTTP/1.1 as ALPN says), SSL_CERT_FILE or the system's
// roots. Exit 1 only when it could not run at all; failed streams are
// counted in Errors.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"bottle.dev/bottle/bench/workload"
)

func main() {
	url := flag.String("url", "", "the stream's URL (https://HOST/PATH?chunks=N&interval=D)")
	streams := flag.Int("streams", 50, "concurrent streams")
	chunks := flag.Int("chunks", 0, "chunks each stream must carry (the URL's chunks=)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up on a stream after this long")
	flag.Parse()
	if *url == "" || *chunks < 1 || *streams < 1 {
		fmt.Fprintln(os.Stderr, "sseclient: -url, -streams and -chunks are required")
		os.Exit(2)
	}
	// The roots are read once per process, at the first handshake: read
	// them now, so that no stream's time to first byte carries the cost
	// (a long-running agent paid it long ago).
	if _, err := x509.SystemCertPool(); err != nil {
		fmt.Fprintln(os.Stderr, "sseclient: reading the system's roots:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res := run(ctx, *url, *streams, *chunks, *timeout)
	stop()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "sseclient:", err)
		os.Exit(1)
	}
}

// run opens n streams at once and gathers what they measured.
func run(ctx context.Context, url string, n, chunks int, timeout time.Duration) workload.StreamResult {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every stream is open at once: none waits for a pooled connection.
	tr.MaxIdleConnsPerHost = n
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	type one struct {
		ttfb float64
		gaps []float64
		err  error
	}
	out := make([]one, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i].ttfb, out[i].gaps, out[i].err = stream(ctx, client, url, chunks)
		})
	}
	close(start)
	wg.Wait()

	res := workload.StreamResult{TTFBms: []float64{}, GapMS: make([]float64, 0, n*chunks)}
	for _, o := range out {
		if o.err != nil {
			res.Errors++
			fmt.Fprintln(os.Stderr, "sseclient:", o.err)
			continue
		}
		res.Streams++
		res.TTFBms = append(res.TTFBms, o.ttfb)
		res.GapMS = append(res.GapMS, o.gaps...)
	}
	return res
}

// stream reads one stream: the ms to its first chunk, and each chunk's
// lateness in ms. A stream that does not carry chunks events, in order,
// then [DONE], is an error.
func stream(ctx context.Context, client *http.Client, url string, chunks int) (ttfb float64, gaps []float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	gaps = make([]float64, 0, chunks)
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	for {
		line, err := r.ReadSlice('\n')
		// Read the clock before anything else: the chunk arrived when
		// the read returned.
		now := time.Now()
		if err != nil {
			return 0, nil, fmt.Errorf("GET %s: after %d of %d chunks: %w", url, len(gaps), chunks, err)
		}
		if string(line) == "data: [DONE]\n" {
			break
		}
		i, sent, ok := workload.ParseStreamEvent(line)
		if !ok {
			continue
		}
		if i != len(gaps) {
			return 0, nil, fmt.Errorf("GET %s: chunk %d came after %d chunks", url, i, len(gaps))
		}
		if i == 0 {
			ttfb = ms(now.Sub(t0))
		}
		gaps = append(gaps, ms(time.Duration(now.UnixNano()-sent)))
	}
	if len(gaps) != chunks {
		return 0, nil, errors.New("GET " + url + ": " + fmt.Sprintf("%d chunks, want %d", len(gaps), chunks))
	}
	return ttfb, gaps, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
