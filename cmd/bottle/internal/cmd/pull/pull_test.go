package pull

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/stop"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// TestNewCmd: one of --branch, --patch and --into; each needs its value;
// --force only with a branch.
func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "demo", "-b", "agent/x", "--force"); r.Code != 0 || got.Name != "demo" || got.Branch != "agent/x" || !got.Force {
		t.Errorf("%+v %+v", r, got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "bottle: bottle pull: missing the bottle NAME\n"},
		{[]string{"demo", "--patch", "p", "--into", "d"}, "bottle: give one of --branch, --patch and --into\n"},
		{[]string{"demo", "--branch", "b", "--patch", "-"}, "bottle: give one of --branch, --patch and --into\n"},
		{[]string{"demo", "--branch="}, "bottle: --branch needs a branch name\n"},
		{[]string{"demo", "--patch="}, "bottle: --patch needs a FILE (- for stdout)\n"},
		{[]string{"demo", "--into="}, "bottle: --into needs a DIR\n"},
		{[]string{"demo", "--patch", "p", "--force"}, "bottle: --force moves an existing branch or overwrites files in --into's DIR; it does not go with --patch\n"},
		{[]string{"demo", "--max-size", "0"}, "bottle: --max-size: \"0\" is not a size"},
	} {
		r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Error("ran"); return nil }), nil, tc.args...)
		if r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, tc.want) {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
}

// agentWork launches bottle demo on the user's repository and plays the
// agent: a commit, then an uncommitted change and a new file.
func agentWork(t *testing.T, fx *cmdtest.Fixture) (repo, ws string) {
	repo = fx.Repo()
	b := fx.LaunchRepo("demo", "docker", repo)
	ws = fx.Workspace(b)
	fx.Write(filepath.Join(ws, "main.go"), "package main\n\nfunc main() {}\n")
	fx.Git(ws, "commit", "-qam", "agent: a main")
	fx.Write(filepath.Join(ws, "README"), "hello\nuncommitted\n")
	fx.Write(filepath.Join(ws, "docs", "new.md"), "# new\n")
	return repo, ws
}

// TestPullBranch: the default pull makes bottle/demo with the agent's
// commit and one of what it left uncommitted, says how to look at it and
// merge it, and touches nothing else of the host repository; a second pull
// refuses the existing branch unless --force.
func TestPullBranch(t *testing.T) {
	fx := cmdtest.New(t)
	repo, _ := agentWork(t, fx)
	head := fx.Git(repo, "rev-parse", "HEAD")
	refsBefore := fx.Git(repo, "for-each-ref")
	configBefore, _ := os.ReadFile(filepath.Join(repo, ".git", "config"))
	t.Chdir(repo)
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	want := "made branch bottle/demo in " + repo + " from bottle demo: 1 commit of the agent's, and 1 commit of what it left uncommitted\n" +
		"  look:  git log --stat -p " + head[:12] + "..bottle/demo\n" +
		"  merge: git merge bottle/demo\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("pull: %+v\nwant\n%s", r, want)
	}
	if got := fx.Git(repo, "log", "--format=%s", head+"..bottle/demo"); got != "What the agent left uncommitted in bottle demo\nagent: a main" {
		t.Errorf("the branch:\n%s", got)
	}
	if got := fx.Git(repo, "show", "bottle/demo:docs/new.md"); got != "# new" {
		t.Errorf("docs/new.md on the branch: %q", got)
	}
	if fx.Git(repo, "rev-parse", "HEAD") != head || fx.Git(repo, "status", "--porcelain") != "" {
		t.Error("the pull moved HEAD or changed the work tree")
	}
	if got := fx.Git(repo, "for-each-ref"); got != fx.Git(repo, "rev-parse", "bottle/demo")+" commit\trefs/heads/bottle/demo\n"+refsBefore {
		t.Errorf("refs after the pull:\n%s", got)
	}
	if after, _ := os.ReadFile(filepath.Join(repo, ".git", "config")); string(after) != string(configBefore) {
		t.Errorf("the config changed:\n%s", after)
	}

	tip := fx.Git(repo, "rev-parse", "bottle/demo")
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: branch bottle/demo already exists in "+repo+": pull into another with --branch NAME, or replace it with --force\n" {
		t.Errorf("second pull: %+v", r)
	}
	if fx.Git(repo, "rev-parse", "bottle/demo") != tip {
		t.Error("the refused pull moved the branch")
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--force")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "moved branch bottle/demo in "+repo) || !strings.Contains(r.Stdout, "  it was at "+tip[:12]+"\n") {
		t.Errorf("--force: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "-b", "main", "--force")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "branch main is checked out in "+repo+", so bottle pull will not move it") {
		t.Errorf("--force onto the checked-out branch: %+v", r)
	}
}

