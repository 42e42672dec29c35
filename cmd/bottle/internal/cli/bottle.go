package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/docker"
	"bottle.dev/bottle/launcher/macoscontainer"
	"bottle.dev/bottle/project"
)

// env is the BOTTLE_* (and XDG) environment, read in one place.
type env struct {
	Backend    string   // BOTTLE_BACKEND
	BuilderDNS []string // BOTTLE_BUILDER_DNS: resolvers for Apple's image builder
	StateDir   string   // $XDG_STATE_HOME/bottle, else ~/.local/state/bottle
	AgentBase  string   // BOTTLE_AGENT_BASE
}

func readEnv() env {
	e := env{Backend: os.Getenv("BOTTLE_BACKEND"), AgentBase: os.Getenv("BOTTLE_AGENT_BASE")}
	if v := os.Getenv("BOTTLE_BUILDER_DNS"); v != "" {
		e.BuilderDNS = strings.Split(v, ",")
	}
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home, _ := os.UserHomeDir()
		state = filepath.Join(home, ".local", "state")
	}
	e.StateDir = filepath.Join(state, "bottle")
	return e
}

// backendNames are the values --backend takes.
var backendNames = []string{"docker", "macos-container"}

// host is what backend selection looks at; tests substitute it.
type host struct {
	GOOS, GOARCH string
	Docker       launcher.Backend
	Container    launcher.Backend
}

func realHost() host {
	return host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Docker: &docker.Backend{}, Container: &macoscontainer.Backend{}}
}

// pickBackend chooses the backend: --backend, then BOTTLE_BACKEND, then the
// first that works here. Each refusal says why and what to do.
func pickBackend(ctx context.Context, flag string, e env) (launcher.Backend, error) {
	h := realHost()
	h.Container.(*macoscontainer.Backend).BuilderDNS = e.BuilderDNS
	return selectBackend(ctx, flag, e, h)
}

func selectBackend(ctx context.Context, flag string, e env, h host) (launcher.Backend, error) {
	name := flag
	if name == "" {
		name = e.Backend
	}
	switch name {
	case "docker":
		return h.Docker, nil
	case "macos-container":
		return h.Container, nil
	case "":
	default:
		return nil, usageErrorf("unknown backend %q; use one of %s", name, strings.Join(backendNames, ", "))
	}
	var reasons []string
	if h.GOOS == "darwin" && h.GOARCH == "arm64" {
		err := h.Container.Check(ctx)
		if err == nil {
			return h.Container, nil
		}
		reasons = append(reasons, "macos-container: "+err.Error())
	} else {
		reasons = append(reasons, fmt.Sprintf("macos-container: needs macOS on Apple silicon (this is %s/%s)", h.GOOS, h.GOARCH))
	}
	err := h.Docker.Check(ctx)
	if err == nil {
		return h.Docker, nil
	}
	reasons = append(reasons, "docker: "+err.Error())
	return nil, fmt.Errorf("no usable backend:\n  %s", strings.Join(reasons, "\n  "))
}

func newLauncher(ctx context.Context, ios *IOStreams, backend string, verbose bool) (*launcher.Launcher, error) {
	e := readEnv()
	b, err := pickBackend(ctx, backend, e)
	if err != nil {
		return nil, err
	}
	return &launcher.Launcher{Backend: b, StateDir: e.StateDir, Progress: ios.Err, Verbose: verbose}, nil
}

// isTerminal reports whether f is a terminal. /dev/null is a character
// device too, so the mode bits are not enough: ask the terminal driver.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

type launchOptions struct {
	IO            *IOStreams
	Project       string
	Name          string
	Allowlist     string
	Image         string
	Dockerfile    string
	Workspace     string
	Env           []string
	Backend       string
	Detach        bool
	EgressNetwork string
	UpstreamDNS   string
	UpstreamCA    string
	Verbose       bool
	Yes           bool
	NoProject     bool
	Memory        string
	CPUs          string
	Pids          int
	Command       []string
	limits        launcher.Limits
	imported      []string // names of variables taken from this environment
	cleanup       []func()
}

