package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/dlp"
	"bottle.dev/bottle/internal/audit"
)

// gitPolicy admits git.test on the git origin's port, binds the forge
// credential (Basic) to it, and declares two families of repositories:
// acme/* (pushes to refs/heads/agent/** only, scanned, blocking),
// report/* (any branch, findings only reported) and off/* (any branch, not
// scanned).
const gitPolicy = `version: 1
allow:
  - host: git.test
    ports: [{{GIT}}]
    methods: [GET, POST]
  - cidr: 127.0.0.1/32
    ports: [{{GIT}}]
credentials:
  - name: forge
    hosts: [git.test]
    basic_user: x-access-token
    source: env:FORGE
git:
  - repo: git.test/acme/*
    push: ["refs/heads/agent/**"]
    credential: forge
  - repo: git.test/report/*
    push: ["refs/heads/**"]
    credential: forge
    scan: report
  - repo: git.test/off/*
    push: ["refs/heads/**"]
    credential: forge
    scan: off
`

const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// gitOrigin is a smart-HTTP git server: git-http-backend over CGI, on
// bare repositories under root, that records every request it serves.
type gitOrigin struct {
	root string
	port uint16
	mu   sync.Mutex
	seen []gitSeen
}

// gitSeen is what the origin saw of one request.
type gitSeen struct {
	method, path, query, auth, encoding, acceptEncoding string
	length                                              int64
	proto                                               int
}

func (o *gitOrigin) handler() http.Handler {
	h := &cgi.Handler{Path: gitHTTPBackend, Dir: o.root,
		Env: []string{"GIT_PROJECT_ROOT=" + o.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + o.root}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, gitSeen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Encoding"),
			r.Header.Get("Accept-Encoding"), r.ContentLength, r.ProtoMajor})
		o.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// pushes are the receive-pack POSTs the origin saw for repository name.
func (o *gitOrigin) pushes(name string) []gitSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []gitSeen
	for _, s := range o.seen {
		if s.method == "POST" && strings.HasSuffix(s.path, "/"+name+".git/git-receive-pack") {
			out = append(out, s)
		}
	}
	return out
}

// dlpAdapter gives the proxy the real gitleaks patterns (package dlp).
type dlpAdapter struct{ d *dlp.Detector }

func (a dlpAdapter) Scan(b []byte) []Finding {
	var out []Finding
	for _, f := range a.d.Scan(b) {
		out = append(out, Finding{RuleID: f.RuleID, Offset: f.Offset})
	}
	return out
}

func (a dlpAdapter) NewReader(r io.Reader, block bool, found func(Finding)) io.Reader {
	return a.d.NewReader(r, block, func(f dlp.Finding) { found(Finding{RuleID: f.RuleID, Offset: f.Offset}) })
}

var (
	detOnce sync.Once
	det     *dlp.Detector
	detErr  error
)

func testDetector(t testing.TB) *dlp.Detector {
	detOnce.Do(func() { det, detErr = dlp.New() })
	if detErr != nil {
		t.Fatal(detErr)
	}
	return det
}

// gitEnv is a proxy with the real DLP patterns in front of a git origin,
// and git clients that go through it.
type gitEnv struct {
	*env
	origin *gitOrigin
	forge  string // the forge credential's value
	spool  string
}

func newGitEnv(t *testing.T, opt func(*Config)) *gitEnv {
	t.Helper()
	return newGitEnvPolicy(t, gitPolicy, opt)
}

