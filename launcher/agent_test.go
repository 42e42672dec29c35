package launcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/golden"
	"bottle.dev/bottle/internal/syncbuf"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
	"bottle.dev/bottle/recipe"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/source"
)

// The built-in recipes' install steps and provisioning, as values (the
// recipe package's own tests parse the files).
func claudeRecipe() *recipe.Recipe {
	return &recipe.Recipe{
		Name: "claude", File: "builtin:claude.yaml",
		Install:      recipe.Install{NPM: []string{"@anthropic-ai/claude-code"}, Run: []string{"claude --version"}},
		Command:      []string{"claude"},
		Unattended:   []string{"--dangerously-skip-permissions"},
		Env:          []string{"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"},
		Instructions: "~/.claude/CLAUDE.md",
		Skills:       "~/.claude/skills",
		Files:        []recipe.File{{Path: "~/.claude.json", Content: `{"mcpServers": {"bottle": {"type": "http", "url": "{mcp_url}"}}}`}},
		Sum:          "claude-install-1",
	}
}

func codexRecipe() *recipe.Recipe {
	return &recipe.Recipe{
		Name: "codex", File: "builtin:codex.yaml",
		Install:      recipe.Install{NPM: []string{"@openai/codex"}, Run: []string{"codex --version"}},
		Command:      []string{"codex"},
		Unattended:   []string{"--dangerously-bypass-approvals-and-sandbox"},
		Instructions: "~/.codex/AGENTS.md",
		Skills:       "~/.codex/skills",
		Files:        []recipe.File{{Path: "~/.codex/config.toml", Content: "[mcp_servers.bottle]\nurl = \"{mcp_url}\"\n"}},
		Sum:          "codex-install-1",
	}
}

func geminiRecipe() *recipe.Recipe {
	return &recipe.Recipe{
		Name: "gemini", File: "builtin:gemini.yaml",
		Install:      recipe.Install{NPM: []string{"@google/gemini-cli"}, Run: []string{"gemini --version"}},
		Command:      []string{"gemini"},
		Unattended:   []string{"--yolo"},
		Instructions: "~/.gemini/GEMINI.md",
		Skills:       "~/.gemini/skills",
		Files:        []recipe.File{{Path: "~/.gemini/settings.json", Content: `{"mcpServers": {"bottle": {"httpUrl": "{mcp_url}"}}}`}},
		Sum:          "gemini-install-1",
	}
}

// launchAndStop launches s and stops it again, failing the test on an
// error.
func launchAndStop(t *testing.T, l *launcher.Launcher, s launcher.Spec) *launcher.Bottle {
	t.Helper()
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stop(context.Background(), s.Name); err != nil {
		t.Fatal(err)
	}
	return b
}

// layerBuilds are the builds of images FROM base: the install layers.
func layerBuilds(f *fakebackend.Backend, base string) []launcher.BuildSpec {
	var out []launcher.BuildSpec
	for _, b := range f.Builds() {
		if bytes.Contains(f.Dockerfile(b.Tag), []byte("\nFROM "+base+"\n")) {
			out = append(out, b)
		}
	}
	return out
}

