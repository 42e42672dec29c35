package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/e2e/fakeapi"
)

// TestRealCLIs runs the real agent CLIs headless against the fake APIs,
// on this machine, outside any bottle: the quick way to learn what each
// needs (what the built-in recipes must set) and which hosts it contacts.
// It runs only in a network namespace of its own, where nothing can reach
// a real host: every name resolves to loopback, where the fakes answer
// on port 443 with certificates from a test root.
//
//	go test -c -o /tmp/fakenet.test ./e2e/fakenet
//	echo nameserver 127.0.0.1 > /tmp/resolv.loopback
//	unshare -n -m sh -c 'mount --bind /tmp/resolv.loopback /etc/resolv.conf && ip link set lo up &&
//	  BOTTLE_REAL_CLIS=/path/to/bin /tmp/fakenet.test -test.run TestRealCLIs -test.v'
//
// BOTTLE_REAL_CLIS is a directory list (like PATH) holding claude, codex
// and gemini; a CLI not found there is skipped.
func TestRealCLIs(t *testing.T) {
	dirs := os.Getenv("BOTTLE_REAL_CLIS")
	if dirs == "" {
		t.Skip("set BOTTLE_REAL_CLIS to the directories of the agent CLIs (and run in a network namespace; see the comment)")
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("interface %s is not loopback: run this in a network namespace of its own (unshare -n), so a CLI cannot reach a real host", i.Name)
		}
	}
	h := startLoopbackInternet(t)
	for _, c := range []struct {
		name, cli, want string
		args            []string
		env             []string
	}{
		{"claude", "claude", fakeapi.ClaudeText, []string{"-p", "say hi", "--dangerously-skip-permissions"},
			[]string{"ANTHROPIC_API_KEY=sk-ant-test-key"}},
		{"codex", "codex", fakeapi.CodexText, []string{"exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check", "say hi"},
			[]string{"OPENAI_API_KEY=sk-test-key"}},
		{"gemini", "gemini", fakeapi.GeminiText, []string{"-p", "say hi", "--yolo"},
			[]string{"GEMINI_API_KEY=gemini-test-key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := lookIn(dirs, c.cli)
			if bin == "" {
				t.Skipf("no %s in %s", c.cli, dirs)
			}
			h.reset()
			home, err := os.MkdirTemp("", "fakenet-cli-home-") // not under t.TempDir(), which only root may enter
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(home) })
			// BOTTLE_REAL_CLIS_HOME_CLAUDE etc.: a directory whose files
			// are copied into the CLI's home first (its configuration).
			if from := os.Getenv("BOTTLE_REAL_CLIS_HOME_" + strings.ToUpper(c.name)); from != "" {
				if err := os.CopyFS(home, os.DirFS(from)); err != nil {
					t.Fatal(err)
				}
			}
			ws := filepath.Join(home, "workspace")
			os.Mkdir(ws, 0o755)
			env := []string{"HOME=" + home, "PATH=" + filepath.Dir(bin) + ":/usr/local/bin:/usr/bin:/bin", "TERM=dumb",
				"NODE_EXTRA_CA_CERTS=" + h.rootPEM, "SSL_CERT_FILE=" + h.rootPEM}
			env = append(env, c.env...)
			// BOTTLE_REAL_CLIS_ENV_CLAUDE etc.: K=V set, -K unset (to
			// learn what a CLI needs).
			for _, kv := range strings.Fields(os.Getenv("BOTTLE_REAL_CLIS_ENV_" + strings.ToUpper(c.name))) {
				if k, ok := strings.CutPrefix(kv, "-"); ok {
					env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
				} else {
					env = append(env, kv)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// BOTTLE_REAL_CLIS_ARGS_CLAUDE etc.: more arguments, first.
			// BOTTLE_REAL_CLIS_ARGV_CLAUDE: arguments instead (a
			// literal "_" is one space).
			args := append(strings.Fields(os.Getenv("BOTTLE_REAL_CLIS_ARGS_"+strings.ToUpper(c.name))), c.args...)
			if v := os.Getenv("BOTTLE_REAL_CLIS_ARGV_" + strings.ToUpper(c.name)); v != "" {
				args = strings.Fields(v)
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "_", " ")
				}
			}
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env, cmd.Dir = env, ws
			cmd.WaitDelay = 5 * time.Second
			if os.Getuid() == 0 {
				// As in a bottle, the agent is not root (Claude Code
				// refuses its skip-permissions mode to root).
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
				filepath.WalkDir(home, func(p string, _ fs.DirEntry, _ error) error { return os.Chown(p, nobody, nobody) })
			}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err = cmd.Run()
			t.Logf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", c.cli, args, err, out.String(), errb.String())
			t.Logf("names looked up: %s", strings.Join(h.names(), " "))
			for _, r := range h.log() {
				t.Logf("request: %s", r)
			}
			if err != nil {
				t.Errorf("%s: %v", c.cli, err)
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("stdout has no %q", c.want)
			}
		})
	}
}