// newGitEnvPolicy is newGitEnv with another policy ({{GIT}}: the git
// origin's port).
func newGitEnvPolicy(t *testing.T, gitPolicy string, opt func(*Config)) *gitEnv {
	t.Helper()
	if _, err := os.Stat(gitHTTPBackend); err != nil {
		t.Skipf("git-http-backend: %v", err)
	}
	ln := listen(t, "127.0.0.1")
	o := &gitOrigin{root: t.TempDir(), port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	spool := t.TempDir()
	policy := strings.ReplaceAll(gitPolicy, "{{GIT}}", fmt.Sprint(o.port))
	e, vals := newSecretEnv(t, policy, func(c *Config) {
		c.Resolver.(mapResolver)["git.test"] = addrs("127.0.0.1")
		c.DLP = dlpAdapter{testDetector(t)}
		c.GitSpool = spool
		if opt != nil {
			opt(c)
		}
	})
	leaves := ca.NewLeafCache(e.testRoot, 0)
	srv := httptest.NewUnstartedServer(o.handler())
	srv.Listener = ln
	srv.EnableHTTP2 = true // as forges answer; the proxy's transport takes h2 when offered
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return leaves.Get("git.test") }}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g := &gitEnv{env: e, origin: o, forge: vals["forge"].Value, spool: spool}
	t.Cleanup(func() {
		// Every push's spool file is gone, and its slot free, once its
		// request has ended.
		left, _ := filepath.Glob(filepath.Join(spool, "*"))
		if len(left) > 0 {
			t.Errorf("spool files left: %v", left)
		}
		for deadline := time.Now().Add(5 * time.Second); len(g.proxy.gitSem) > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%d push slots still taken at the end", len(g.proxy.gitSem))
				break
			}
		}
	})
	return g
}

// gitClient runs the real git, with a HOME of its own, through the proxy,
// trusting the bottle CA only.
type gitClient struct {
	t   *testing.T
	env []string
}

