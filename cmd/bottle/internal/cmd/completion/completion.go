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
		Long: `Print a script that makes your shell complete bottle's commands and flags,
bottle names (those in the state directory: running ones for exec, shell
and stop, stopped ones for launch, all for logs and --bottle) and the
values of --backend. Load it in the current shell, or install it where your
shell looks for completions.

bash needs the bash-completion package (the script calls its functions):
install it with your system's package manager (apt install bash-completion,
dnf install bash-completion, brew install bash-completion@2 on macOS) and
check that your shell loads it (type _init_completion prints a function
when it does; on macOS, ~/.bash_profile must source it, as brew says).
Then either source the script in ~/.bashrc, or save it as
~/.local/share/bash-completion/completions/bottle, where bash-completion
finds it (/etc/bash_completion.d/bottle for every user).

zsh needs completion turned on and a directory of yours in $fpath: in
~/.zshrc, fpath=(~/.zfunc $fpath) before autoload -U compinit; compinit.
Save the script there as _bottle and open a new shell. fish reads
~/.config/fish/completions/bottle.fish by itself; PowerShell needs the
line below in your $PROFILE to keep it.`,
		Example: `  # bash, this shell only
  source <(bottle completion bash)

  # bash, every new shell
  mkdir -p ~/.local/share/bash-completion/completions
  bottle completion bash > ~/.local/share/bash-completion/completions/bottle

  # zsh (with fpath=(~/.zfunc $fpath) in ~/.zshrc, before compinit)
  mkdir -p ~/.zfunc
  bottle completion zsh > ~/.zfunc/_bottle

  # fish
  bottle completion fish > ~/.config/fish/completions/bottle.fish

  # PowerShell, this session
  bottle completion powershell | Out-String | Invoke-Expression`,
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
