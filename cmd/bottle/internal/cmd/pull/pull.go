// Package pull is `bottle pull`: bring the agent's changes to /workspace
// to the host, as a branch, a patch or files in a directory.
package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/workspace"
)

// Options are `bottle pull`'s dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a bottle's metadata, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)
	// Terminal says whether stdout is a terminal (a patch written there
	// is escaped).
	Terminal func() bool

	Name    string // NAME
	Branch  string // --branch; "" is bottle/NAME
	Patch   string // --patch FILE; "-" is stdout
	Into    string // --into DIR
	Force   bool   // --force: move an existing branch; overwrite files changed in --into's DIR
	MaxSize string // --max-size
}

// NewCmd returns `bottle pull`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.LoadBottle, Terminal: func() bool { return cmdutil.IsTerminal(f.IOStreams.Out) }}
	cmd := &cobra.Command{
		Use:   "pull NAME [--branch B | --patch FILE | --into DIR]",
		Short: "Bring what the agent changed in /workspace to the host (a branch, a patch or files)",
		Long: `Bring what the agent changed in /workspace (bottle diff shows it) to the host.

By default it becomes a new branch, bottle/NAME (--branch B for another), in
the git repository the workspace was copied from: the commits the agent made
on top of the commit the bottle was launched from are kept as they are, and
what it left uncommitted is one more commit. Your work tree, index, HEAD and
other branches are not touched; look at the branch, then merge it. An
existing branch is not replaced unless you pass --force (and never the one
checked out).
  --patch FILE  writes one patch of all the changes instead (- for stdout),
                binary files included, for git apply
  --into DIR    writes the changed files into DIR (made when missing) and
                removes the ones the agent deleted; a file there that was
                changed since the launch is not overwritten unless --force

The agent controls everything in /workspace, its .git included, so what it
made is checked before anything reaches the host: a symlink that points
outside the workspace (or may: through a name the workspace does not have),
a name outside it, a file inside a .git, a directory git would take for a
repository, a fifo or a device is refused, by name. Files are taken as their
bytes are, whatever the agent's .gitattributes say: what bottle diff shows
is what is written. Into the host repository's .git go only objects (each
verified by git index-pack --strict, in a repository of bottle's own; none
over --max-size unpacked) and the new branch's ref: never a hook, config,
another ref, the index or HEAD, and no hook or filter of the agent's runs.

A running bottle's /workspace is copied out of it (at most --max-size); a
stopped bottle's is the copy bottle stop saved, until bottle rm or a prune.
A pull marks the changes as pulled, so bottle stop no longer warns of them.

Exit status: 0 pulled, or nothing to pull; 1 when the bottle does not exist,
or the pull was refused (nothing was written then) or failed; 2 a bad
command line.`,
		Example: `  bottle pull demo
  git log -p main..bottle/demo && git merge bottle/demo

  bottle pull demo --branch agent/fix-tests
  bottle pull demo --patch agent.patch && git apply agent.patch
  bottle pull demo --into /tmp/demo-files`,
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.AllBottles),
		Args:              cmdutil.ExactArgs(1, "the bottle NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			n := 0
			for _, name := range []string{"branch", "patch", "into"} {
				if fl.Changed(name) {
					n++
				}
			}
			switch {
			case n > 1:
				return cmdutil.UsageErrorf("give one of --branch, --patch and --into")
			case fl.Changed("branch") && opts.Branch == "":
				return cmdutil.UsageErrorf("--branch needs a branch name")
			case fl.Changed("patch") && opts.Patch == "":
				return cmdutil.UsageErrorf("--patch needs a FILE (- for stdout)")
			case fl.Changed("into") && opts.Into == "":
				return cmdutil.UsageErrorf("--into needs a DIR")
			case opts.Force && opts.Patch != "":
				return cmdutil.UsageErrorf("--force moves an existing branch or overwrites files in --into's DIR; it does not go with --patch")
			}
			if _, err := cmdutil.Limit(opts.MaxSize); err != nil {
				return err
			}
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Branch, "branch", "b", "", "the new branch's name (default bottle/NAME)")
	fl.StringVar(&opts.Patch, "patch", "", "write a patch to FILE instead (- for stdout)")
	fl.StringVar(&opts.Into, "into", "", "write the changed files into DIR instead")
	fl.BoolVar(&opts.Force, "force", false, "move the branch if it exists already; with --into, overwrite files changed there")
	cmdutil.MaxSizeFlag(fl, &opts.MaxSize)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	limit, err := cmdutil.Limit(opts.MaxSize)
	if err != nil {
		return err
	}
	l, b, err := opts.Bottle(ctx, opts.Name)
	if err != nil {
		return err
	}
	if opts.Patch == "" && opts.Into == "" && b.WorkspaceRepo == "" && b.WorkspaceTree != "" {
		return noRepo(b)
	}
	w, err := l.Work(ctx, b, limit)
	if err != nil {
		return err
	}
	defer w.Close()
	if w.Saved {
		fmt.Fprintf(opts.IO.Err, "bottle %s is stopped: pulling its /workspace as bottle stop saved it\n", b.Name)
	}
	if w.Empty() {
		fmt.Fprintf(opts.IO.Err, "the agent changed nothing in /workspace of bottle %s: nothing to pull\n", b.Name)
		return nil
	}
	switch {
	case opts.Patch != "":
		err = writePatch(ctx, opts, w)
	case opts.Into != "":
		err = into(ctx, opts, w)
	default:
		err = branch(ctx, opts, b, w, limit)
	}
	if err != nil {
		return err
	}
	return l.MarkPulled(b, w)
}