// TestAgentInstallLayer: the recipe's install step is a layer over the
// agent image the launch would otherwise use, tagged by that image's tag
// and ID, the recipe's Sum and the upstream CA: built once, then cached
// (and said so), built again for a new Sum, a new base ID or a new CA,
// and every step again with Rebuild.
func TestAgentInstallLayer(t *testing.T) {
	l, f, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	s.Agent = claudeRecipe()
	first := launchAndStop(t, l, s)
	builds := layerBuilds(f, "agent:latest")
	if len(builds) != 1 || builds[0].Tag != first.AgentImage || !strings.HasPrefix(first.AgentImage, "bottle-agent:") || builds[0].NoCache {
		t.Fatalf("agent image %s, layer builds %+v", first.AgentImage, builds)
	}
	if !strings.Contains(out.String(), "\n      agent claude: @anthropic-ai/claude-code, 1 run line (built)\n") {
		t.Errorf("progress:\n%s", out.String())
	}
	if builds[0].Progress != nil {
		t.Error("without -v, the build's output is shown")
	}
	if agent, _ := f.Container("bottle-demo-agent"); agent.Image != "" {
		t.Errorf("stopped, the agent is still there: %+v", agent)
	}
	out.Reset()
	again := launchAndStop(t, l, s)
	if again.AgentImage != first.AgentImage || len(layerBuilds(f, "agent:latest")) != 1 {
		t.Errorf("an unchanged install was built again: %s, %+v", again.AgentImage, layerBuilds(f, "agent:latest"))
	}
	if !strings.Contains(out.String(), "\n      agent claude: @anthropic-ai/claude-code, 1 run line (cached)\n") {
		t.Errorf("progress:\n%s", out.String())
	}

	tags := map[string]bool{first.AgentImage: true}
	newTag := func(what string) {
		t.Helper()
		b := launchAndStop(t, l, s)
		if tags[b.AgentImage] {
			t.Errorf("%s: the layer's tag %s is an old one", what, b.AgentImage)
		}
		tags[b.AgentImage] = true
	}
	s.Agent.Sum = "claude-install-2"
	newTag("a changed install step")
	f.SetImageID("agent:latest", "sha256:rebuilt")
	newTag("the base image rebuilt under its tag")
	ca := filepath.Join(t.TempDir(), "corp.pem")
	os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\ncorp\n"), 0o644)
	s.UpstreamCA = ca
	newTag("an upstream CA")
	if n := len(layerBuilds(f, "agent:latest")); n != 4 {
		t.Errorf("%d layer builds, want 4", n)
	}

	s.Rebuild, l.Verbose = true, true
	rebuilt := launchAndStop(t, l, s)
	builds = layerBuilds(f, "agent:latest")
	if last := builds[len(builds)-1]; len(builds) != 5 || !last.NoCache || last.Tag != rebuilt.AgentImage || !tags[rebuilt.AgentImage] {
		t.Errorf("--rebuild: %+v", builds)
	}
	if builds[len(builds)-1].Progress == nil {
		t.Error("with -v, the build's output is not shown")
	}
}

// TestAgentLayerOverBuiltImage: over bottle's own agent image, the layer
// is FROM the tag the launch built, and the bottle runs the layer.
func TestAgentLayerOverBuiltImage(t *testing.T) {
	l, f, s := setup(t)
	s.Image, s.Agent = "", codexRecipe()
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	builds := f.Builds()
	if len(builds) != 3 {
		t.Fatalf("builds %+v", builds)
	}
	base, layer := builds[1], builds[2]
	if !bytes.Contains(f.Dockerfile(layer.Tag), []byte("\nFROM "+base.Tag+"\n")) || layer.Tag != b.AgentImage {
		t.Errorf("layer %s over %s, bottle runs %s:\n%s", layer.Tag, base.Tag, b.AgentImage, f.Dockerfile(layer.Tag))
	}
	if agent, _ := f.Container("bottle-demo-agent"); agent.Image != b.AgentImage {
		t.Errorf("the agent runs %s", agent.Image)
	}
}

// TestAgentWithoutInstall: a recipe that installs nothing builds no layer.
func TestAgentWithoutInstall(t *testing.T) {
	l, f, s := setup(t)
	s.Agent = claudeRecipe()
	s.Agent.Install = recipe.Install{}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if b.AgentImage != "agent:latest" || len(layerBuilds(f, "agent:latest")) != 0 {
		t.Errorf("agent image %s, builds %+v", b.AgentImage, f.Builds())
	}
}