func (g *gitEnv) client(t *testing.T) *gitClient {
	home := t.TempDir()
	return &gitClient{t: t, env: []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"HTTPS_PROXY=http://" + g.addr, "https_proxy=http://" + g.addr, "GIT_SSL_CAINFO=" + g.caFile(),
		"GIT_AUTHOR_NAME=agent", "GIT_AUTHOR_EMAIL=agent@example.com", "GIT_COMMITTER_NAME=agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	}}
}

// run runs git in dir and returns its combined output.
func (c *gitClient) run(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *gitClient) must(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// commit writes files (path → content) in the work tree dir and commits
// them; it returns the commit's id.
func (c *gitClient) commit(dir, msg string, files map[string]string) string {
	c.t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.must(dir, "add", "-A")
	c.must(dir, "commit", "-q", "-m", msg)
	return c.must(dir, "rev-parse", "HEAD")
}

// seed makes the bare repository family/name at the origin, with one
// commit on main (made locally, not through the proxy), and returns its
// URL through the proxy.
func (g *gitEnv) seed(t *testing.T, c *gitClient, family, name string) (bare, url string) {
	t.Helper()
	bare = filepath.Join(g.origin.root, family, name+".git")
	c.must("", "init", "-q", "--bare", "-b", "main", bare)
	c.must(bare, "config", "http.receivepack", "true")
	w := t.TempDir()
	c.must(w, "init", "-q", "-b", "main")
	c.commit(w, "seed", map[string]string{"README.md": strings.Repeat("a line of the readme\n", 3000)})
	c.must(w, "push", "-q", bare, "main")
	return bare, fmt.Sprintf("https://git.test:%d/%s/%s.git", g.origin.port, family, name)
}

// clone clones url through the proxy into a new directory.
func (c *gitClient) clone(url string) string {
	c.t.Helper()
	dir := filepath.Join(c.t.TempDir(), "w")
	c.must("", "clone", "-q", url, dir)
	return dir
}

// refAt is the id ref points to in the bare repository, "" if none.
func refAt(c *gitClient, bare, ref string) string {
	out, err := c.run(bare, "rev-parse", "--verify", "-q", ref)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// newAWSKey is an AWS-shaped access key id made at test time.
func newAWSKey() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "AKIA" + base32.StdEncoding.EncodeToString(b)[:16]
}

// pushLines are the audit's git-push lines.
func (g *gitEnv) pushLines() []audit.Record {
	var out []audit.Record
	for _, r := range g.auditLines() {
		if r.Kind == audit.KindGitPush {
			out = append(out, r)
		}
	}
	return out
}

// lastPush waits for a git-push line about repo path and returns the last.
func (g *gitEnv) lastPush(t *testing.T, path string) audit.Record {
	t.Helper()
	var last audit.Record
	g.waitAuditT(t, func(r audit.Record) bool { return r.Kind == audit.KindGitPush && r.Path == path })
	for _, r := range g.pushLines() {
		if r.Path == path {
			last = r
		}
	}
	return last
}

// trimLines is git's output without the spaces it pads `remote:` lines
// with (to clear progress).
func trimLines(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	var have []string
	for _, l := range strings.Split(out, "\n") {
		// git pads a `remote:` line with spaces (to clear progress).
		have = append(have, strings.TrimRight(l, " "))
	}
	for _, l := range lines {
		if !slices.Contains(have, l) {
			t.Errorf("git's output has no line %q:\n%s", l, out)
		}
	}
}

// TestGitGate: clone through the proxy; a push to an allowed ref lands
// upstream with the credential injected; a push to a ref outside push:
// is refused as git shows a server's refusal, and nothing reaches the
// upstream; a secret three commits deep (a cloud key, the bottle's own
// credential base64-encoded) is refused naming the file and line, never
// the secret; a deletion is refused.
func TestGitGate(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "widget")
	path := "/acme/widget.git/git-receive-pack"
	wantAuth := basicAuth("x-access-token", g.forge)

	w := c.clone(url)
	if _, err := os.Stat(filepath.Join(w, "README.md")); err != nil {
		t.Fatalf("clone: %v", err)
	}

	t.Run("allowed ref", func(t *testing.T) {
		id := c.commit(w, "one", map[string]string{"src/a.txt": "hello\n"})
		c.must(w, "push", "-q", "origin", "HEAD:refs/heads/agent/one")
		if got := refAt(c, bare, "refs/heads/agent/one"); got != id {
			t.Fatalf("upstream agent/one = %q; want %s", got, id)
		}
		// An edit of a file the upstream has: without no-thin in the
		// advertisement git would send it as a delta against it (a thin
		// pack), which the gate refuses.
		id = c.commit(w, "edit", map[string]string{"README.md": strings.Repeat("a line of the readme\n", 3000) + "one more\n"})
		c.must(w, "push", "-q", "origin", "HEAD:refs/heads/agent/one")
		if got := refAt(c, bare, "refs/heads/agent/one"); got != id {
			t.Fatalf("upstream agent/one after the edit = %q; want %s", got, id)
		}
		// The receive-pack advertisement was asked identity-encoded (the
		// gate edits it), with the credential like every request.
		// Every request (clone's, fetch's, push's) carried the credential.
		g.origin.mu.Lock()
		for _, s := range g.origin.seen {
			if s.query == "service=git-receive-pack" && s.acceptEncoding != "" {
				t.Errorf("the advertisement was asked with Accept-Encoding %q", s.acceptEncoding)
			}
			if s.auth != wantAuth {
				t.Errorf("%s %s?%s reached the upstream with Authorization %q", s.method, s.path, s.query, s.auth)
			}
		}
		g.origin.mu.Unlock()
		ps := g.origin.pushes("widget")
		if len(ps) != 2 || ps[0].auth != wantAuth || ps[1].auth != wantAuth || ps[0].proto != 2 {
			t.Fatalf("the upstream's receive-pack requests: %+v; want 2 with the forge credential", ps)
		}
		rec := g.lastPush(t, path)
		if rec.Decision != audit.DecisionAllow || rec.Status != 200 || rec.Credential != "forge" || rec.Git == nil ||
			rec.Git.Repo != "git.test/acme/*" || rec.Git.Entry != "git[0]" || rec.Git.Scan != "block" ||
			len(rec.Git.Refs) != 1 || rec.Git.Refs[0].Ref != "refs/heads/agent/one" || rec.Git.Refs[0].Status != "ok" ||
			rec.Git.Refs[0].New != id || !slices.Contains(rec.Git.Commits, id) || rec.Git.Objects == 0 || rec.Git.Bytes == 0 {
			t.Fatalf("audit: %+v %+v", rec, rec.Git)
		}
	})

	t.Run("ref outside push", func(t *testing.T) {
		before := len(g.origin.pushes("widget"))
		main := refAt(c, bare, "refs/heads/main")
		c.commit(w, "to main", map[string]string{"src/b.txt": "b\n"})
		out, err := c.run(w, "push", "origin", "HEAD:main", "HEAD:refs/heads/agent/two")
		if err == nil {
			t.Fatalf("push to main succeeded:\n%s", out)
		}
		want := "remote: bottle: push refused: refs/heads/main is not in push: refs/heads/agent/** of git[0]\n" +
			"remote: bottle: git.test/acme/* (git[0]) takes pushes to refs/heads/agent/** only\n" +
			"remote: bottle: to allow it, run on the host: bottle git add 'git.test/acme/*' --push 'refs/heads/agent/**' --push refs/heads/main --credential forge --bottle t1\n" +
			"To " + url + "\n" +
			" ! [remote rejected] HEAD -> main (bottle: refs/heads/main is not in push: refs/heads/agent/** of git[0])\n" +
			" ! [remote rejected] HEAD -> agent/two (bottle: push refused: another ref was rejected)\n" +
			"error: failed to push some refs to '" + url + "'\n"
		if got := trimLines(out); got != want {
			t.Errorf("git push printed:\n%s\nwant:\n%s", got, want)
		}
		if got := refAt(c, bare, "refs/heads/main"); got != main {
			t.Errorf("upstream main moved: %s -> %s", main, got)
		}
		if refAt(c, bare, "refs/heads/agent/two") != "" {
			t.Errorf("agent/two was created upstream")
		}
		if n := len(g.origin.pushes("widget")); n != before {
			t.Errorf("the upstream saw %d receive-pack POSTs of a refused push", n-before)
		}
		rec := g.lastPush(t, path)
		wantCause(t, rec, allowlist.CauseGitRef)
		if rec.Decision != audit.DecisionDeny || rec.Rule != "git[0]" || len(rec.Git.Refs) != 2 ||
			rec.Git.Refs[0].Status != "rejected" || rec.Git.Refs[1].Status != "rejected" || rec.Git.Refs[1].Ref != "refs/heads/agent/two" {
			t.Fatalf("audit: %+v %+v", rec, rec.Git)
		}
		c.must(w, "reset", "-q", "--hard", "HEAD~1")
	})

	t.Run("secrets deep in history", func(t *testing.T) {
		key := newAWSKey()
		b64 := base64.StdEncoding.EncodeToString([]byte("token=" + g.forge))
		g.secrets = append(g.secrets, key, b64)
		before := len(g.origin.pushes("widget"))
		first := c.commit(w, "config", map[string]string{
			"config/prod.env": "region = eu-west-1\noutput = json\naws_access_key_id = " + key + "\n",
			"docs/notes.txt":  "notes\n" + b64 + "\n",
		})
		c.commit(w, "two", map[string]string{"src/c.txt": "c\n"})
		c.commit(w, "three", map[string]string{"src/d.txt": "d\n"})
		out, err := c.run(w, "push", "origin", "HEAD:refs/heads/agent/secret")
		if err == nil {
			t.Fatalf("push with secrets succeeded:\n%s", out)
		}
		wantLines(t, out,
			"remote: bottle: push blocked: aws-access-token in config/prod.env:3 (commit "+first[:12]+")",
			"remote: bottle: push blocked: the value of credential forge in docs/notes.txt:2 (commit "+first[:12]+")",
			"remote: bottle: remove the secret from the commits that hold it (git reset, git commit --amend, or git rebase -i for an older one), then push again",
			" ! [remote rejected] HEAD -> agent/secret (bottle: push blocked: a secret in the pushed commits)")
		for _, s := range []string{key, b64, g.forge} {
			if strings.Contains(out, s) {
				t.Errorf("git's output holds the secret:\n%s", out)
			}
		}
		if refAt(c, bare, "refs/heads/agent/secret") != "" || len(g.origin.pushes("widget")) != before {
			t.Errorf("the refused push reached the upstream")
		}
		rec := g.lastPush(t, path)
		wantCause(t, rec, allowlist.CauseGitSecret)
		if rec.Decision != audit.DecisionDeny || len(rec.Git.Findings) != 2 || rec.Git.Refs[0].Status != "rejected" {
			t.Fatalf("audit: %+v %+v", rec, rec.Git)
		}
		c.must(w, "reset", "-q", "--hard", "HEAD~3")
	})

	t.Run("delete", func(t *testing.T) {
		id := refAt(c, bare, "refs/heads/agent/one")
		out, err := c.run(w, "push", "origin", ":refs/heads/agent/one")
		if err == nil {
			t.Fatalf("delete succeeded:\n%s", out)
		}
		want := "remote: bottle: push refused: refs/heads/agent/one: deleting refs is not allowed (git[0] has no delete: true)\n" +
			"remote: bottle: git.test/acme/* (git[0]) takes pushes to refs/heads/agent/** only, and deletes no ref (its entry has no delete: true)\n" +
			"To " + url + "\n" +
			" ! [remote rejected] agent/one (bottle: deleting refs is not allowed (git[0] has no delete: true))\n" +
			"error: failed to push some refs to '" + url + "'\n"
		if got := trimLines(out); got != want {
			t.Errorf("git push printed:\n%s\nwant:\n%s", got, want)
		}
		if got := refAt(c, bare, "refs/heads/agent/one"); got != id {
			t.Errorf("agent/one upstream: %q; want %s", got, id)
		}
		rec := g.lastPush(t, path)
		wantCause(t, rec, allowlist.CauseGitRef)
	})

	t.Run("undeclared repository", func(t *testing.T) {
		// The host rule admits every path on git.test, but a push goes
		// through the gate only to a declared repository: another one is
		// not taken (another spelling of a declared one is that one:
		// TestGitGateCaseVariants).
		for _, other := range []string{"other/x", "other/Widget"} {
			u := fmt.Sprintf("https://git.test:%d/%s.git", g.origin.port, other)
			out, err := c.run(w, "push", u, "HEAD:refs/heads/agent/x")
			if err == nil {
				t.Fatalf("push to %s succeeded:\n%s", other, out)
			}
			wantLines(t, trimLines(out),
				"remote: bottle: blocked GET git.test:"+fmt.Sprint(g.origin.port)+"/"+other+".git/info/refs",
				"remote: reason: a push to git.test/"+other+", which no git: entry declares; pushes to git.test go through the git gate, which takes them only for the repositories git: declares (rule default)",
				"remote:   bottle git add git.test/"+other+" --push 'refs/heads/agent/**' --credential forge --bottle t1")
			rec := g.waitAuditT(t, func(r audit.Record) bool { return r.Path == "/"+other+".git/info/refs" })
			wantCause(t, rec, allowlist.CauseGitRef)
		}
		// Not even the receive-pack POST of a client that skips the
		// advertisement.
		resp, _ := g.receivePack(t, fmt.Sprintf("https://git.test:%d/other/Widget.git", g.origin.port), strings.NewReader("0000"))
		if resp.StatusCode != 403 {
			t.Errorf("POST to an undeclared repository: %d", resp.StatusCode)
		}
		// Fetching one is the policy's business: the host rule lets it.
		other, otherURL := g.seed(t, c, "other", "y")
		c.clone(otherURL)
		if refAt(c, other, "refs/heads/main") == "" {
			t.Fatal("seed")
		}
	})

	t.Run("chunked", func(t *testing.T) {
		big := make([]byte, 96<<10)
		rand.Read(big)
		id := c.commit(w, "big", map[string]string{"blob.bin": base64.StdEncoding.EncodeToString(big)})
		before := len(g.origin.pushes("widget"))
		// Above http.postBuffer git sends a probe ("0000"), then the push
		// in chunked encoding.
		c.must(w, "-c", "http.postBuffer=1024", "push", "-q", "origin", "HEAD:refs/heads/agent/big")
		if got := refAt(c, bare, "refs/heads/agent/big"); got != id {
			t.Fatalf("upstream agent/big = %q; want %s", got, id)
		}
		ps := g.origin.pushes("widget")[before:]
		if len(ps) != 2 || ps[0].length != 4 || ps[1].length < 96<<10 {
			t.Fatalf("the upstream's receive-pack requests: %+v; want the probe, then the push with its length", ps)
		}
	})
}

// TestGitGateReport: scan: report lets a push with a secret through, and
// audits the finding as would-deny.
func TestGitGateReport(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "report", "r")
	w := c.clone(url)
	key := newAWSKey()
	g.secrets = append(g.secrets, key)
	id := c.commit(w, "key", map[string]string{"k.env": "aws_access_key_id = " + key + "\n"})
	c.must(w, "push", "-q", "origin", "HEAD:main")
	if got := refAt(c, bare, "refs/heads/main"); got != id {
		t.Fatalf("upstream main = %q; want %s", got, id)
	}
	rec := g.lastPush(t, "/report/r.git/git-receive-pack")
	wantCause(t, rec, allowlist.CauseGitSecret)
	if rec.Decision != audit.DecisionWouldDeny || rec.Git.Scan != "report" || len(rec.Git.Findings) != 1 ||
		rec.Git.Findings[0] != "aws-access-token in k.env:1 (commit "+id[:12]+")" || rec.Git.Refs[0].Status != "ok" {
		t.Fatalf("audit: %+v %+v", rec, rec.Git)
	}
}