var nonName = regexp.MustCompile(`[^a-z0-9_.-]+`)

func defaultName() string {
	wd, _ := os.Getwd()
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(filepath.Base(wd)), "-"), "-._")
	if n == "" || launcher.ValidName(n) != nil {
		return "bottle"
	}
	return n
}

func newLaunchCmd(ios *IOStreams) *cobra.Command {
	return newLaunchCmdWith(&launchOptions{IO: ios})
}

func newLaunchCmdWith(opts *launchOptions) *cobra.Command {
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
rules, env, workspace, command and resource limits. Flags override it. A
project file comes with a repository, so bottle shows what it sets and asks
before using it, once per version of the file (--yes for scripts,
--no-project to ignore it); its workspace must lie inside its directory.
The names of variables the agent gets from your environment are printed.

NAME defaults to the current directory's name. With a command after --, it
runs in the agent (with a terminal when you have one); otherwise the bottle
keeps running and you attach with 'bottle shell NAME' or 'bottle exec'.`,
		Example: `  # The allowlist.yaml in this directory, this directory as the workspace, a shell
  bottle launch demo --workspace . -- bash

  # Detached, with a prebuilt agent image
  bottle launch demo --image my-agent:latest -d

  # Run an agent CLI unattended
  bottle launch --workspace . -e ANTHROPIC_API_KEY -- claude -p "fix the tests"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			pos := args
			if dash >= 0 {
				pos, opts.Command = args[:dash], args[dash:]
			}
			if len(pos) > 1 {
				return usageErrorf("launch takes one NAME; put the command after --: bottle launch %s -- %s", pos[0], strings.Join(pos[1:], " "))
			}
			if err := opts.applyProject(cmd); err != nil {
				return err
			}
			switch {
			case len(pos) == 1:
				opts.Name = pos[0]
			case opts.Name == "":
				opts.Name = defaultName()
			}
			if opts.Image != "" && opts.Dockerfile != "" {
				return usageErrorf("give --image or --dockerfile, not both")
			}
			if err := opts.parseLimits(cmd); err != nil {
				return err
			}
			for i, kv := range opts.Env {
				if !strings.Contains(kv, "=") { // -e NAME passes the value from here
					v, ok := os.LookupEnv(kv)
					if !ok {
						return usageErrorf("-e %s: %s is not set here; write -e %s=VALUE", kv, kv, kv)
					}
					opts.Env[i] = kv + "=" + v
					opts.imported = append(opts.imported, kv)
				}
			}
			if err := launcher.CheckEnv(opts.Env); err != nil {
				return usageErrorf("-e: %v", err)
			}
			return launchRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Allowlist, "allowlist", "allowlist.yaml", "allowlist to start from (copied into the bottle's state)")
	f.StringVar(&opts.Project, "project", "", "project file (default: bottle.yaml here, when present)")
	f.StringVar(&opts.Image, "image", "", "agent image to use as is")
	f.StringVar(&opts.Dockerfile, "dockerfile", "", "Dockerfile to build the agent image from (default: bottle's own)")
	f.StringVar(&opts.Workspace, "workspace", "", "directory copied into /workspace")
	f.StringArrayVarP(&opts.Env, "env", "e", nil, "K=V (or K, taken from here) for the agent (repeatable)")
	f.StringVar(&opts.Backend, "backend", "", "docker or macos-container (default: $BOTTLE_BACKEND, else the first that works)")
	f.BoolVarP(&opts.Detach, "detach", "d", false, "do not attach, even with a command")
	f.StringVar(&opts.EgressNetwork, "egress-network", "", "use this existing network as the egress side (e.g. a corporate one)")
	f.StringVar(&opts.UpstreamDNS, "upstream-dns", "", "resolvers the sidecar uses, HOST:PORT[,...] (default: the engine's)")
	f.StringVar(&opts.UpstreamCA, "upstream-ca", "", "PEM roots the sidecar trusts upstream besides the public ones")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "show image build output")
	f.BoolVarP(&opts.Yes, "yes", "y", false, "use the project file without asking, even if it is new or changed (for scripts)")
	f.BoolVar(&opts.NoProject, "no-project", false, "ignore bottle.yaml in this directory")
	f.StringVar(&opts.Memory, "memory", "", "memory limit of the agent, e.g. 4g (default: none)")
	f.StringVar(&opts.CPUs, "cpus", "", "CPU limit of the agent, e.g. 2 or 1.5 (default: none)")
	f.IntVar(&opts.Pids, "pids-limit", 0, "process limit of the agent, e.g. 1024 (default: none; Docker only)")
	return cmd
}

