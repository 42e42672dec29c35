package root

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/project"
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
		// also must be allowed too once the hint has run: the next request
		// of the same job (a clone's POST after its GET).
		also *allowlist.Request
	}{
		{name: "no rule", req: allowlist.Request{Scheme: "https", Host: "new.example.com", Method: "GET", Path: "/x"}, cause: allowlist.CauseNoRule},
		{name: "no rule, plain http", req: allowlist.Request{Scheme: "http", Host: "plain.example.com", Method: "POST", Path: "/upload"}, cause: allowlist.CauseNoRule},
		{name: "port not covered", req: allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 8443, Method: "GET", Path: "/"}, cause: allowlist.CausePort},
		{name: "method not covered", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/acme/widget.git/git-receive-pack"}, cause: allowlist.CauseMethod},
		{name: "path not covered", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/other/repo"}, cause: allowlist.CausePath},
		{name: "hostile method", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "PATCH", Path: "/acme/a b/'x'"}, cause: allowlist.CauseMethod},
		{name: "deny rule on the host", req: allowlist.Request{Scheme: "https", Host: "gist.github.com", Method: "GET", Path: "/"}, cause: allowlist.CauseDenyRule},
		{name: "deny rule on a method", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "DELETE", Path: "/acme/x"}, cause: allowlist.CauseDenyRule},
		{name: "git clone", req: allowlist.Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/other/repo.git/info/refs?service=git-upload-pack"}, cause: allowlist.CausePath,
			also: &allowlist.Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/other/repo.git/git-upload-pack"}},
		{name: "git clone, plain http", req: allowlist.Request{Scheme: "http", Host: "git.example.com", Method: "GET", Path: "/r/info/refs?service=git-upload-pack"}, cause: allowlist.CauseNoRule,
			also: &allowlist.Request{Scheme: "http", Host: "git.example.com", Method: "POST", Path: "/r/git-upload-pack"}},
		{name: "CONNECT, no rule", req: allowlist.Request{Host: "db.example.com", Port: 5432}, connect: true, cause: allowlist.CauseNoRule},
		{name: "CONNECT, port not covered", req: allowlist.Request{Host: "api.example.com", Port: 22}, connect: true, cause: allowlist.CausePort},
		{name: "CONNECT to an address", req: allowlist.Request{Host: "10.30.0.5", Port: 5432}, connect: true, cause: allowlist.CauseNoRule},
	}
	// load reads an allowlist, or the rules inline in a project file.
	load := func(t *testing.T, file string) *allowlist.Policy {
		t.Helper()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var pol *allowlist.Policy
		if project.IsProject(file, data) {
			pol, err = allowlist.ParseEmbedded(file, data, project.Keys())
		} else {
			pol, err = allowlist.Parse(file, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		return pol
	}
	for _, tc := range cases {
		decide := func(t *testing.T, file string) allowlist.Decision {
			t.Helper()
			pol := load(t, file)
			if tc.connect {
				return pol.DecideConnect(tc.req.Host, tc.req.Port)
			}
			return pol.Decide(tc.req)
		}
		// hint checks the denial and returns the commands that should end
		// it: one, or several joined with && (a deny rule to remove, then
		// the rule the request needs).
		hint := func(t *testing.T, file string, scope allowlist.HintScope) [][]string {
			t.Helper()
			d := decide(t, file)
			if d.Allowed || d.Cause != tc.cause {
				t.Fatalf("before: allowed %v, cause %s; want denied by %s", d.Allowed, d.Cause, tc.cause)
			}
			pol := load(t, file)
			var cmds [][]string
			for _, command := range strings.Split(pol.AllowCommand(tc.req, d, scope), " && ") {
				words := shellWords(t, command)
				if len(words) < 3 || words[0] != "bottle" || words[1] != "allow" {
					t.Fatalf("hint %q", command)
				}
				cmds = append(cmds, words[1:])
			}
			return cmds
		}
		alsoAllowed := func(t *testing.T, file string) {
			t.Helper()
			if tc.also == nil {
				return
			}
			if d := load(t, file).Decide(*tc.also); !d.Allowed || d.WouldDeny {
				t.Errorf("after the hint, %s %s is still denied (%s: %s)", tc.also.Method, tc.also.Path, d.Cause, d.Reason)
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			fx := cmdtest.New(t)
			file := filepath.Join(t.TempDir(), "allowlist.yaml")
			os.WriteFile(file, []byte(roundTripPolicy), 0o644)
			for _, args := range hint(t, file, allowlist.HintScope{File: file}) {
				if code := Main(context.Background(), fx.F, args); code != 0 {
					t.Fatalf("%q: exit %d\n%s%s", args, code, fx.Out.String(), fx.Err.String())
				}
			}
			if d := decide(t, file); !d.Allowed || d.WouldDeny {
				t.Errorf("after the hint: still denied (%s: %s)", d.Cause, d.Reason)
			}
			alsoAllowed(t, file)
		})
		// A project whose rules are inline in its bottle.yaml: the hint,
		// run in its directory without --file, edits them there.
		t.Run(tc.name+", bottle.yaml", func(t *testing.T) {
			fx := cmdtest.New(t)
			dir := t.TempDir()
			t.Chdir(dir)
			proj := "version: 1\nname: widget\nenv:\n  A: b\n" + strings.TrimPrefix(roundTripPolicy, "version: 1\n")
			os.WriteFile("bottle.yaml", []byte(proj), 0o644)
			file := filepath.Join(dir, "bottle.yaml")
			for _, args := range hint(t, file, allowlist.HintScope{}) {
				if code := Main(context.Background(), fx.F, args); code != 0 {
					t.Fatalf("%q: exit %d\n%s%s", args, code, fx.Out.String(), fx.Err.String())
				}
			}
			if d := decide(t, file); !d.Allowed || d.WouldDeny {
				t.Errorf("after the hint: still denied (%s: %s)", d.Cause, d.Reason)
			}
			alsoAllowed(t, file)
			if _, err := os.Stat("allowlist.yaml"); err == nil {
				t.Error("the hint made an allowlist.yaml that launch would not read")
			}
		})
		// The form the sidecar prints: the bottle's live allowlist is
		// edited, its sidecar confirms it, and the request is allowed
		// there.
		t.Run(tc.name+", --bottle", func(t *testing.T) {
			fx := cmdtest.New(t)
			b := fx.LaunchSpec("docker", launcher.Spec{Name: "demo", Allowlist: fx.Allowlist(roundTripPolicy)})
			live := filepath.Join(b.StateDir, contract.ConfigDir, contract.AllowlistFile)
			fx.Fakert("", "sidecar", b.StateDir) // the launch's allowlist is loaded
			cmds := hint(t, live, allowlist.HintScope{Bottle: "demo"})
			done := make(chan string, 1)
			go func() {
				var errb bytes.Buffer
				fakert.Run(context.Background(), *fx.Fake, "fakert", []string{"sidecar", b.StateDir, "-count", strconv.Itoa(len(cmds))}, nil, &bytes.Buffer{}, &errb)
				done <- errb.String()
			}()
			for _, args := range cmds {
				if args[len(args)-2] != "--bottle" || args[len(args)-1] != "demo" {
					t.Errorf("%q does not name the bottle", args)
				}
				if code := Main(context.Background(), fx.F, args); code != 0 {
					t.Fatalf("%q: exit %d\n%s%s", args, code, fx.Out.String(), fx.Err.String())
				}
				if !strings.Contains(fx.Err.String(), "the sidecar of demo applied it") {
					t.Errorf("%q: %s", args, fx.Err.String())
				}
			}
			if errs := <-done; errs != "" {
				t.Errorf("the sidecar: %s", errs)
			}
			if d := decide(t, live); !d.Allowed || d.WouldDeny {
				t.Errorf("after the hint: still denied (%s: %s)", d.Cause, d.Reason)
			}
			alsoAllowed(t, live)
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
