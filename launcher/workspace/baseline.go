package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Baseline is what was copied into /workspace at launch, as bottle recorded
// it on the host: the agent cannot be trusted to keep it.
type Baseline struct {
	// Dir is the host directory that was copied in (absolute, symlinks
	// resolved); "" when the bottle was launched without a workspace.
	Dir string
	// Repo is Dir when Dir is the top level of a git repository's work
	// tree, and "" otherwise (a plain directory, or one inside a
	// repository): only then can a pull make a branch.
	Repo string
	// Commit is Repo's HEAD when the bottle was launched: the parent of
	// what a pull brings back. "" for none (no repository, or a branch
	// without commits).
	Commit string
	// Tree is the git tree of what was copied in, in the bottle's private
	// repository.
	Tree string
}

// BaselineRef holds the baseline tree in the private repository.
const BaselineRef = "refs/bottle/baseline"

// Record records dir ("" for none) as a bottle's baseline in a new private
// bare repository at private, which must not exist: its tree is written
// there (objects and one ref, nothing else), with the files git would
// track — what .gitignore ignores is left out, what the repository's HEAD
// tracks is kept even if ignored, and a directory holding a repository of
// its own is kept as that repository's commit (a gitlink). The host's
// repository is only read.
func Record(ctx context.Context, g *Git, dir, private string) (Baseline, error) {
	var b Baseline
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return b, fmt.Errorf("workspace %s: %w", dir, err)
		}
		b.Dir = abs
	}
	format := ""
	if b.Dir != "" {
		top, commit, f, err := hostRepo(ctx, g, b.Dir)
		if err != nil {
			return b, err
		}
		if top == b.Dir {
			b.Repo, b.Commit, format = top, commit, f
		}
	}
	if _, err := os.Stat(private); err == nil {
		return b, fmt.Errorf("%s already exists; bottle makes a new baseline for each launch", private)
	}
	r, err := g.initBare(ctx, private, format)
	if err != nil {
		return b, err
	}
	if b.Dir == "" {
		if b.Tree, err = r.emptyTree(ctx); err != nil {
			return b, err
		}
	} else {
		// A scratch index beside the repository (never the host's): it
		// starts as HEAD's tree, so that tracked files stay tracked, and
		// git add then takes the files as they are now.
		index := private + ".index"
		defer os.Remove(index)
		env := []string{"GIT_INDEX_FILE=" + index}
		if b.Commit != "" {
			// Read in the host's repository; this writes the scratch index
			// and nothing else.
			if _, err := g.run(ctx, cmd{args: []string{"read-tree", b.Commit}, dir: b.Dir, env: env}); err != nil {
				return b, fmt.Errorf("reading %s's HEAD: %w", b.Dir, err)
			}
		}
		work := append([]string{"GIT_WORK_TREE=" + b.Dir}, env...)
		if _, err := r.run(ctx, cmd{args: []string{"add", "--all", "--", "."}, dir: b.Dir, env: work}); err != nil {
			return b, fmt.Errorf("recording the workspace %s: %w", b.Dir, err)
		}
		if b.Tree, err = r.run(ctx, cmd{args: []string{"write-tree"}, env: env}); err != nil {
			return b, fmt.Errorf("recording the workspace %s: %w", b.Dir, err)
		}
	}
	if _, err := r.git(ctx, "update-ref", BaselineRef, b.Tree); err != nil {
		return b, err
	}
	return b, nil
}

// hostRepo finds the repository dir belongs to: its work tree's top level
// (symlinks resolved), its HEAD commit ("" when unborn) and object format.
// A dir in no repository is none ("", "", "", nil).
func hostRepo(ctx context.Context, g *Git, dir string) (top, commit, format string, err error) {
	out, err := g.run(ctx, cmd{args: []string{"rev-parse", "--is-inside-work-tree", "--show-toplevel"}, dir: dir})
	var ge *Error
	if errors.As(err, &ge) && ge.Code == 128 {
		return "", "", "", nil // not a repository (or one git refuses to use)
	}
	if err != nil {
		return "", "", "", err
	}
	lines := splitLines(out)
	if len(lines) != 2 || lines[0] != "true" {
		return "", "", "", nil // a bare repository, or inside a .git
	}
	if top, err = filepath.EvalSymlinks(lines[1]); err != nil {
		return "", "", "", err
	}
	if format, err = g.run(ctx, cmd{args: []string{"rev-parse", "--show-object-format"}, dir: dir}); err != nil {
		return "", "", "", err
	}
	commit, err = g.run(ctx, cmd{args: []string{"rev-parse", "--verify", "--quiet", "HEAD^{commit}"}, dir: dir})
	if errors.As(err, &ge) && ge.Code == 1 {
		return top, "", format, nil // no commit yet
	}
	return top, commit, format, err
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
