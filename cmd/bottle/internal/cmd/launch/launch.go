// Package launch is `bottle launch`: build, wire, self-test and start a
// bottle.
package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/project"
	"bottle.dev/bottle/recipe"
)

// Options are `bottle launch`'s dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Launcher returns a launcher on the backend chosen for backend ("":
	// BOTTLE_BACKEND, else the first that works).
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)
	// Lookup reads the user's environment, for -e NAME and a project file's
	// env entries without a value.
	Lookup    func(string) (string, bool)
	StateDir  string // bottle's state directory: the trust store of project files lives there
	AgentBase string // BOTTLE_AGENT_BASE
	// SidecarBinary is the static bottle-sidecar to build the sidecar
	// image from; if empty, the launcher finds one.
	SidecarBinary string

	Project   string // --project
	Name      string // NAME, else the project file's, else the directory's
	Allowlist string // --allowlist
	// AllowlistSource is the project file whose inline rules Allowlist is
	// a copy of; empty when Allowlist is the file itself.
	AllowlistSource string
	Image           string   // --image
	Dockerfile      string   // --dockerfile
	Workspace       string   // --workspace
	Env             []string // -e, resolved to K=V (the project file's first)
	Backend         string   // --backend
	Detach          bool     // -d
	Rebuild         bool     // --rebuild
	Approvals       string   // --approvals ask|off ("": the allowlist's approvals:)
	EgressNetwork   string   // --egress-network
	UpstreamDNS     string   // --upstream-dns
	UpstreamCA      string   // --upstream-ca
	Verbose         bool     // -v
	Quiet           bool     // -q
	JSON            bool     // --json
	Yes             bool     // -y
	NoProject       bool     // --no-project
	Memory          string   // --memory, as given
	CPUs            string   // --cpus, as given
	Pids            int      // --pids-limit, as given
	Command         []string // after --, else the project file's; with an agent, Recipe.Argv of them
	AgentName       string   // --agent, else the project file's agent:
	Prompt          string   // --prompt, else the project file's prompt:
	Skills          string   // --skills, else the project file's skills:
	// Recipe is the agent recipe AgentName names (nil: no agent).
	Recipe *recipe.Recipe
	// Terminal reports whether stdin and stdout are terminals, so that the
	// agent can open interactively; nil means IO.Interactive.
	Terminal func() bool

	Limits      launcher.Limits      // from the flags over the project file's
	GitIdentity launcher.GitIdentity // the project file's git_identity
	Imported    []string             // names of variables taken from the user's environment
	cleanup     []func()
	// projectDir is where the project's recipes are looked for: the project
	// file's directory, else the working directory; projectFile the project
	// file, if one is used.
	projectDir  string
	projectFile string
	// agentAt is FILE:LINE:COL of the project file's agent: when the agent
	// came from there; approvedRecipe the recipe file whose content that
	// file's approval covered.
	agentAt        string
	approvedRecipe string
	// projectRecipe is the recipe the project file's agent: names, found
	// when the file was approved.
	projectRecipe *recipe.Recipe
}