// parseLimits reads the resource flags over what the project file set.
func (opts *launchOptions) parseLimits(cmd *cobra.Command) error {
	var err error
	if cmd.Flags().Changed("memory") {
		if opts.limits.Memory, err = launcher.ParseMemory(opts.Memory); err != nil {
			return usageErrorf("--memory: %v", err)
		}
	}
	if cmd.Flags().Changed("cpus") {
		if opts.limits.CPUs, err = launcher.ParseCPUs(opts.CPUs); err != nil {
			return usageErrorf("--cpus: %v", err)
		}
	}
	if cmd.Flags().Changed("pids-limit") {
		if opts.limits.Pids, err = launcher.ParsePids(fmt.Sprint(opts.Pids)); err != nil {
			return usageErrorf("--pids-limit: %v", err)
		}
	}
	return nil
}

// applyProject fills every option the command line left unset from the
// project file.
func (opts *launchOptions) applyProject(cmd *cobra.Command) error {
	path := opts.Project
	if opts.NoProject {
		if path != "" {
			return usageErrorf("give --project or --no-project, not both")
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
			return &exitError{code: ExitUsage, err: fmt.Errorf("%s is not valid:\n%w", path, err)}
		}
		return &exitError{code: ExitUsage, err: err}
	}
	if err := opts.approve(path, p); err != nil {
		return err
	}
	set := cmd.Flags().Changed
	opts.limits = p.Limits
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
			f.Write(p.Inline)
			f.Close()
			opts.Allowlist = f.Name()
			opts.cleanup = append(opts.cleanup, func() { os.Remove(f.Name()) })
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
		v, ok := os.LookupEnv(k)
		if !ok {
			return usageErrorf("%s: env %s has no value there and is not set here", path, k)
		}
		env = append(env, k+"="+v)
		opts.imported = append(opts.imported, k)
	}
	opts.Env = append(env, opts.Env...) // flags last: they win
	return nil
}

func launchRun(ctx context.Context, opts *launchOptions) error {
	defer func() {
		for _, f := range opts.cleanup {
			f()
		}
	}()
	l, err := newLauncher(ctx, opts.IO, opts.Backend, opts.Verbose)
	if err != nil {
		return err
	}
	start := time.Now()
	if len(opts.imported) > 0 {
		fmt.Fprintf(opts.IO.Err, "the agent gets these variables from your environment: %s\n", strings.Join(opts.imported, ", "))
	}
	b, err := l.Launch(ctx, launcher.Spec{
		Name: opts.Name, Allowlist: opts.Allowlist, Image: opts.Image, Dockerfile: opts.Dockerfile,
		AgentBase: readEnv().AgentBase, Workspace: opts.Workspace, Env: opts.Env,
		EgressNetwork: opts.EgressNetwork, UpstreamDNS: opts.UpstreamDNS, UpstreamCA: opts.UpstreamCA,
		Limits: opts.limits,
	})
	if err != nil {
		return err
	}
	w := opts.IO.Err
	fmt.Fprintf(w, "\nbottle %q is running (%s, launched in %.1fs)\n", b.Name, b.Backend, time.Since(start).Seconds())
	fmt.Fprintf(w, "  proxy:     %s\n  CA:        sha256 %s\n  state:     %s\n", b.ProxyURL, b.CAFingerprint, b.StateDir)
	fmt.Fprintf(w, "  exec:      bottle exec %s -- CMD\n  shell:     bottle shell %s\n  allow:     bottle allow add HOST --bottle %s\n  egress:    bottle logs %s --egress -f\n  stop:      bottle stop %s\n",
		b.Name, b.Name, b.Name, b.Name, b.Name)
	if len(opts.Command) == 0 || opts.Detach {
		if len(opts.Command) > 0 {
			fmt.Fprintf(w, "detached; run the command with: bottle exec %s -- %s\n", b.Name, strings.Join(opts.Command, " "))
		}
		return nil
	}
	return execIn(ctx, l, b, opts.IO, opts.Command)
}

