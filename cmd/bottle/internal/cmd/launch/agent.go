package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/recipe"
)

// findAgent looks up the recipe --agent (or the project file's agent:)
// names, and checks --prompt and --skills (or prompt: and skills:) against
// it. Without an agent, a prompt and skills have nowhere to go.
func (opts *Options) findAgent(cmd *cobra.Command) error {
	// Each error names where the value came from: the flag, or the file.
	from := func(flag string) string {
		if cmd.Flags().Changed(flag) || opts.projectFile == "" {
			return "--" + flag
		}
		return opts.projectFile + "'s " + flag + ":"
	}
	if opts.AgentName == "" {
		for _, f := range []struct{ flag, val string }{{"prompt", opts.Prompt}, {"skills", opts.Skills}} {
			if f.val != "" {
				return cmdutil.UsageErrorf("%s needs an agent, whose recipe says where it goes: add --agent NAME (bottle agents lists them)", from(f.flag))
			}
		}
		return nil
	}
	if opts.Recipe == nil { // not the project file's, found when it was approved
		r, err := findRecipe(opts.AgentName, opts.projectDir)
		var el allowlist.ErrorList
		switch {
		case errors.As(err, &el):
			return cmdutil.InvalidInput(fmt.Errorf("--agent %s: the recipe is not valid:\n%w", opts.AgentName, err))
		case err != nil:
			return cmdutil.UsageErrorf("--agent %s: %v", opts.AgentName, err)
		}
		opts.Recipe = r
	}
	r := opts.Recipe
	if err := opts.approveRecipe(r); err != nil {
		return err
	}
	if err := checkCopy(r, from("prompt"), opts.Prompt, r.Instructions, "instructions", false); err != nil {
		return err
	}
	if err := checkCopy(r, from("skills"), opts.Skills, r.Skills, "skills", true); err != nil {
		return err
	}
	if len(opts.Command) > 0 {
		opts.Command = r.Argv(opts.Command)
	}
	return nil
}

// findRecipe is recipe.Find over the recipe directories of projectDir; a
// name that is not found says where the list of recipes is.
func findRecipe(name, projectDir string) (*recipe.Recipe, error) {
	r, err := recipe.Find(name, recipe.Dirs(projectDir))
	if err != nil && !recipe.IsPath(name) {
		var el allowlist.ErrorList
		if !errors.As(err, &el) {
			err = fmt.Errorf("%w; bottle agents lists the recipes", err)
		}
	}
	return r, err
}

// checkCopy checks what --prompt or --skills names: that it is there, a
// file (or, for dir, a directory), and that the recipe says where it goes
// (to, its key in the recipe, empty when it reads none).
func checkCopy(r *recipe.Recipe, flag, path, to, key string, dir bool) error {
	if path == "" {
		return nil
	}
	if to == "" {
		return cmdutil.UsageErrorf("%s %s: the %s agent reads no %s (its recipe %s has no %s:); drop it", flag, path, r.Name, key, recipeWhere(r), key)
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return cmdutil.UsageErrorf("%s: %v", flag, err)
	case dir && !st.IsDir():
		return cmdutil.UsageErrorf("%s %s is not a directory (a directory of skills is copied to %s)", flag, path, to)
	case !dir && !st.Mode().IsRegular():
		return cmdutil.UsageErrorf("%s %s is not a file (one file is copied to %s)", flag, path, to)
	}
	return nil
}

// recipeWhere says where r comes from: "built-in", or its file.
func recipeWhere(r *recipe.Recipe) string {
	if isBuiltin(r) {
		return "built-in"
	}
	return r.File
}

// completeAgents completes --agent with the recipes found from the working
// directory, each with its description.
func completeAgents(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	wd, _ := os.Getwd()
	rs, _ := recipe.List(recipe.Dirs(wd))
	var out []cobra.Completion
	for _, r := range rs {
		out = append(out, cobra.CompletionWithDesc(r.Name, r.Description))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// agentArgv is what opens the agent interactively in b: what the launch
// recorded, else the recipe's command with its unattended flags.
func agentArgv(b *launcher.Bottle, r *recipe.Recipe) []string {
	if len(b.AgentArgv) > 0 {
		return b.AgentArgv
	}
	return r.Argv(nil)
}

// followAgent is a headless launch's end: the agent's output, from the
// bottle's command log, as it comes, then its exit status as bottle's.
// Ctrl-C stops following and leaves the agent running.
func (opts *Options) followAgent(ctx context.Context, l *launcher.Launcher, b *launcher.Bottle) error {
	var out io.Writer = opts.IO.Out
	if cmdutil.IsTerminal(opts.IO.Out) {
		// What the agent prints reaches the terminal without its controls;
		// into a pipe or a file it goes as it is (for --output-format json).
		out = &termsafe.Writer{W: opts.IO.Out}
	}
	if err := cmdutil.CommandLog(ctx, l, b, out, true, 0); err != nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(opts.IO.Err, "\nstopped following; %s goes on in bottle %s\n  follow it: bottle logs %s -f\n  stop it:   bottle stop %s\n", opts.Recipe.Name, b.Name, b.Name, b.Name)
		return cmdutil.SilentExit(cmdutil.ExitSignal)
	}
	st, ok, err := cmdutil.CommandStatus(l, b)
	switch {
	case err != nil:
		return fmt.Errorf("reading how %s ended in bottle %s: %w", opts.Recipe.Name, b.Name, err)
	case !ok:
		return fmt.Errorf("%s ended with bottle %s (it was stopped) before it exited; its output: bottle logs %s", opts.Recipe.Name, b.Name, b.Name)
	case st.Error != "":
		return cmdutil.WithCode(max(st.ExitCode, cmdutil.ExitError), fmt.Errorf("%s in bottle %s: %s", opts.Recipe.Name, b.Name, st.Error))
	case st.ExitCode != 0:
		return cmdutil.SilentExit(st.ExitCode)
	}
	return nil
}