// NewCmd returns `bottle launch`. With runF, the parsed options go there
// instead of to the launch (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.Launcher, Lookup: f.Lookup, StateDir: f.Env.StateDir, AgentBase: f.Env.AgentBase, SidecarBinary: f.SidecarBinary}
	cmd := &cobra.Command{
		Use:   "launch [NAME] [flags] [-- CMD ARGS...]",
		Short: "Build, wire, self-test and start a bottle",
		Long: `Launch a bottle: build the images (skipped when unchanged), create an internal
network with no route out and an egress network, start the sidecar (proxy +
DNS enforcing the allowlist) and the agent, install the bottle's CA in the
agent, copy the workspace in, and prove from inside the agent that nothing
gets around the sidecar. A bottle that fails the self-test is torn down.

A bottle.yaml in the working directory (or --project FILE) may hold the same
settings: name, image or dockerfile, allowlist (a file) or inline allow/deny
rules, env, workspace, command, agent, prompt, skills and resource limits.
Flags override it. A project file comes with a repository, so bottle shows
what it sets and asks before using it, once per version of the file and of
what it names (--yes for scripts, --no-project to ignore it); the paths it
names must lie inside its directory. The names of variables the agent gets
from your environment are printed.

--agent NAME runs a coding agent CLI from its recipe: claude (Claude Code),
codex (Codex CLI) and gemini (Gemini CLI) are built in, 'bottle agents' lists
every recipe, and a file in .bottle/agents/ or ~/.config/bottle/agents/ adds
one (or --agent FILE; a recipe that came with the project is approved like
a project file). The recipe installs the CLI into the agent image (cached
like every image), adds the hosts its API needs to the bottle's allowlist,
makes its key a credential (for claude, $ANTHROPIC_API_KEY here: the agent
holds a placeholder, and the sidecar puts the key on its requests to the
API), and turns its unattended mode on, because the bottle is the sandbox.
--prompt FILE is copied to where the agent reads its instructions (for
claude, ~/.claude/CLAUDE.md), --skills DIR to where it reads its skills.

With --agent, the words after -- are the agent's arguments, and it runs
headless: its output streams here and into the bottle's log ('bottle logs
NAME'), and bottle exits with its status; Ctrl-C stops following and leaves
it running. With -d as well, it runs in the background. Without a command,
when stdin and stdout are a terminal, the agent opens interactively once the
bottle is up, and bottle exits with its status; 'bottle shell NAME' opens it
again. Without a terminal (or with -d or --json) the bottle is left running.

NAME defaults to the current directory's name. Without --agent, a command
after -- runs in the agent (with a terminal when you have one), and bottle
exits with its status; the bottle keeps running. With -d and a command, the
command runs in the background as the agent's user in /workspace: 'bottle
logs NAME -f' follows its output and ends when it exits, and 'bottle list'
shows its exit status. Without a command the bottle keeps running, and you
attach with 'bottle shell NAME' or 'bottle exec NAME -- CMD'.

--approvals ask holds a request the allowlist denies (a host with no rule, a
port, method or path the rules do not cover) while you decide it: 'bottle
approvals' lists what is held, 'bottle approve ID' lets it through (once,
for the host, or always: a rule in the allowlist), 'bottle deny ID' refuses
it. Unanswered, it is refused after the allowlist's approval_timeout (60s).
--approvals off never holds; without the flag the allowlist's approvals:
decides. The agent can ask too, with a reason, through the supervise MCP
server at $MCP_SUPERVISE_URL.

An image built from a Dockerfile (--dockerfile, or bottle's own) is tagged
by what goes into it: the Dockerfile, every file of its directory (the build
context; .dockerignore is followed, else .git is left out), and the ID of
the base image. An unchanged one is not rebuilt; --rebuild builds it again,
every step, for a Dockerfile whose RUN steps fetch what changes.

A failed step is said in one line, with the engine command that failed;
-v shows the whole command and its output, and the build's output as it
goes. Ctrl-C during a launch removes what it made, says so, and exits 130.

Progress and the summary go to stderr; -q prints nothing but errors.
--json prints the summary on stdout instead, as one JSON object: name,
backend, proxy_url, ca_fingerprint, state_dir, containers (agent,
sidecar), networks (internal, egress), agent_user, mode, mcp_url (the
agent's MCP_SUPERVISE_URL) and approvals (what --approvals said); agent,
the recipe's name, with --agent; and command, the command -d started in the
background, when there is one.`,
		Example: `  # The allowlist.yaml in this directory, this directory as the workspace, a shell
  bottle launch demo --workspace . -- bash

  # Detached, with a prebuilt agent image
  bottle launch demo --image my-agent:latest -d

  # A command in the background; follow it, then see how it exited
  bottle launch demo --workspace . -d -- make test
  bottle logs demo -f
  bottle list

  # Hold what the allowlist denies until you approve it from another terminal
  bottle launch demo --workspace . --approvals ask -d -- make test
  bottle approvals demo

  # Build the agent image again, even though its Dockerfile did not change
  bottle launch demo --dockerfile ./Dockerfile --rebuild

  # Claude Code on this directory, interactive; its key stays with the sidecar
  export ANTHROPIC_API_KEY=...
  bottle launch --agent claude --workspace .

  # Run an agent CLI unattended (headless): its output streams here and to
  # 'bottle logs fix', and its exit status is bottle's
  bottle launch fix --agent claude --workspace . -- -p "fix the failing tests"

  # The same in the background, with your instructions and skills
  bottle launch fix --agent codex --workspace . --prompt AGENTS.md --skills ./skills -d -- exec "fix the tests"

  # In a script: no progress, the summary as JSON
  proxy=$(bottle launch demo -q --json | jq -r .proxy_url)`,
		// A new name, or a stopped bottle's to launch it again.
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.StoppedBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer opts.Cleanup()
			if err := opts.resolve(cmd, args); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Allowlist, "allowlist", "allowlist.yaml", "allowlist to start from (copied into the bottle's state)")
	fl.StringVar(&opts.Project, "project", "", "project file (default: bottle.yaml here, when present)")
	fl.StringVar(&opts.Image, "image", "", "agent image to use as is")
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "Dockerfile to build the agent image from (default: bottle's own)")
	fl.StringVar(&opts.Workspace, "workspace", "", "directory copied into /workspace")
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "K=V (or K, taken from here) for the agent (repeatable)")
	fl.StringVar(&opts.Backend, "backend", "", "docker or macos-container (default: $BOTTLE_BACKEND, else the first that works)")
	fl.BoolVarP(&opts.Detach, "detach", "d", false, "run the command in the background (bottle logs NAME -f follows it)")
	fl.BoolVar(&opts.Rebuild, "rebuild", false, "build the agent image again, every step, even when nothing it is made from changed")
	fl.StringVar(&opts.Approvals, "approvals", "", "ask: hold a denied request while you decide it (bottle approvals, bottle approve); off: never (default: the allowlist's approvals:)")
	fl.StringVar(&opts.EgressNetwork, "egress-network", "", "use this existing network as the egress side (e.g. a corporate one)")
	fl.StringVar(&opts.UpstreamDNS, "upstream-dns", "", "resolvers the sidecar uses, HOST:PORT[,...] (default: the engine's)")
	fl.StringVar(&opts.UpstreamCA, "upstream-ca", "", "PEM roots the sidecar trusts upstream besides the public ones; its roots are also trusted by an agent recipe's install step")
	fl.StringVar(&opts.AgentName, "agent", "", "run this coding agent: a recipe's name (claude, codex, gemini; bottle agents lists them) or a recipe file")
	fl.StringVar(&opts.Prompt, "prompt", "", "file copied to where the agent reads its instructions (with --agent)")
	fl.StringVar(&opts.Skills, "skills", "", "directory copied to where the agent reads its skills (with --agent)")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "show image build output, and a failed engine command whole")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing but errors (no progress, no summary)")
	fl.BoolVar(&opts.JSON, "json", false, "print the bottle's summary as JSON on stdout (stable field names; see above)")
	cmd.MarkFlagsMutuallyExclusive("quiet", "verbose")
	cmd.RegisterFlagCompletionFunc("backend", cmdutil.CompleteBackends)
	cmd.RegisterFlagCompletionFunc("approvals", cobra.FixedCompletions([]cobra.Completion{"ask", "off"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("allowlist", cmdutil.CompleteYAML)
	cmd.RegisterFlagCompletionFunc("project", cmdutil.CompleteYAML)
	cmd.MarkFlagDirname("workspace")
	cmd.MarkFlagDirname("skills")
	cmd.RegisterFlagCompletionFunc("agent", completeAgents)
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "use the project file without asking, even if it is new or changed (for scripts)")
	fl.BoolVar(&opts.NoProject, "no-project", false, "ignore bottle.yaml in this directory")
	fl.StringVar(&opts.Memory, "memory", "", "memory limit of the agent, e.g. 4g (default: none)")
	fl.StringVar(&opts.CPUs, "cpus", "", "CPU limit of the agent, e.g. 2 or 1.5 (default: none)")
	fl.IntVar(&opts.Pids, "pids-limit", 0, "process limit of the agent, e.g. 1024 (default: none; Docker only)")
	return cmd
}

// Cleanup removes what resolving the options made (an inline allowlist's
// temporary file).
func (opts *Options) Cleanup() {
	for _, f := range opts.cleanup {
		f()
	}
	opts.cleanup = nil
}

// resolve reads the arguments, the project file and the flags into opts,
// and checks them.
func (opts *Options) resolve(cmd *cobra.Command, args []string) error {
	pos := args
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		pos, opts.Command = args[:dash], args[dash:]
	}
	if len(pos) > 1 {
		return cmdutil.UsageErrorf("launch takes one NAME; put the command after --: bottle launch %s -- %s", pos[0], strings.Join(pos[1:], " "))
	}
	if err := opts.applyProject(cmd); err != nil {
		return err
	}
	if opts.projectDir == "" {
		opts.projectDir, _ = os.Getwd()
	}
	if err := opts.findAgent(cmd); err != nil {
		return err
	}
	switch {
	case len(pos) == 1:
		opts.Name = pos[0]
	case opts.Name == "":
		opts.Name = defaultName()
	}
	if opts.Image != "" && opts.Dockerfile != "" {
		return cmdutil.UsageErrorf("give --image or --dockerfile, not both")
	}
	if opts.Rebuild && opts.Image != "" {
		return cmdutil.UsageErrorf("--rebuild builds the agent image from a Dockerfile, and --image %s is used as it is: give one of them", opts.Image)
	}
	if opts.Approvals != "" && opts.Approvals != "ask" && opts.Approvals != "off" {
		return cmdutil.UsageErrorf("--approvals %q: use ask (hold a denied request until you approve or deny it) or off", opts.Approvals)
	}
	if opts.JSON && len(opts.Command) > 0 && !opts.Detach {
		return cmdutil.UsageErrorf("--json prints the summary for scripts, and the command's output would be mixed into it: add -d, or run the command afterwards with bottle exec %s -- %s", opts.Name, shquote.Join(opts.Command))
	}
	if err := opts.parseLimits(cmd); err != nil {
		return err
	}
	for i, kv := range opts.Env {
		if !strings.Contains(kv, "=") { // -e NAME passes the value from here
			v, ok := opts.Lookup(kv)
			if !ok {
				return cmdutil.UsageErrorf("-e %s: %s is not set here; write -e %s=VALUE", kv, kv, kv)
			}
			opts.Env[i] = kv + "=" + v
			opts.Imported = append(opts.Imported, kv)
		}
	}
	if err := launcher.CheckEnv(opts.Env); err != nil {
		return cmdutil.UsageErrorf("-e: %v", err)
	}
	return nil
}

