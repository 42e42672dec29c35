package add

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"},
		strings.Fields("github.com -p 22 --port 443 -X GET --method POST --path /a/** --passthrough --sni-optional --deny --bottle demo")...)
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	if got.Host != "github.com" || !reflect.DeepEqual(got.Rule.Ports, []string{"22", "443"}) || !reflect.DeepEqual(got.Rule.Methods, []string{"GET", "POST"}) ||
		!reflect.DeepEqual(got.Rule.Paths, []string{"/a/**"}) || !got.Rule.Passthrough || !got.Rule.SNIOptional || !got.Rule.Deny || got.File.Bottle != "demo" {
		t.Errorf("%+v", got)
	}
	for _, args := range [][]string{{}, {"a.test", "b.test"}, {"a.test", "--bottle", "../evil"}, {"a.test", "-f", "x", "--bottle", "y"}, {"a.test", "--live-only"}} {
		if r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Errorf("%q ran", args); return nil }), []string{"allow"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
}

func TestAdd(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	path := filepath.Join(dir, "allowlist.yaml")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "pypi.org")
	if r.Code != 0 || r.Stdout != "added allow[3]: pypi.org ports 80,443 to allowlist.yaml\n" {
		t.Fatalf("add: %+v", r)
	}
	data, _ := os.ReadFile(path)
	want := strings.Replace(cmdtest.Sample, "    tls: passthrough\n", "    tls: passthrough\n  - host: pypi.org\n", 1)
	if string(data) != want {
		t.Errorf("file after add:\n%s\nwant:\n%s", data, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "PyPI.org.")
	if r.Code != 0 || r.Stdout != "nothing changed in allowlist.yaml: it already has this rule (allow[3])\n" {
		t.Errorf("re-add: %+v", r)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Errorf("no-op add changed the file")
	}
	for _, tc := range []struct{ args, want string }{
		{"ssh.github.com -p 22 -p 443 --passthrough", "added allow[4]: ssh.github.com ports 22,443 (tls passthrough) to allowlist.yaml\n"},
		{"ssh2.example.com -p 22 --passthrough --sni-optional", "added allow[5]: ssh2.example.com ports 22 (tls passthrough, sni optional) to allowlist.yaml\n"},
		{"github.com -X GET --path /x/**", "added allow[6]: github.com ports 80,443 methods GET paths /x/** to allowlist.yaml\n"},
		{"10.20.0.0/16 -p 5432", "added allow[7]: 10.20.0.0/16 ports 5432 to allowlist.yaml\n"},
		{"gist.github.com --deny", "added deny[1]: gist.github.com all ports to allowlist.yaml\n"},
	} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, strings.Fields(tc.args)...); r.Code != 0 || r.Stdout != tc.want {
			t.Errorf("%s: %+v; want %q", tc.args, r, tc.want)
		}
	}
	final, _ := os.ReadFile(path)
	if !strings.Contains(string(final), "# team rules") || !strings.Contains(string(final), "# the API") || !strings.Contains(string(final), "    sni: optional\n") {
		t.Errorf("comments lost:\n%s", final)
	}
}

func TestAddCreatesFile(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "*.example.com", "--file", "new.yaml")
	if r.Code != 0 || r.Stdout != "created new.yaml with allow[0]: *.example.com ports 80,443\n" {
		t.Fatalf("add to new file: %+v", r)
	}
	if data, _ := os.ReadFile("new.yaml"); !strings.Contains(string(data), `"*.example.com"`) {
		t.Errorf("new file:\n%s", data)
	}
}

func TestAddFlowStyle(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow: [{host: a.test}]  # flow\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "b.test")
	if r.Code != 0 || !strings.Contains(r.Stderr, "note: allowlist.yaml uses a flow-style list, so it was re-emitted in block style (comments kept)") {
		t.Errorf("%+v", r)
	}
}

