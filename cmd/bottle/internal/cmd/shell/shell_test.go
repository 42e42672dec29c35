package shell

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
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

// TestShellOpensTheAgent: a bottle launched with an agent opens it, its
// argv as the launch recorded it, after one line that says how to get a
// shell instead.
func TestShellOpensTheAgent(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.Launch("fix", "docker")
	path := filepath.Join(b.StateDir, contract.MetadataFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	meta["recipe"], meta["agent_argv"] = "fake", []string{"sh", "-c", "exit 5"}
	data, _ = json.Marshal(meta)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fx.Calls()
	r := fx.Run(NewCmd(fx.F, nil), nil, "fix")
	if r.Code != 5 || r.Stderr != "fake in bottle fix; for a shell: bottle exec fix -- bash\n" {
		t.Errorf("%+v", r)
	}
	if c := fx.Calls(); len(c) != 1 || !strings.HasSuffix(c[0], " -- sh -c 'exit 5'") {
		t.Errorf("%q", c)
	}
}
