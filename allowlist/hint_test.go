package allowlist

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shellWords splits cmd the way a POSIX shell does, by running it through
// sh in an empty-but-for-one-file directory: an unquoted glob would expand
// to that file, and a command substitution would create files.
func shellWords(t *testing.T, cmd string) []string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "GLOBBED"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(sh, "-c", `printf '%s\0' `+cmd)
	c.Dir = dir
	c.Env = []string{"PATH=/nonexistent", "HOME=/nonexistent-home"}
	out, err := c.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", cmd, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("running %q created files: %v", cmd, ents)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestAllowCommandQuoting: whatever a client sends, the printed command is
// read by a shell as exactly the intended words.
func TestAllowCommandQuoting(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		method, path string
		wantMethod   string // the --method word
		wantPath     string // the --path word
	}{
		{method: "X|$0&#", path: "/acme/x", wantMethod: "X|$0&#", wantPath: "/acme/x"},
		{method: "A'B", path: "/acme/x", wantMethod: "A'B", wantPath: "/acme/x"},
		{method: "$(touch pwned)", path: "/acme/x", wantMethod: "$(TOUCH PWNED)", wantPath: "/acme/x"},
		{method: "`touch pwned`", path: "/acme/x", wantMethod: "`TOUCH PWNED`", wantPath: "/acme/x"},
		{method: ";touch pwned", path: "/acme/x", wantMethod: ";TOUCH PWNED", wantPath: "/acme/x"},
		{method: "*", path: "/acme/x", wantMethod: "*", wantPath: "/acme/x"},
		{method: "~", path: "/acme/x", wantMethod: "~", wantPath: "/acme/x"},
		{method: "GET", path: "/acme/$(touch pwned)/x", wantMethod: "GET", wantPath: "/acme/$(touch pwned)/x"},
		{method: "GET", path: "/acme/%24(touch%20pwned)", wantMethod: "GET", wantPath: "/acme/$(touch pwned)"},
		{method: "GET", path: "/acme/'q'/\"d\"/`b`", wantMethod: "GET", wantPath: "/acme/'q'/\"d\"/`b`"},
		{method: "GET", path: "/acme/*", wantMethod: "GET", wantPath: "/acme/*"},
		{method: "GET", path: "/~root/x", wantMethod: "GET", wantPath: "/~root/x"},
		{method: "GET", path: "/acme/a&b|c>d<e!f{g}", wantMethod: "GET", wantPath: "/acme/a&b|c>d<e!f{g}"},
		{method: "GET", path: "/b%C3%BCcher", wantMethod: "GET", wantPath: "/bücher"},
	}
	for _, tt := range tests {
		req := Request{Scheme: "https", Host: "github.com", Port: 8443, Method: tt.method, Path: tt.path}
		d := p.Decide(req)
		cmd := p.AllowCommand(req, d, HintScope{})
		want := []string{"bottle", "allow", "add", "github.com", "--port", "8443", "--method", tt.wantMethod, "--path", tt.wantPath}
		if got := shellWords(t, cmd); !slices.Equal(got, want) {
			t.Errorf("method %q path %q: AllowCommand = %s\nshell reads %q\nwant        %q", tt.method, tt.path, cmd, got, want)
		}
	}
}