// TestAgentDockerfileGolden pins the Dockerfiles of the built-in recipes'
// install layers, as the builds read them: claude's; codex's through a
// network that intercepts TLS (--upstream-ca); gemini's over an image
// that runs as its own user, which the layer puts back.
func TestAgentDockerfileGolden(t *testing.T) {
	var all bytes.Buffer
	for _, tc := range []struct {
		r  *recipe.Recipe
		ca bool
	}{{claudeRecipe(), false}, {codexRecipe(), true}, {geminiRecipe(), false}} {
		l, f, s := setup(t)
		s.Agent = tc.r
		if tc.r.Name == "gemini" {
			f.SetImageUser("agent:latest", "agent") // an image whose Dockerfile says USER agent
		}
		if tc.ca {
			s.UpstreamCA = filepath.Join(t.TempDir(), "corp.pem")
			os.WriteFile(s.UpstreamCA, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
		}
		b, err := l.Launch(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString("### " + tc.r.File + "\n")
		all.Write(f.Dockerfile(b.AgentImage))
	}
	golden.Check(t, filepath.Join("testdata", "agent-dockerfiles.golden"), all.Bytes())
}

// TestAgentEnvOrder: the recipe's variables come after bottle's own and
// before the user's -e, which win.
func TestAgentEnvOrder(t *testing.T) {
	l, f, s := setup(t)
	s.Agent = claudeRecipe()
	s.Agent.Env = []string{"DISABLE_AUTOUPDATER=1", "EDITOR=recipe"}
	s.Env = []string{"EDITOR=user", "GIT_AUTHOR_NAME=Ada"}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	agent, _ := f.Container("bottle-demo-agent")
	env := agent.Env
	idx := func(kv string) int { return slices.Index(env, kv) }
	if idx("DISABLE_AUTOUPDATER=1") < idx("DENO_CERT=/etc/ssl/certs/ca-certificates.crt") ||
		idx("EDITOR=user") < idx("DISABLE_AUTOUPDATER=1") || idx("GIT_AUTHOR_NAME=Ada") < idx("EDITOR=user") {
		t.Errorf("env order: %q", env)
	}
	if slices.Contains(env, "EDITOR=recipe") {
		t.Errorf("the recipe's EDITOR is there beside the user's: %q", env)
	}
}

// TestAgentMetadata: the bottle records its recipe and what bottle shell
// runs in it; a command given at launch (the caller has put the recipe's
// argv in front of it, Recipe.Argv) runs as given, not put there twice.
func TestAgentMetadata(t *testing.T) {
	l, _, s := setup(t)
	s.Agent = claudeRecipe()
	s.Agent.Command, s.Agent.Unattended = []string{"sleep"}, nil // a program the fake's agent has
	s.Command = s.Agent.Argv([]string{"600"})
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := l.Load("demo")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Recipe != "claude" || !slices.Equal(loaded.AgentArgv, []string{"sleep"}) || !slices.Equal(b.Command, []string{"sleep", "600"}) {
		t.Errorf("recipe %q, agent argv %q, command %q", loaded.Recipe, loaded.AgentArgv, b.Command)
	}
	l, _, s = setup(t)
	s.Agent = claudeRecipe()
	if b, err = l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if want := []string{"claude", "--dangerously-skip-permissions"}; !slices.Equal(b.AgentArgv, want) {
		t.Errorf("agent argv %q", b.AgentArgv)
	}
}

// TestAgentFiles: the recipe's files are written as the agent user, owned
// by it, with {mcp_url}, {home} and {workspace} expanded and ~/ its home;
// a .json file the image has is deep-merged, the recipe's values winning
// and the image's order kept; any other file the image has is left as it
// is, with a note.
func TestAgentFiles(t *testing.T) {
	l, f, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	s.Agent = claudeRecipe()
	s.Agent.Files = []recipe.File{
		{Path: "~/.claude.json", Content: `{"mcpServers": {"bottle": {"type": "http", "url": "{mcp_url}"}}, "theme": "recipe", "projects": {"{workspace}": {"trusted": true}}}`},
		{Path: "~/.config/new/notes.txt", Content: "home {home}, workspace {workspace}\n"},
		{Path: "~/.profile", Content: "export FROM_RECIPE=1\n"},
	}
	root := f.Root("bottle-demo-agent")
	os.MkdirAll(filepath.Join(root, "home/agent"), 0o755)
	os.WriteFile(filepath.Join(root, "home/agent/.claude.json"), []byte(`{"userID": "u1", "theme": "dark", "mcpServers": {"other": {"command": "x"}}, "n": 1.50}`), 0o644)
	os.WriteFile(filepath.Join(root, "home/agent/.profile"), []byte("# the image's\n"), 0o644)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		data, _ := os.ReadFile(filepath.Join(root, p))
		return string(data)
	}
	wantJSON := `{
  "userID": "u1",
  "theme": "recipe",
  "mcpServers": {
    "other": {
      "command": "x"
    },
    "bottle": {
      "type": "http",
      "url": "` + b.MCPURL + `"
    }
  },
  "n": 1.50,
  "projects": {
    "/workspace": {
      "trusted": true
    }
  }
}
`
	if got := read("home/agent/.claude.json"); got != wantJSON {
		t.Errorf(".claude.json:\n%s\nwant:\n%s", got, wantJSON)
	}
	if got := read("home/agent/.config/new/notes.txt"); got != "home /home/agent, workspace /workspace\n" {
		t.Errorf("notes.txt: %q", got)
	}
	if got := read("home/agent/.profile"); got != "# the image's\n" {
		t.Errorf("the image's .profile was changed: %q", got)
	}
	for _, p := range []string{"/home/agent/.claude.json", "/home/agent/.config/new/notes.txt"} {
		if o := f.Owner("bottle-demo-agent", p); o != "agent" {
			t.Errorf("%s is %q's", p, o)
		}
	}
	for _, e := range f.Execs() {
		if strings.HasPrefix(strings.Join(e.Spec.Argv, " "), "sh -c # bottle: write") && e.Spec.User != "agent" {
			t.Errorf("a file was written as %q", e.Spec.User)
		}
	}
	for _, want := range []string{
		"agent claude: ~/.claude.json merged into the image's",
		"agent claude: ~/.config/new/notes.txt written",
		"agent claude: ~/.profile is in the image: left as it is, the recipe's content not written",
	} {
		if !strings.Contains(out.String(), "\n      "+want+"\n") {
			t.Errorf("no note %q:\n%s", want, out.String())
		}
	}
}

// TestAgentJSONNotMerged: a .json file the image has that is not JSON,
// or not a file, is left as it is, with a note.
func TestAgentJSONNotMerged(t *testing.T) {
	l, f, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	s.Agent = claudeRecipe()
	s.Agent.Files = append(s.Agent.Files, recipe.File{Path: "~/dir.json", Content: "{}"})
	root := f.Root("bottle-demo-agent")
	os.MkdirAll(filepath.Join(root, "home/agent/dir.json"), 0o755)
	os.WriteFile(filepath.Join(root, "home/agent/.claude.json"), []byte("{not json"), 0o644)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "home/agent/.claude.json")); string(data) != "{not json" {
		t.Errorf(".claude.json: %q", data)
	}
	for _, want := range []string{"agent claude: ~/.claude.json is in the image and not JSON", "agent claude: ~/dir.json is in the image and not a file: left as it is"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no note %q:\n%s", want, out.String())
		}
	}
}

