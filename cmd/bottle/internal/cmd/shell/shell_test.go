package shell

import (
	"regexp"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestShell(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		fx := cmdtest.New(t)
		fx.Launch("demo", backend)
		fx.Calls()
		if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != 0 || r.Stdout != "fakert: a login shell in bottle-demo-agent as agent\n" {
			t.Errorf("%s: %+v", backend, r)
		}
		bin := map[string]string{"docker": "docker", "macos-container": "container"}[backend]
		// No terminal here: under the supervisor, which a Ctrl-C is passed
		// on through.
		want := regexp.MustCompile("^" + bin + ` exec -i -u agent -w /workspace bottle-demo-agent /usr/local/bin/bottle-probe supervise --pid-file /run/bottle/exec-[0-9a-f]{12}\.pid -- sh -c 'command -v bash >/dev/null && exec bash -l \|\| exec sh -l'$`)
		if c := fx.Calls(); len(c) != 1 || !want.MatchString(c[0]) {
			t.Errorf("%s: %q", backend, c)
		}
	}
	fx := cmdtest.New(t)
	for args, want := range map[string]string{"": "bottle shell: missing the bottle NAME", "../x": "bottle name", "a b": "too many arguments", "nothere": `no bottle named "nothere"`} {
		r := fx.Run(NewCmd(fx.F, nil), nil, strings.Fields(args)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("%q: %+v", args, r)
		}
	}
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "demo"); r.Code != 0 || got.Name != "demo" {
		t.Errorf("%+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitUsage {
		t.Errorf("%+v", r)
	}
}
