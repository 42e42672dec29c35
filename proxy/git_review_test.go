package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/gitgate"
)

// TestGitGateCaseVariants: a forge routes repository paths without regard
// to case, so a push to another spelling of a declared repository, which
// the policy's broad host rule admits, is judged by the repository's
// entry like any other: a ref outside its push: globs is refused and
// never reaches the upstream.
func TestGitGateCaseVariants(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "cv")
	w := c.clone(url)
	old := c.must(w, "rev-parse", "HEAD")
	id := c.commit(w, "cv", map[string]string{"cv.txt": "case\n"})
	raw := pushBody(t, c, w, old, id, "refs/heads/main")
	base := fmt.Sprintf("https://git.test:%d", g.origin.port)
	for _, path := range []string{"/ACME/cv.git", "/acme/CV", "/Acme/Cv.GIT"} {
		before := g.origin.count()
		resp, answer := g.receivePack(t, base+path, bytes.NewReader(raw))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != gitgate.ResultType ||
			!strings.Contains(answer, "ng refs/heads/main bottle: ") {
			t.Errorf("POST %s/git-receive-pack: %d %q; want the gate's refusal", path, resp.StatusCode, answer)
		}
		if g.origin.count() != before {
			t.Errorf("POST %s/git-receive-pack reached the upstream", path)
		}
	}
}

// count is how many requests the origin has seen.
func (o *gitOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// TestGitGateSecretInFileName: a credential's value as a file name is a
// secret pushed like one in a file: blocked, and the agent's remote:
// lines name the tree, not the name.
func TestGitGateSecretInFileName(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "fn")
	w := c.clone(url)
	name := hex.EncodeToString([]byte(g.forge)) // the value has a "/"
	g.secrets = append(g.secrets, name)
	id := c.commit(w, "name", map[string]string{"notes/" + name: "clean\n"})
	out, err := c.run(w, "push", "origin", "HEAD:refs/heads/agent/fn")
	if err == nil {
		t.Fatalf("push of the credential's value as a file name succeeded:\n%s", out)
	}
	if !strings.Contains(out, "remote: bottle: push blocked: the value of credential forge in notes/ (a file name) ") || strings.Contains(out, name) {
		t.Errorf("git's output:\n%s", out)
	}
	if refAt(c, bare, "refs/heads/agent/fn") == id || len(g.origin.pushes("fn")) != 0 {
		t.Errorf("the push reached the upstream")
	}
}

// TestGitGateSecretInRefOrOption: a credential's value in a ref name or a
// push option (which travel uncompressed, before the pack) never reaches
// the upstream.
func TestGitGateSecretInRefOrOption(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "ro")
	w := c.clone(url)
	name := hex.EncodeToString([]byte(g.forge))
	g.secrets = append(g.secrets, name)
	c.commit(w, "ro", map[string]string{"ro.txt": "clean\n"})
	if out, err := c.run(w, "push", "origin", "HEAD:refs/heads/agent/"+name); err == nil {
		t.Errorf("push to a ref named with the credential's value succeeded:\n%s", out)
	}
	if refAt(c, bare, "refs/heads/agent/"+name) != "" {
		t.Errorf("the ref reached the upstream")
	}
	c.must(bare, "config", "receive.advertisePushOptions", "true")
	if out, err := c.run(w, "push", "-o", "note="+name, "origin", "HEAD:refs/heads/agent/opt"); err == nil {
		t.Errorf("push with the credential's value in a push option succeeded:\n%s", out)
	}
	if refAt(c, bare, "refs/heads/agent/opt") != "" {
		t.Errorf("the push option reached the upstream")
	}
}

// TestGitGateDeltaBomb: a pack of a few KiB whose delta inflates to
// 64 GiB is refused as too large, at once, and never reaches the
// upstream; the audit counts the bytes that were received.
func TestGitGateDeltaBomb(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "db")
	base := make([]byte, 1<<16)
	baseID := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(base))), base...))
	delta := append([]byte{0x80, 0x80, 0x04}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02) // base 64 KiB, result 64 GiB
	delta = append(delta, bytes.Repeat([]byte{0x80}, 1<<20)...)
	var pack bytes.Buffer
	pack.WriteString("PACK\x00\x00\x00\x02\x00\x00\x00\x02")
	pack.Write(packHeader(3, len(base)))
	zw := zlib.NewWriter(&pack)
	zw.Write(base)
	zw.Close()
	pack.Write(packHeader(7, len(delta))) // REF_DELTA
	pack.Write(baseID[:])
	zw = zlib.NewWriter(&pack)
	zw.Write(delta)
	zw.Close()
	sum := sha1.Sum(pack.Bytes())
	pack.Write(sum[:])

	cmd := fmt.Sprintf("%s %s refs/heads/agent/db\x00 report-status side-band-64k agent=test", zeroID, strings.Repeat("1", 40))
	body := fmt.Sprintf("%04x%s0000", len(cmd)+4, cmd) + pack.String()
	start := time.Now()
	resp, answer := g.receivePack(t, url, strings.NewReader(body))
	if resp.StatusCode != http.StatusOK || !strings.Contains(answer, "ng refs/heads/agent/db bottle: push refused: too large") {
		t.Fatalf("%d %q", resp.StatusCode, answer)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the refusal took %s", d)
	}
	if len(g.origin.pushes("db")) != 0 {
		t.Errorf("the push reached the upstream")
	}
	if rec := g.lastPush(t, "/acme/db.git/git-receive-pack"); rec.Git.Bytes != int64(len(body)) {
		t.Errorf("audit bytes %d; want %d", rec.Git.Bytes, len(body))
	}
}