// TestAgentPromptAndSkills: the prompt is copied to the recipe's
// instructions, the skills directory to its skills, recursively, given to
// the agent user; a symlink in it is left out, with a note, and never
// followed to the host file it names.
func TestAgentPromptAndSkills(t *testing.T) {
	l, f, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	s.Agent = claudeRecipe()
	dir := t.TempDir()
	s.Prompt = filepath.Join(dir, "prompt.md")
	os.WriteFile(s.Prompt, []byte("Fix the failing tests.\n"), 0o644)
	s.Skills = filepath.Join(dir, "skills")
	os.MkdirAll(filepath.Join(s.Skills, "review/scripts"), 0o755)
	os.WriteFile(filepath.Join(s.Skills, "review/SKILL.md"), []byte("# review\n"), 0o644)
	os.WriteFile(filepath.Join(s.Skills, "review/scripts/run.sh"), []byte("echo run\n"), 0o755)
	secretFile := filepath.Join(dir, "host-secret")
	os.WriteFile(secretFile, []byte("the host's"), 0o600)
	os.Symlink(secretFile, filepath.Join(s.Skills, "review/link"))
	// What the image has at the skills path stays whose it is: only what
	// was copied in is given to the agent user (a recipe's skills: may be
	// /etc).
	root := f.Root("bottle-demo-agent")
	os.MkdirAll(filepath.Join(root, "home/agent/.claude/skills"), 0o755)
	os.WriteFile(filepath.Join(root, "home/agent/.claude/skills/image.md"), []byte("the image's\n"), 0o644)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if o := f.Owner("bottle-demo-agent", "/home/agent/.claude/skills/image.md"); o != "" {
		t.Errorf("the image's file in the skills directory was given to %q", o)
	}
	for p, want := range map[string]string{
		"home/agent/.claude/CLAUDE.md":                    "Fix the failing tests.\n",
		"home/agent/.claude/skills/review/SKILL.md":       "# review\n",
		"home/agent/.claude/skills/review/scripts/run.sh": "echo run\n",
	} {
		if data, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(data) != want {
			t.Errorf("%s: %q %v", p, data, err)
		}
		if o := f.Owner("bottle-demo-agent", "/"+p); o != "agent" {
			t.Errorf("%s is %q's", p, o)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "home/agent/.claude/skills/review/link")); !os.IsNotExist(err) {
		t.Errorf("the symlink was copied: %v", err)
	}
	for _, want := range []string{"prompt " + s.Prompt + " copied to ~/.claude/CLAUDE.md",
		"skills " + s.Skills + " copied to ~/.claude/skills (2 files; left out, not a file or directory: review/link)"} {
		if !strings.Contains(out.String(), "\n      "+want+"\n") {
			t.Errorf("no note %q:\n%s", want, out.String())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(l.StateDir, ".build", "bottle-skills-*")); len(left) > 0 {
		t.Errorf("the staged skills were left: %v", left)
	}
}

// TestAgentRootUser: in an image without an agent user, the recipe's
// files go to root's home.
func TestAgentRootUser(t *testing.T) {
	l, f, s := setup(t)
	f.AgentUser = "root"
	s.Agent = geminiRecipe()
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Root("bottle-demo-agent"), "root/.gemini/settings.json")); err != nil {
		t.Error(err)
	}
}

