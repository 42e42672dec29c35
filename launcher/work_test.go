package launcher_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/workspace"
)

// workSetup launches bottle demo with a plain directory as its workspace
// and returns where the fake engine keeps the agent's /workspace.
func workSetup(t *testing.T) (*launcher.Launcher, *launcher.Bottle, string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on PATH")
	}
	l, f, s := setup(t)
	s.Workspace = t.TempDir()
	os.WriteFile(filepath.Join(s.Workspace, "a.txt"), []byte("a\n"), 0o644)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if b.WorkspaceTree == "" || b.Workspace == "" || b.WorkspaceRepo != "" {
		t.Fatalf("baseline: %+v", b.Baseline())
	}
	return l, b, filepath.Join(f.Root(b.Agent), "workspace"), s.Workspace
}

// TestSaveWorkspace: a stop's save keeps nothing when the agent changed
// nothing; keeps the changes, unpulled, when it did; and MarkPulled makes
// them pulled. The copy lives in the state dir and goes with it.
func TestSaveWorkspace(t *testing.T) {
	ctx := context.Background()
	l, b, ws, _ := workSetup(t)
	saved, err := l.SaveWorkspace(ctx, b, workspace.DefaultLimit)
	if err != nil || saved.Changed != 0 || saved.Unpulled || saved.Gone {
		t.Fatalf("nothing changed: %+v %v", saved, err)
	}
	keep := filepath.Join(l.WorkspaceDir(b.Name), contract.SavedWorkspace)
	if _, err := os.Stat(keep); !os.IsNotExist(err) {
		t.Errorf("a copy was kept of nothing: %v", err)
	}

	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("changed\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "b.txt"), []byte("new\n"), 0o644)
	if saved, err = l.SaveWorkspace(ctx, b, workspace.DefaultLimit); err != nil || saved.Changed != 2 || !saved.Unpulled || saved.Dir != keep {
		t.Fatalf("changed: %+v %v", saved, err)
	}
	if data, err := os.ReadFile(filepath.Join(keep, "files", "b.txt")); err != nil || string(data) != "new\n" {
		t.Errorf("the kept copy: %q %v", data, err)
	}
	if _, err := l.Stop(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	b, err = l.Load(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := l.ReadWorkspaceStatus(b.Name)
	if !st.Unpulled() {
		t.Errorf("status after stop: %+v", st)
	}
	// The stopped bottle's work is the saved copy.
	w, err := l.Work(ctx, b, workspace.DefaultLimit)
	if err != nil || !w.Saved || w.Empty() {
		t.Fatalf("work after stop: %+v %v", w, err)
	}
	// Unpulled, the work outlives an rm without --force and every prune.
	if _, err := l.Remove(ctx, b.Name, false); err == nil || !strings.Contains(err.Error(), "its /workspace has changes that were not pulled") || !strings.Contains(err.Error(), "bottle rm --force "+b.Name) {
		t.Errorf("rm of unpulled work: %v", err)
	}
	var pruned strings.Builder
	if err := l.Prune(ctx, 0, false, &pruned); err != nil || !strings.Contains(pruned.String(), "kept bottle "+b.Name+": its /workspace has changes") {
		t.Errorf("prune of unpulled work: %v\n%s", err, pruned.String())
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the saved changes did not outlive rm and prune: %v", err)
	}
	if err := l.MarkPulled(b, w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if st, _ = l.ReadWorkspaceStatus(b.Name); st.Unpulled() || st.PulledAt.IsZero() {
		t.Errorf("status after the pull: %+v", st)
	}
	if _, err := l.Remove(ctx, b.Name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); !os.IsNotExist(err) {
		t.Errorf("the saved changes outlived bottle rm: %v", err)
	}
}

// TestSaveWorkspaceRefuses: what bottle will not copy out (more than the
// limit, a fifo) is an error naming it, and the stop's save keeps nothing;
// an agent that is gone has nothing to save, and says so.
func TestSaveWorkspaceRefuses(t *testing.T) {
	ctx := context.Background()
	l, b, ws, _ := workSetup(t)
	os.WriteFile(filepath.Join(ws, "big"), make([]byte, 2048), 0o644)
	_, err := l.SaveWorkspace(ctx, b, workspace.Limit{Bytes: 1024, Files: 100})
	if err == nil || !strings.Contains(err.Error(), "/workspace holds more than 1k of files; bottle takes at most that much (--max-size)") {
		t.Errorf("over the limit: %v", err)
	}
	os.Remove(filepath.Join(ws, "big"))
	if err := mkfifo(filepath.Join(ws, "pipe")); err != nil {
		t.Fatal(err)
	}
	if _, err = l.SaveWorkspace(ctx, b, workspace.DefaultLimit); err == nil || !strings.Contains(err.Error(), "/workspace/pipe is a fifo") {
		t.Errorf("a fifo: %v", err)
	}
	entries, _ := os.ReadDir(l.WorkspaceDir(b.Name))
	for _, e := range entries {
		if e.Name() != contract.BaselineRepo {
			t.Errorf("left in the workspace dir: %s", e.Name())
		}
	}
	if err := l.Backend.Remove(ctx, b.Agent); err != nil {
		t.Fatal(err)
	}
	if saved, err := l.SaveWorkspace(ctx, b, workspace.DefaultLimit); err != nil || !saved.Gone {
		t.Errorf("the agent gone: %+v %v", saved, err)
	}
}

// TestLaunchRefusesUnpulled: a new launch of a bottle whose last run kept
// changes that were not pulled is refused before anything is made.
func TestLaunchRefusesUnpulled(t *testing.T) {
	ctx := context.Background()
	l, b, ws, dir := workSetup(t)
	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("changed\n"), 0o644)
	if _, err := l.SaveWorkspace(ctx, b, workspace.DefaultLimit); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stop(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	_, _, s := setup(t)
	s.Workspace = dir
	_, err := l.Launch(ctx, s)
	if err == nil || !strings.Contains(err.Error(), `bottle "demo" has changes in /workspace from its last run that were not pulled`) {
		t.Fatalf("relaunch: %v", err)
	}
	if b2, _ := l.Load("demo"); b2 == nil || b2.WorkspaceTree != b.WorkspaceTree {
		t.Error("the refused launch replaced the baseline")
	}
	noBase := &launcher.Bottle{Name: "old"}
	if _, err := l.Work(ctx, noBase, workspace.DefaultLimit); !errors.Is(err, launcher.ErrNoBaseline) {
		t.Errorf("no baseline: %v", err)
	}
}

// TestRemoveUnreadableWorkspaceStatus: a status file that cannot be read
// does not count as "nothing unpulled": rm refuses without --force, prune
// keeps the bottle, and --force removes it.
func TestRemoveUnreadableWorkspaceStatus(t *testing.T) {
	ctx := context.Background()
	l, b, _, _ := workSetup(t)
	if _, err := l.Stop(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(l.WorkspaceDir(b.Name), 0o700)
	if err := os.WriteFile(filepath.Join(l.WorkspaceDir(b.Name), contract.WorkspaceStatusFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Remove(ctx, b.Name, false); err == nil || !strings.Contains(err.Error(), "cannot tell whether its saved /workspace changes were pulled") {
		t.Errorf("rm: %v", err)
	}
	var pruned strings.Builder
	if err := l.Prune(ctx, 0, false, &pruned); err != nil || !strings.Contains(pruned.String(), "kept bottle "+b.Name+": cannot tell") {
		t.Errorf("prune: %v\n%s", err, pruned.String())
	}
	if _, err := l.Remove(ctx, b.Name, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Dir(b.Name)); !os.IsNotExist(err) {
		t.Errorf("rm --force left the state directory: %v", err)
	}
}