// TestPullPatch: --patch writes a patch that git apply takes on the
// launch's commit; - writes it to stdout.
func TestPullPatch(t *testing.T) {
	fx := cmdtest.New(t)
	repo, _ := agentWork(t, fx)
	patch := filepath.Join(t.TempDir(), "agent.patch")
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--patch", patch)
	if r.Code != 0 || r.Stdout != "wrote "+patch+": 3 paths changed; apply it with git apply "+patch+"\n" {
		t.Fatalf("--patch: %+v", r)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	fx.Git(repo, "clone", "-q", repo, clone)
	fx.Git(clone, "apply", "--index", patch)
	if got := fx.Git(clone, "diff", "--cached", "--name-only"); got != "README\ndocs/new.md\nmain.go" {
		t.Errorf("applied: %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(clone, "main.go"))
	if string(data) != "package main\n\nfunc main() {}\n" {
		t.Errorf("main.go after apply: %q", data)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--patch", "-")
	file, _ := os.ReadFile(patch)
	if r.Code != 0 || r.Stdout != string(file) {
		t.Errorf("--patch -: %+v", r)
	}
}

// TestPullInto: --into writes the changed files and removes the deleted.
func TestPullInto(t *testing.T) {
	fx := cmdtest.New(t)
	_, ws := agentWork(t, fx)
	os.Remove(filepath.Join(ws, "README"))
	dir := filepath.Join(t.TempDir(), "out")
	fx.Write(filepath.Join(dir, "README"), "hello\n") // as it was copied in
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--into", dir)
	if r.Code != 0 || r.Stdout != "wrote 2 paths into "+dir+", removed 1 path the agent deleted\n" {
		t.Fatalf("--into: %+v", r)
	}
	for p, want := range map[string]string{"main.go": "package main\n\nfunc main() {}\n", "docs/new.md": "# new\n"} {
		if got, _ := os.ReadFile(filepath.Join(dir, p)); string(got) != want {
			t.Errorf("%s = %q", p, got)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "README")); !os.IsNotExist(err) {
		t.Errorf("README was not removed: %v", err)
	}
}

// TestPullIntoKeepsUsersChanges: --into the workspace's own directory,
// where the user changed a file the agent changed too, writes nothing and
// names it; --force overwrites it.
func TestPullIntoKeepsUsersChanges(t *testing.T) {
	fx := cmdtest.New(t)
	repo, _ := agentWork(t, fx)
	fx.Write(filepath.Join(repo, "main.go"), "package main // the user's, since\n")
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--into", repo)
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: "+repo+" has changes of its own where the agent changed files too (main.go); nothing was written: pull into another directory, or overwrite them with --force\n" {
		t.Fatalf("--into a changed directory: %+v", r)
	}
	if data, _ := os.ReadFile(filepath.Join(repo, "README")); string(data) != "hello\n" {
		t.Errorf("README was written: %q", data)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--into", repo, "--force")
	if r.Code != 0 || r.Stdout != "wrote 3 paths into "+repo+"\n" {
		t.Fatalf("--force: %+v", r)
	}
	if data, _ := os.ReadFile(filepath.Join(repo, "main.go")); string(data) != "package main\n\nfunc main() {}\n" {
		t.Errorf("main.go = %q", data)
	}
}

// TestPullRefusesHostile: a symlink out of the workspace is refused by
// name in every mode, and nothing is written.
func TestPullRefusesHostile(t *testing.T) {
	fx := cmdtest.New(t)
	repo, ws := agentWork(t, fx)
	if err := os.Symlink("../../../etc/passwd", filepath.Join(ws, "docs", "passwd")); err != nil {
		t.Fatal(err)
	}
	refs := fx.Git(repo, "for-each-ref")
	out := t.TempDir()
	for _, args := range [][]string{nil, {"--patch", filepath.Join(out, "p")}, {"--into", filepath.Join(out, "d")}} {
		r := fx.Run(NewCmd(fx.F, nil), nil, append([]string{"demo"}, args...)...)
		if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, `/workspace/docs/passwd is a symlink to "../../../etc/passwd", outside the workspace; bottle pull refuses it`) {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if got := fx.Git(repo, "for-each-ref"); got != refs {
		t.Errorf("refs changed:\n%s", got)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("written: %v", entries)
	}
}

// TestPullAfterStop: stop keeps the changes and says they were not
// pulled; pull still works from the saved copy and marks them pulled, so
// a second stop says nothing of them; rm-ing the state removes them.
func TestPullAfterStop(t *testing.T) {
	fx := cmdtest.New(t)
	repo, _ := agentWork(t, fx)
	r := fx.Run(stop.NewCmd(fx.F, nil), nil, "demo")
	if r.Code != 0 || !strings.Contains(r.Stderr, "demo: /workspace has 3 changed paths that were not pulled; they are kept: see them with bottle diff demo, get them with bottle pull demo (bottle rm demo drops them)\n") {
		t.Fatalf("stop: %+v", r)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("left on the engine:\n%s", st)
	}
	// A new launch would record a new baseline: it refuses while the
	// changes are not pulled.
	spec := launcher.Spec{Name: "demo", Workspace: repo, Image: "agent:1", SidecarBinary: fx.F.SidecarBinary, Allowlist: fx.Allowlist("version: 1\n")}
	if _, err := fx.Launcher("docker").Launch(t.Context(), spec); err == nil || !strings.Contains(err.Error(), `bottle "demo" has changes in /workspace from its last run that were not pulled; see them with bottle diff demo, get them with bottle pull demo, or drop them with bottle rm demo, then launch again`) {
		t.Fatalf("relaunch with unpulled changes: %v", err)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "made branch bottle/demo in "+repo+" from bottle demo: 1 commit of the agent's, and 1 commit of what it left uncommitted\n") ||
		r.Stderr != "bottle demo is stopped: pulling its /workspace as bottle stop saved it\n" {
		t.Fatalf("pull after stop: %+v", r)
	}
	if got := fx.Git(repo, "show", "bottle/demo:README"); got != "hello\nuncommitted" {
		t.Errorf("README: %q", got)
	}
	r = fx.Run(stop.NewCmd(fx.F, nil), nil, "demo")
	if r.Code != 0 || r.Stderr != "" {
		t.Errorf("second stop after the pull: %+v", r)
	}
	saved := filepath.Join(fx.F.Env.StateDir, "demo", contract.WorkspaceDir, contract.SavedWorkspace)
	if _, err := os.Stat(saved); err != nil {
		t.Errorf("the saved copy is not in the state dir: %v", err)
	}
	// Pulled: a new launch may go, with a new baseline.
	if _, err := fx.Launcher("docker").Launch(t.Context(), spec); err != nil {
		t.Fatalf("relaunch after the pull: %v", err)
	}
	if _, err := os.Stat(saved); !os.IsNotExist(err) {
		t.Errorf("the last run's copy outlived the relaunch: %v", err)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--patch", "-"); r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, "nothing to pull") {
		t.Errorf("pull of the new run: %+v", r)
	}
}

// TestPullNoRepo: a workspace that was no repository's top level has no
// branch to pull into; --patch still works.
func TestPullNoRepo(t *testing.T) {
	fx := cmdtest.New(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	fx.Write(filepath.Join(dir, "a.txt"), "a\n")
	b := fx.LaunchRepo("demo", "docker", dir)
	fx.Write(filepath.Join(fx.Workspace(b), "a.txt"), "b\n")
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "was not the top level of a git repository at launch, so there is no repository to pull a branch into: pull with --patch FILE or --into DIR") {
		t.Errorf("%+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--patch", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "-a\n+b\n") {
		t.Errorf("--patch -: %+v", r)
	}
}