// TestAgentRefusedBeforeAnything: a prompt or skills without an agent, or
// for a recipe that reads none, or missing on the host, and a recipe path
// or variable that cannot be, are refused before anything is made.
func TestAgentRefusedBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	prompt := filepath.Join(dir, "prompt.md")
	os.WriteFile(prompt, []byte("p"), 0o644)
	for name, tc := range map[string]struct {
		spec func(*launcher.Spec)
		want string
	}{
		"prompt without agent": {func(s *launcher.Spec) { s.Agent, s.Prompt = nil, prompt }, "--prompt " + prompt + ": there is no agent to read it; pass --agent NAME"},
		"skills without agent": {func(s *launcher.Spec) { s.Agent, s.Skills = nil, dir }, "--skills " + dir + ": there is no agent to read it"},
		"no instructions":      {func(s *launcher.Spec) { s.Agent.Instructions, s.Prompt = "", prompt }, "agent claude (builtin:claude.yaml) reads no instructions file (its recipe has no instructions:)"},
		"no skills path":       {func(s *launcher.Spec) { s.Agent.Skills, s.Skills = "", dir }, "agent claude (builtin:claude.yaml) reads no skills directory"},
		"prompt missing":       {func(s *launcher.Spec) { s.Prompt = filepath.Join(dir, "nope.md") }, "--prompt " + filepath.Join(dir, "nope.md") + ": stat"},
		"prompt a directory":   {func(s *launcher.Spec) { s.Prompt = dir }, "--prompt " + dir + ": not a file"},
		"skills missing":       {func(s *launcher.Spec) { s.Skills = filepath.Join(dir, "nope") }, "--skills " + filepath.Join(dir, "nope") + ": stat"},
		"skills a file":        {func(s *launcher.Spec) { s.Skills = prompt }, "--skills " + prompt + ": not a directory"},
		"relative path":        {func(s *launcher.Spec) { s.Agent.Files[0].Path = ".claude.json" }, `files[0].path ".claude.json": want a path in the agent user's home`},
		"dot-dot path":         {func(s *launcher.Spec) { s.Agent.Skills = "~/../etc" }, `skills "~/../etc": want a clean path`},
		"bad env":              {func(s *launcher.Spec) { s.Agent.Env = []string{"NOEQUALS"} }, "agent claude (builtin:claude.yaml): env: environment entry"},
	} {
		t.Run(name, func(t *testing.T) {
			l, f, s := setup(t)
			s.Agent = claudeRecipe()
			tc.spec(&s)
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			nothingMade(t, l, f)
		})
	}
}

