// Package secret is `bottle secret`: the credentials a bottle's agent uses
// without ever holding them.
package secret

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/add"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/list"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/refresh"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/rm"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// NewCmd returns `bottle secret` and its verbs.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.Group(&cobra.Command{
		Use:   "secret",
		Short: "Declare the credentials the agent uses but never holds",
		Long: `A credential is a secret (an API key, a token, AWS keys) the agent uses
without ever holding it. The allowlist declares it in its credentials:
section: the hosts it is sent to and nowhere else, how the proxy puts it on
a request (a header, bearer or Basic auth, a query parameter, AWS Signature
V4), and where its value comes from on this machine (env:, file:, command:,
keychain:). Only that reference is in the file. bottle launch resolves the
value and hands it to the sidecar alone; the agent gets a placeholder, which
the proxy swaps for the value on requests to the credential's hosts and
refuses anywhere else.

These commands edit the credentials: section, keeping comments and layout,
in the file bottle allow edits (--file, or --bottle NAME for a running
bottle's live allowlist and the file it was launched from).`,
		Example: `  bottle allow add api.anthropic.com
  bottle secret add anthropic --host api.anthropic.com --header x-api-key \
      --from env:ANTHROPIC_API_KEY --agent-env ANTHROPIC_API_KEY
  bottle secret list
  bottle secret rm anthropic`,
	})
	cmd.AddCommand(
		add.NewCmd(f, nil),
		list.NewCmd(f, nil),
		rm.NewCmd(f, nil),
		refresh.NewCmd(f, nil),
	)
	return cmd
}