func TestAddRejects(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	before, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"*"}, "*"},
		{[]string{"*.com"}, "top-level domain"},
		{[]string{"x.example.com", "--port", "70000"}, "--port 70000 is not a port; use a number from 1 to 65535"},
		{[]string{"x.example.com", "--port", "gopher"}, `--port "gopher" is not a port; use a number from 1 to 65535 or a service name (http, https,`},
		{[]string{"x.example.com/v1"}, "write its scheme (https://x.example.com/v1), for a path use --path"},
		{[]string{"x.example.com", "--method", "FETCH"}, "FETCH"},
		{[]string{"x.example.com", "--passthrough", "--path", "/a"}, "passthrough"},
		{[]string{"x.test", "--sni-optional"}, "only with --passthrough"},
		{nil, "bottle allow add: missing the HOST to allow"},
	} {
		r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tc.args...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: exit %d stderr %q; want 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml"))
	if string(after) != string(before) {
		t.Errorf("a rejected add changed the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "a.test", "-f", "adir"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "adir") {
		t.Errorf("a directory: %+v", r)
	}
}

// TestAddWaitsForTheSidecar: `allow add --bottle` reports "applied" only
// when the sidecar's status file names the hash of the file it wrote, and
// the sidecar's errors when it rejected it; words in the sidecar's log,
// which the agent can write into, mean nothing.
func TestAddWaitsForTheSidecar(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	b := fx.Launch("demo", "docker")
	// The sidecar has loaded the launch's allowlist.
	sidecar := func(args ...string) chan int {
		done := make(chan int, 1)
		go func() {
			var errb bytes.Buffer
			done <- fakert.Run(context.Background(), *fx.Fake, "fakert", append([]string{"sidecar", b.StateDir}, args...), nil, &bytes.Buffer{}, &errb)
		}()
		return done
	}
	if code := <-sidecar(); code != 0 {
		t.Fatalf("the first load: exit %d", code)
	}
	done := sidecar()
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "b.example.com", "--bottle", "demo")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "added allow[1]: b.example.com ports 80,443 to ") || r.Stderr != "the sidecar of demo applied it\n" || <-done != 0 {
		t.Errorf("applied: %+v", r)
	}
	st, _ := contract.ReadStatus(filepath.Join(b.StateDir, contract.LogDir, contract.StatusFile))
	if live, _ := os.ReadFile(filepath.Join(b.StateDir, contract.ConfigDir, contract.AllowlistFile)); st.Tried != contract.Hash(live) || !st.OK {
		t.Errorf("status %+v does not name the live file", st)
	}

	done = sidecar("-reject", "allowlist.yaml:3:11: made-up rejection")
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "c.example.com", "--bottle", "demo")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "the sidecar of demo rejected the new file and keeps the previous policy:\nallowlist.yaml:3:11: made-up rejection") || <-done != 0 {
		t.Errorf("rejected: %+v", r)
	}

	fx.Fakert("policy reloaded policy reloaded\n", "log", b.Sidecar)
	var got *Options
	cmd := NewCmd(fx.F, func(o *Options) error { got = o; return nil })
	fx.Run(cmd, []string{"allow"}, "d.example.com", "--bottle", "demo")
	got.File.Wait = 100 * time.Millisecond
	start := time.Now()
	err := run(context.Background(), got)
	if err == nil || err.Error() != "the file was written, but the sidecar of demo did not confirm it within 100ms; is the bottle running? (bottle list; its log: bottle logs demo --sidecar)" {
		t.Errorf("no confirmation: %v", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("gave up after %s", time.Since(start))
	}
}

func TestAddBottleStoppedOrMissing(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "x.example.com", "--bottle", "nothere")
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("missing bottle: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(fx.F.Env.StateDir, "nothere")); !os.IsNotExist(err) {
		t.Errorf("a missing bottle got a state directory: %v", err)
	}
	b := fx.Launch("demo", "docker")
	if _, err := fx.Launcher("docker").Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "x.example.com", "--bottle", "demo")
	if r.Code != 0 || r.Stderr != "bottle demo is stopped; the change applies when it is launched again\n" {
		t.Errorf("stopped bottle: %+v", r)
	}
	if data, _ := os.ReadFile(filepath.Join(b.StateDir, contract.ConfigDir, contract.AllowlistFile)); !strings.Contains(string(data), "x.example.com") {
		t.Errorf("the stopped bottle's allowlist:\n%s", data)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "w.example.com", "--bottle", "demo", "--live-only")
	if r.Code != 0 || !strings.Contains(r.Stderr, "a relaunch from ") || !strings.HasSuffix(r.Stderr, "bottle demo is stopped; nothing runs with the change\n") {
		t.Errorf("stopped, --live-only: %+v", r)
	}
	os.Remove(filepath.Join(b.StateDir, contract.MetadataFile))
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "y.example.com", "--bottle", "demo"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, `no bottle named "demo"`) {
		t.Errorf("no metadata: %+v", r)
	}
}

// projectInline is a bottle.yaml with its rules inline, comments and the
// project's own keys around them.
const projectInline = `# the widget project
version: 1
name: widget
env:
  LOG_LEVEL: debug   # chatty
allow:
  - host: api.example.com   # the API
command: [claude, -p, "fix the tests"]
`

