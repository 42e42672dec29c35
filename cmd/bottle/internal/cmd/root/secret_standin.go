package root

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/refresh"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// secretStandIn holds `bottle secret refresh` until `bottle secret` (add,
// list, rm) is in the tree: then the one line below moves into that
// group's AddCommand, and this file and its call in NewCmd go. Hidden, so
// that no help golden pins a group that is not the real one.
func secretStandIn(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.Group(&cobra.Command{Use: "secret", Short: "Credentials the agent never sees", Hidden: true})
	cmd.AddCommand(
		refresh.NewCmd(f, nil),
	)
	return cmd
}
