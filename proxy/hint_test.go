package proxy

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// TestDenialPageNamesTheBottle: the 403 an agent reads ends with the exact
// command to run on the host, and that command names the bottle the
// sidecar serves (--bottle), so that it edits that bottle's allowlist and
// not whatever file the host's working directory has. The Proxy-Status
// header, for programs, carries the reason only.
func TestDenialPageNamesTheBottle(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	o := e.origin.port
	c := e.client(false)

	resp, _, _ := e.connectRaw(fmt.Sprintf("blocked.test:%d", o))
	body, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf("bottle: blocked CONNECT blocked.test:%d\nreason: no rule allows blocked.test:%d (rule default)\ncause: no-rule\nto allow it, run on the host:\n  bottle allow add blocked.test --port %d --bottle t1\n", o, o, o)
	if resp.StatusCode != 403 || string(body) != want {
		t.Errorf("CONNECT: %d\n%s\nwant:\n%s", resp.StatusCode, body, want)
	}
	if ps := resp.Header.Get("Proxy-Status"); strings.Contains(ps, "bottle allow") || !strings.Contains(ps, "no rule allows") {
		t.Errorf("Proxy-Status %q", ps)
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "blocked.test" }), allowlist.CauseNoRule)

	for _, tc := range []struct {
		path, hint string
		cause      allowlist.Cause
	}{
		{"/other/x", fmt.Sprintf("bottle allow add l7.test --port %d --method GET --path /other/x --bottle t1", o), allowlist.CausePath},
		// A clone: the rule for the repository, both of its requests.
		{"/acme/r.git/info/refs?service=git-upload-pack", fmt.Sprintf("bottle allow add l7.test --port %d --path '/acme/r.git/**' --method GET --method POST --bottle t1", o), allowlist.CausePath},
	} {
		resp, body := e.get(c, fmt.Sprintf("https://l7.test:%d%s", o, tc.path))
		if resp.StatusCode != 403 || !strings.HasSuffix(body, "to allow it, run on the host:\n  "+tc.hint+"\n") {
			t.Errorf("GET %s: %d\n%s\nwant the hint %s", tc.path, resp.StatusCode, body, tc.hint)
		}
		if strings.Contains(resp.Header.Get("Proxy-Status"), "--bottle") {
			t.Errorf("GET %s: Proxy-Status %q", tc.path, resp.Header.Get("Proxy-Status"))
		}
		p, _, _ := strings.Cut(tc.path, "?")
		wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == p }), tc.cause)
	}
}

// TestDenialPageWithoutABottle: a proxy that was not told its bottle's
// name suggests the command without --bottle.
func TestDenialPageWithoutABottle(t *testing.T) {
	e := newEnv(t, basePolicy, func(c *Config) { c.Bottle = "" })
	resp, _, _ := e.connectRaw(fmt.Sprintf("blocked.test:%d", e.origin.port))
	body, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("\n  bottle allow add blocked.test --port %d\n", e.origin.port); resp.StatusCode != 403 || !strings.HasSuffix(string(body), want) {
		t.Errorf("%d\n%s\nwant it to end with %q", resp.StatusCode, body, want)
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "blocked.test" }), allowlist.CauseNoRule)
}

// TestDenialPageApex: a name that a wildcard stands over but does not
// cover is told why, with the wildcard's rule for the name itself.
func TestDenialPageApex(t *testing.T) {
	e := newEnv(t, "version: 1\nallow:\n  - host: \"*.apex.test\"\n    ports: [{{ORIGIN}}]\n", nil)
	o := e.origin.port
	resp, _, _ := e.connectRaw(fmt.Sprintf("apex.test:%d", o))
	data, _ := io.ReadAll(resp.Body)
	body := string(data)
	want := fmt.Sprintf("reason: no rule allows apex.test:%d: *.apex.test (allow[0]) covers the names under apex.test, not apex.test itself (rule default)\ncause: no-rule\nto allow it, run on the host:\n  bottle allow add apex.test --port %d --bottle t1\n", o, o)
	if resp.StatusCode != 403 || !strings.HasSuffix(body, want) {
		t.Errorf("%d\n%s\nwant it to end with:\n%s", resp.StatusCode, body, want)
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Host == "apex.test" }), allowlist.CauseNoRule)
}
