package launcher_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
)

// TestSidecarSpool: the git gate's spool is a private directory of the
// bottle's state, mounted read-write in the sidecar only and named by
// --git-spool; what an earlier sidecar left there is gone at launch, and
// the spool is gone once the bottle is torn down.
func TestSidecarSpool(t *testing.T) {
	l, f, s := setup(t)
	spool := l.SpoolDir("demo")
	if spool != filepath.Join(l.Dir("demo"), contract.SpoolDir) {
		t.Fatalf("SpoolDir = %s", spool)
	}
	os.MkdirAll(spool, 0o755)
	os.WriteFile(filepath.Join(spool, "push-left-behind"), []byte("an old push"), 0o600)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(spool)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("spool: %v %v", st, err)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("the spool kept %v from the last run", left)
	}
	sc, _ := f.Container("bottle-demo-sidecar")
	if want := (launcher.Mount{Source: spool, Target: contract.SidecarSpoolDir}); !slices.Contains(sc.Mounts, want) {
		t.Errorf("the sidecar's mounts %+v lack %+v", sc.Mounts, want)
	}
	if cmd := strings.Join(sc.Cmd, " "); !strings.Contains(cmd, "--git-spool "+contract.SidecarSpoolDir+" ") {
		t.Errorf("sidecar command %q", cmd)
	}
	for _, role := range []string{"agent", "probe"} {
		for _, r := range f.Runs() {
			if r.Labels[launcher.LabelRole] != role {
				continue
			}
			for _, m := range r.Mounts {
				if m.Source == spool || strings.HasPrefix(m.Source, spool+"/") || m.Target == contract.SidecarSpoolDir {
					t.Errorf("the %s has the spool: %+v", role, m)
				}
			}
		}
	}
	os.WriteFile(filepath.Join(spool, "push-in-flight"), []byte("a push"), 0o600)
	if _, err := l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Errorf("the spool outlived the sidecar: %v", err)
	}
}

// provisionScript is the script the launch ran as root in the agent.
func provisionScript(t *testing.T, f *fakebackend.Backend) string {
	t.Helper()
	for _, e := range f.Execs() {
		if e.Container == "bottle-demo-agent" && len(e.Spec.Argv) == 3 && e.Spec.Argv[0] == "sh" && e.Spec.User == "0" {
			return e.Spec.Argv[2]
		}
	}
	t.Fatal("no provisioning script ran")
	return ""
}

// gitConfigRunner answers the host's `git config --get KEY` from values,
// in dir only, and records what it was asked.
type gitConfigRunner struct {
	dir    string
	values map[string]string
	asked  []string
}

func (g *gitConfigRunner) Run(_ context.Context, c launcher.Cmd) error {
	if len(c.Argv) == 4 && c.Argv[0] == "git" && c.Argv[1] == "config" && c.Argv[2] == "--get" {
		g.asked = append(g.asked, c.Argv[3]+" in "+c.Dir)
		if v, ok := g.values[c.Argv[3]]; ok && c.Dir == g.dir {
			c.Stdout.Write([]byte(v + "\n"))
			return nil
		}
		return &launcher.RunError{Argv: c.Argv, ExitCode: 1, Err: os.ErrNotExist}
	}
	return noHost(context.Background(), c)
}

