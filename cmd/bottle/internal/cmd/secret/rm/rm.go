// Package rm is `bottle secret rm`: take a credential out of the allowlist.
package rm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
)

// Options are `bottle secret rm`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File allowshared.FileOptions
	Name string // SECRET
}

// NewCmd returns `bottle secret rm`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:     "rm SECRET",
		Aliases: []string{"remove"},
		Short:   "Remove a credential from the allowlist",
		Long: `Remove the credential named SECRET from the allowlist, keeping the file's comments
and layout. The host rules it was bound to stay (bottle allow rm removes
them). Nothing is deleted from where the value comes from.

The file is chosen as for bottle secret add. --bottle NAME removes it from a
running bottle's live allowlist, applied at once (the proxy stops injecting
it, and the placeholder is then refused like any other text), and from the
file the bottle was launched from.`,
		Example: `  bottle secret rm github
  bottle secret rm anthropic --file team/allowlist.yaml
  bottle secret rm github --bottle demo`,
		Args: cmdutil.ExactArgs(1, "the SECRET (a credential's name) to remove"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return opts.complete(args), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddEditFlags(cmd)
	return cmd
}

// complete offers the names of the allowlist's credentials, as SECRET.
func (opts *Options) complete(args []string) []cobra.Completion {
	if len(args) > 0 {
		return nil
	}
	pol, err := opts.File.Load()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, c := range pol.Credentials() {
		out = append(out, cobra.CompletionWithDesc(c.Name, shared.Describe(c)))
	}
	return out
}

func run(ctx context.Context, opts *Options) error {
	if err := allowlist.CheckCredentialName(opts.Name); err != nil {
		return cmdutil.UsageErrorf("credential name %q %v", opts.Name, err)
	}
	again := "bottle secret rm " + shquote.Quote(opts.Name)
	return opts.File.Edit(ctx, opts.IO, again, func(src allowshared.Source, data []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, cmdutil.InvalidInputf("%s does not exist; pass --file", src)
		}
		res, err := shared.RemoveCredential(src, data, opts.Name)
		switch {
		case errors.Is(err, allowlist.ErrNoMatch):
			return nil, cmdutil.WithCode(cmdutil.ExitError, &allowshared.NotThereError{Err: errors.New(strings.TrimPrefix(err.Error(), allowlist.ErrNoMatch.Error()+": "))})
		case err != nil && strings.Contains(err.Error(), "\n"):
			return nil, cmdutil.InvalidInput(err)
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		fmt.Fprintf(opts.IO.Out, "removed credential %s from %s\n", opts.Name, src)
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		return res.Data, nil
	})
}
