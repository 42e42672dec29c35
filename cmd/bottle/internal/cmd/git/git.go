// Package git is `bottle git`: the repositories the agent clones, fetches
// and pushes over HTTPS, whose pushes the sidecar's git gate scopes and
// scans.
package git

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/add"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/list"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/rm"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// NewCmd returns `bottle git` and its verbs.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.Group(&cobra.Command{
		Use:   "git",
		Short: "Declare the repositories the agent pushes to, and what it may push",
		Long: `The allowlist's git: section declares the repositories the agent reaches with
git over HTTPS. The agent runs plain git clone, fetch and push; the proxy
reads git's protocol on the way:

  - an entry lets in that repository's smart-HTTP endpoints only, so other
    repositories on the same host stay denied;
  - a push is checked before anything reaches the upstream: each ref it
    creates, updates or deletes must be one the entry's push: (and delete:)
    allows, and the pushed commits are scanned for secrets (the bottle's own
    credentials, and gitleaks' rules); a refused push is answered as git
    shows a server's refusal ("! [remote rejected] REF (bottle: …)");
  - the credential the entry names signs the requests in, and the agent
    never holds it;
  - git over SSH to the host would bypass all that, so a tls: passthrough
    tunnel there is refused; the agent's git@HOST: remotes are rewritten to
    https.

These commands edit the git: section, keeping comments and layout, in the
file bottle allow edits (--file, or --bottle NAME for a running bottle's
live allowlist and the file it was launched from).`,
		Example: `  bottle git add git.example.com/acme/widget --push 'refs/heads/agent/**'
  bottle git add git.example.com/acme/docs
  bottle git list
  bottle allow check --method POST https://git.example.com/acme/widget.git/git-receive-pack
  bottle git rm git.example.com/acme/docs`,
	})
	cmd.AddCommand(
		add.NewCmd(f, nil),
		list.NewCmd(f, nil),
		rm.NewCmd(f, nil),
	)
	return cmd
}
