package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{[]float64{5}, 0.5, 5},
		{[]float64{5}, 0.99, 5},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 3, 2, 1}, 0.5, 2}, // nearest rank: the 2nd of 4
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
	}
	for _, tt := range tests {
		if got := quantile(tt.xs, tt.q); got != tt.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.xs, tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v, want NaN", got)
	}
	xs := []float64{3, 1, 2}
	quantile(xs, 0.5)
	if xs[0] != 3 {
		t.Errorf("quantile sorted its argument: %v", xs)
	}
}

func TestAdded(t *testing.T) {
	seq := func(from, n float64) []float64 {
		var xs []float64
		for i := range int(n) {
			xs = append(xs, from+float64(i))
		}
		return xs
	}
	tests := []struct {
		name           string
		direct, bottle StreamResult
		want           [4]float64 // ttfb p50, ttfb p99, gap p50, gap p99
	}{
		{
			name:   "bottle later by a constant",
			direct: StreamResult{TTFBms: seq(1, 100), GapMS: seq(0, 100)},
			bottle: StreamResult{TTFBms: seq(4, 100), GapMS: seq(0.5, 100)},
			want:   [4]float64{3, 3, 0.5, 0.5},
		},
		{
			name:   "a tail only",
			direct: StreamResult{TTFBms: seq(1, 100), GapMS: seq(0, 100)},
			bottle: StreamResult{TTFBms: seq(1, 100), GapMS: append(seq(0, 98), 200, 300)},
			// p99 of 100 is the 99th value: 200 against 98.
			want: [4]float64{0, 0, 0, 102},
		},
		{
			name:   "bottle faster: negative, as measured",
			direct: StreamResult{TTFBms: []float64{10, 20}, GapMS: []float64{2}},
			bottle: StreamResult{TTFBms: []float64{8, 18}, GapMS: []float64{1}},
			want:   [4]float64{-2, -2, -1, -1},
		},
	}
	for _, tt := range tests {
		a, b, c, d := Added(tt.direct, tt.bottle)
		got := [4]float64{a, b, c, d}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("%s: Added = %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
	if a, _, _, _ := Added(StreamResult{}, StreamResult{TTFBms: []float64{1}}); !math.IsNaN(a) {
		t.Errorf("Added with an empty direct sample = %v, want NaN", a)
	}
}

func TestStreamResultJSON(t *testing.T) {
	in := StreamResult{Streams: 2, Errors: 1, TTFBms: []float64{1.5, 2}, GapMS: []float64{0.25}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out StreamResult
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Streams != 2 || out.Errors != 1 || len(out.TTFBms) != 2 || out.GapMS[0] != 0.25 {
		t.Errorf("round trip: %s -> %+v", b, out)
	}
}

func TestParseStreamEvent(t *testing.T) {
	i, ts, ok := ParseStreamEvent([]byte(`data: {"i":12,"t":1700000000123456789,"delta":"x"}` + "\n"))
	if !ok || i != 12 || ts != 1700000000123456789 {
		t.Errorf("got %d %d %v", i, ts, ok)
	}
	for _, l := range []string{"data: [DONE]\n", "\n", `data: {"i":x,"t":1,}`, `data: {"i":1}`} {
		if _, _, ok := ParseStreamEvent([]byte(l)); ok {
			t.Errorf("%q parsed as an event", l)
		}
	}
}

func TestStreamHandler(t *testing.T) {
	h := streamHandler{}
	for _, q := range []string{"", "?chunks=0&interval=1ms", "?chunks=3&interval=-1ms", "?chunks=3&interval=2s", "?chunks=3"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", streamPath+q, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", q, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	before := time.Now().UnixNano()
	h.ServeHTTP(rec, httptest.NewRequest("GET", StreamURLPath(3, 0), nil))
	var n int
	sc := bufio.NewScanner(rec.Body)
	var last string
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		last = sc.Text()
		if i, ts, ok := ParseStreamEvent([]byte(sc.Text())); ok {
			if i != n || ts < before || ts > time.Now().UnixNano() {
				t.Errorf("event %q: index or stamp wrong (want %d, stamp after %d)", sc.Text(), n, before)
			}
			n++
		}
	}
	if n != 3 || last != "data: [DONE]" || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("%d events, last %q, type %q", n, last, rec.Header().Get("Content-Type"))
	}
}

func TestStreamAllow(t *testing.T) {
	pol, err := allowlist.Parse("stream.yaml", []byte("version: 1\nallow:\n"+Stream().Allow))
	if err != nil {
		t.Fatal(err)
	}
	if d := pol.Decide(allowlist.Request{Scheme: "https", Host: streamHost, Method: "GET", Path: streamPath}); d.Denied() {
		t.Errorf("%s: %+v", streamHost, d)
	}
}

// connectProxy is a loopback CONNECT proxy that sends every tunnel to
// origin, and counts them.
type connectProxy struct {
	origin string
	mu     sync.Mutex
	hosts  []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.origin)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	w.WriteHeader(http.StatusOK)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, rw) // what the client sent, buffered or not yet read
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(conn, up)
	conn.Close()
	<-done
}

