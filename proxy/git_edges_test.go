package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/gitgate"
	"bottle.dev/bottle/internal/audit"
)

// receivePack posts body to the receive-pack endpoint of url through the
// proxy, as git would, and returns the answer.
func (g *gitEnv) receivePack(t *testing.T, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req := mkReq(t, "POST", url+"/git-receive-pack", body,
		"Content-Type", gitgate.RequestType, "Accept", gitgate.ResultType)
	return g.do(g.env.client(false), req)
}

// TestGitGateScanOff: scan: off lets a secret through unscanned, but the
// pack is decoded still: a malformed one is refused, as git's report, and
// never reaches the upstream.
func TestGitGateScanOff(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "off", "o")
	w := c.clone(url)
	key := newAWSKey()
	g.secrets = append(g.secrets, key)
	id := c.commit(w, "key", map[string]string{"k.env": "aws_access_key_id = " + key + "\n"})
	c.must(w, "push", "-q", "origin", "HEAD:refs/heads/x")
	if got := refAt(c, bare, "refs/heads/x"); got != id {
		t.Fatalf("upstream x = %q; want %s", got, id)
	}
	rec := g.lastPush(t, "/off/o.git/git-receive-pack")
	if rec.Decision != audit.DecisionAllow || rec.Git.Scan != "off" || len(rec.Git.Findings) != 0 {
		t.Fatalf("audit: %+v %+v", rec, rec.Git)
	}

	// A pack that does not decode: refused whatever the scan.
	before := len(g.origin.pushes("o"))
	cmd := fmt.Sprintf("%s %s refs/heads/y\x00 report-status side-band-64k agent=test", zeroID, id)
	body := fmt.Sprintf("%04x%s0000PACK\x00\x00\x00\x02\x00\x00\x00\x01garbage that is no object at all", len(cmd)+4, cmd)
	resp, answer := g.receivePack(t, url, strings.NewReader(body))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != gitgate.ResultType ||
		!strings.Contains(answer, "ng refs/heads/y bottle: push refused: malformed push") {
		t.Fatalf("%d %q", resp.StatusCode, answer)
	}
	if n := len(g.origin.pushes("o")); n != before || refAt(c, bare, "refs/heads/y") != "" {
		t.Errorf("the malformed push reached the upstream")
	}
	rec = g.lastPush(t, "/off/o.git/git-receive-pack")
	wantCause(t, rec, allowlist.CauseGitPack)
	if rec.Decision != audit.DecisionDeny || len(rec.Git.Refs) != 1 || rec.Git.Refs[0].Status != "rejected" {
		t.Fatalf("audit: %+v %+v", rec, rec.Git)
	}
}

// TestGitGateReportStillBlocksValues: scan: report lets DLP findings
// through, but never a credential's real value: the agent does not hold
// it, so one in its commits has leaked from somewhere.
func TestGitGateReportStillBlocksValues(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "report", "v")
	w := c.clone(url)
	b64 := base64.StdEncoding.EncodeToString([]byte(g.forge))
	g.secrets = append(g.secrets, b64)
	id := c.commit(w, "value", map[string]string{"v.txt": b64 + "\n"})
	out, err := c.run(w, "push", "origin", "HEAD:main")
	if err == nil {
		t.Fatalf("push of the credential's value succeeded:\n%s", out)
	}
	wantLines(t, out, "remote: bottle: push blocked: the value of credential forge in v.txt:1 (commit "+id[:12]+")",
		" ! [remote rejected] HEAD -> main (bottle: push blocked: a secret in the pushed commits)")
	if refAt(c, bare, "refs/heads/main") == id || len(g.origin.pushes("v")) != 0 {
		t.Errorf("the push reached the upstream")
	}
	wantCause(t, g.lastPush(t, "/report/v.git/git-receive-pack"), allowlist.CauseGitSecret)
}

// blockingBody is a request body that sends head, then waits until it
// is cut (the client's request fails).
type blockingBody struct {
	head []byte
	cut  chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	<-b.cut
	return 0, errors.New("client gave up")
}

