package workload

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The model-API streaming scenario: many concurrent server-sent-event
// streams of small chunks, as an agent gets from a model API, where what
// matters is not throughput but how late each chunk arrives. It does not
// fit Scenario (its result is latencies, not a wall time): the harness runs
// Client in the agent, directly and in a bottle, and compares the two
// StreamResults with Added.

// A StreamScenario is the streaming workload.
type StreamScenario struct {
	// Name is the row's scenario; Key is short and unique.
	Name, Key string
	// Sites is the SSE origin (inside the simulated internet's container).
	Sites func(size Size) ([]Site, error)
	// Allow is the allowlist fragment that lets a bottle reach the sites
	// (list items under allow:, indented two spaces, as every scenario's).
	Allow string
	// Client is the Go main package of the client, built static and run
	// in the agent with Args; it prints one StreamResult as JSON on
	// stdout. It goes through HTTPS_PROXY when that is set, and trusts
	// SSL_CERT_FILE (or the system's roots).
	Client string
	// Args are the client's arguments for the origin url ("https://HOST",
	// HOST being the Site's) at size.
	Args func(url string, size Size) []string
}

// StreamResult is what the client prints: per stream the time to its
// first chunk, per chunk its lateness.
type StreamResult struct {
	// Streams is how many streams ran to their end with every chunk;
	// Errors how many did not (failed, cut short).
	Streams int `json:"streams"`
	Errors  int `json:"errors"`
	// TTFBms is per complete stream the time from sending the request
	// (connection, proxy and TLS included) to reading its first chunk.
	TTFBms []float64 `json:"ttfb_ms"`
	// GapMS is per chunk of the complete streams the time it was read
	// minus the time the server stamped in it as it sent it (the client
	// and the server read one clock: containers on one kernel).
	GapMS []float64 `json:"gap_ms"`
}

// Added is what the bottle adds, in ms, to the time to first byte and to
// each chunk's lateness, at the median and the 99th percentile: bottle's
// quantile minus direct's, as measured — negative when the bottle's run
// happened to be faster (noise), never clamped. A quantile of an empty
// sample is NaN, and so is what is computed from it.
func Added(direct, bottle StreamResult) (ttfbP50, ttfbP99, gapP50, gapP99 float64) {
	return quantile(bottle.TTFBms, 0.50) - quantile(direct.TTFBms, 0.50),
		quantile(bottle.TTFBms, 0.99) - quantile(direct.TTFBms, 0.99),
		quantile(bottle.GapMS, 0.50) - quantile(direct.GapMS, 0.50),
		quantile(bottle.GapMS, 0.99) - quantile(direct.GapMS, 0.99)
}

// quantile is the nearest-rank q-quantile of xs (the smallest value with
// at least q of the sample at or below it), NaN for no sample.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// streamHost is the SSE origin's name; streamPath its one endpoint.
const (
	streamHost = "model.bench.test"
	streamPath = "/v1/stream"
)

// streamShape is one size of the workload.
type streamShape struct {
	streams, chunks int
	interval        time.Duration
}

func streamShapeOf(size Size) streamShape {
	if size == Full {
		return streamShape{streams: 50, chunks: 200, interval: 5 * time.Millisecond}
	}
	return streamShape{streams: 50, chunks: 40, interval: 5 * time.Millisecond}
}

// Stream is the model-API streaming scenario.
func Stream() StreamScenario {
	return StreamScenario{
		Name:   "model API streaming, 50 SSE streams",
		Key:    "stream",
		Sites:  func(Size) ([]Site, error) { return []Site{{Host: streamHost, Handler: streamHandler{}}}, nil },
		Allow:  "  - host: " + streamHost + "\n",
		Client: "./bench/workload/sseclient",
		Args: func(url string, size Size) []string {
			s := streamShapeOf(size)
			return []string{
				"-url", strings.TrimSuffix(url, "/") + StreamURLPath(s.chunks, s.interval),
				"-streams", strconv.Itoa(s.streams),
				"-chunks", strconv.Itoa(s.chunks),
			}
		},
	}
}

// StreamURLPath is the origin's path and query for a stream of n chunks,
// one each interval.
func StreamURLPath(n int, interval time.Duration) string {
	return fmt.Sprintf("%s?chunks=%d&interval=%s", streamPath, n, interval)
}

// Bounds on what a request may ask of the origin.
const (
	maxStreamChunks   = 100_000
	maxStreamInterval = time.Second
)

// streamHandler sends ?chunks= events, ?interval= apart, each flushed
// alone and stamped with the time it was written, then "data: [DONE]".
// An event is "data: {"i":N,"t":UNIX_NS,...}" with a little padding, the
// size of a model's token delta.
type streamHandler struct{}

func (streamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != streamPath {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("chunks"))
	if err != nil || n < 1 || n > maxStreamChunks {
		http.Error(w, fmt.Sprintf("chunks= wants a count from 1 to %d", maxStreamChunks), http.StatusBadRequest)
		return
	}
	interval, err := time.ParseDuration(q.Get("interval"))
	if err != nil || interval < 0 || interval > maxStreamInterval {
		http.Error(w, fmt.Sprintf("interval= wants a duration from 0 to %v", maxStreamInterval), http.StatusBadRequest)
		return
	}
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "this connection cannot stream", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// The chunks keep to a schedule from the start, as a model's tokens
	// do, rather than sleeping interval after each write: a late write
	// does not delay the ones after it.
	start := time.Now()
	buf := make([]byte, 0, 256)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		buf = append(buf[:0], `data: {"i":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"t":`...)
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		buf = append(buf, `,"delta":"lorem ipsum dolor sit amet"}`+"\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		f.Flush()
	}
	w.Write([]byte("data: [DONE]\n\n"))
}

// ParseStreamEvent reads an event line of the origin's: its index and
// send stamp (unix ns). ok is false for anything else ("[DONE]", blank
// lines).
func ParseStreamEvent(line []byte) (i int, sent int64, ok bool) {
	rest, found := strings.CutPrefix(string(line), `data: {"i":`)
	if !found {
		return 0, 0, false
	}
	is, rest, found := strings.Cut(rest, `,"t":`)
	if !found {
		return 0, 0, false
	}
	ts, _, found := strings.Cut(rest, `,`)
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(is)
	t, err2 := strconv.ParseInt(ts, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return i, t, true
}