// nobody is the user the CLIs run as when the test runs as root.
const nobody = 65534

func lookIn(dirs, name string) string {
	for _, d := range filepath.SplitList(dirs) {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && !st.IsDir() {
			return filepath.Join(d, name)
		}
	}
	return ""
}

// loopbackInternet answers DNS for every name with 127.0.0.1 and HTTPS
// on 127.0.0.1:443 with the fakes, logging every request whole (the
// header names too: what the recipes learn from).
type loopbackInternet struct {
	rootPEM string
	mu      sync.Mutex
	looked  map[string]bool
	reqs    []string
}

func (h *loopbackInternet) reset() {
	h.mu.Lock()
	h.looked, h.reqs = map[string]bool{}, nil
	h.mu.Unlock()
}

func (h *loopbackInternet) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n []string
	for k := range h.looked {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (h *loopbackInternet) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...)
}

func startLoopbackInternet(t *testing.T) *loopbackInternet {
	root, err := ca.New("fakenet-test-root", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "fakenet-root-") // readable by the CLIs' user
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := root.Save(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	h := &loopbackInternet{rootPEM: filepath.Join(dir, "ca.crt"), looked: map[string]bool{}}
	dm := dns.NewServeMux()
	dm.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			h.mu.Lock()
			h.looked[strings.TrimSuffix(strings.ToLower(q.Name), ".")] = true
			h.mu.Unlock()
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})
	for _, n := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: "127.0.0.1:53", Net: n, Handler: dm}
		go srv.ListenAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	mux := http.NewServeMux()
	fakeapi.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "fakenet test: nothing here", http.StatusNotFound)
	})
	leaves := ca.NewLeafCache(root, 0)
	srv := &http.Server{Addr: "127.0.0.1:443", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hs []string
		for k, v := range r.Header {
			if k == "Authorization" || strings.Contains(strings.ToLower(k), "key") {
				v = []string{fmt.Sprintf("<%d bytes, %.6s…>", len(v[0]), v[0])}
			}
			hv := strings.Join(v, ",")
			if len(hv) > 60 {
				hv = hv[:60] + "…"
			}
			hs = append(hs, k+"="+hv)
		}
		sort.Strings(hs)
		b, _ := json.Marshal(hs)
		// BOTTLE_REAL_CLIS_MARKERS: words to look for in the bodies (a
		// prompt file or a skill that reached the model).
		if r.Body != nil {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			for _, m := range strings.Fields(os.Getenv("BOTTLE_REAL_CLIS_MARKERS")) {
				if bytes.Contains(body, []byte(m)) {
					hs = append(hs, "body has "+m)
				}
			}
			b, _ = json.Marshal(hs)
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, fmt.Sprintf("%s https://%s%s?%s %s", r.Method, r.Host, r.URL.Path, r.URL.RawQuery, b))
		h.mu.Unlock()
		mux.ServeHTTP(w, r)
	}), TLSConfig: &tls.Config{GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		n := chi.ServerName
		if n == "" {
			n = "127.0.0.1"
		}
		return leaves.Get(n)
	}}}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return h
}
