package refresh

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"secret"}, "--bottle", "demo"); r.Code != 0 || got.Bottle != "demo" {
		t.Errorf("%+v %+v", r, got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "bottle: bottle secret refresh: missing --bottle NAME, the running bottle whose credentials to refresh\n"},
		{[]string{"--bottle", "../x"}, `bottle: --bottle: bottle name "../x": use 1-40`},
		{[]string{"demo"}, `bottle: bottle secret refresh: too many arguments (["demo"]); it takes no arguments (name the bottle with --bottle NAME)`},
	} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, tc.args...); r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, tc.want) {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
}

const policy = `version: 1
allow:
  - host: api.example.com
credentials:
  - name: anthropic
    hosts: [api.example.com]
    header: x-api-key
    source: env:TEST_KEY
    agent_env: ANTHROPIC_API_KEY
`

// TestRefresh: the refresh says which credentials it resolved again,
// never their values; a source that fails is said with its fix and exit
// status 1; a name that is not a bottle is the usual error.
func TestRefresh(t *testing.T) {
	fx := cmdtest.New(t)
	fx.UserEnv["TEST_KEY"] = "sk-test-first-value-0123456789"
	fx.Launch("plain", "docker")
	fx.LaunchSpec("docker", launcher.Spec{Name: "demo", Allowlist: fx.Allowlist(policy)})
	fx.UserEnv["TEST_KEY"] = "sk-test-second-value-9876543210"
	// Without a sidecar to confirm it, the refresh says so.
	quick := func(o *Options) error { o.Wait = 300 * time.Millisecond; return run(context.Background(), o) }
	r := fx.Run(NewCmd(fx.F, quick), []string{"secret"}, "--bottle", "demo")
	if r.Code != 1 || r.Stderr != "bottle: the credentials were written, but the sidecar of demo did not confirm them within 300ms; is the bottle running? (bottle list; its log: bottle logs demo --sidecar)\n" {
		t.Errorf("unconfirmed: %+v", r)
	}
	l := fx.Launcher("docker")
	sidecar(t, l, "demo", "")
	r = fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "--bottle", "demo")
	if r.Code != 0 || r.Stdout != "refreshed anthropic in bottle demo; its sidecar has the new values, and the agent's next request carries them\n" {
		t.Errorf("refresh: %+v", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, "value-") {
		t.Errorf("a value was printed: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "--bottle", "plain")
	if r.Code != 0 || r.Stdout != "bottle plain's allowlist has no credentials; nothing to refresh (add one with bottle secret add NAME --bottle plain …)\n" {
		t.Errorf("no credentials: %+v", r)
	}
	delete(fx.UserEnv, "TEST_KEY")
	r = fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "--bottle", "demo")
	if r.Code != 1 || r.Stderr != "bottle: credential anthropic: env:TEST_KEY is not set; export TEST_KEY where you run bottle, or change the source with bottle secret add anthropic … --from SOURCE\n" {
		t.Errorf("unresolved: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "--bottle", "nothere"); r.Code != 1 || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("no bottle: %+v", r)
	}
}

// TestRefreshRejected: a credentials file the sidecar rejects is the
// sidecar's error.
func TestRefreshRejected(t *testing.T) {
	fx := cmdtest.New(t)
	fx.UserEnv["TEST_KEY"] = "sk-test-first-value-0123456789"
	fx.LaunchSpec("docker", launcher.Spec{Name: "demo", Allowlist: fx.Allowlist(policy)})
	sidecar(t, fx.Launcher("docker"), "demo", "credentials.json: too large")
	r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "--bottle", "demo")
	if r.Code != 1 || r.Stderr != "bottle: the sidecar of demo did not take the new values: credentials.json: too large\n" {
		t.Errorf("rejected: %+v", r)
	}
}

// sidecar plays bottle name's sidecar until the test ends: each time its
// credentials file changes, the status file says it was read (and taken,
// unless reject says why not), as the real sidecar's does.
func sidecar(t *testing.T, l *launcher.Launcher, name, reject string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	status := filepath.Join(l.LogDir(name), contract.StatusFile)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			data, err := os.ReadFile(l.CredentialsPath(name))
			if err == nil {
				st, _ := contract.ReadStatus(status)
				if h := contract.Hash(data); st.CredentialsTried != h {
					st.CredentialsTried, st.CredentialsOK, st.CredentialsError = h, reject == "", reject
					contract.WriteStatus(status, st)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}
