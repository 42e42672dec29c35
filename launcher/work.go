package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher/workspace"
)

// Getting the agent's work out. At launch the launcher records what it
// copies into /workspace (the baseline) in a private repository in the
// bottle's state dir; later the agent's /workspace is copied out (or, for
// a stopped bottle, read from the copy saved at stop), checked, and
// compared with it by package workspace.

// WorkspaceDir holds a bottle's baseline, its saved copy and their status.
func (l *Launcher) WorkspaceDir(name string) string {
	return filepath.Join(l.Dir(name), contract.WorkspaceDir)
}

// WorkspaceStatus is what is kept of a bottle's /workspace (status.json).
type WorkspaceStatus struct {
	// Saved is the tree of the agent's files saved at stop; "" when there
	// is no saved copy (the agent changed nothing).
	Saved   string    `json:"saved,omitempty"`
	SavedAt time.Time `json:"saved_at,omitzero"`
	// Pulled is the tree of the agent's files last pulled.
	Pulled   string    `json:"pulled,omitempty"`
	PulledAt time.Time `json:"pulled_at,omitzero"`
}

// Unpulled reports whether a saved copy holds changes no pull took.
func (s WorkspaceStatus) Unpulled() bool { return s.Saved != "" && s.Saved != s.Pulled }

// ReadWorkspaceStatus reads a bottle's status.json; none is the zero
// status.
func (l *Launcher) ReadWorkspaceStatus(name string) (WorkspaceStatus, error) {
	var s WorkspaceStatus
	p := filepath.Join(l.WorkspaceDir(name), contract.WorkspaceStatusFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

func (l *Launcher) writeWorkspaceStatus(name string, s WorkspaceStatus) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(l.WorkspaceDir(name), contract.WorkspaceStatusFile), append(data, '\n'))
}

// git is the host's git for bottle name's workspace, with an empty home of
// its own; done removes it.
func (l *Launcher) git(name string) (*workspace.Git, func(), error) {
	dir := l.WorkspaceDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	home, err := os.MkdirTemp(dir, "home-")
	if err != nil {
		return nil, nil, err
	}
	return &workspace.Git{Home: home}, func() { os.RemoveAll(home) }, nil
}

// Baseline is what bottle b recorded at launch of its workspace.
func (b *Bottle) Baseline() workspace.Baseline {
	return workspace.Baseline{Dir: b.Workspace, Repo: b.WorkspaceRepo, Commit: b.WorkspaceCommit, Tree: b.WorkspaceTree}
}

// recordBaseline records the workspace dir ("" for none) as bottle b's
// baseline, replacing the last run's (the launch refused to go on while it
// held changes not pulled). Without a baseline the bottle still runs, but
// diff and pull cannot tell its changes: the returned note says so.
func (l *Launcher) recordBaseline(ctx context.Context, b *Bottle, dir string) string {
	ws := l.WorkspaceDir(b.Name)
	if err := os.RemoveAll(ws); err != nil {
		return fmt.Sprintf("no baseline of the workspace (%v): bottle diff and bottle pull will not work for this bottle", err)
	}
	g, done, err := l.git(b.Name)
	if err != nil {
		return fmt.Sprintf("no baseline of the workspace (%v): bottle diff and bottle pull will not work for this bottle", err)
	}
	defer done()
	private := filepath.Join(ws, contract.BaselineRepo)
	base, err := workspace.Record(ctx, g, dir, private)
	if err != nil {
		os.RemoveAll(private)
		if dir == "" && errors.Is(err, workspace.ErrNoGit) {
			return "" // nothing was copied in: no need to say git is missing
		}
		return fmt.Sprintf("no baseline of the workspace: %v; bottle diff and bottle pull will not work for this bottle", err)
	}
	b.Workspace, b.WorkspaceRepo, b.WorkspaceCommit, b.WorkspaceTree = base.Dir, base.Repo, base.Commit, base.Tree
	switch {
	case dir == "":
		return ""
	case base.Repo != "" && base.Commit != "":
		return fmt.Sprintf("baseline of the workspace recorded (git tree %.12s, on commit %.12s): bottle diff and bottle pull compare with it", base.Tree, base.Commit)
	}
	return fmt.Sprintf("baseline of the workspace recorded (git tree %.12s): bottle diff and bottle pull compare with it", base.Tree)
}

// ErrNoBaseline is a bottle that has no record of what was copied into
// its /workspace.
var ErrNoBaseline = errors.New("no baseline of its workspace was recorded at launch")

// Work is a bottle's /workspace compared with its baseline. Close it.
type Work struct {
	// Changes are nil when there are none to read: a stopped bottle whose
	// agent had changed nothing.
	*workspace.Changes
	Baseline workspace.Baseline
	// Saved says the files are the copy saved when the bottle stopped.
	Saved   bool
	cleanup []func()
}

// Empty reports whether the agent changed nothing.
func (w *Work) Empty() bool { return w.Changes == nil || w.Changes.Empty() }

// Close removes what reading the work made (the copy of a running
// bottle's files, the scratch repository).
func (w *Work) Close() {
	for i := len(w.cleanup) - 1; i >= 0; i-- {
		w.cleanup[i]()
	}
	w.cleanup = nil
}

