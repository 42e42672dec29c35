package shared

import (
	"strings"

	"github.com/spf13/cobra"
)

// CompleteIDs completes the ID of `bottle approve` and `bottle deny` with
// the requests pending in stateDir, each described by its bottle and what
// it asked for.
func CompleteIDs(stateDir *string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		all, _ := Pending(*stateDir, "")
		var out []cobra.Completion
		for _, p := range all {
			if strings.HasPrefix(p.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(p.ID, p.Bottle+": "+Describe(p.Request)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
