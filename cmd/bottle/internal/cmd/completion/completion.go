// Package completion is `bottle completion`: shell completion scripts.
package completion

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle completion`'s dependencies and arguments.
type Options struct {
	IO    *cmdutil.IOStreams
	Shell string // bash, zsh, fish or powershell
}

// NewCmd returns `bottle completion`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a script that makes your shell complete bottle's commands and flags.
Load it once in the current shell, or install it where your shell looks.`,
		Example: `  # bash, this shell only
  source <(bottle completion bash)

  # bash, for every new shell
  bottle completion bash > /etc/bash_completion.d/bottle

  # zsh
  bottle completion zsh > "${fpath[1]}/_bottle"

  # fish
  bottle completion fish > ~/.config/fish/completions/bottle.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cmdutil.ExactArgs(1, "the shell name (bash, zsh, fish or powershell)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Shell = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Root(), opts)
		},
	}
}

// run writes the completion script of root's tree.
func run(root *cobra.Command, opts *Options) error {
	switch opts.Shell {
	case "bash":
		return root.GenBashCompletionV2(opts.IO.Out, true)
	case "zsh":
		return root.GenZshCompletion(opts.IO.Out)
	case "fish":
		return root.GenFishCompletion(opts.IO.Out, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(opts.IO.Out)
	}
	return cmdutil.UsageErrorf("unknown shell %q; use bash, zsh, fish or powershell", opts.Shell)
}