// execIn runs argv in the agent as its user, in /workspace, with a terminal
// when ours is one; the exit status becomes ours.
func execIn(ctx context.Context, l *launcher.Launcher, b *launcher.Bottle, ios *IOStreams, argv []string) error {
	tty := isTerminal(ios.In) && isTerminal(ios.Out)
	err := l.Backend.Exec(ctx, b.Agent, launcher.ExecSpec{Argv: argv, User: b.AgentUser, Workdir: "/workspace", TTY: tty,
		Stdin: ios.In, Stdout: ios.Out, Stderr: ios.Err})
	if err != nil {
		if code := launcher.ExitCode(err); code > 0 {
			return silentExit(code)
		}
		return err
	}
	return nil
}

// loadBottle reads a bottle's metadata and gives it the backend it was
// launched on (recorded there), whatever BOTTLE_BACKEND or auto-selection
// would pick now. A name that is not valid is a usage error.
func loadBottle(ctx context.Context, ios *IOStreams, name string) (*launcher.Launcher, *launcher.Bottle, error) {
	if err := launcher.ValidName(name); err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	e := readEnv()
	l := &launcher.Launcher{StateDir: e.StateDir, Progress: ios.Err}
	b, err := l.Load(name)
	if err != nil {
		return nil, nil, err
	}
	be, err := pickBackend(ctx, b.Backend, e)
	if err != nil {
		return nil, nil, err
	}
	l.Backend = be
	return l, b, nil
}

// runningBottle is loadBottle for verbs that need the bottle running.
func runningBottle(ctx context.Context, ios *IOStreams, name string) (*launcher.Launcher, *launcher.Bottle, error) {
	l, b, err := loadBottle(ctx, ios, name)
	if err == nil && !b.Stopped.IsZero() {
		err = fmt.Errorf("bottle %s was stopped at %s; launch it again (bottle launch %s), or read its saved logs (bottle logs %s)",
			name, b.Stopped.Local().Format(time.DateTime), name, name)
	}
	return l, b, err
}

