package project

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/launcher"
)

func TestParseInline(t *testing.T) {
	src := `version: 1
name: widget
image: my-agent:latest
env:
  LOG_LEVEL: debug
  ANTHROPIC_API_KEY:
workspace: .
command: [claude, -p, "fix the tests"]
mode: report
allow:
  - host: api.anthropic.com   # the model
deny:
  - host: gist.github.com
`
	p, err := Parse("/proj/bottle.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "widget" || p.Image != "my-agent:latest" || p.Workspace != "/proj" || strings.Join(p.Command, "|") != "claude|-p|fix the tests" {
		t.Errorf("%+v", p)
	}
	if strings.Join(p.Env, ",") != "LOG_LEVEL=debug" || strings.Join(p.EnvFromCLI, ",") != "ANTHROPIC_API_KEY" {
		t.Errorf("env %v %v", p.Env, p.EnvFromCLI)
	}
	pol, err := allowlist.Parse("inline", p.Inline)
	if err != nil {
		t.Fatalf("inline allowlist: %v\n%s", err, p.Inline)
	}
	if pol.Mode() != allowlist.Report || len(pol.Allow()) != 1 || len(pol.DenyRules()) != 1 || !strings.Contains(string(p.Inline), "# the model") {
		t.Errorf("inline allowlist:\n%s", p.Inline)
	}
}

// TestParseInlineCredentials: credentials and dlp are allowlist keys, so a
// project holding them has an inline allowlist that keeps them.
func TestParseInlineCredentials(t *testing.T) {
	src := `version: 1
name: widget
image: my-agent:latest
dlp: block
credentials:
  - name: model   # the model's key
    hosts: [api.example.com]
    header: x-api-key
    source: env:MODEL_KEY
    agent_env: MODEL_KEY
allow:
  - host: api.example.com
    dlp: off
`
	p, err := Parse("/proj/bottle.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := allowlist.Parse("inline", p.Inline)
	if err != nil {
		t.Fatalf("inline allowlist: %v\n%s", err, p.Inline)
	}
	if pol.DLP() != allowlist.DLPBlock || len(pol.Credentials()) != 1 || pol.Credentials()[0].AgentEnv != "MODEL_KEY" || !strings.Contains(string(p.Inline), "# the model's key") {
		t.Errorf("inline allowlist:\n%s", p.Inline)
	}
	// Credentials alone make the allowlist inline: with allowlist: FILE too,
	// the project says two things.
	_, err = Parse("/proj/bottle.yaml", []byte("version: 1\nallowlist: a.yaml\ncredentials:\n"))
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("allowlist file and inline credentials: %v", err)
	}
}

