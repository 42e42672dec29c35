package root

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// A policy with each kind of rule a denial can meet.
const roundTripPolicy = `version: 1
allow:
  - host: api.example.com
  - host: github.com
    methods: [GET]
    paths: ["/acme/**"]
  - cidr: 10.20.0.0/16
    ports: [5432]
deny:
  - host: gist.github.com
  - host: github.com
    methods: [DELETE]
`

// TestDenialHintRoundTrip: for every kind of denial that suggests a
// command, the `bottle allow …` command the 403 (and `allow check`) prints,
// run through the CLI on the file, makes that same request allowed.
func TestDenialHintRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		req     allowlist.Request
		connect bool // judged as a CONNECT (host:port) rather than a request
		cause   allowlist.Cause
	}{
		{name: "no rule", req: allowlist.Request{Scheme: "https", Host: "new.example.com", Method: "GET", Path: "/x"}, cause: allowlist.CauseNoRule},
		{name: "no rule, plain http", req: allowlist.Request{Scheme: "http", Host: "plain.example.com", Method: "POST", Path: "/upload"}, cause: allowlist.CauseNoRule},
		{name: "port not covered", req: allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 8443, Method: "GET", Path: "/"}, cause: allowlist.CausePort},
		{name: "method not covered", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/acme/widget.git/git-receive-pack"}, cause: allowlist.CauseMethod},
		{name: "path not covered", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/other/repo"}, cause: allowlist.CausePath},
		{name: "hostile method", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "PATCH", Path: "/acme/a b/'x'"}, cause: allowlist.CauseMethod},
		{name: "deny rule on the host", req: allowlist.Request{Scheme: "https", Host: "gist.github.com", Method: "GET", Path: "/"}, cause: allowlist.CauseDenyRule},
		{name: "deny rule on a method", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "DELETE", Path: "/acme/x"}, cause: allowlist.CauseDenyRule},
		{name: "CONNECT, no rule", req: allowlist.Request{Host: "db.example.com", Port: 5432}, connect: true, cause: allowlist.CauseNoRule},
		{name: "CONNECT, port not covered", req: allowlist.Request{Host: "api.example.com", Port: 22}, connect: true, cause: allowlist.CausePort},
		{name: "CONNECT to an address", req: allowlist.Request{Host: "10.30.0.5", Port: 5432}, connect: true, cause: allowlist.CauseNoRule},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := cmdtest.New(t)
			file := filepath.Join(t.TempDir(), "allowlist.yaml")
			os.WriteFile(file, []byte(roundTripPolicy), 0o644)
			decide := func() allowlist.Decision {
				pol, err := allowlist.Load(file)
				if err != nil {
					t.Fatalf("%v", err)
				}
				if tc.connect {
					return pol.DecideConnect(tc.req.Host, tc.req.Port)
				}
				return pol.Decide(tc.req)
			}
			d := decide()
			if d.Allowed || d.Cause != tc.cause {
				t.Fatalf("before: allowed %v, cause %s; want denied by %s", d.Allowed, d.Cause, tc.cause)
			}
			pol, _ := allowlist.Load(file)
			hint := pol.AllowCommand(tc.req, d)
			// One command, or several joined with && (a deny rule to
			// remove, then the rule the request needs).
			for _, command := range strings.Split(hint, " && ") {
				words := shellWords(t, command)
				if len(words) < 3 || words[0] != "bottle" || words[1] != "allow" {
					t.Fatalf("hint %q", hint)
				}
				if code := Main(context.Background(), fx.F, append(words[1:], "--file", file)); code != 0 {
					t.Fatalf("%s: exit %d\n%s%s", command, code, fx.Out.String(), fx.Err.String())
				}
			}
			if d := decide(); !d.Allowed || d.WouldDeny {
				t.Errorf("after %s: still denied (%s: %s)", hint, d.Cause, d.Reason)
			}
		})
	}
}

// shellWords splits s as a POSIX shell would.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "for w in "+s+"; do printf '%s\\0' \"$w\"; done").Output()
	if err != nil {
		t.Fatalf("sh: %v (%q)", err, s)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
