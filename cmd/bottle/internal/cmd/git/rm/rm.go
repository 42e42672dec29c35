// Package rm is `bottle git rm`: take a repository out of the allowlist's
// git: section.
package rm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
)

// Options are `bottle git rm`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File allowshared.FileOptions
	Repo string // REPO
}

// NewCmd returns `bottle git rm`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:     "rm REPO",
		Aliases: []string{"remove"},
		Short:   "Remove a repository from the allowlist",
		Long: `Remove the git: entry for REPO (host/path, written as for bottle git add:
git.example.com/acme/widget and git.example.com/acme/widget.git are the same),
keeping the file's comments and layout. The rule the entry implied goes with
it: the agent can no longer clone, fetch or push it, unless a rule of allow:
admits the host. A credential the entry named stays (bottle secret rm removes
it); one whose host only the entry let in must go first.

The file is chosen as for bottle git add. --bottle NAME removes it from a
running bottle's live allowlist, applied at once, and from the file the
bottle was launched from.`,
		Example: `  bottle git rm git.example.com/acme/widget
  bottle git rm git.example.com/acme/docs.git --file team/allowlist.yaml
  bottle git rm git.example.com/acme/widget --bottle demo`,
		Args: cmdutil.ExactArgs(1, "the REPO (host/path) to remove"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return opts.complete(args), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Repo = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddEditFlags(cmd)
	return cmd
}

// complete offers the allowlist's repositories, as REPO.
func (opts *Options) complete(args []string) []cobra.Completion {
	if len(args) > 0 {
		return nil
	}
	pol, err := opts.File.Load()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, g := range pol.Git() {
		out = append(out, cobra.CompletionWithDesc(g.Repo(), strings.TrimPrefix(g.String(), g.ID+": "+g.Repo()+" ")))
	}
	return out
}

func run(ctx context.Context, opts *Options) error {
	if _, _, err := allowlist.ParseRepo(opts.Repo); err != nil {
		return cmdutil.UsageErrorf("repository %q %v", opts.Repo, err)
	}
	again := "bottle git rm " + shquote.Quote(opts.Repo)
	return opts.File.Edit(ctx, opts.IO, again, func(src allowshared.Source, data []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, cmdutil.InvalidInputf("%s does not exist; pass --file", src)
		}
		res, err := shared.RemoveGit(src, data, opts.Repo)
		switch {
		case errors.Is(err, allowlist.ErrNoMatch):
			return nil, cmdutil.WithCode(cmdutil.ExitError, &allowshared.NotThereError{Err: errors.New(strings.TrimPrefix(err.Error(), allowlist.ErrNoMatch.Error()+": "))})
		case err != nil && strings.Contains(err.Error(), "\n"):
			return nil, cmdutil.InvalidInput(err)
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		host, path, _ := allowlist.ParseRepo(opts.Repo)
		fmt.Fprintf(opts.IO.Out, "removed %s (%s/%s) from %s\n", strings.Join(res.Removed, ", "), host, path, src)
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		return res.Data, nil
	})
}
