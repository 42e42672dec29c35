package diff

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/stop"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
)

// TestNewCmd: the flags that do not go together are usage errors, in
// bottle's words, before anything is looked at.
func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "demo", "--name-only", "--json"); r.Code != 0 || got.Name != "demo" || !got.NameOnly || !got.JSON {
		t.Errorf("%+v %+v", r, got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "bottle: bottle diff: missing the bottle NAME\n"},
		{[]string{"demo", "--stat", "--name-only"}, "bottle: give --stat or --name-only, not both\n"},
		{[]string{"demo", "--stat", "--json"}, "bottle: --json lists the changed paths (as --name-only does); it does not go with --stat\n"},
		{[]string{"demo", "--max-size", "lots"}, "bottle: --max-size: \"lots\" is not a size; write a whole number with k, m or g, e.g. 500m or 8g\n"},
	} {
		r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Error("ran"); return nil }), nil, tc.args...)
		if r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, tc.want) {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "nothere"); r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("unknown bottle: %+v", r)
	}
}

// TestDiff: what the agent changed, against what was copied in, in each
// format; on a running bottle, then on the copy its stop saved.
func TestDiff(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			repo := fx.Repo()
			fx.Write(filepath.Join(repo, "scratch.txt"), "untracked but copied\n")
			b := fx.LaunchRepo("demo", backend, repo)
			run := func(args ...string) cmdtest.Result {
				t.Helper()
				return fx.Run(NewCmd(fx.F, nil), nil, append([]string{"demo"}, args...)...)
			}
			if r := run(); r.Code != 0 || r.Stdout != "" || r.Stderr != "the agent changed nothing in /workspace of bottle demo\n" {
				t.Fatalf("no changes yet: %+v", r)
			}
			ws := fx.Workspace(b)
			fx.Write(filepath.Join(ws, "README"), "hello\nfrom the agent\n")
			fx.Write(filepath.Join(ws, "new", "file.go"), "package new\n")
			os.Remove(filepath.Join(ws, "scratch.txt"))

			r := run()
			for _, want := range []string{"diff --git a/README b/README\n", "+from the agent\n", "diff --git a/new/file.go b/new/file.go\nnew file mode 100644\n",
				"+package new\n", "deleted file mode 100644\n", "-untracked but copied\n"} {
				if r.Code != 0 || !strings.Contains(r.Stdout, want) {
					t.Errorf("diff lacks %q: %+v", want, r)
				}
			}
			if strings.Contains(r.Stdout, "\x1b[") {
				t.Error("coloured into a pipe")
			}
			if r = run("--name-only"); r.Code != 0 || r.Stdout != "README\nnew/file.go\nscratch.txt\n" {
				t.Errorf("--name-only: %+v", r)
			}
			if r = run("--stat"); r.Code != 0 || !strings.Contains(r.Stdout, " 3 files changed, 2 insertions(+), 1 deletion(-)\n") {
				t.Errorf("--stat: %+v", r)
			}
			r = run("--json")
			var changes []Change
			if err := json.Unmarshal([]byte(r.Stdout), &changes); err != nil || r.Code != 0 {
				t.Fatalf("--json: %v %+v", err, r)
			}
			want := []Change{{"README", "modified", "100644"}, {"new/file.go", "added", "100644"}, {"scratch.txt", "deleted", "100644"}}
			if len(changes) != len(want) {
				t.Fatalf("--json: %+v", changes)
			}
			for i := range want {
				if changes[i] != want[i] {
					t.Errorf("--json[%d] = %+v, want %+v", i, changes[i], want[i])
				}
			}

			// Stopped: the saved copy, the same diff.
			if r := fx.Run(stop.NewCmd(fx.F, nil), nil, "demo"); r.Code != 0 {
				t.Fatalf("stop: %+v", r)
			}
			r = run("--name-only")
			if r.Code != 0 || r.Stdout != "README\nnew/file.go\nscratch.txt\n" || r.Stderr != "bottle demo is stopped: its /workspace as bottle stop saved it\n" {
				t.Errorf("after stop: %+v", r)
			}
		})
	}
}

// TestDiffWarnsOfRefused: a change bottle pull would refuse (a symlink
// climbing out of a name the workspace does not have) is shown, with a
// warning on stderr that names it.
func TestDiffWarnsOfRefused(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.LaunchRepo("demo", "docker", fx.Repo())
	if err := os.Symlink("nowhere/../../etc/passwd", filepath.Join(fx.Workspace(b), "innocent")); err != nil {
		t.Fatal(err)
	}
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--name-only")
	want := "warning: /workspace/innocent is a symlink to \"nowhere/../../etc/passwd\", outside the workspace; bottle pull refuses it"
	if r.Code != 0 || r.Stdout != "innocent\n" || !strings.HasPrefix(r.Stderr, want) {
		t.Errorf("%+v, want stderr %s", r, want)
	}
}

// TestDiffTerminal: on a terminal the diff is coloured and the agent's
// escape sequences are shown, not sent; into a pipe it is as it is.
func TestDiffTerminal(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.LaunchRepo("demo", "docker", fx.Repo())
	fx.Write(filepath.Join(fx.Workspace(b), "README"), "hello\n\x1b]52;c;ZXZpbA==\x07clipboard\n")
	var opts *Options
	fx.Run(NewCmd(fx.F, func(o *Options) error { opts = o; return nil }), nil, "demo")
	opts.Terminal = func() bool { return true }
	if err := run(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	out := fx.Out.String()
	if strings.Contains(out, "\x1b]") || !strings.Contains(out, `\x1b]52;c;ZXZpbA==\x07clipboard`) {
		t.Errorf("the agent's escape reached the terminal:\n%q", out)
	}
	if !strings.Contains(out, green+`+\x1b]52;c;ZXZpbA==\x07clipboard`+reset+"\n") || !strings.Contains(out, bold+"diff --git a/README b/README"+reset+"\n") {
		t.Errorf("not coloured:\n%q", out)
	}
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if !strings.Contains(r.Stdout, "+\x1b]52;c;ZXZpbA==\x07clipboard\n") {
		t.Errorf("into a pipe the diff is not as it is:\n%q", r.Stdout)
	}
}

// TestDiffNoBaseline: a bottle launched without git on the host (or by an
// older bottle) says why there is nothing to compare with.
func TestDiffNoBaseline(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.LaunchRepo("demo", "docker", fx.Repo())
	b.WorkspaceTree = ""
	meta := filepath.Join(b.StateDir, contract.MetadataFile)
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle demo: no baseline of its workspace was recorded at launch (it was launched by an older bottle, or without git on this machine); launch it again to compare its workspace") {
		t.Errorf("%+v", r)
	}
}
