// Package cli is the bottle command line: cobra commands, their options and
// exit codes. It is the only package that imports cobra.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, in one place. `bottle allow check` documents 0/1/2 to scripts.
const (
	ExitOK     = 0 // success; for `allow check`: allowed
	ExitError  = 1 // failure; for `allow check`: denied
	ExitUsage  = 2 // bad flags or arguments, or an invalid file
	exitSignal = 130
)

// IOStreams are the standard streams a command uses; tests substitute buffers.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer
}

// System returns the process's real streams.
func System() *IOStreams { return &IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// Build describes the binary, for `bottle version`.
type Build struct {
	Version string // from -ldflags; empty means "from build info"
}

// exitError carries a specific exit code. silent errors have already been
// reported by the command.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// silentExit ends the command with code after it has printed its own output.
func silentExit(code int) error {
	return &exitError{code: code, err: fmt.Errorf("exit %d", code), silent: true}
}

// Main runs the bottle CLI and returns the process exit code.
func Main(ctx context.Context, args []string, ios *IOStreams, b Build) int {
	root := NewRoot(ios, b)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	switch {
	case errors.As(err, &ee) && ee.silent:
		return ee.code
	case errors.As(err, &ee):
		fmt.Fprintf(ios.Err, "bottle: %v\n", ee.err)
		if ee.code == ExitUsage && !strings.Contains(ee.err.Error(), "\n") {
			fmt.Fprintln(ios.Err, "Run 'bottle --help' or add --help to the command for usage.")
		}
		return ee.code
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(ios.Err, "bottle: interrupted")
		return exitSignal
	case isCobraUsage(err):
		fmt.Fprintf(ios.Err, "bottle: %v\nRun 'bottle --help' for usage.\n", err)
		return ExitUsage
	}
	fmt.Fprintf(ios.Err, "bottle: %v\n", err)
	return ExitError
}

// isCobraUsage recognises the errors cobra itself makes for bad command lines.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// NewRoot builds the command tree.
func NewRoot(ios *IOStreams, b Build) *cobra.Command {
	root := &cobra.Command{
		Use:   "bottle",
		Short: "Run AI coding agents in a bottle whose only way out is an allowlist",
		Long: `bottle runs an AI coding agent (Claude Code, Codex, any CLI) in a container
whose only way to the network is a sidecar proxy and DNS forwarder that
enforce a per-bottle allowlist, with a TLS CA minted for that bottle alone.

The allowlist is a YAML file (allowlist.yaml by default). Edit it with
'bottle allow', test it with 'bottle allow check'.`,
		Example: `  # Allow the agent's API, then test a URL against the allowlist
  bottle allow add api.anthropic.com
  bottle allow check https://api.anthropic.com/v1/messages

  # Show the rules
  bottle allow list`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: err}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newLaunchCmd(ios),
		newListCmd(ios),
		newExecCmd(ios),
		newShellCmd(ios),
		newLogsCmd(ios),
		newStopCmd(ios),
		newCleanupCmd(ios),
		newDoctorCmd(ios),
		newAllowCmd(ios),
		newCACmd(ios),
		newVersionCmd(ios, b),
		newCompletionCmd(ios),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a message that says what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s: missing %s", cmd.CommandPath(), what)
		}
		if len(args) > n {
			return usageErrorf("%s: too many arguments (%q); it takes %s", cmd.CommandPath(), args[n:], what)
		}
		return nil
	}
}

func newCompletionCmd(ios *IOStreams) *cobra.Command {
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
		Args:      exactArgs(1, "the shell name (bash, zsh, fish or powershell)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(ios.Out, true)
			case "zsh":
				return root.GenZshCompletion(ios.Out)
			case "fish":
				return root.GenFishCompletion(ios.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(ios.Out)
			}
			return usageErrorf("unknown shell %q; use bash, zsh, fish or powershell", args[0])
		},
	}
}