// nothingMade fails the test when the launch made a state directory or
// asked the engine for more than its checks.
func nothingMade(t *testing.T, l *launcher.Launcher, f *fakebackend.Backend) {
	t.Helper()
	if _, err := os.Stat(l.Dir("demo")); !os.IsNotExist(err) {
		t.Errorf("a state directory was made: %v", err)
	}
	for _, c := range f.Calls() {
		if !strings.HasPrefix(c, "Check") && c != "List" && !strings.HasPrefix(c, "ImageExists ") {
			t.Errorf("the engine was asked to %s", c)
		}
	}
}

// needMerge skips a test of the merged policy while allowlist.Merge is
// the contract's stub.
func needMerge(t *testing.T) {
	t.Helper()
	if _, _, _, err := allowlist.Merge("a.yaml", []byte("version: 1\n"), "r.yaml", []byte("version: 1\n"), "agent x"); err != nil && strings.Contains(err.Error(), "being written") {
		t.Skip("allowlist.Merge is not there yet")
	}
}

// claudePolicy is the built-in claude recipe's allow rules and credential.
const claudePolicy = `version: 1
allow:
  - host: api.anthropic.com
    ports: [443]
credentials:
  - name: anthropic
    hosts: [api.anthropic.com]
    header: x-api-key
    source: env:TEST_ANTHROPIC_API_KEY
    agent_env: ANTHROPIC_API_KEY
`