func newExecCmd(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAME -- CMD [ARGS...]",
		Short: "Run a command in a bottle's agent (its exit status is bottle's)",
		Example: `  bottle exec demo -- git status
  bottle exec demo -- curl -sI https://api.github.com/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return usageErrorf("usage: bottle exec NAME -- CMD [ARGS...]")
			}
			l, b, err := runningBottle(cmd.Context(), ios, args[0])
			if err != nil {
				return err
			}
			return execIn(cmd.Context(), l, b, ios, args[1:])
		},
	}
}

func newShellCmd(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:     "shell NAME",
		Short:   "Open a shell in a bottle's agent",
		Example: `  bottle shell demo`,
		Args:    exactArgs(1, "the bottle NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, b, err := runningBottle(cmd.Context(), ios, args[0])
			if err != nil {
				return err
			}
			return execIn(cmd.Context(), l, b, ios, []string{"sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"})
		},
	}
}

func newStopCmd(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop bottles: save their logs, remove their containers and networks",
		Long: `Stop a bottle: save the agent's and the sidecar's logs into its state
directory (the egress audit is already there), then remove its containers and
networks, on the backend it was launched on. Only resources that carry the
bottle's labels are removed. Stopping a stopped bottle changes nothing (its
saved logs stay as they are); a name that is not a bottle is an error.`,
		Example: `  bottle stop demo
  bottle stop a b c`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			usage := false
			for _, n := range args {
				stopped, dir, err := stopOne(cmd.Context(), ios, n)
				switch {
				case err != nil:
					var ee *exitError
					usage = usage || errors.As(err, &ee) && ee.code == ExitUsage
					errs = append(errs, fmt.Errorf("%s: %w", n, err))
				case stopped:
					fmt.Fprintf(ios.Out, "stopped %s (logs in %s)\n", n, dir)
				default:
					fmt.Fprintf(ios.Out, "%s was already stopped (logs in %s)\n", n, dir)
				}
			}
			if err := errors.Join(errs...); err != nil && usage {
				return &exitError{code: ExitUsage, err: err}
			} else if err != nil {
				return err
			}
			return nil
		},
	}
}

// stopOne stops bottle name on the backend recorded at its launch. Without
// metadata (a launch that died half way), the labelled resources are found
// on the backend that would be picked now.
func stopOne(ctx context.Context, ios *IOStreams, name string) (bool, string, error) {
	l, _, err := loadBottle(ctx, ios, name)
	if errors.Is(err, launcher.ErrNoBottle) {
		l, err = newLauncher(ctx, ios, "", false)
	}
	if err != nil {
		return false, "", err
	}
	stopped, err := l.Stop(ctx, name)
	return stopped, l.LogDir(name), err
}

func newListCmd(ios *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List bottles",
		Example: `  bottle list
  bottle list --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := newLauncher(cmd.Context(), ios, "", false)
			if err != nil {
				return err
			}
			sums, err := l.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if sums == nil {
					sums = []launcher.Summary{}
				}
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(sums)
			}
			if len(sums) == 0 {
				fmt.Fprintln(ios.Out, "no bottles")
				return nil
			}
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tPROXY\tCONTAINERS")
			for _, s := range sums {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Name, s.Status, s.ProxyURL, len(s.Containers))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newLogsCmd(ios *IOStreams) *cobra.Command {
	var egress, sidecar, follow, asJSON, raw bool
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show a bottle's agent log, its sidecar's log, or its egress audit",
		Long: `Show the agent's log (its container's output), the sidecar's log (--sidecar),
or the egress audit (--egress): one line per request, tunnel and refused DNS
query, with the rule that decided and, for failures, the error. A stopped
bottle's logs are the ones saved when it stopped.

What the agent chose (its output, the hosts and paths it asked for) is shown
with terminal control characters escaped, so it cannot rewrite your screen or
your clipboard; --raw passes the agent's log through untouched.`,
		Example: `  bottle logs demo
  bottle logs demo --egress -f
  bottle logs demo --egress --json | jq 'select(.decision=="deny")'
  bottle logs demo --sidecar`,
		Args: exactArgs(1, "the bottle NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if egress && sidecar {
				return usageErrorf("give --egress or --sidecar, not both")
			}
			l, b, err := loadBottle(cmd.Context(), ios, args[0])
			if err != nil {
				return err
			}
			if egress {
				return egressLog(cmd.Context(), filepath.Join(l.LogDir(b.Name), contract.AuditFile), follow, asJSON, ios.Out)
			}
			role, container := "agent", b.Agent
			if sidecar {
				role, container = "sidecar", b.Sidecar
			}
			out := ios.Out
			if !raw {
				out = &termsafe.Writer{W: ios.Out}
			}
			if !b.Stopped.IsZero() {
				f, err := os.Open(filepath.Join(l.LogDir(b.Name), role+".log"))
				if err != nil {
					return fmt.Errorf("bottle %s is stopped and its %s log was not saved: %w", b.Name, role, err)
				}
				defer f.Close()
				_, err = io.Copy(out, f)
				return err
			}
			return l.Backend.Logs(cmd.Context(), container, follow, out)
		},
	}
	cmd.Flags().BoolVar(&egress, "egress", false, "the egress audit: every request, tunnel and refused DNS query")
	cmd.Flags().BoolVar(&sidecar, "sidecar", false, "the sidecar's own log (start, reloads, errors)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().BoolVar(&asJSON, "json", false, "the audit lines as JSON (with --egress)")
	cmd.Flags().BoolVar(&raw, "raw", false, "pass the log through without escaping terminal controls")
	return cmd
}