// TestProvisionGitIdentity: the agent's commits carry the project's
// identity, set over the image's; else the host's git config's (read in
// the workspace), else one that names the bottle — those two only where
// the image sets none. Every value is quoted for the shell.
func TestProvisionGitIdentity(t *testing.T) {
	const guarded = "if command -v git >/dev/null 2>&1 && ! git config --system user.email >/dev/null 2>&1; then\n"
	const http11 = "if command -v git >/dev/null 2>&1 && ! git config --system http.version >/dev/null 2>&1; then\ngit config --system http.version HTTP/1.1; fi\n"
	ws := t.TempDir()
	for _, tc := range []struct {
		name    string
		host    map[string]string // the host's git config
		project launcher.GitIdentity
		want    string // the script's git lines
		note    string // the provisioning's note ("" for none)
	}{
		{
			name: "default",
			want: guarded + "git config --system user.name 'bottle agent (demo)' && git config --system user.email agent@demo.bottle.invalid; fi\n",
		},
		{
			name: "host's with only a name is not taken",
			host: map[string]string{"user.name": "Ada Lovelace"},
			want: guarded + "git config --system user.name 'bottle agent (demo)' && git config --system user.email agent@demo.bottle.invalid; fi\n",
		},
		{
			name: "host's",
			host: map[string]string{"user.name": "Ada O'Lovelace", "user.email": "ada@example.com"},
			want: guarded + `git config --system user.name 'Ada O'\''Lovelace' && git config --system user.email ada@example.com; fi` + "\n",
			note: "the agent's git commits carry Ada O'Lovelace <ada@example.com> (from your git config, unless the image sets one)",
		},
		{
			name:    "project's wins over the host's and the image's",
			host:    map[string]string{"user.name": "Ada Lovelace", "user.email": "ada@example.com"},
			project: launcher.GitIdentity{Name: "Widget Bot", Email: "bot@widget.example.com; rm -rf /"},
			want:    "if command -v git >/dev/null 2>&1; then\ngit config --system user.name 'Widget Bot' && git config --system user.email 'bot@widget.example.com; rm -rf /'; fi\n",
			note:    "the agent's git commits carry Widget Bot <bot@widget.example.com; rm -rf /> (from bottle.yaml)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, f, s := setup(t)
			var progress bytes.Buffer
			l.Progress = &progress
			r := &gitConfigRunner{dir: ws, values: tc.host}
			l.Runner = r
			s.Workspace, s.GitIdentity = ws, tc.project
			if _, err := l.Launch(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			script := provisionScript(t, f)
			if !strings.Contains(script, "\n"+tc.want+http11+"if id -u agent") {
				t.Errorf("script:\n%s\nwant its git lines:\n%s", script, tc.want)
			}
			if strings.Contains(script, "insteadOf") {
				t.Errorf("rewrites without git entries:\n%s", script)
			}
			if tc.project.IsZero() && !slices.Equal(r.asked, []string{"user.name in " + ws, "user.email in " + ws}) {
				t.Errorf("asked the host for %q", r.asked)
			}
			if tc.note == "" && strings.Contains(progress.String(), "git commits carry") {
				t.Errorf("a note for the default identity:\n%s", progress.String())
			}
			if tc.note != "" && !strings.Contains(progress.String(), "      "+tc.note+"\n") {
				t.Errorf("progress lacks %q:\n%s", tc.note, progress.String())
			}
		})
	}
}