// TestGitGateSlots: at most MaxPushes pushes are spooled at once; a
// further one waits for a slot, and gets it when a push ends, even one
// whose client went away mid-body.
func TestGitGateSlots(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "slots")
	w := c.clone(url)
	old := c.must(w, "rev-parse", "HEAD")
	id := c.commit(w, "s", map[string]string{"s.txt": "s\n"})
	full := pushBody(t, c, w, old, id, "refs/heads/agent/s")

	var held []*blockingBody
	errs := make(chan error, MaxPushes)
	for range MaxPushes {
		b := &blockingBody{head: full[:len(full)/2], cut: make(chan struct{})}
		held = append(held, b)
		go func() {
			req := mkReq(t, "POST", url+"/git-receive-pack", b, "Content-Type", gitgate.RequestType)
			resp, err := g.env.client(false).Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(g.proxy.gitSem) < MaxPushes {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots taken; want %d", len(g.proxy.gitSem), MaxPushes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan string, 1)
	go func() {
		_, answer := g.receivePack(t, url, bytes.NewReader(full))
		done <- answer
	}()
	select {
	case a := <-done:
		t.Fatalf("a fifth push was taken while %d were spooled: %q", MaxPushes, a)
	case <-time.After(300 * time.Millisecond):
	}
	close(held[0].cut) // one client goes away mid-body: its slot is freed
	select {
	case a := <-done:
		if !strings.Contains(a, "ok refs/heads/agent/s") || refAt(c, bare, "refs/heads/agent/s") != id {
			t.Fatalf("the fifth push: %q", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fifth push never got a slot")
	}
	for _, b := range held[1:] {
		close(b.cut)
	}
	for range MaxPushes {
		<-errs
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(g.proxy.gitSem) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still taken after every push ended", len(g.proxy.gitSem))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGitAdvertGzip: an advertisement the upstream gzips although it was
// asked without Accept-Encoding is decoded, and gets no-thin all the same.
func TestGitAdvertGzip(t *testing.T) {
	id := strings.Repeat("a", 40)
	line := id + " refs/heads/main\x00report-status side-band-64k ofs-delta agent=git/test\n"
	advert := "001f# service=git-receive-pack\n0000" + fmt.Sprintf("%04x", len(line)+4) + line + "0000"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(advert))
	zw.Close()
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Encoding": {"gzip"}, "Content-Length": {fmt.Sprint(gz.Len())},
		"Content-Type": {gitgate.AdvertisementType}}, Body: io.NopCloser(&gz), ContentLength: int64(gz.Len())}
	s := &Server{}
	s.gitResponse(resp, &reqState{git: &gitReq{advert: true}})
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" || resp.ContentLength != -1 {
		t.Errorf("headers %v, length %d", resp.Header, resp.ContentLength)
	}
	if !strings.Contains(string(got), "agent=git/test no-thin\n") || !strings.HasPrefix(string(got), "001f# service=git-receive-pack\n0000") {
		t.Errorf("advertisement %q", got)
	}
}

// TestGitGateReportMode: in the allowlist's report mode a push to a ref
// outside push: goes upstream, audited as would-deny (git-ref), as every
// refusal on policy grounds is in that mode.
func TestGitGateReportMode(t *testing.T) {
	g := newGitEnvPolicy(t, strings.Replace(gitPolicy, "version: 1\n", "version: 1\nmode: report\n", 1), nil)
	c := g.client(t)
	bare, url := g.seed(t, c, "acme", "rm")
	w := c.clone(url)
	id := c.commit(w, "m", map[string]string{"m.txt": "m\n"})
	c.must(w, "push", "-q", "origin", "HEAD:main")
	if got := refAt(c, bare, "refs/heads/main"); got != id {
		t.Fatalf("upstream main = %q; want %s", got, id)
	}
	rec := g.lastPush(t, "/acme/rm.git/git-receive-pack")
	wantCause(t, rec, allowlist.CauseGitRef)
	if rec.Decision != audit.DecisionWouldDeny || rec.Git.Refs[0].Status != "ok" || !strings.Contains(rec.Reason, "refs/heads/main is not in push:") {
		t.Fatalf("audit: %+v %+v", rec, rec.Git)
	}
}

// TestGitGateOnlyPOST: the receive-pack endpoint of a declared repository
// takes a push as git sends it, a POST; another method (which a broad host
// rule admits) would carry a push past the gate, and is refused.
func TestGitGateOnlyPOST(t *testing.T) {
	g := newGitEnvPolicy(t, strings.Replace(gitPolicy, "methods: [GET, POST]", "methods: [GET, POST, PUT]", 1), nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "put")
	resp, body := g.do(g.env.client(false), mkReq(t, "PUT", url+"/git-receive-pack", strings.NewReader("0000"), "Content-Type", gitgate.RequestType))
	if resp.StatusCode != 405 || !strings.Contains(body, "git pushes with POST, which the bottle's git gate judges") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	g.origin.mu.Lock()
	defer g.origin.mu.Unlock()
	for _, s := range g.origin.seen {
		if s.method == "PUT" {
			t.Errorf("the PUT reached the upstream")
		}
	}
}

// TestGitGateMalformed: a push body git would never send is refused, and
// nothing of it reaches the upstream.
func TestGitGateMalformed(t *testing.T) {
	g := newGitEnv(t, nil)
	c := g.client(t)
	_, url := g.seed(t, c, "acme", "bad")
	id := strings.Repeat("1", 40)
	cmd := func(ref, caps string) string {
		line := zeroID + " " + id + " " + ref + caps
		return fmt.Sprintf("%04x%s", len(line)+4, line)
	}
	for name, body := range map[string]string{
		"not pkt-lines":       "this is not a push",
		"no flush":            cmd("refs/heads/agent/x", "\x00 report-status"),
		"no pack":             cmd("refs/heads/agent/x", "\x00 report-status side-band-64k") + "0000",
		"bad ref":             cmd("refs/heads/agent/../x", "\x00 report-status") + "0000PACK",
		"truncated pack":      cmd("refs/heads/agent/x", "\x00 report-status side-band-64k") + "0000PACK\x00\x00\x00\x02\x00\x00\x00\x05",
		"bytes after a probe": "0000PACK",
	} {
		resp, answer := g.receivePack(t, url, strings.NewReader(body))
		switch {
		case resp.StatusCode == 200 && strings.Contains(answer, "ng refs/heads/agent/x bottle: push refused: malformed push"):
		case resp.StatusCode == 403 && strings.Contains(answer, "bottle: push refused: "):
		default:
			t.Errorf("%s: %d %q", name, resp.StatusCode, answer)
		}
	}
	if ps := g.origin.pushes("bad"); len(ps) != 0 {
		t.Errorf("the upstream saw %d of the malformed pushes", len(ps))
	}
	for _, r := range g.pushLines() {
		if r.Decision != audit.DecisionDeny || r.Cause != allowlist.CauseGitPack.String() {
			t.Errorf("audit: %+v", r)
		}
	}
}