// TestAddFollowsTheProject: without --file, add edits what bottle launch
// reads: the inline rules of bottle.yaml, in place, its own keys and
// comments kept (and no stray allowlist.yaml), or the file it names.
func TestAddFollowsTheProject(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("bottle.yaml", []byte(projectInline), 0o644)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "pypi.org")
	if r.Code != 0 || r.Stdout != "added allow[1]: pypi.org ports 80,443 to bottle.yaml\n" {
		t.Fatalf("%+v", r)
	}
	want := strings.Replace(projectInline, "# the API\n", "# the API\n  - host: pypi.org\n", 1)
	if data, _ := os.ReadFile("bottle.yaml"); string(data) != want {
		t.Errorf("bottle.yaml:\n%s\nwant:\n%s", data, want)
	}
	if _, err := os.Stat("allowlist.yaml"); err == nil {
		t.Error("a stray allowlist.yaml was made")
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "pypi.org"); r.Code != 0 || r.Stdout != "nothing changed in bottle.yaml: it already has this rule (allow[1])\n" {
		t.Errorf("again: %+v", r)
	}

	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\nallowlist: team/rules.yaml\n"), 0o644)
	os.Mkdir("team", 0o755)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "pypi.org")
	if r.Code != 0 || r.Stdout != "created team/rules.yaml (named by bottle.yaml) with allow[0]: pypi.org ports 80,443\n" {
		t.Errorf("the file bottle.yaml names: %+v", r)
	}
	if _, err := os.Stat("team/rules.yaml"); err != nil {
		t.Error(err)
	}

	// A project file that is not valid is not edited, nor is anything else.
	bad := "version: 1\nname: Widget\nallow:\n  - host: a.test\n"
	os.WriteFile("bottle.yaml", []byte(bad), 0o644)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "pypi.org")
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bottle.yaml is not valid:\nbottle.yaml:2:7: ") {
		t.Errorf("invalid bottle.yaml: %+v", r)
	}
	if data, _ := os.ReadFile("bottle.yaml"); string(data) != bad {
		t.Errorf("an invalid bottle.yaml was changed:\n%s", data)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files: %v", ents)
	}
}

// TestAddLaunchFile: with --bottle, the file the bottle was launched from
// is edited too, unless it no longer takes the rule (a warning, and the
// live edit stands) or the bottle predates the record (a note); without
// --bottle, only running bottles launched from the file are named.
func TestAddLaunchFile(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("bottle.yaml", []byte(projectInline), 0o644)
	abs := filepath.Join(dir, "bottle.yaml")
	b := fx.LaunchSpec("docker", launcher.Spec{Name: "demo", Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n"), AllowlistSource: abs})
	if _, err := fx.Launcher("docker").Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(b.StateDir, contract.ConfigDir, contract.AllowlistFile)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "a.example.com", "--bottle", "demo")
	if r.Code != 0 || r.Stdout != "added allow[1]: a.example.com ports 80,443 to the live allowlist of demo ("+live+")\nadded allow[1]: a.example.com ports 80,443 to bottle.yaml, which demo was launched from\n" {
		t.Errorf("both files: %+v", r)
	}

	os.WriteFile("bottle.yaml", []byte("version: 1\nname: Widget\nallow:\n  - host: a.test\n"), 0o644)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "b.example.com", "--bottle", "demo")
	if r.Code != 0 || !strings.Contains(r.Stderr, "warning: bottle.yaml, which demo was launched from, was not changed: bottle.yaml is not valid:\nbottle.yaml:2:7: ") ||
		!strings.Contains(r.Stderr, "; only the live allowlist was changed\n") {
		t.Errorf("an invalid launch file: %+v", r)
	}
	if data, _ := os.ReadFile(live); !strings.Contains(string(data), "b.example.com") {
		t.Errorf("the live edit did not stand:\n%s", data)
	}

	meta := filepath.Join(b.StateDir, contract.MetadataFile)
	data, _ := os.ReadFile(meta)
	os.WriteFile(meta, []byte(strings.Replace(string(data), `"allowlist_source"`, `"x_old"`, 1)), 0o600)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "c.example.com", "--bottle", "demo")
	if r.Code != 0 || !strings.Contains(r.Stderr, "note: demo was launched by an older bottle that did not record its allowlist's file: only the live allowlist was changed") {
		t.Errorf("an older bottle: %+v", r)
	}

	os.WriteFile("bottle.yaml", []byte(projectInline), 0o644)
	fx.LaunchSpec("docker", launcher.Spec{Name: "run", Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n"), AllowlistSource: abs})
	os.WriteFile(meta, data, 0o600) // demo names bottle.yaml again, but is stopped
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "d.example.com", "-p", "5432")
	want := "bottle run runs with this allowlist; it changes at its next launch, or apply it now with: bottle allow add d.example.com --port 5432 --bottle run\n" +
		"note: port 5432 is intercepted: the proxy expects TLS there and checks each HTTP request inside; for ssh, a database or another protocol that is not HTTP, tunnel it instead: bottle allow add d.example.com --port 5432 --passthrough\n"
	if r.Code != 0 || r.Stderr != want {
		t.Errorf("without --bottle: %+v\nwant stderr:\n%s", r, want)
	}
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "d.example.com", "-p", "5432"); r.Stderr != "" {
		t.Errorf("nothing added, yet: %q", r.Stderr)
	}
}
