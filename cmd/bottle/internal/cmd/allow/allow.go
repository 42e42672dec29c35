// Package allow is `bottle allow`: the group of verbs that read, test and
// edit an allowlist.
package allow

import (
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/add"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/check"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/list"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/presets"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/rm"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/validate"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/preset"
)

// NewCmd returns `bottle allow` and its verbs.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.Group(&cobra.Command{
		Use:   "allow",
		Short: "Read, test and edit the allowlist",
		Long: `The allowlist says which hosts, ports, methods and paths a bottle's agent may
reach. Everything else is denied. These commands edit the YAML file in place,
keeping your comments and layout, and test targets against it.

They work on bottle.yaml here (the file it names, or its inline rules), else
allowlist.yaml, or --file. With --bottle NAME, add and rm edit the running
bottle's live allowlist, applied at once, and the file it was launched from;
--live-only, the live one alone. Without --bottle, a running bottle keeps its
policy until it is launched again, and the edit says how to apply it now.

Presets are the few exact rules an ecosystem needs (` + strings.Join(preset.Names(), ", ") + `):
bottle allow add --preset NAME writes them, bottle allow presets shows them.`,
		Example: `  bottle allow add api.anthropic.com
  bottle allow add https://api.example.com/v1 --bottle demo
  bottle allow add github.com --method GET --method POST --path '/acme/widget.git/**'
  bottle allow add ssh.github.com --port 22 --port 443 --passthrough
  bottle allow add gist.github.com --deny
  bottle allow add --preset pypi --preset github
  bottle allow presets
  bottle allow rm api.anthropic.com
  bottle allow rm 'allow[3]'
  bottle allow list
  bottle allow check https://api.github.com/repos/acme/widget
  bottle allow validate allowlist.yaml`,
	})
	cmd.AddCommand(
		add.NewCmd(f, nil),
		rm.NewCmd(f, nil),
		list.NewCmd(f, nil),
		check.NewCmd(f, nil),
		validate.NewCmd(f, nil),
		presets.NewCmd(f, nil),
	)
	return cmd
}
