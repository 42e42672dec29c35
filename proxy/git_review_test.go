package proxy

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

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
	if !strings.Contains(out, "remote: bottle: push blocked: value:forge in a file name of tree ") || strings.Contains(out, name) {
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