// Work reads bottle b's /workspace and compares it with its baseline: a
// running bottle's is copied out of its agent (at most limit) and checked;
// a stopped bottle's is the copy saved when it stopped.
func (l *Launcher) Work(ctx context.Context, b *Bottle, limit workspace.Limit) (*Work, error) {
	if b.WorkspaceTree == "" {
		return nil, fmt.Errorf("bottle %s: %w (it was launched by an older bottle, or without git on this machine); launch it again to compare its workspace", b.Name, ErrNoBaseline)
	}
	w := &Work{Baseline: b.Baseline()}
	ok := false
	defer func() {
		if !ok {
			w.Close()
		}
	}()
	var tree *workspace.Tree
	if !b.Stopped.IsZero() {
		st, err := l.ReadWorkspaceStatus(b.Name)
		if err != nil {
			return nil, err
		}
		if st.Saved == "" {
			ok = true
			return w, nil
		}
		if tree, err = workspace.Open(filepath.Join(l.WorkspaceDir(b.Name), contract.SavedWorkspace)); err != nil {
			return nil, fmt.Errorf("bottle %s's saved workspace: %w", b.Name, err)
		}
		w.Saved = true
	} else {
		copyDir, err := l.copyOut(ctx, b, limit)
		if err != nil {
			return nil, err
		}
		w.cleanup = append(w.cleanup, func() { os.RemoveAll(copyDir) })
		if tree, err = workspace.Check(copyDir, limit); err != nil {
			return nil, fmt.Errorf("bottle %s: %w", b.Name, err)
		}
	}
	g, done, err := l.git(b.Name)
	if err != nil {
		return nil, err
	}
	w.cleanup = append(w.cleanup, done)
	work, err := os.MkdirTemp(l.WorkspaceDir(b.Name), "work-")
	if err != nil {
		return nil, err
	}
	os.Remove(work) // Compare makes it
	private := filepath.Join(l.WorkspaceDir(b.Name), contract.BaselineRepo)
	if w.Changes, err = workspace.Compare(ctx, g, private, b.WorkspaceTree, tree, work); err != nil {
		return nil, fmt.Errorf("comparing bottle %s's workspace with its baseline: %w", b.Name, err)
	}
	w.cleanup = append(w.cleanup, func() { w.Changes.Close() })
	ok = true
	return w, nil
}

// copyOut copies the agent's /workspace into a new copy directory in the
// bottle's workspace dir and returns that directory.
func (l *Launcher) copyOut(ctx context.Context, b *Bottle, limit workspace.Limit) (string, error) {
	if err := os.MkdirAll(l.WorkspaceDir(b.Name), 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(l.WorkspaceDir(b.Name), "copy-")
	if err != nil {
		return "", err
	}
	if err := l.Backend.CopyOut(ctx, b.Agent, workspaceDir, workspace.FilesDir(dir), limit); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("copying /workspace out of bottle %s: %w", b.Name, err)
	}
	return dir, nil
}

// Saved is what SaveWorkspace kept.
type Saved struct {
	// Changed counts the paths the agent changed; zero when it changed
	// nothing, and nothing was kept.
	Changed int
	// Unpulled says the changes are not the ones last pulled.
	Unpulled bool
	// Dir is where the copy is kept.
	Dir string
	// Gone says the agent's container was not there to copy from.
	Gone bool
}

// SaveWorkspace copies a running bottle's /workspace out of its agent,
// before a stop removes it, and keeps the copy in the bottle's state dir
// when it holds changes, for diff and pull to read afterwards (until the
// state dir goes). A bottle without a baseline, or whose agent is gone, has
// nothing to save.
func (l *Launcher) SaveWorkspace(ctx context.Context, b *Bottle, limit workspace.Limit) (Saved, error) {
	var s Saved
	if b.WorkspaceTree == "" || !b.Stopped.IsZero() {
		return s, nil
	}
	res, err := l.Backend.List(ctx, l.ownLabels(b.Name))
	if err != nil {
		return s, fmt.Errorf("listing bottle %s's resources: %w", b.Name, err)
	}
	agent := false
	for _, r := range res {
		agent = agent || r.Kind == "container" && r.Name == b.Agent && r.Labels[LabelRole] == "agent"
	}
	if !agent {
		s.Gone = true
		return s, nil
	}
	w, err := l.Work(ctx, b, limit)
	if err != nil {
		return s, err
	}
	defer w.Close()
	status, err := l.ReadWorkspaceStatus(b.Name)
	if err != nil {
		return s, err
	}
	saved := filepath.Join(l.WorkspaceDir(b.Name), contract.SavedWorkspace)
	if err := os.RemoveAll(saved); err != nil {
		return s, err
	}
	status.Saved, status.SavedAt = "", time.Time{}
	if !w.Empty() {
		entries, err := w.Entries(ctx)
		if err != nil {
			return s, err
		}
		if err := os.Rename(w.Changes.Dir(), saved); err != nil {
			return s, err
		}
		s.Changed, s.Dir = len(entries), saved
		status.Saved, status.SavedAt = w.Tree, time.Now().UTC()
		s.Unpulled = status.Unpulled()
	}
	return s, l.writeWorkspaceStatus(b.Name, status)
}

// MarkPulled records that the agent's files as they are in w were pulled.
func (l *Launcher) MarkPulled(b *Bottle, w *Work) error {
	if w.Changes == nil {
		return nil
	}
	status, err := l.ReadWorkspaceStatus(b.Name)
	if err != nil {
		return err
	}
	status.Pulled, status.PulledAt = w.Tree, time.Now().UTC()
	return l.writeWorkspaceStatus(b.Name, status)
}