// TestParseInlineGit: git is an allowlist key, so a project may declare
// its repositories inline.
func TestParseInlineGit(t *testing.T) {
	src := `version: 1
name: widget
git:
  - repo: git.example.com/acme/widget   # the agent's repository
    push: ["refs/heads/agent/**"]
`
	p, err := Parse("/proj/bottle.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := allowlist.Parse("inline", p.Inline)
	if err != nil {
		t.Fatalf("inline allowlist: %v\n%s", err, p.Inline)
	}
	if len(pol.Git()) != 1 || pol.Git()[0].Repo() != "git.example.com/acme/widget" || !strings.Contains(string(p.Inline), "# the agent's repository") {
		t.Errorf("inline allowlist:\n%s", p.Inline)
	}
}

func TestParseFileForm(t *testing.T) {
	p, err := Parse("/proj/bottle.yaml", []byte("version: 1\nallowlist: policy/allow.yaml\ndockerfile: Dockerfile.agent\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Allowlist != "/proj/policy/allow.yaml" || p.Dockerfile != "/proj/Dockerfile.agent" || p.Inline != nil {
		t.Errorf("%+v", p)
	}
}

func TestParseErrors(t *testing.T) {
	src := `version: 1
name: Widget Project
image: a
dockerfile: b
allowlist: x.yaml
imag: typo
env: [A=1]
command: claude
allow:
  - host: "*github.com"
`
	_, err := Parse("bottle.yaml", []byte(src))
	var el allowlist.ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"bottle.yaml:2:7: bottle name \"Widget Project\"",
		"bottle.yaml:4:1: give image or dockerfile, not both",
		"bottle.yaml:5:1: give allowlist (a file) or inline allow/deny rules, not both",
		"bottle.yaml:6:1: unknown key \"imag\"; did you mean \"image\"?",
		"bottle.yaml:7:6: env must be a mapping",
		"bottle.yaml:8:10: command must be a list of words",
		"bottle.yaml:10:11: allow[0].host \"*github.com\" has a wildcard inside the name",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if len(el) != len(want) {
		t.Errorf("%d errors; want %d:\n%s", len(el), len(want), got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("version: 1\nname: x\n"), 0o644)
	p, err := Load(filepath.Join(dir, FileName))
	if err != nil || p.Name != "x" {
		t.Errorf("%+v %v", p, err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

// TestWorkspaceStaysInside: a project file comes with a repository, so it
// may not point the workspace anywhere else (another bottle's state dir, the
// home directory), by path or through a symlink.
func TestWorkspaceStaysInside(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "src"), 0o755)
	os.Symlink(t.TempDir(), filepath.Join(dir, "escape"))
	file := filepath.Join(dir, FileName)
	for ws, ok := range map[string]bool{".": true, "src": true, "./src/../src": true, "..": false, "/etc": false, "escape": false, "src/../..": false} {
		_, err := Parse(file, []byte("version: 1\nworkspace: "+ws+"\n"))
		if ok && err != nil {
			t.Errorf("workspace %q: %v", ws, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), ":2:12: workspace") || !strings.Contains(err.Error(), "pass --workspace")) {
			t.Errorf("workspace %q accepted or badly refused: %v", ws, err)
		}
	}
}

func TestLimits(t *testing.T) {
	p, err := Parse("/proj/bottle.yaml", []byte("version: 1\nmemory: 4G\ncpus: 1.5\npids_limit: 1024\n"))
	if err != nil || p.Limits.Memory != "4g" || p.Limits.CPUs != "1.5" || p.Limits.Pids != 1024 {
		t.Fatalf("%+v %v", p, err)
	}
	_, err = Parse("bottle.yaml", []byte("version: 1\nmemory: 512\ncpus: lots\npids_limit: -1\n"))
	for _, want := range []string{"bottle.yaml:2:9: memory: \"512\" is not a size", "bottle.yaml:3:7: cpus: \"lots\" is not a number", "bottle.yaml:4:13: pids_limit: \"-1\" is not a process limit"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// TestGitIdentity: git_identity is a name and an email, both given, with
// nothing git would drop; each problem is reported where it is.
func TestGitIdentity(t *testing.T) {
	p, err := Parse("/proj/bottle.yaml", []byte("version: 1\ngit_identity:\n  name: Widget Bot\n  email: bot@widget.example.com\n"))
	if err != nil || p.GitIdentity != (launcher.GitIdentity{Name: "Widget Bot", Email: "bot@widget.example.com"}) {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err := Parse("/proj/bottle.yaml", []byte("version: 1\nname: x\n")); err != nil || !p.GitIdentity.IsZero() {
		t.Errorf("no git_identity: %+v %v", p, err)
	}
	for src, want := range map[string]string{
		"git_identity: Widget Bot\n":                          "bottle.yaml:2:15: git_identity must be a mapping of name and email",
		"git_identity: {name: Widget Bot}\n":                  "bottle.yaml:2:15: git_identity: email is missing",
		"git_identity: {email: a@b.example}\n":                "bottle.yaml:2:15: git_identity: name is missing",
		"git_identity: {name: W, email: a@b, mail: x}\n":      "bottle.yaml:2:37: git_identity: unknown key \"mail\" (it has name and email)",
		"git_identity: {name: W, email: bot.example.com}\n":   "bottle.yaml:2:32: git_identity.email \"bot.example.com\" is not an address",
		"git_identity: {name: \"W <x@y>\", email: a@b}\n":     "bottle.yaml:2:22: git_identity.name \"W <x@y>\": no '<', '>' or control characters",
		"git_identity: {name: \"W\\nX\", email: a@b}\n":       "bottle.yaml:2:22: git_identity.name \"W\\nX\": no '<', '>' or control characters",
		"git_identity: {name: \"\", email: a@b}\n":            "bottle.yaml:2:22: git_identity.name must be a non-empty string",
		"git_identity:\n  name: W\n  email: [a@b]\n":          "bottle.yaml:4:10: git_identity.email must be a non-empty string",
		"git_identity: {name: W, email: a@b}\ngit_idnty: x\n": "bottle.yaml:3:1: unknown key \"git_idnty\"",
	} {
		_, err := Parse("bottle.yaml", []byte("version: 1\n"+src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v\nwant %q", src, err, want)
		}
	}
}

// TestAgentKeys: agent, prompt and skills. A name is kept as written; a
// recipe file, the prompt and the skills are paths from the project
// file's directory, and like the workspace they must lie inside it.
func TestAgentKeys(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "skills"), 0o755)
	os.Symlink(t.TempDir(), filepath.Join(dir, "escape"))
	file := filepath.Join(dir, FileName)
	p, err := Parse(file, []byte("version: 1\nagent: claude\nprompt: AGENTS.md\nskills: ./skills\ncommand: [-p, fix it]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Agent != "claude" || p.AgentAt != file+":2:8" || p.Prompt != filepath.Join(dir, "AGENTS.md") || p.Skills != filepath.Join(dir, "skills") || strings.Join(p.Command, "|") != "-p|fix it" {
		t.Errorf("%+v", p)
	}
	for agent, want := range map[string]string{
		"./agents/mine.yaml": filepath.Join(dir, "agents", "mine.yaml"),
		"mine.yaml":          filepath.Join(dir, "mine.yaml"),
		"agents/mine":        filepath.Join(dir, "agents", "mine"),
		"mine.yml":           filepath.Join(dir, "mine.yml"),
	} {
		if p, err := Parse(file, []byte("version: 1\nagent: "+agent+"\n")); err != nil || p.Agent != want {
			t.Errorf("agent %q: %q %v; want %q", agent, p.Agent, err, want)
		}
	}
	if !IsProject("/proj/other.yaml", []byte("agent: claude\n")) {
		t.Error("agent: is a project key")
	}
}

// TestAgentKeysErrors: each problem of the agent keys at its FILE:LINE:COL,
// with the fix.
func TestAgentKeysErrors(t *testing.T) {
	dir := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(dir, "escape"))
	file := filepath.Join(dir, FileName)
	for src, want := range map[string]string{
		"agent: [claude]\n":          file + ":2:8: agent must be a non-empty string",
		"agent: \"\"\n":              file + ":2:8: agent must be a non-empty string",
		"agent: \"my agent\"\n":      file + ":2:8: agent: agent recipe name \"my agent\" may hold only lower-case letters, digits and '-', and starts with a letter or digit (the built-in ones: claude, codex, gemini; bottle agents lists them all; a file: ./NAME.yaml)",
		"agent: ../agents/x.yaml\n":  file + ":2:8: agent \"../agents/x.yaml\" is outside the project directory " + dir + "; a project file may only name a recipe file inside it (to use another, pass --agent FILE)",
		"agent: /etc/x.yaml\n":       file + ":2:8: agent \"/etc/x.yaml\" is outside the project directory",
		"prompt: ../notes.md\n":      file + ":2:9: prompt \"../notes.md\" is outside the project directory " + dir + "; a project file may only name a file inside it (to use another, pass --prompt FILE)",
		"prompt: escape/CLAUDE.md\n": file + ":2:9: prompt \"escape/CLAUDE.md\" is outside the project directory",
		"prompt: 3\n":                file + ":2:9: prompt must be a non-empty string",
		"skills: /etc\n":             file + ":2:9: skills \"/etc\" is outside the project directory " + dir + "; a project file may only name a directory inside it (to use another, pass --skills DIR)",
		"skills: {a: b}\n":           file + ":2:9: skills must be a non-empty string",
		"agnet: claude\n":            file + ":2:1: unknown key \"agnet\"; did you mean \"agent\"?",
	} {
		_, err := Parse(file, []byte("version: 1\n"+src))
		var el allowlist.ErrorList
		if !errors.As(err, &el) || len(el) != 1 || !strings.HasPrefix(el[0].Error(), want) {
			t.Errorf("%q: %v\nwant %q", src, err, want)
		}
	}
}