// TestAllowCommandUnprintable: a command that would carry a control or
// invisible character is not printed at all; no rule can name such a
// method, and a shell-quoted escape sequence still reaches the terminal.
func TestAllowCommandUnprintable(t *testing.T) {
	p := mustParse(t, testPolicy)
	for _, req := range []Request{
		{Scheme: "https", Host: "github.com", Method: "GET\x1b[2J", Path: "/acme/x"},
		{Scheme: "https", Host: "github.com", Method: "GET\n", Path: "/acme/x"},
		{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/%C2%9B2J"},         // C1 CSI
		{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/%E2%80%AEtxt.exe"}, // right-to-left override
		{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/%FF"},              // not UTF-8
	} {
		if got := p.AllowCommand(req, p.Decide(req), HintScope{}); got != "" {
			t.Errorf("AllowCommand(%q %q) = %q; want nothing", req.Method, req.Path, got)
		}
	}
}

// TestRuleArgsQuoting: the rm command for a deny rule quotes every word,
// and removes exactly that rule.
func TestRuleArgsQuoting(t *testing.T) {
	p := mustParse(t, `version: 1
deny:
  - cidr: 10.20.0.0/16
    ports: [22, 5432]
  - host: "*.example.com"
    methods: [DELETE]
    paths: ["/a b/*", "/x/$(y)"]
`)
	tests := []struct {
		rule int
		want []string
	}{
		{0, []string{"bottle", "allow", "rm", "--deny", "10.20.0.0/16", "--port", "22", "--port", "5432"}},
		{1, []string{"bottle", "allow", "rm", "--deny", "*.example.com", "--method", "DELETE", "--path", "/a b/*", "--path", "/x/$(y)"}},
	}
	for _, tt := range tests {
		r := p.DenyRules()[tt.rule]
		cmd := "bottle allow rm " + r.Spec().Args()
		if got := shellWords(t, cmd); !slices.Equal(got, tt.want) {
			t.Errorf("deny[%d]: %s\nshell reads %q\nwant        %q", tt.rule, cmd, got, tt.want)
		}
		n, err := r.Spec().normalize()
		if err != nil || !n.equal(r) {
			t.Errorf("deny[%d]: the spec %+v does not name the rule (%v)", tt.rule, r.Spec(), err)
		}
	}
}

// TestApexMissed: a wildcard does not cover the name it stands over; the
// reason says so, naming the wildcard, and the hint is the wildcard's own
// rule for that name, when it would allow the request.
func TestApexMissed(t *testing.T) {
	p := mustParse(t, `version: 1
allow:
  - host: "*.example.com"
  - host: "**.corp.example"
    ports: [8443]
    methods: [GET]
  - host: "*.pass.example"
    ports: [22]
    tls: passthrough
`)
	for _, tc := range []struct {
		req    Request
		reason string
		hint   string
	}{
		{Request{Scheme: "https", Host: "example.com", Method: "GET", Path: "/"},
			"no rule allows GET example.com:443/: *.example.com (allow[0]) covers the names under example.com, not example.com itself", "bottle allow add example.com"},
		{Request{Scheme: "https", Host: "corp.example", Port: 8443, Method: "GET", Path: "/x"},
			"**.corp.example (allow[1]) covers the names under corp.example, not corp.example itself", "bottle allow add corp.example --port 8443 --method GET"},
		// The wildcard's rule would not allow this one: the usual hint.
		{Request{Scheme: "https", Host: "corp.example", Port: 8443, Method: "POST", Path: "/x"},
			"**.corp.example (allow[1]) covers the names under corp.example, not corp.example itself", "bottle allow add corp.example --port 8443"},
		{Request{Host: "pass.example", Port: 22},
			"*.pass.example (allow[2]) covers the names under pass.example, not pass.example itself", "bottle allow add pass.example --port 22 --passthrough"},
	} {
		var d Decision
		if tc.req.Method == "" {
			d = p.DecideConnect(tc.req.Host, tc.req.Port)
		} else {
			d = p.Decide(tc.req)
		}
		if d.Allowed || d.Cause != CauseNoRule || !strings.Contains(d.Explain(), tc.reason) {
			t.Errorf("%+v: %+v; want the reason %q", tc.req, d, tc.reason)
		}
		if got := p.AllowCommand(tc.req, d, HintScope{}); got != tc.hint {
			t.Errorf("%+v: hint %q; want %q", tc.req, got, tc.hint)
		}
	}
	// A name deeper down, or elsewhere, is not told about the wildcard.
	for _, host := range []string{"a.b.example.com", "other.test"} {
		if d := p.Decide(Request{Scheme: "https", Host: host, Method: "GET", Path: "/"}); strings.Contains(d.Explain(), "itself") {
			t.Errorf("%s: %q", host, d.Explain())
		}
	}
}