// egressLog prints the audit: the rotated files first (oldest first), then
// the current one; with follow, it keeps reading the current file and
// starts over when the sidecar rotates it.
func egressLog(ctx context.Context, path string, follow, asJSON bool, out io.Writer) error {
	for i := 3; i >= 1; i-- {
		if data, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i)); err == nil {
			for _, line := range strings.SplitAfter(string(data), "\n") {
				if strings.HasSuffix(line, "\n") {
					printAudit(out, line, asJSON)
				}
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if strings.HasSuffix(partial, "\n") {
			printAudit(out, partial, asJSON)
			partial = ""
		}
		if err == io.EOF {
			if !follow {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			// Rotated: the path now names a new, shorter file.
			if cur, serr := os.Stat(path); serr == nil {
				if old, ferr := f.Stat(); ferr == nil && !os.SameFile(cur, old) {
					if nf, err := os.Open(path); err == nil {
						f.Close()
						f, r, partial = nf, bufio.NewReader(nf), ""
					}
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

// printAudit prints one audit line. Everything in it may come from the
// agent (hosts, names, paths), so nothing reaches the terminal raw.
func printAudit(out io.Writer, line string, asJSON bool) {
	if asJSON {
		io.WriteString(out, termsafe.JSON(line))
		return
	}
	var r map[string]any
	if json.Unmarshal([]byte(line), &r) != nil {
		return
	}
	s := func(k string) string {
		if v, ok := r[k]; ok && v != nil {
			return termsafe.Line(fmt.Sprint(v))
		}
		return ""
	}
	target := s("host")
	switch {
	case s("kind") == "dns":
		target = s("name") + " (" + s("qtype") + ")"
	case s("kind") == "suppressed":
		target = s("client") + " ×" + s("count")
	case s("port") != "":
		target += ":" + s("port") + s("path")
	}
	extra := ""
	if e := s("error"); e != "" {
		extra = "  error: " + e
	}
	if n := s("repeated"); n != "" {
		extra += "  (and " + n + " more like it)"
	}
	fmt.Fprintf(out, "%s %-10s %-8s %-7s %s %s  [%s] %s%s\n", s("time"), s("decision"), s("kind"), s("method"), target, s("status"), s("rule"), s("reason"), extra)
}

func newCleanupCmd(ios *IOStreams) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove half-made or orphaned bottle resources",
		Long: `Remove the containers and networks of bottles that are not complete and
running: a launch that died half way, a bottle whose sidecar or agent is gone.
Only resources labelled dev.bottle.managed=true are ever touched.`,
		Example: `  bottle cleanup --dry-run
  bottle cleanup`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := newLauncher(cmd.Context(), ios, "", false)
			if err != nil {
				return err
			}
			return l.Cleanup(cmd.Context(), dryRun, ios.Out)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only say what would be removed")
	return cmd
}

func newDoctorCmd(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:     "doctor",
		Short:   "Say which backends work here, and why the others do not",
		Example: `  bottle doctor`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := readEnv()
			ok := false
			d := &docker.Backend{}
			if err := d.Check(cmd.Context()); err != nil {
				fmt.Fprintf(ios.Out, "docker:           not usable: %v\n", err)
			} else {
				v, _ := d.Version(cmd.Context())
				fmt.Fprintf(ios.Out, "docker:           ok (engine %s)\n", v)
				ok = true
			}
			if runtime.GOOS == "darwin" && runtime.GOARCH == "arm64" {
				mc := &macoscontainer.Backend{}
				if err := mc.Check(cmd.Context()); err != nil {
					fmt.Fprintf(ios.Out, "macos-container:  not usable: %v\n", err)
				} else {
					fmt.Fprintln(ios.Out, "macos-container:  ok (the default here)")
					ok = true
				}
			} else {
				fmt.Fprintf(ios.Out, "macos-container:  not usable: needs macOS on Apple silicon (this is %s/%s)\n", runtime.GOOS, runtime.GOARCH)
			}
			fmt.Fprintf(ios.Out, "state directory:  %s\n", e.StateDir)
			if e.Backend != "" {
				fmt.Fprintf(ios.Out, "BOTTLE_BACKEND:   %s\n", e.Backend)
			}
			if !ok {
				return silentExit(ExitError)
			}
			return nil
		},
	}
}
