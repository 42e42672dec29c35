package main

import (
	"bytes"
	"context"
	"debug/elf"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/ca"
)

// TestStaticBuild builds the sidecar the way its image does (CGO_ENABLED=0)
// and checks the result needs no dynamic loader, so it runs FROM scratch.
func TestStaticBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bottle-sidecar")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("binary is dynamically linked (program header %v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("binary imports %v", libs)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "bottle-sidecar ") {
		t.Fatalf("version: %q %v", v, err)
	}
}

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"bogus"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "bogus"`) {
		t.Errorf("bogus: %d %q", code, errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "bottle-sidecar ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

func writeConfig(t *testing.T, policy string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ca.New("sidecar-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// syncBuf is a goroutine-safe buffer for a running command's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesAndStops(t *testing.T) {
	dir := writeConfig(t, "version: 1\nallow:\n  - host: api.example.com\n")
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config-dir", dir, "--proxy-listen", "127.0.0.1:0", "--audit-log", audit, "--bottle", "b1"}, &out, &errb)
	}()
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		if m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("proxy did not start: %s", errb.String())
	}
	// A denied request: 403, and one audit line in stdout and in the file.
	pu, _ := url.Parse("http://" + addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	resp, err := c.Get("http://blocked.example.net/x?secret=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Rule") != "default" {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	file, _ := os.ReadFile(audit)
	for name, s := range map[string]string{"stdout": out.String(), "file": string(file)} {
		if !strings.Contains(s, `"host":"blocked.example.net"`) || !strings.Contains(s, `"bottle":"b1"`) || strings.Contains(s, "secret") {
			t.Errorf("audit in %s: %q", name, s)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	bad := writeConfig(t, "version: 1\nallow:\n  - host: \"*\"\n  - cidr: 10.0.0.1\n")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--config-dir", bad, "--proxy-listen", "127.0.0.1:0"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "allowlist.yaml:3:11:") || !strings.Contains(errb.String(), "allowlist.yaml:4:11:") {
		t.Errorf("bad allowlist: exit %d\n%s", code, errb.String())
	}
	good := writeConfig(t, "version: 1\n")
	os.Chmod(filepath.Join(good, "ca.key"), 0o644)
	errb.Reset()
	code = run(context.Background(), []string{"run", "--config-dir", good, "--proxy-listen", "127.0.0.1:0"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "chmod 600") {
		t.Errorf("readable key: exit %d\n%s", code, errb.String())
	}
	os.Chmod(filepath.Join(good, "ca.key"), 0o600)
	errb.Reset()
	code = run(context.Background(), []string{"run", "--config-dir", good, "--proxy-listen", "127.0.0.1:0", "--upstream-ca", "/nonexistent.pem"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "nonexistent.pem") {
		t.Errorf("missing upstream CA: exit %d\n%s", code, errb.String())
	}
	errb.Reset()
	code = run(context.Background(), []string{"run", "--config-dir", t.TempDir(), "--proxy-listen", "127.0.0.1:0"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "allowlist.yaml") {
		t.Errorf("empty config dir: exit %d\n%s", code, errb.String())
	}
}
