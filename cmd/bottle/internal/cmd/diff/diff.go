// Package diff is `bottle diff`: what the agent changed in /workspace,
// against what was copied in at launch.
package diff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/workspace"
)

// Options are `bottle diff`'s dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a bottle's metadata, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)
	// Terminal says whether stdout is a terminal: only then is the diff
	// coloured and the agent's text escaped.
	Terminal func() bool

	Name     string // NAME
	Stat     bool   // --stat
	NameOnly bool   // --name-only
	JSON     bool   // --json
	MaxSize  string // --max-size
}

// NewCmd returns `bottle diff`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.LoadBottle, Terminal: func() bool { return cmdutil.IsTerminal(f.IOStreams.Out) }}
	cmd := &cobra.Command{
		Use:   "diff NAME",
		Short: "Show what the agent changed in /workspace",
		Long: `Show what the agent changed in /workspace against what was copied in at
launch, as a unified diff (--stat: a summary; --name-only: the paths). The
comparison follows the workspace's .gitignore, as the copy's record did: what
git would not track is not shown. The agent's own commits are not told apart
from its uncommitted changes here; bottle pull keeps them.

A running bottle's /workspace is copied out of it (at most --max-size) and
read on the host; a stopped bottle's is the copy bottle stop saved. Nothing
in the bottle is changed, and nothing of the agent's runs: the host's git
compares two copies in a repository of bottle's own.

On a terminal the diff is coloured and terminal control characters in the
agent's files are escaped; into a pipe or a file it is written as it is, for
git apply (bottle pull --patch writes one that also carries binary files).
What bottle pull would refuse (a symlink that points outside the workspace,
a directory git would take for a repository) is shown too, and named in a
warning on stderr.

Exit status: 0 whether or not there are changes; 1 when the bottle does not
exist or its /workspace cannot be read; 2 a bad command line.`,
		Example: `  bottle diff demo
  bottle diff demo --stat
  bottle diff demo --name-only --json | jq -r '.[].path'
  bottle diff demo > agent.patch`,
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.AllBottles),
		Args:              cmdutil.ExactArgs(1, "the bottle NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Stat && opts.NameOnly {
				return cmdutil.UsageErrorf("give --stat or --name-only, not both")
			}
			if opts.JSON && opts.Stat {
				return cmdutil.UsageErrorf("--json lists the changed paths (as --name-only does); it does not go with --stat")
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
	fl.BoolVar(&opts.Stat, "stat", false, "a summary: each changed path and how many lines changed")
	fl.BoolVar(&opts.NameOnly, "name-only", false, "only the changed paths")
	fl.BoolVar(&opts.JSON, "json", false, "the changed paths as JSON: path, status, mode")
	cmdutil.MaxSizeFlag(fl, &opts.MaxSize)
	return cmd
}

// Change is one changed path in --json.
type Change struct {
	Path   string `json:"path"`   // relative to /workspace
	Status string `json:"status"` // added, deleted, modified, type-changed
	// Mode is the git mode of what is there now (of what was, for a
	// deleted path): 100644, 100755, 120000 (a symlink), 160000 (a
	// submodule).
	Mode string `json:"mode"`
}

var statuses = map[byte]string{'A': "added", 'D': "deleted", 'M': "modified", 'T': "type-changed"}

func run(ctx context.Context, opts *Options) error {
	limit, err := cmdutil.Limit(opts.MaxSize)
	if err != nil {
		return err
	}
	l, b, err := opts.Bottle(ctx, opts.Name)
	if err != nil {
		return err
	}
	w, err := l.Work(ctx, b, limit)
	if err != nil {
		return err
	}
	defer w.Close()
	if opts.JSON {
		return writeJSON(ctx, opts, w)
	}
	if w.Saved {
		fmt.Fprintf(opts.IO.Err, "bottle %s is stopped: its /workspace as bottle stop saved it\n", b.Name)
	}
	if w.Empty() {
		fmt.Fprintf(opts.IO.Err, "the agent changed nothing in /workspace of bottle %s\n", b.Name)
		return nil
	}
	if err := warnRefused(ctx, opts, w); err != nil {
		return err
	}
	format := workspace.Patch
	switch {
	case opts.Stat:
		format = workspace.Stat
	case opts.NameOnly:
		format = workspace.NameOnly
	}
	var out io.Writer = opts.IO.Out
	if opts.Terminal() {
		c := &colorWriter{w: opts.IO.Out, color: format == workspace.Patch}
		defer c.Flush()
		out = c
	}
	return w.Diff(ctx, out, format)
}

// warnRefused says on stderr what in the changes bottle pull would
// refuse (a symlink out of the workspace, a repository of the agent's): the
// diff shows it, and the user should know before they apply it by hand.
func warnRefused(ctx context.Context, opts *Options, w *launcher.Work) error {
	err := w.Check(ctx)
	var re *workspace.RefusedError
	if errors.As(err, &re) {
		fmt.Fprintf(opts.IO.Err, "warning: %v\n", err)
		return nil
	}
	return err
}

func writeJSON(ctx context.Context, opts *Options, w *launcher.Work) error {
	changes := []Change{}
	if !w.Empty() {
		entries, err := w.Entries(ctx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			mode := e.NewMode
			if e.Status == 'D' {
				mode = e.OldMode
			}
			changes = append(changes, Change{Path: e.Path, Status: statuses[e.Status], Mode: mode})
		}
	}
	// The agent chose the names: no C1 or bidirectional control of theirs
	// reaches a terminal raw (the encoder escapes the C0 ones).
	var buf bytes.Buffer
	if err := cmdutil.WriteJSON(&buf, changes); err != nil {
		return err
	}
	_, err := io.WriteString(opts.IO.Out, termsafe.JSON(buf.String()))
	return err
}