// TestGitGateTooLarge: a push over GitMaxPack is refused and never sent.
func TestGitGateTooLarge(t *testing.T) {
	g := newGitEnv(t, func(c *Config) { c.GitMaxPack = 64 << 10 })
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "big")
	w := c.clone(url)
	big := make([]byte, 256<<10)
	rand.Read(big)
	c.commit(w, "big", map[string]string{"blob.bin": string(big)})
	out, err := c.run(w, "push", "origin", "HEAD:refs/heads/agent/big")
	if err == nil {
		t.Fatalf("push over the limit succeeded:\n%s", out)
	}
	if refAt(c, bare, "refs/heads/agent/big") != "" || len(g.origin.pushes("big")) != 0 {
		t.Errorf("the refused push reached the upstream")
	}
	wantLines(t, out,
		"remote: bottle: push refused: push of more than 64 KiB; the bottle's git gate takes at most 64 KiB (bottle-sidecar --git-max-pack); push fewer commits at a time",
		" ! [remote rejected] HEAD -> agent/big (bottle: push refused: too large)")
	rec := g.lastPush(t, "/acme/big.git/git-receive-pack")
	wantCause(t, rec, allowlist.CauseGitPack)
	if rec.Decision != audit.DecisionDeny || !strings.Contains(rec.Reason, "--git-max-pack") {
		t.Errorf("audit: %+v", rec)
	}
}