// packHeader is a pack object's header: its type and size.
func packHeader(typ byte, size int) []byte {
	c := typ<<4 | byte(size&0x0f)
	size >>= 4
	var out []byte
	for size > 0 {
		out = append(out, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(out, c)
}

// TestGitGateOtherMethods: the policy's broad rule admits any method,
// but only POST reaches a declared repository's receive-pack endpoint,
// through the gate; another method is refused and never reaches the
// upstream.
func TestGitGateOtherMethods(t *testing.T) {
	g := newGitEnvPolicy(t, strings.Replace(gitPolicy, "    methods: [GET, POST]\n", "", 1), nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "m")
	w := c.clone(url)
	old := c.must(w, "rev-parse", "HEAD")
	id := c.commit(w, "m", map[string]string{"m.txt": "m\n"})
	raw := pushBody(t, c, w, old, id, "refs/heads/main")
	for _, method := range []string{"PUT", "PATCH", "GET"} {
		before := g.origin.count()
		req := mkReq(t, method, url+"/git-receive-pack", bytes.NewReader(raw), "Content-Type", gitgate.RequestType)
		resp, _ := g.do(g.env.client(false), req)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s git-receive-pack: %d; want 405", method, resp.StatusCode)
		}
		if g.origin.count() != before {
			t.Errorf("%s git-receive-pack reached the upstream", method)
		}
	}
}

// TestGitGateFindingPathScrubbed: a finding's path is quoted to the agent,
// but never with a credential's value in it.
func TestGitGateFindingPathScrubbed(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "ps")
	w := c.clone(url)
	dir := hex.EncodeToString([]byte(g.forge))
	g.secrets = append(g.secrets, dir)
	c.commit(w, "ps", map[string]string{dir + "/k.env": "aws_access_key_id = " + newAWSKey() + "\n"})
	out, err := c.run(w, "push", "origin", "HEAD:refs/heads/agent/ps")
	if err == nil {
		t.Fatalf("push succeeded:\n%s", out)
	}
	if strings.Contains(out, dir) || !strings.Contains(out, "remote: bottle: push blocked: aws-access-token in [credential forge value]/k.env:1") {
		t.Errorf("git's output:\n%s", out)
	}
}

// TestGitGateGzipRefName: the guard reads a push's body as it arrives,
// gzip-encoded, so a credential's value in a ref name or a push option of
// a gzip-encoded push is the gate's to find: blocked, never forwarded.
func TestGitGateGzipRefName(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "gzr")
	w := c.clone(url)
	old := c.must(w, "rev-parse", "HEAD")
	id := c.commit(w, "gz", map[string]string{"gz.txt": "gzip\n"})
	name := hex.EncodeToString([]byte(g.forge))
	g.secrets = append(g.secrets, name)
	for _, tc := range []struct{ what, ref, option, finding string }{
		{"ref name", "refs/heads/agent/" + name, "", "the value of credential forge in the ref name of command 1"},
		{"push option", "refs/heads/agent/opt", "note=" + name, "the value of credential forge in push option 1"},
	} {
		raw := pushBody(t, c, w, old, id, tc.ref)
		if tc.option != "" {
			// The command asks for push-options; they follow its flush.
			i := bytes.Index(raw, []byte("0000PACK"))
			cmd := fmt.Sprintf("%s %s %s\x00 report-status side-band-64k push-options agent=test", zeroID, id, tc.ref)
			opt := tc.option
			raw = append([]byte(fmt.Sprintf("%04x%s0000%04x%s0000", len(cmd)+4, cmd, len(opt)+4, opt)), raw[i+4:]...)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		zw.Close()
		req := mkReq(t, "POST", url+"/git-receive-pack", &gz,
			"Content-Type", gitgate.RequestType, "Content-Encoding", "gzip", "Accept", gitgate.ResultType)
		resp, answer := g.do(g.env.client(false), req)
		// The report names the refused ref as the agent wrote it (git
		// matches it), and nothing else quotes the value.
		answer = strings.ReplaceAll(answer, tc.ref, "REF")
		if resp.StatusCode != http.StatusOK || !strings.Contains(answer, "bottle: push blocked: "+tc.finding) || strings.Contains(answer, name) {
			t.Errorf("%s: %d %q; want the push blocked", tc.what, resp.StatusCode, answer)
		}
		if refAt(c, bare, tc.ref) != "" || len(g.origin.pushes("gzr")) != 0 {
			t.Fatalf("%s: the push reached the upstream", tc.what)
		}
	}
}

// TestGitGateAuditFindingsBounded: a push with more findings than an
// audit line names is audited with the first of them and a count of the
// rest.
func TestGitGateAuditFindingsBounded(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	_, url := g.seed(t, c, "report", "af")
	w := c.clone(url)
	var b strings.Builder
	for range maxAuditFindings + 50 {
		fmt.Fprintf(&b, "aws_access_key_id = %s\n", newAWSKey())
	}
	c.commit(w, "keys", map[string]string{"keys.env": b.String()})
	c.must(w, "push", "-q", "origin", "HEAD:refs/heads/af")
	rec := g.lastPush(t, "/report/af.git/git-receive-pack")
	n := len(rec.Git.Findings)
	if n != maxAuditFindings+1 || !strings.HasPrefix(rec.Git.Findings[n-1], "and ") {
		t.Fatalf("audit has %d findings, last %q; want %d and a count", n, rec.Git.Findings[n-1], maxAuditFindings+1)
	}
}
