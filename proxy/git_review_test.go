package proxy

import (
	"bytes"
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