var nonName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// defaultName is the working directory's name made into a bottle name.
func defaultName() string {
	wd, _ := os.Getwd()
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(filepath.Base(wd)), "-"), "-._")
	if n == "" || launcher.ValidName(n) != nil {
		return "bottle"
	}
	return n
}

// parseLimits reads the resource flags over what the project file set.
func (opts *Options) parseLimits(cmd *cobra.Command) error {
	var err error
	if cmd.Flags().Changed("memory") {
		if opts.Limits.Memory, err = launcher.ParseMemory(opts.Memory); err != nil {
			return cmdutil.UsageErrorf("--memory: %v", err)
		}
	}
	if cmd.Flags().Changed("cpus") {
		if opts.Limits.CPUs, err = launcher.ParseCPUs(opts.CPUs); err != nil {
			return cmdutil.UsageErrorf("--cpus: %v", err)
		}
	}
	if cmd.Flags().Changed("pids-limit") {
		if opts.Limits.Pids, err = launcher.ParsePids(fmt.Sprint(opts.Pids)); err != nil {
			return cmdutil.UsageErrorf("--pids-limit: %v", err)
		}
	}
	return nil
}

// applyProject fills every option the command line left unset from the
// project file.
func (opts *Options) applyProject(cmd *cobra.Command) error {
	path := opts.Project
	if opts.NoProject {
		if path != "" {
			return cmdutil.UsageErrorf("give --project or --no-project, not both")
		}
		return nil
	}
	if path == "" {
		if _, err := os.Stat(project.FileName); err != nil {
			return nil
		}
		path = project.FileName
	}
	p, err := project.Load(path)
	if err != nil {
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return cmdutil.InvalidInput(fmt.Errorf("%s is not valid:\n%w", path, err))
		}
		return cmdutil.InvalidInput(err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		opts.projectDir = filepath.Dir(abs)
	}
	opts.projectFile = path
	if err := opts.approve(path, p); err != nil {
		return err
	}
	set := cmd.Flags().Changed
	if !set("agent") && p.Agent != "" {
		opts.AgentName, opts.agentAt, opts.Recipe = p.Agent, p.AgentAt, opts.projectRecipe
	}
	if !set("prompt") {
		opts.Prompt = p.Prompt
	}
	if !set("skills") {
		opts.Skills = p.Skills
	}
	opts.Limits, opts.GitIdentity = p.Limits, p.GitIdentity
	opts.Name = p.Name
	if !set("image") && !set("dockerfile") {
		opts.Image, opts.Dockerfile = p.Image, p.Dockerfile
	}
	if !set("allowlist") {
		switch {
		case p.Allowlist != "":
			opts.Allowlist = p.Allowlist
		case p.Inline != nil:
			f, err := os.CreateTemp("", "bottle-inline-*.yaml")
			if err != nil {
				return err
			}
			opts.cleanup = append(opts.cleanup, func() { os.Remove(f.Name()) })
			_, werr := f.Write(p.Inline)
			if err := errors.Join(werr, f.Close()); err != nil {
				return fmt.Errorf("writing the project's inline allowlist: %w", err)
			}
			opts.Allowlist = f.Name()
			// The copy is gone after the launch: `bottle allow --bottle`
			// edits the file the rules came from.
			opts.AllowlistSource = path
		}
	}
	if !set("workspace") {
		opts.Workspace = p.Workspace
	}
	if len(opts.Command) == 0 {
		opts.Command = p.Command
	}
	env := append([]string{}, p.Env...)
	for _, k := range p.EnvFromCLI {
		v, ok := opts.Lookup(k)
		if !ok {
			return cmdutil.UsageErrorf("%s: env %s has no value there and is not set here", path, k)
		}
		env = append(env, k+"="+v)
		opts.Imported = append(opts.Imported, k)
	}
	opts.Env = append(env, opts.Env...) // flags last: they win
	return nil
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, opts.Backend, opts.Verbose)
	if err != nil {
		return err
	}
	if opts.Quiet {
		l.Progress = nil
	}
	start := time.Now()
	if len(opts.Imported) > 0 && !opts.Quiet {
		fmt.Fprintf(opts.IO.Err, "the agent gets these variables from your environment: %s\n", strings.Join(opts.Imported, ", "))
	}
	b, err := l.Launch(ctx, opts.Spec())
	var interrupted *launcher.InterruptedError
	switch {
	case errors.As(err, &interrupted):
		// Not a failure of the bottle: say what was removed, exit 130.
		return cmdutil.WithCode(cmdutil.ExitSignal, err)
	case err != nil:
		return err
	}
	if err := opts.summary(b, time.Since(start)); err != nil {
		return err
	}
	switch {
	case opts.headless():
		return opts.followAgent(ctx, l, b)
	case opts.Recipe != nil && len(opts.Command) == 0 && !opts.Detach && !opts.JSON && opts.terminal():
		return cmdutil.ExecInAgent(ctx, opts.IO, l, b, agentArgv(b, opts.Recipe))
	case len(opts.Command) == 0 || opts.Detach:
		return nil
	}
	return cmdutil.ExecInAgent(ctx, opts.IO, l, b, opts.Command)
}