func noRepo(b *launcher.Bottle) error {
	where := "it was launched without a workspace"
	if b.Workspace != "" {
		where = "its workspace " + b.Workspace + " was not the top level of a git repository at launch"
	}
	return fmt.Errorf("bottle %s: %s, so there is no repository to pull a branch into: pull with --patch FILE or --into DIR", b.Name, where)
}

// branch makes the new branch and says how to look at it and merge it.
func branch(ctx context.Context, opts *Options, b *launcher.Bottle, w *launcher.Work, limit workspace.Limit) error {
	name := opts.Branch
	if name == "" {
		name = "bottle/" + b.Name
	}
	res, err := w.Branch(ctx, workspace.BranchSpec{Baseline: w.Baseline, Branch: name, Bottle: b.Name, Limit: limit, Replace: opts.Force})
	if errors.Is(err, workspace.ErrExists) {
		return fmt.Errorf("%w: pull into another with --branch NAME, or replace it with --force", err)
	}
	if err != nil {
		return fmt.Errorf("bottle %s: %w", b.Name, err)
	}
	if res.Dropped != "" {
		fmt.Fprintf(opts.IO.Err, "note: the agent's commits are not kept: %s; its files as they are are one commit\n", res.Dropped)
	}
	git := "git -C " + shquote.Quote(res.Repo)
	if wd, err := os.Getwd(); err == nil {
		if same, _ := filepath.EvalSymlinks(wd); same == res.Repo {
			git = "git"
		}
	}
	verb := "made branch"
	if res.Replaced != "" {
		verb = "moved branch"
	}
	fmt.Fprintf(opts.IO.Out, "%s %s in %s from bottle %s: %s\n", verb, name, res.Repo, b.Name, commits(res))
	if res.Replaced != "" {
		fmt.Fprintf(opts.IO.Out, "  it was at %.12s\n", res.Replaced)
	}
	base := w.Baseline.Commit
	rng := shquote.Quote(name)
	if base != "" {
		rng = fmt.Sprintf("%.12s..%s", base, shquote.Quote(name))
	}
	fmt.Fprintf(opts.IO.Out, "  look:  %s log --stat -p %s\n", git, rng)
	fmt.Fprintf(opts.IO.Out, "  merge: %s merge %s\n", git, shquote.Quote(name))
	return nil
}

func commits(res workspace.Branched) string {
	s := ""
	switch res.Commits {
	case 0:
	case 1:
		s = "1 commit of the agent's"
	default:
		s = fmt.Sprintf("%d commits of the agent's", res.Commits)
	}
	if res.Uncommitted {
		if s != "" {
			s += ", and "
		}
		s += "1 commit of what it left uncommitted"
	}
	return s
}

// writePatch writes the changes, checked, as one patch.
func writePatch(ctx context.Context, opts *Options, w *launcher.Work) error {
	if err := w.Check(ctx); err != nil {
		return err
	}
	if opts.Patch == "-" {
		var out io.Writer = opts.IO.Out
		if opts.Terminal() {
			out = &termsafe.Writer{W: opts.IO.Out}
		}
		return w.Diff(ctx, out, workspace.Binary)
	}
	// Written beside the file and renamed: a failed pull leaves no half
	// patch in its place.
	abs, err := filepath.Abs(opts.Patch)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), ".bottle-pull-*.patch")
	if err != nil {
		return fmt.Errorf("writing the patch: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = w.Diff(ctx, tmp, workspace.Binary)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), abs)
	}
	if err != nil {
		return fmt.Errorf("writing the patch %s: %w", opts.Patch, err)
	}
	entries, err := w.Entries(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s: %s changed; apply it with git apply %s\n", opts.Patch, paths(len(entries)), shquote.Quote(opts.Patch))
	return nil
}

// into writes the changed files into a directory.
func into(ctx context.Context, opts *Options, w *launcher.Work) error {
	done, err := w.Into(ctx, opts.Into, opts.Force)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s into %s", paths(done.Written), opts.Into)
	if done.Removed > 0 {
		fmt.Fprintf(opts.IO.Out, ", removed %s the agent deleted", paths(done.Removed))
	}
	fmt.Fprintln(opts.IO.Out)
	for _, s := range done.Skipped {
		fmt.Fprintf(opts.IO.Err, "note: /workspace/%s is a submodule whose commit changed; its files are not pulled\n", termsafe.Line(s))
	}
	return nil
}

func paths(n int) string {
	if n == 1 {
		return "1 path"
	}
	return fmt.Sprintf("%d paths", n)
}
