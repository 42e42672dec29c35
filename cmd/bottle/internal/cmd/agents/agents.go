// Package agents is `bottle agents`: the agent recipes that `bottle launch
// --agent NAME` can use, and the text of one.
package agents

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/recipe"
)

// Options are `bottle agents`' dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Dir is the project directory whose .bottle/agents/ is looked in
	// (the working directory).
	Dir string

	Name string // RECIPE: print that recipe
	JSON bool   // --json
}

// JSON is one recipe as `bottle agents --json` prints it (fields are only
// ever added).
type JSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	File        string   `json:"file"`    // its path, or builtin:NAME.yaml
	Command     []string `json:"command"` // what runs: the CLI with its unattended flags
}

// NewCmd returns `bottle agents`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "agents [RECIPE]",
		Short: "List the agent recipes that launch --agent can use, or print one",
		Long: `List the agent recipes that 'bottle launch --agent NAME' can use: the
project's (.bottle/agents/NAME.yaml here), yours ($XDG_CONFIG_HOME/bottle/agents/,
~/.config/bottle/agents/), then the built-in ones (claude, codex, gemini). The
first one of a name wins. With RECIPE, print that recipe's text: a start for
your own (docs/agents.md says what each key does).

A recipe that does not parse is named on stderr with its FILE:LINE:COL
problems, and bottle agents exits 2 after listing the others.`,
		Example: `  bottle agents
  bottle agents --json | jq -r '.[].name'

  # Your own variant of a built-in recipe, for this project
  mkdir -p .bottle/agents && bottle agents claude > .bottle/agents/claude.yaml`,
		Args:              cmdutil.MaximumArgs(1, "at most one RECIPE name"),
		ValidArgsFunction: completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
				if opts.JSON {
					return cmdutil.UsageErrorf("--json lists the recipes: drop RECIPE, or drop --json to print the recipe %s", opts.Name)
				}
			}
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			opts.Dir = wd
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the recipes as a JSON array of name, description, file and command")
	return cmd
}

func run(opts *Options) error {
	dirs := recipe.Dirs(opts.Dir)
	if opts.Name != "" {
		return show(opts.IO.Out, opts.Name, dirs)
	}
	rs, lerr := recipe.List(dirs)
	if opts.JSON {
		out := []JSON{}
		for _, r := range rs {
			out = append(out, JSON{Name: r.Name, Description: r.Description, File: r.File, Command: r.Argv(nil)})
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tRUNS\tFROM\tDESCRIPTION")
		for _, r := range rs {
			from := r.File
			if strings.HasPrefix(from, "builtin:") {
				from = "built-in"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, termsafe.Line(shquote.Join(r.Argv(nil))), termsafe.Line(from), termsafe.Line(r.Description))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if lerr != nil {
		return cmdutil.InvalidInput(fmt.Errorf("some recipes are not valid, and were left out:\n%w", lerr))
	}
	return nil
}

// show prints the text of the recipe name: its file, or the built-in one.
func show(w io.Writer, name string, dirs []string) error {
	r, err := recipe.Find(name, dirs)
	var el allowlist.ErrorList
	switch {
	case errors.As(err, &el):
		return cmdutil.InvalidInput(fmt.Errorf("the recipe %s is not valid:\n%w", name, err))
	case err != nil:
		return cmdutil.UsageError(err)
	}
	var data []byte
	if b, ok := strings.CutPrefix(r.File, "builtin:"); ok {
		data, _ = recipe.BuiltinSource(strings.TrimSuffix(b, ".yaml"))
	} else if data, err = os.ReadFile(r.File); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "# %s\n", r.File); err != nil {
		return err
	}
	_, err = io.WriteString(w, termsafe.Escape(string(data)))
	return err
}

// completeNames completes NAME with the recipes found here.
func completeNames(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	wd, _ := os.Getwd()
	rs, _ := recipe.List(recipe.Dirs(wd))
	var out []cobra.Completion
	for _, r := range rs {
		out = append(out, cobra.CompletionWithDesc(r.Name, r.Description))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