// TestProvisionGitRewrites: each host of the policy's git entries gets its
// SSH remotes rewritten to HTTPS, once, and the progress says so.
func TestProvisionGitRewrites(t *testing.T) {
	l, f, s := setup(t)
	os.WriteFile(s.Allowlist, []byte(`version: 1
allow:
  - host: api.example.com
git:
  - repo: git.example.com/acme/widget
    push: ["refs/heads/agent/**"]
  - repo: git.example.com/acme/*
  - repo: forge.example.org/tools/**
`), 0o644)
	var progress bytes.Buffer
	l.Progress = &progress
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	script := provisionScript(t, f)
	var got []string
	for _, line := range strings.Split(script, "\n") {
		if strings.Contains(line, "insteadOf") {
			got = append(got, line)
		}
	}
	want := []string{
		"git config --system --get-all url.https://git.example.com/.insteadOf | grep -qxF git@git.example.com: || git config --system --add url.https://git.example.com/.insteadOf git@git.example.com:",
		"git config --system --get-all url.https://git.example.com/.insteadOf | grep -qxF ssh://git@git.example.com/ || git config --system --add url.https://git.example.com/.insteadOf ssh://git@git.example.com/",
		"git config --system --get-all url.https://forge.example.org/.insteadOf | grep -qxF git@forge.example.org: || git config --system --add url.https://forge.example.org/.insteadOf git@forge.example.org:",
		"git config --system --get-all url.https://forge.example.org/.insteadOf | grep -qxF ssh://git@forge.example.org/ || git config --system --add url.https://forge.example.org/.insteadOf ssh://git@forge.example.org/",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rewrites:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if note := "the agent's git remotes git@HOST: and ssh://git@HOST/ go by HTTPS, through the git gate, for git.example.com, forge.example.org"; !strings.Contains(progress.String(), note) {
		t.Errorf("progress lacks %q:\n%s", note, progress.String())
	}
}

// TestApprovalsChannel: the approvals channel is a directory of the
// bottle's state with pending/ and decided/, emptied at launch (an old
// decision must not answer a new request), mounted read-write in the
// sidecar only and named by --approval-dir; --approvals goes to the
// sidecar and into the metadata; the agent gets MCP_SUPERVISE_URL and
// reaches the sidecar directly (NO_PROXY); the channel is gone once the
// bottle is torn down.
func TestApprovalsChannel(t *testing.T) {
	l, f, s := setup(t)
	dir := l.ApprovalsDir("demo")
	if dir != filepath.Join(l.Dir("demo"), contract.ApprovalsDir) {
		t.Fatalf("ApprovalsDir = %s", dir)
	}
	os.MkdirAll(filepath.Join(dir, "decided"), 0o755)
	os.WriteFile(filepath.Join(dir, "decided", "0123abcd.json"), []byte(`{"id":"0123abcd","verdict":"once"}`), 0o600)
	s.Approvals = "ask"
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"", "pending", "decided"} {
		st, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Fatalf("approvals/%s: %v %v", sub, st, err)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "decided")); len(left) != 0 {
		t.Errorf("the channel kept %v from the last run", left)
	}
	sc, _ := f.Container("bottle-demo-sidecar")
	if want := (launcher.Mount{Source: dir, Target: contract.SidecarApprovalsDir}); !slices.Contains(sc.Mounts, want) {
		t.Errorf("the sidecar's mounts %+v lack %+v", sc.Mounts, want)
	}
	cmd := strings.Join(sc.Cmd, " ")
	if !strings.Contains(cmd, "--approval-dir "+contract.SidecarApprovalsDir+" ") || !strings.Contains(cmd, "--approvals ask ") {
		t.Errorf("sidecar command %q", cmd)
	}
	if b.Approvals != "ask" || b.MCPURL != "http://"+b.SidecarIP+":3129/mcp" {
		t.Errorf("metadata: approvals %q, mcp %q", b.Approvals, b.MCPURL)
	}
	if saved, err := l.Load("demo"); err != nil || saved.Approvals != "ask" || saved.MCPURL != b.MCPURL {
		t.Errorf("bottle.json: %+v %v", saved, err)
	}
	agent, _ := f.Container("bottle-demo-agent")
	for _, want := range []string{"MCP_SUPERVISE_URL=" + b.MCPURL, "NO_PROXY=localhost,127.0.0.1,::1," + b.SidecarIP, "no_proxy=localhost,127.0.0.1,::1," + b.SidecarIP} {
		if !slices.Contains(agent.Env, want) {
			t.Errorf("the agent's environment lacks %s: %q", want, agent.Env)
		}
	}
	for _, role := range []string{"agent", "probe"} {
		for _, r := range f.Runs() {
			if r.Labels[launcher.LabelRole] != role {
				continue
			}
			for _, m := range r.Mounts {
				if m.Source == dir || strings.HasPrefix(m.Source, dir+"/") || m.Target == contract.SidecarApprovalsDir {
					t.Errorf("the %s has the approvals channel: %+v", role, m)
				}
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "pending", "89abcdef.json"), []byte(`{}`), 0o600)
	if _, err := l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the approvals channel outlived the sidecar: %v", err)
	}
}

// TestApprovalsFlag: without --approvals the sidecar is given none (the
// allowlist decides) and the metadata records none; a value other than
// ask and off is refused before anything is made.
func TestApprovalsFlag(t *testing.T) {
	l, f, s := setup(t)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := f.Container("bottle-demo-sidecar")
	if cmd := strings.Join(sc.Cmd, " "); strings.Contains(cmd, "--approvals ") || !strings.Contains(cmd, "--approval-dir ") {
		t.Errorf("sidecar command %q", cmd)
	}
	if b.Approvals != "" {
		t.Errorf("approvals recorded: %q", b.Approvals)
	}
	l, f, s = setup(t)
	s.Approvals = "maybe"
	if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), `--approvals "maybe": want ask or off`) {
		t.Fatalf("err = %v", err)
	}
	if got := f.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
}
