package agents

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestAgents(t *testing.T) {
	fx := cmdtest.New(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	t.Chdir(dir)
	r := fx.Run(NewCmd(fx.F, nil), nil)
	// The built-in recipes, whatever flags they carry.
	rows := regexp.MustCompile(`^NAME +RUNS +FROM +DESCRIPTION\nclaude +claude .*built-in +Anthropic's Claude Code\ncodex +codex .*built-in +OpenAI's Codex CLI\ngemini +gemini .*built-in +Google's Gemini CLI\n$`)
	if r.Code != 0 || !rows.MatchString(r.Stdout) || r.Stderr != "" {
		t.Errorf("built-in only: %+v", r)
	}
	// The project's recipes, one shadowing a built-in one; a broken one is
	// said, after the others.
	agents := filepath.Join(dir, ".bottle", "agents")
	os.MkdirAll(agents, 0o755)
	os.WriteFile(filepath.Join(agents, "claude.yaml"), []byte("version: 1\nname: claude\ncommand: [claude, --model, opus]\n"), 0o644)
	os.WriteFile(filepath.Join(agents, "mine.yaml"), []byte("version: 1\nname: mine\ndescription: my agent\ncommand: [mine]\n"), 0o644)
	os.WriteFile(filepath.Join(agents, "broken.yaml"), []byte("version: 1\nname: broken\n"), 0o644)
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	var got []JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != 4 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if got[0].Name != "claude" || got[0].File != filepath.Join(agents, "claude.yaml") || strings.Join(got[0].Command, " ") != "claude --model opus" ||
		got[3].Name != "mine" || got[3].Description != "my agent" || got[3].File != filepath.Join(agents, "mine.yaml") || got[2].File != "builtin:gemini.yaml" {
		t.Errorf("--json: %+v", got)
	}
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bottle: some recipes are not valid, and were left out:\n") || !strings.Contains(r.Stderr, filepath.Join(agents, "broken.yaml")+":1:1: missing command") {
		t.Errorf("a broken recipe: %+v", r)
	}
	os.Remove(filepath.Join(agents, "broken.yaml"))
	// One recipe's text, to start one's own from.
	r = fx.Run(NewCmd(fx.F, nil), nil, "codex")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "# builtin:codex.yaml\n") || !strings.Contains(r.Stdout, "\nversion: 1\nname: codex\n") {
		t.Errorf("codex: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "mine")
	if r.Code != 0 || r.Stdout != "# "+filepath.Join(agents, "mine.yaml")+"\nversion: 1\nname: mine\ndescription: my agent\ncommand: [mine]\n" {
		t.Errorf("mine: %+v", r)
	}
	for args, want := range map[string]string{
		"claud":       `bottle: no agent recipe "claud"; did you mean "claude"?`,
		"a b":         "bottle: bottle agents: too many arguments",
		"mine --json": "bottle: --json lists the recipes: drop RECIPE, or drop --json to print the recipe mine\n",
	} {
		if r := fx.Run(NewCmd(fx.F, nil), nil, strings.Fields(args)...); r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, want) {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
