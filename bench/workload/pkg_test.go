package workload

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/ca"
)

// pkgWorld is a loopback stand-in for the simulated internet: one TLS
// server (h2 and http/1.1) answering every Site by its name with a leaf
// from a test CA, reached through a CONNECT proxy that sends the Sites'
// names, and nothing else, to it. The clients (pip, go) are pointed at the
// proxy with HTTPS_PROXY, as a bottle points them at its sidecar, so the
// scenario's own scripts run unchanged with the real host names.
type pkgWorld struct {
	caFile, proxyURL string
	home             string // the agent user's HOME, one for all scripts

	mu       sync.Mutex
	requests map[string]int // host → requests served
	refused  []string       // CONNECT targets that are not a Site
}

func newPkgWorld(t *testing.T, sites []Site) *pkgWorld {
	t.Helper()
	c, err := ca.New("workload test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w := &pkgWorld{caFile: filepath.Join(t.TempDir(), "ca.pem"), home: t.TempDir(), requests: map[string]int{}}
	if err := os.WriteFile(w.caFile, c.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	byHost := map[string]http.Handler{}
	for _, s := range sites {
		byHost[s.Host] = s.Handler
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		h, ok := byHost[host]
		if !ok {
			http.Error(rw, "no such site "+host, http.StatusMisdirectedRequest)
			return
		}
		w.mu.Lock()
		w.requests[host]++
		w.mu.Unlock()
		h.ServeHTTP(rw, r)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return c.Mint(hello.ServerName)
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w.proxyURL = "http://" + ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go w.tunnel(conn, byHost, srv.Listener.Addr().String())
		}
	}()
	return w
}

// tunnel answers one CONNECT: to the TLS server for a Site on :443, a
// refusal (recorded) for anything else.
func (w *pkgWorld) tunnel(conn net.Conn, sites map[string]http.Handler, server string) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	host, port, err := net.SplitHostPort(req.Host)
	if _, ok := sites[host]; req.Method != http.MethodConnect || err != nil || port != "443" || !ok {
		w.mu.Lock()
		w.refused = append(w.refused, req.Method+" "+req.Host)
		w.mu.Unlock()
		io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", server)
	if err != nil {
		io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, br) // what the client sent after the CONNECT, then the rest
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(conn, up)
	<-done
}

func (w *pkgWorld) served(host string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests[host]
}

func (w *pkgWorld) checkNothingRefused(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.refused) > 0 {
		t.Errorf("the client asked for what no Site serves: %q", w.refused)
	}
}

// script runs one of a scenario's shell scripts in dir with only the
// environment given (and PATH to the host's tools), as the harness runs it
// in the agent; it returns the combined output and the error.
func (w *pkgWorld) script(t *testing.T, dir, name, script string, path []string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + strings.Join(append(path, "/usr/bin", "/bin"), ":"),
		"HOME=" + w.home,
		"HTTPS_PROXY=" + w.proxyURL, "https_proxy=" + w.proxyURL,
		// As a bottle sets them: the bundle that trusts the proxy's leaves.
		"SSL_CERT_FILE=" + w.caFile, "PIP_CERT=" + w.caFile,
	}
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", name, out)
	return string(out), err
}

// toolDir is the directory of the host's tool (for PATH), or skips.
func toolDir(t *testing.T, name string, resolve ...string) string {
	t.Helper()
	p := lookTool(t, name)
	if len(resolve) > 0 { // the real interpreter, not a version manager's shim
		out, err := exec.Command(p, resolve...).Output()
		if err != nil {
			t.Fatalf("%s %q: %v", p, resolve, err)
		}
		p = strings.TrimSpace(string(out))
	}
	return filepath.Dir(p)
}