// The client, built as the harness builds it, reads every stream of the
// origin to its end, directly and through a CONNECT proxy.
func TestStreamClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the client")
	}
	sc := Stream()
	bin := filepath.Join(t.TempDir(), "sseclient")
	goBin := lookTool(t, "go")
	build := exec.Command(goBin, "build", "-o", bin, "./sseclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", sc.Client, err, out)
	}
	if !strings.HasSuffix(sc.Client, "/sseclient") {
		t.Fatalf("Client is %q, not the package this test builds", sc.Client)
	}
	sites, err := sc.Sites(Quick)
	if err != nil || len(sites) != 1 || sites[0].Host != streamHost {
		t.Fatalf("sites %+v, %v", sites, err)
	}
	srv := httptest.NewUnstartedServer(sites[0].Handler)
	srv.EnableHTTP2 = true
	// Go's client dials a connection per waiting request and drops the
	// ones it does not need once an HTTP/2 connection is up: handshakes
	// cut short, which are no news here.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := &connectProxy{origin: srv.Listener.Addr().String()}
	psrv := httptest.NewServer(proxy)
	t.Cleanup(psrv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	const chunks = 10
	shape := streamShapeOf(Quick)
	args := sc.Args("https://HOST/", Quick)
	if strings.Join(args, " ") != "-url https://HOST"+StreamURLPath(shape.chunks, shape.interval)+" -streams 50 -chunks "+
		strconv.Itoa(shape.chunks) {
		t.Errorf("Args = %q", args)
	}
	for _, tt := range []struct {
		name, url, proxy string
	}{
		// Go's client never proxies a loopback address: directly, the
		// origin is named by its address (httptest's leaf has it); through
		// the proxy, by a name the leaf has, which the proxy sends to it.
		{"direct", "https://" + srv.Listener.Addr().String(), ""},
		{"proxy", "https://example.com:" + port, psrv.URL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-url", tt.url+StreamURLPath(chunks, time.Millisecond), "-streams", "50", "-chunks", strconv.Itoa(chunks))
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile, "SSL_CERT_DIR=/nonexistent",
				"HTTPS_PROXY="+tt.proxy, "https_proxy="+tt.proxy, "NO_PROXY=", "no_proxy=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sseclient: %v\n%s", err, stderr.Bytes())
			}
			var res StreamResult
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("sseclient printed %q: %v", out, err)
			}
			if res.Streams != 50 || res.Errors != 0 || len(res.TTFBms) != 50 || len(res.GapMS) != 50*chunks {
				t.Errorf("streams %d errors %d, %d TTFBs, %d gaps; want 50 0 50 %d\n%s", res.Streams, res.Errors, len(res.TTFBms), len(res.GapMS), 50*chunks, stderr.Bytes())
			}
			for _, x := range res.TTFBms {
				if !(x > 0) {
					t.Fatalf("a time to first byte of %v ms", x)
				}
			}
		})
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.hosts) == 0 || proxy.hosts[0] != "example.com:"+port {
		t.Errorf("the proxy saw CONNECTs to %q", proxy.hosts)
	}
	// A stream the origin cuts short is an error, not a short sample.
	cmd := exec.Command(bin, "-url", "https://"+srv.Listener.Addr().String()+StreamURLPath(3, 0), "-streams", "2", "-chunks", "5")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile, "SSL_CERT_DIR=/nonexistent", "HTTPS_PROXY=", "https_proxy=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var res StreamResult
	if err := json.Unmarshal(out, &res); err != nil || res.Streams != 0 || res.Errors != 2 || len(res.GapMS) != 0 {
		t.Errorf("short streams: %s (%v)", out, err)
	}
}
