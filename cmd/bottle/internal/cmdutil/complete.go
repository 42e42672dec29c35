package cmdutil

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/launcher"
)

// Which bottles a verb's NAME completes to (CompleteBottles' keep).

// AllBottles keeps every bottle.
func AllBottles(*launcher.Bottle) bool { return true }

// LiveBottles keeps the bottles that were not stopped.
func LiveBottles(b *launcher.Bottle) bool { return b.Stopped.IsZero() }

// StoppedBottles keeps the stopped ones.
func StoppedBottles(b *launcher.Bottle) bool { return !b.Stopped.IsZero() }

// CompleteBottles completes bottle names, for a verb's NAME arguments
// (ValidArgsFunction) or a --bottle flag: the bottles of the state
// directory that keep says yes to, each described by its backend and
// whether it is stopped. n is how many NAMEs the verb takes (0: any
// number); a name already given is not offered again. Only the state
// directory is read: completion must answer at once, engine or not.
func (f *Factory) CompleteBottles(n int, keep func(*launcher.Bottle) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		// Past the names (for exec: the command in the agent) there is
		// nothing bottle knows to offer. (ArgsLenAtDash cannot tell: cobra
		// parses the line twice to complete it, once with a -- added.)
		if n > 0 && len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return bottleNames(f.Env.StateDir, keep, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteBottleFlag completes a --bottle NAME flag with the bottles of
// stateDir that keep says yes to (for verbs whose options hold the state
// directory, not the Factory).
func CompleteBottleFlag(stateDir *string, keep func(*launcher.Bottle) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return bottleNames(*stateDir, keep, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
	}
}

func bottleNames(stateDir string, keep func(*launcher.Bottle) bool, prefix string, given []string) []cobra.Completion {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return nil
	}
	l := &launcher.Launcher{StateDir: stateDir}
	var out []cobra.Completion
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) || slices.Contains(given, name) || launcher.ValidName(name) != nil {
			continue
		}
		b, err := l.Load(name)
		if err != nil || !keep(b) {
			continue
		}
		desc := b.Backend
		if !b.Stopped.IsZero() {
			desc += ", stopped"
		}
		out = append(out, cobra.CompletionWithDesc(name, desc))
	}
	return out
}

// CompleteYAML completes a file argument or flag with YAML files.
func CompleteYAML(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// CompleteBackends completes --backend.
func CompleteBackends(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return BackendNames, cobra.ShellCompDirectiveNoFileComp
}
