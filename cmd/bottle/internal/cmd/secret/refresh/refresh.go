// Package refresh is `bottle secret refresh`: resolve a running bottle's
// credentials again and hand the new values to its sidecar (rotation
// without a restart).
package refresh

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle secret refresh`'s dependencies and flags.
type Options struct {
	IO *cmdutil.IOStreams
	// Launcher is a launcher of the state directory (no engine is asked:
	// the credentials file is on the host).
	Launcher func() *launcher.Launcher

	Bottle string // --bottle
	// Wait is how long to wait for the sidecar to confirm the new values;
	// zero means the wait of bottle allow --bottle (allowshared.DefaultWait).
	Wait time.Duration
}

// NewCmd returns `bottle secret refresh`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.State}
	cmd := &cobra.Command{
		Use:   "refresh --bottle NAME",
		Short: "Resolve a running bottle's credentials again (rotation without a restart)",
		Long: `Resolve again, on this machine, the source of every credential of the
running bottle's live allowlist (env:, file:, command:, keychain:), and hand
the values to its sidecar, and wait until it says they are in force: the
agent's next request carries them. The agent keeps the placeholders it holds, so nothing in it
changes. A credential added to the live allowlist since the launch gets a
placeholder of its own, which the running agent's environment does not
have (it is set when the agent starts); one removed is forgotten.

When a source does not resolve, nothing changes and the sidecar keeps the
values it has. Only names are printed, never a value.`,
		Example: `  # The key was rotated: export the new one, then
  export ANTHROPIC_API_KEY=...
  bottle secret refresh --bottle demo`,
		Args: cmdutil.MaximumArgs(0, "no arguments (name the bottle with --bottle NAME)"),
		PreRunE: func(*cobra.Command, []string) error {
			if opts.Bottle == "" {
				return cmdutil.UsageErrorf("bottle secret refresh: missing --bottle NAME, the running bottle whose credentials to refresh")
			}
			if err := launcher.ValidName(opts.Bottle); err != nil {
				return cmdutil.UsageErrorf("--bottle: %v", err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Bottle, "bottle", "", "the running bottle whose credentials to resolve again")
	cmd.RegisterFlagCompletionFunc("bottle", cmdutil.CompleteBottleFlag(&f.Env.StateDir, cmdutil.LiveBottles))
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	name := opts.Bottle
	res, err := opts.Launcher().RefreshSecrets(ctx, name)
	if err != nil {
		return err
	}
	wait := opts.Wait
	if wait == 0 {
		wait = allowshared.DefaultWait
	}
	if len(res.Refreshed)+len(res.Added)+len(res.Dropped) > 0 {
		if err := opts.Launcher().CredentialsApplied(ctx, name, res.Hash, wait); err != nil {
			return err
		}
	}
	out := opts.IO.Out
	if len(res.Refreshed)+len(res.Added) == 0 {
		fmt.Fprintf(out, "bottle %s's allowlist has no credentials; nothing to refresh (add one with bottle secret add NAME --bottle %s …)\n", name, name)
	} else {
		fmt.Fprintf(out, "refreshed %s in bottle %s; its sidecar has the new values, and the agent's next request carries them\n",
			strings.Join(append(res.Refreshed, res.Added...), ", "), name)
	}
	if len(res.Added) > 0 {
		fmt.Fprintf(out, "new since the launch: %s", strings.Join(res.Added, ", "))
		if len(res.NotInAgent) > 0 {
			fmt.Fprintf(out, "; the running agent does not have %s (a container's environment is set when it starts): launch %s again to give it the placeholders", strings.Join(res.NotInAgent, ", "), name)
		}
		fmt.Fprintln(out)
	}
	if len(res.Dropped) > 0 {
		fmt.Fprintf(out, "dropped %s: no longer in the allowlist, so the sidecar forgets the values\n", strings.Join(res.Dropped, ", "))
	}
	return nil
}