// Spec is what opts launch. The command runs detached, under the
// supervisor, with -d and for a headless agent (whose output is followed
// from its log); any other command is run by the launch's caller.
func (opts *Options) Spec() launcher.Spec {
	spec := launcher.Spec{
		Name: opts.Name, Allowlist: opts.Allowlist, Image: opts.Image, Dockerfile: opts.Dockerfile,
		AgentBase: opts.AgentBase, Workspace: opts.Workspace, Env: opts.Env,
		EgressNetwork: opts.EgressNetwork, UpstreamDNS: opts.UpstreamDNS, UpstreamCA: opts.UpstreamCA,
		Limits: opts.Limits, SidecarBinary: opts.SidecarBinary, Rebuild: opts.Rebuild,
		AllowlistSource: opts.AllowlistSource, GitIdentity: opts.GitIdentity, Approvals: opts.Approvals,
		Agent: opts.Recipe, Prompt: opts.Prompt, Skills: opts.Skills,
	}
	if opts.Detach || opts.headless() {
		spec.Command = opts.Command
	}
	return spec
}

// headless reports whether the launch runs an agent with a command in the
// foreground: its output streams here and its status is bottle's.
func (opts *Options) headless() bool {
	return opts.Recipe != nil && len(opts.Command) > 0 && !opts.Detach
}

func (opts *Options) terminal() bool {
	if opts.Terminal != nil {
		return opts.Terminal()
	}
	return opts.IO.Interactive()
}