// TestGitGateGzip: a gzip-encoded push (git push never sends one; other
// clients may) is decoded, judged, and forwarded decoded.
func TestGitGateGzip(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "gz")
	w := c.clone(url)
	old := c.must(w, "rev-parse", "HEAD")
	id := c.commit(w, "gz", map[string]string{"gz.txt": "gzip\n"})
	raw := pushBody(t, c, w, old, id, "refs/heads/agent/gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	req := mkReq(t, "POST", strings.TrimSuffix(url, "")+"/git-receive-pack", &gz,
		"Content-Type", "application/x-git-receive-pack-request", "Content-Encoding", "gzip", "Accept", "application/x-git-receive-pack-result")
	resp, body := g.do(g.env.client(false), req)
	if resp.StatusCode != 200 || !strings.Contains(body, "ok refs/heads/agent/gz") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got := refAt(c, bare, "refs/heads/agent/gz"); got != id {
		t.Fatalf("upstream agent/gz = %q; want %s", got, id)
	}
	ps := g.origin.pushes("gz")
	if len(ps) != 1 || ps[0].encoding != "" || ps[0].length != int64(len(raw)) {
		t.Fatalf("the upstream saw %+v; want the push decoded, %d bytes", ps, len(raw))
	}
}

const zeroID = "0000000000000000000000000000000000000000"

// pushBody is the body git would send to move ref from old to id (in the
// work tree w): one command asking for report-status and side-band-64k,
// then a pack of what id adds to old.
func pushBody(t *testing.T, c *gitClient, w, old, id, ref string) []byte {
	t.Helper()
	pack := exec.Command("git", "pack-objects", "--stdout", "--revs", "-q")
	pack.Dir, pack.Env = w, c.env
	pack.Stdin = strings.NewReader(id + "\n^" + old + "\n")
	packData, err := pack.Output()
	if err != nil {
		t.Fatal(err)
	}
	oldID := old
	if refAt(c, w, "refs/remotes/origin/"+strings.TrimPrefix(ref, "refs/heads/")) == "" {
		oldID = zeroID // a new ref
	}
	cmd := fmt.Sprintf("%s %s %s\x00 report-status side-band-64k agent=test", oldID, id, ref)
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%04x%s0000", len(cmd)+4, cmd)
	raw.Write(packData)
	return raw.Bytes()
}
