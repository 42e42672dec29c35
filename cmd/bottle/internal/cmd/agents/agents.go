// Package agents is `bottle agents`: the agent recipes that `bottle launch
// --agent NAME` can use, and what each one is.
package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/recipe"
)

// Options are the dependencies and flags of `bottle agents` and its verbs.
type Options struct {
	IO *cmdutil.IOStreams
	// Dirs are where recipes are looked for, first first; if nil, the
	// working directory's .bottle/agents, then the user's (recipe.Dirs).
	Dirs func() ([]string, error)

	JSON bool   // list --json
	Name string // show RECIPE
}

// Entry is one recipe in `bottle agents list --json` (fields are only
// ever added).
type Entry struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// From is "built-in", or the recipe file's path.
	From string `json:"from"`
	// Shadows is set when a file of the same name hides the built-in one.
	Shadows bool     `json:"shadows_builtin,omitempty"`
	Command []string `json:"command"`
}

// NewCmd returns `bottle agents`, which lists the recipes, with its verbs
// list and show. With runF, the parsed options of a verb go there instead
// (tests), with the verb's name.
func NewCmd(f *cmdutil.Factory, runF func(verb string, opts *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	do := func(verb string, run func(*Options) error) error {
		if runF != nil {
			return runF(verb, opts)
		}
		return run(opts)
	}
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "List the agent recipes that launch --agent can use",
		Long: `An agent recipe is a small YAML file that says how to run one coding agent
CLI in a bottle: how to install it in the agent image, its command line and
unattended mode, the allow rules and credential for its API, and its MCP
registration. 'bottle launch --agent NAME' uses one.

Recipes are found by name in the project's .bottle/agents/, then in
$XDG_CONFIG_HOME/bottle/agents/ (~/.config/bottle/agents/), then among the
built-in ones (claude, codex, gemini): a file of the same name shadows a
built-in recipe. The format is in docs/agents.md.

Alone, 'bottle agents' is 'bottle agents list'.`,
		Example: `  bottle agents
  bottle agents show claude
  bottle agents list --json | jq -r '.[].name'`,
		Args: cmdutil.ExactArgs(0, "no arguments (its verbs are list and show)"),
		RunE: func(cmd *cobra.Command, args []string) error { return do("list", runList) },
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the agent recipes",
		Long: `List every agent recipe: its name, description, and where it comes from
(built-in, or the file's path). A file that does not parse is named with its
errors, and the command fails after listing the rest.

--json prints a JSON array, one object per recipe, with these fields: name,
description, from ("built-in" or the file's path), shadows_builtin (a file
that hides the built-in recipe of its name), and command (the agent CLI).`,
		Example: `  bottle agents list
  bottle agents list --json`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error { return do("list", runList) },
	}
	list.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	show := &cobra.Command{
		Use:   "show RECIPE",
		Short: "Print an agent recipe as launch --agent finds it",
		Long: `Print the recipe that 'bottle launch --agent RECIPE' would use: where it was
found, then the file's text. RECIPE is a recipe's name, or a recipe file's
path.`,
		Example: `  bottle agents show claude
  bottle agents show ./my-agent.yaml`,
		Args: cmdutil.ExactArgs(1, "the RECIPE (a name, or a file's path)"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return names(opts, toComplete), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return do("show", runShow)
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

func dirs(opts *Options) ([]string, error) {
	if opts.Dirs != nil {
		return opts.Dirs()
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return recipe.Dirs(wd), nil
}

func entry(r *recipe.Recipe) Entry {
	e := Entry{Name: r.Name, Description: r.Description, From: r.File, Command: r.Command}
	if strings.HasPrefix(r.File, "builtin:") {
		e.From = "built-in"
	} else if _, ok := recipe.BuiltinSource(r.Name); ok {
		e.Shadows = true
	}
	return e
}

func runList(opts *Options) error {
	ds, err := dirs(opts)
	if err != nil {
		return err
	}
	rs, listErr := recipe.List(ds)
	entries := []Entry{}
	for _, r := range rs {
		entries = append(entries, entry(r))
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDESCRIPTION\tFROM")
		for _, e := range entries {
			from := e.From
			if e.Shadows {
				from += " (shadows the built-in)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, termsafe.Line(e.Description), termsafe.Line(from))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if listErr != nil {
		return fmt.Errorf("some agent recipes do not parse; fix them or remove the files:\n%s", termsafe.Escape(listErr.Error()))
	}
	return nil
}

func runShow(opts *Options) error {
	ds, err := dirs(opts)
	if err != nil {
		return err
	}
	r, err := recipe.Find(opts.Name, ds)
	if err != nil {
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return fmt.Errorf("agent recipe %q does not parse:\n%s", opts.Name, termsafe.Escape(err.Error()))
		}
		return errors.New(termsafe.Escape(err.Error()))
	}
	var text []byte
	e := entry(r)
	if e.From == "built-in" {
		text, _ = recipe.BuiltinSource(r.Name)
	} else if text, err = os.ReadFile(r.File); err != nil {
		return err
	}
	where := e.From
	if e.Shadows {
		where += ", which shadows the built-in " + r.Name
	}
	fmt.Fprintf(opts.IO.Out, "# agent recipe %s, from %s\n", r.Name, termsafe.Line(where))
	_, err = opts.IO.Out.Write([]byte(termsafe.Escape(string(text))))
	return err
}

// names completes show's RECIPE with the recipes there are.
func names(opts *Options, prefix string) []cobra.Completion {
	ds, err := dirs(opts)
	if err != nil {
		return nil
	}
	rs, _ := recipe.List(ds)
	var out []cobra.Completion
	for _, r := range rs {
		if strings.HasPrefix(r.Name, prefix) {
			out = append(out, cobra.CompletionWithDesc(r.Name, r.Description))
		}
	}
	return out
}