// TestAgentPolicyMerged: the recipe's rules and credential are merged
// into the bottle's live allowlist, marked with their origin and said
// under the state step; the credential's real value goes to the sidecar
// alone, its placeholder to the agent in the recipe's agent_env.
func TestAgentPolicyMerged(t *testing.T) {
	needMerge(t)
	l, f, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	l.Secrets = &source.Resolver{LookupEnv: func(n string) (string, bool) {
		return "sk-real-value", n == "TEST_ANTHROPIC_API_KEY"
	}}
	s.Agent = claudeRecipe()
	s.Agent.Policy = []byte(claudePolicy)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	live, err := os.ReadFile(filepath.Join(l.ConfigDir("demo"), "allowlist.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := allowlist.Parse("live", live)
	if err != nil {
		t.Fatalf("the live allowlist: %v\n%s", err, live)
	}
	var hosts []string
	for _, r := range pol.Allow() {
		hosts = append(hosts, r.HostPattern()+" "+r.Origin)
	}
	if !slices.Contains(hosts, "api.example.com ") || !slices.Contains(hosts, "api.anthropic.com agent claude") {
		t.Errorf("live allow rules %q:\n%s", hosts, live)
	}
	if c := pol.Credentials(); len(c) != 1 || c[0].Name != "anthropic" || c[0].Origin != "agent claude" {
		t.Errorf("live credentials %+v", c)
	}
	for _, want := range []string{"agent claude adds allow[", "agent claude adds credential anthropic (ANTHROPIC_API_KEY)"} {
		if !strings.Contains(out.String(), "\n      "+want) {
			t.Errorf("no note %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(l.CredentialsPath("demo"))
	if err != nil {
		t.Fatal(err)
	}
	var creds secret.File
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	v, ok := creds.Lookup("anthropic")
	if !ok || v.Value != "sk-real-value" {
		t.Fatalf("credentials file: %s", data)
	}
	agent, _ := f.Container("bottle-demo-agent")
	if !slices.Contains(agent.Env, "ANTHROPIC_API_KEY="+v.Placeholder) {
		t.Errorf("the agent's env has no placeholder: %q", agent.Env)
	}
	for _, kv := range agent.Env {
		if strings.Contains(kv, "sk-real-value") {
			t.Errorf("the agent has the real value: %s", kv)
		}
	}
}

// TestAgentPolicyUserWins: a rule or credential the user's allowlist has
// already is not added again, and that is said.
func TestAgentPolicyUserWins(t *testing.T) {
	needMerge(t)
	l, _, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	os.WriteFile(s.Allowlist, []byte("version: 1\nallow:\n  - host: api.anthropic.com\n"), 0o644)
	s.Agent = claudeRecipe()
	s.Agent.Policy = []byte("version: 1\nallow:\n  - host: api.anthropic.com\n    ports: [443]\n")
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	live, _ := os.ReadFile(filepath.Join(l.ConfigDir("demo"), "allowlist.yaml"))
	if pol, err := allowlist.Parse("live", live); err != nil || len(pol.Allow()) != 1 {
		t.Errorf("live allowlist %v:\n%s", err, live)
	}
	if !strings.Contains(out.String(), "\n      agent claude does not add ") {
		t.Errorf("no note of what was left out:\n%s", out.String())
	}
}

// TestAgentCredentialUnresolved: a recipe's credential whose source does
// not resolve stops the launch before anything is made, naming the
// agent, the variable and the fix.
func TestAgentCredentialUnresolved(t *testing.T) {
	needMerge(t)
	l, f, s := setup(t)
	l.Secrets = &source.Resolver{LookupEnv: func(string) (string, bool) { return "", false }}
	s.Agent = claudeRecipe()
	s.Agent.Policy = []byte(claudePolicy)
	_, err := l.Launch(context.Background(), s)
	if err == nil {
		t.Fatal("launched")
	}
	for _, want := range []string{"agent claude: credential anthropic", "TEST_ANTHROPIC_API_KEY", "export TEST_ANTHROPIC_API_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: no %q", err, want)
		}
	}
	nothingMade(t, l, f)
}

// TestAgentEnvHoldsCredential: a recipe whose env sets the variable its
// credential fills with a placeholder is refused before anything is made.
func TestAgentEnvHoldsCredential(t *testing.T) {
	needMerge(t)
	l, f, s := setup(t)
	l.Secrets = &source.Resolver{LookupEnv: func(string) (string, bool) { return "v", true }}
	s.Agent = claudeRecipe()
	s.Agent.Policy = []byte(claudePolicy)
	s.Agent.Env = []string{"ANTHROPIC_API_KEY=oops"}
	_, err := l.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "env ANTHROPIC_API_KEY of agent claude (builtin:claude.yaml): the agent gets credential anthropic's placeholder") {
		t.Fatalf("err = %v", err)
	}
	nothingMade(t, l, f)
}

// TestAgentFailsAtEveryCall: whichever of the calls an agent recipe adds
// to a launch fails (its layer's build, its provisioning), the launch
// fails and leaves the engine as it found it.
func TestAgentFailsAtEveryCall(t *testing.T) {
	spec := func(t *testing.T) (*launcher.Launcher, *fakebackend.Backend, launcher.Spec) {
		l, f, s := setup(t)
		s.Agent = claudeRecipe()
		dir := t.TempDir()
		s.Prompt = filepath.Join(dir, "prompt.md")
		os.WriteFile(s.Prompt, []byte("p\n"), 0o644)
		s.Skills = filepath.Join(dir, "skills")
		os.MkdirAll(s.Skills, 0o755)
		os.WriteFile(filepath.Join(s.Skills, "SKILL.md"), []byte("s\n"), 0o644)
		return l, f, s
	}
	plain, pf, ps := setup(t)
	if _, err := plain.Launch(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	l, f, s := spec(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, c := range f.Calls() {
		if !slices.Contains(pf.Calls(), c) && !strings.Contains(c, " probe --timeout ") && !slices.Contains(calls, c) {
			calls = append(calls, c)
		}
	}
	if len(calls) < 6 {
		t.Fatalf("only %d calls of the recipe's: %q", len(calls), calls)
	}
	for _, call := range calls {
		name, _, _ := strings.Cut(call, "\n")
		t.Run(name, func(t *testing.T) {
			l, f, s := spec(t)
			f.FailAt = call
			if _, err := l.Launch(context.Background(), s); err == nil {
				t.Fatal("the launch succeeded")
			}
			if got := f.State(); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
		})
	}
}

// TestAgentDockerfileNoInjection: a run line or package that holds a line
// break, a trailing backslash or a heredoc stays one word of one RUN step.
func TestAgentDockerfileNoInjection(t *testing.T) {
	l, f, s := setup(t)
	s.Agent = claudeRecipe()
	s.Agent.Install = recipe.Install{NPM: []string{"pkg\nRUN evil"}, Run: []string{"echo a\nFROM evil", "echo b \\", "cat <<EOF\nx\nEOF"}}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	df := string(f.Dockerfile(b.AgentImage))
	var steps []string
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(line, "FROM ") || strings.HasPrefix(line, "RUN ") {
			steps = append(steps, strings.Fields(line)[0])
		}
		if strings.Contains(line, "evil") && !strings.HasPrefix(line, "RUN [") {
			t.Errorf("a recipe's word is a Dockerfile line: %q", line)
		}
	}
	// FROM, apt, npm, and one RUN per run line.
	if strings.Join(steps, " ") != "FROM RUN RUN RUN RUN RUN" {
		t.Errorf("steps %q:\n%s", steps, df)
	}
}

// TestBuiltinRecipes: each built-in recipe, as the recipe package reads
// it, launches on the fake engine: its install layer built, its rules and
// credential merged into the live allowlist with its origin, its
// credential's placeholder in the agent, and its files written.
func TestBuiltinRecipes(t *testing.T) {
	needMerge(t)
	for _, name := range recipe.Builtin() {
		t.Run(name, func(t *testing.T) {
			r, err := recipe.Find(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			l, f, s := setup(t)
			l.Secrets = &source.Resolver{LookupEnv: func(string) (string, bool) { return "real-key", true }}
			s.Agent = r
			b, err := l.Launch(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if b.AgentImage == "agent:latest" || !bytes.Contains(f.Dockerfile(b.AgentImage), []byte("npm install -g")) {
				t.Errorf("no install layer: %s", b.AgentImage)
			}
			live, _ := os.ReadFile(filepath.Join(l.ConfigDir("demo"), "allowlist.yaml"))
			pol, err := allowlist.Parse("live", live)
			if err != nil {
				t.Fatal(err)
			}
			agent, _ := f.Container("bottle-demo-agent")
			for _, c := range pol.Credentials() {
				if c.Origin != "agent "+name {
					t.Errorf("credential %s has origin %q", c.Name, c.Origin)
				}
				if c.AgentEnv != "" && !slices.ContainsFunc(agent.Env, func(kv string) bool {
					return strings.HasPrefix(kv, c.AgentEnv+"=") && !strings.Contains(kv, "real-key")
				}) {
					t.Errorf("no placeholder in %s: %q", c.AgentEnv, agent.Env)
				}
			}
			if len(pol.Credentials()) == 0 {
				t.Error("no credential merged")
			}
			for _, file := range r.Files {
				p := filepath.Join(f.Root("bottle-demo-agent"), "home/agent", strings.TrimPrefix(file.Path, "~/"))
				data, err := os.ReadFile(p)
				if err != nil || !strings.Contains(string(data), b.MCPURL) && strings.Contains(file.Content, "{mcp_url}") {
					t.Errorf("%s: %q %v", file.Path, data, err)
				}
			}
		})
	}
}