// runScenario prepares s at size, serves it, runs Setup (checking Verify
// fails before Run: it is a real check), Run and Verify.
func runScenario(t *testing.T, s Scenario, size Size, path []string, initHome func(home string)) *pkgWorld {
	t.Helper()
	data := t.TempDir()
	if err := s.Prepare(data, size); err != nil {
		t.Fatal(err)
	}
	sites, err := s.Sites(data, size)
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range sites {
		if !strings.Contains(s.Allow, "- host: "+site.Host+"\n") {
			t.Errorf("Allow %q does not allow the site %s", s.Allow, site.Host)
		}
	}
	w := newPkgWorld(t, sites)
	if initHome != nil {
		initHome(w.home)
	}
	work := t.TempDir()
	if _, err := w.script(t, work, "setup", s.Setup, path); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if _, err := w.script(t, work, "verify before run", s.Verify, path); err == nil {
		t.Errorf("Verify passed before Run: it checks nothing")
	}
	if _, err := w.script(t, work, "run", s.Run, path); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := w.script(t, work, "verify", s.Verify, path); err != nil {
		t.Errorf("verify: %v", err)
	}
	w.checkNothingRefused(t)
	return w
}

// testSize is Quick, or Full with BENCH_WORKLOAD_FULL=1 (to try the
// published size against the host's tools).
func testSize() Size {
	if os.Getenv("BENCH_WORKLOAD_FULL") == "1" {
		return Full
	}
	return Quick
}

func TestPipInstallsTheTree(t *testing.T) {
	py := toolDir(t, "python3", "-c", "import sys; print(sys.executable)")
	w := runScenario(t, pip(), testSize(), []string{py}, nil)
	n := len(pipTree(testSize()))
	if got := w.served(pipIndexHost); got < n {
		t.Errorf("%s served %d requests, want at least one page per project (%d)", pipIndexHost, got, n)
	}
	if got := w.served(pipFilesHost); got < n {
		t.Errorf("%s served %d requests, want at least one wheel per project (%d)", pipFilesHost, got, n)
	}
}

func TestGoModDownloadsTheGraph(t *testing.T) {
	goBin := toolDir(t, "go")
	w := runScenario(t, gomod(), testSize(), []string{goBin}, func(home string) {
		// Telemetry's upload child outlives the go command and writes
		// under HOME while the test removes it.
		cmd := exec.Command(filepath.Join(goBin, "go"), "telemetry", "off")
		cmd.Env = []string{"HOME=" + home, "PATH=" + goBin}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go telemetry off: %v\n%s", err, out)
		}
	})
	if got, n := w.served(goProxyHost), len(goGraph(testSize())); got < 2*n {
		t.Errorf("%s served %d requests, want at least a .mod and a .zip per module (%d)", goProxyHost, got, 2*n)
	}
}

// The index answers the simple API in both forms, by the Accept header.
func TestPipIndexNegotiates(t *testing.T) {
	data := t.TempDir()
	if err := pipPrepare(data, Quick); err != nil {
		t.Fatal(err)
	}
	sites, err := pipSites(data, Quick)
	if err != nil {
		t.Fatal(err)
	}
	index := sites[0].Handler
	for _, tc := range []struct{ path, accept, ctype, body string }{
		{"/simple/bench-pkg-01/", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", pipJSONType, `"name":"bench-pkg-01"`},
		{"/simple/bench-pkg-01/", "text/html", pipHTMLType, `<a href="https://files.pypi.bench.test/files/bench_pkg_01-1.1.0-py3-none-any.whl#sha256=`},
		{"/simple/", "", pipHTMLType, `<a href="/simple/bench-app/">`},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Header.Set("Accept", tc.accept)
		index.ServeHTTP(rec, r)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != tc.ctype || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s (Accept %q): %d %q, body %.200q; want 200 %q with %q", tc.path, tc.accept, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), tc.ctype, tc.body)
		}
	}
	for path, code := range map[string]int{"/simple/bench-pkg-01": 301, "/simple/nope/": 404, "/files/": 404, "/simple/../files/x": 404} {
		rec := httptest.NewRecorder()
		index.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != code {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, code)
		}
	}
}

