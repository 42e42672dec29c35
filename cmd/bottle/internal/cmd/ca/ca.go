// Package ca is `bottle ca`: the group of verbs that make and export a
// bottle's certificate authority.
package ca

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/ca/export"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/ca/initcmd"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// NewCmd returns `bottle ca` and its verbs.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.Group(&cobra.Command{
		Use:   "ca",
		Short: "Create and export a bottle's certificate authority",
		Long: `Each bottle has its own CA: the proxy signs the certificates the agent sees
with it, and only that bottle's agent trusts it. The key never leaves the
host's state directory and the sidecar.`,
		Example: `  bottle ca init --dir ./state --name demo
  bottle ca export --dir ./state > bottle-ca.pem
  bottle ca export --dir ./state --fingerprint`,
	})
	cmd.AddCommand(initcmd.NewCmd(f, nil), export.NewCmd(f, nil))
	return cmd
}