// Every wheel of the Full index is one pip would accept: the link's hash
// is the file's, the .metadata file is the wheel's METADATA, and RECORD
// names every other file with its hash; the same bytes on every Prepare.
func TestPipFullIndexIsConsistentAndDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := pipPrepare(d, Full); err != nil {
			t.Fatal(err)
		}
	}
	sameTree(t, a, b)
	ps := pipTree(Full)
	if len(ps) != 30 {
		t.Errorf("Full has %d projects, want 30", len(ps))
	}
	for _, p := range ps {
		raw, err := os.ReadFile(filepath.Join(a, "simple", p.name, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Files []struct {
				Filename string
				Hashes   struct{ SHA256 string }
				Core     struct{ SHA256 string } `json:"core-metadata"`
			}
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Files) != len(pipVersions) {
			t.Errorf("%s lists %d files, want %d", p.name, len(page.Files), len(pipVersions))
		}
		for _, f := range page.Files {
			whl, _ := os.ReadFile(filepath.Join(a, "files", f.Filename))
			meta, _ := os.ReadFile(filepath.Join(a, "files", f.Filename+".metadata"))
			if sha256Hex(whl) != f.Hashes.SHA256 || sha256Hex(meta) != f.Core.SHA256 {
				t.Errorf("%s: hashes in the index do not match the files", f.Filename)
			}
			checkWheel(t, f.Filename, whl, meta)
		}
	}
}

func checkWheel(t *testing.T, name string, whl, meta []byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(whl), int64(len(whl)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	contents := map[string][]byte{}
	var record string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		contents[f.Name] = b
		if strings.HasSuffix(f.Name, ".dist-info/RECORD") {
			record = string(b)
		} else if strings.HasSuffix(f.Name, ".dist-info/METADATA") && !bytes.Equal(b, meta) {
			t.Errorf("%s: METADATA differs from the .metadata file", name)
		}
	}
	lines := strings.Split(strings.TrimSpace(record), "\n")
	if len(lines) != len(contents) {
		t.Errorf("%s: RECORD has %d lines for %d files", name, len(lines), len(contents))
	}
	for _, l := range lines {
		f := strings.Split(l, ",")
		if strings.HasSuffix(f[0], "/RECORD") {
			continue
		}
		sum := sha256.Sum256(contents[f[0]])
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); f[1] != want {
			t.Errorf("%s: RECORD says %s for %s, the file hashes to %s", name, f[1], f[0], want)
		}
	}
}

// The Full module proxy: every zip in the module zip layout with the go.mod
// the proxy serves, modules.txt naming all 30, the same bytes every time.
func TestGoModFullProxyIsConsistentAndDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := goPrepare(d, Full); err != nil {
			t.Fatal(err)
		}
	}
	sameTree(t, a, b)
	ms := goGraph(Full)
	if len(ms) != 30 {
		t.Errorf("Full has %d modules, want 30", len(ms))
	}
	for _, m := range ms {
		for _, v := range goVersions {
			at := filepath.Join(a, m.path, "@v", v)
			mod, _ := os.ReadFile(at + ".mod")
			z, err := zip.OpenReader(at + ".zip")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range z.File {
				if !strings.HasPrefix(f.Name, m.path+"@"+v+"/") {
					t.Errorf("%s@%s: %s is outside the module's directory", m.path, v, f.Name)
				}
				if f.Name == m.path+"@"+v+"/go.mod" {
					rc, _ := f.Open()
					b, _ := io.ReadAll(rc)
					rc.Close()
					if !bytes.Equal(b, mod) {
						t.Errorf("%s@%s: the zip's go.mod differs from the .mod served", m.path, v)
					}
				}
			}
			z.Close()
		}
	}
	z, err := zip.OpenReader(filepath.Join(a, goRoot, "@v", goRootVersion+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	rc, err := z.Open(goRoot + "@" + goRootVersion + "/modules.txt")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(rc)
	if n := strings.Count(string(list), "\n"); n != 30 {
		t.Errorf("modules.txt names %d modules, want 30:\n%s", n, list)
	}
}

// sameTree fails unless a and b hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two Prepares (%v)", rel, err)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walking %s: %d files, %v", a, n, err)
	}
}
