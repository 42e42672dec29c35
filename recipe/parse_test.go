package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/golden"
)

// TestInvalid parses each testdata/invalid/NAME.yaml and compares the
// errors, one per line, with NAME.err (-update rewrites them; read the
// diff). Every error is an allowlist.Error with the recipe file's position.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(filepath.Base(f), data)
			var el allowlist.ErrorList
			if !errors.As(err, &el) || r != nil {
				t.Fatalf("Parse = %v, %v; want an ErrorList", r, err)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".err", []byte(err.Error()+"\n"))
			for _, e := range el {
				if e.File != filepath.Base(f) || e.Line == 0 || e.Col == 0 {
					t.Errorf("error without the file's position: %#v", e)
				}
			}
		})
	}
}

const full = `# a recipe with every key
version: 1
name: full
description: Every key
install:
  npm: ["@full/cli@1.2.3"]
  run: ["full --version"]
command: [full, run]
unattended: [--yes, --max-turns, 20]
env:
  FULL_NO_UPDATE: "1"
  FULL_LEVEL: 3
allow:
  # the API
  - &api {host: api.full.example, ports: [443]}
  - host: "*.cdn.full.example"
    methods: [GET]
credentials:
  - name: full
    hosts: [api.full.example]
    bearer: true
    source: env:FULL_API_KEY
    agent_env: FULL_API_KEY
instructions: ~/.full/RULES.md
skills: /opt/full/skills
files:
  - path: ~/.full/config.json
    content: '{"mcp": "{mcp_url}"}'
  - path: ~/.full/empty
    content: ""
`

func TestParseFull(t *testing.T) {
	r, err := Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := &Recipe{
		Name: "full", Description: "Every key", File: "full.yaml",
		Install:      Install{NPM: []string{"@full/cli@1.2.3"}, Run: []string{"full --version"}},
		Command:      []string{"full", "run"},
		Unattended:   []string{"--yes", "--max-turns", "20"},
		Env:          []string{"FULL_NO_UPDATE=1", "FULL_LEVEL=3"},
		Instructions: "~/.full/RULES.md", Skills: "/opt/full/skills",
		Files: []File{{"~/.full/config.json", `{"mcp": "{mcp_url}"}`}, {"~/.full/empty", ""}},
	}
	got := *r
	got.Policy, got.Sum = nil, ""
	if g, w := strings.Join(dump(&got), "\n"), strings.Join(dump(want), "\n"); g != w {
		t.Errorf("Parse:\n%s\nwant:\n%s", g, w)
	}
	// The Policy is the rules, not how the file wrote them: no comments,
	// no anchors, flow style gone, and it parses on its own.
	wantPolicy := `version: 1
allow:
  - host: api.full.example
    ports:
      - 443
  - host: '*.cdn.full.example'
    methods:
      - GET
credentials:
  - name: full
    hosts:
      - api.full.example
    bearer: true
    source: env:FULL_API_KEY
    agent_env: FULL_API_KEY
`
	if string(r.Policy) != wantPolicy {
		t.Errorf("Policy:\n%s\nwant:\n%s", r.Policy, wantPolicy)
	}
	pol, err := allowlist.Parse("policy", r.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.Allow()) != 2 || len(pol.Credentials()) != 1 || pol.Credentials()[0].AgentEnv != "FULL_API_KEY" {
		t.Errorf("Policy parses to %d rules, %d credentials", len(pol.Allow()), len(pol.Credentials()))
	}
	if len(r.Sum) != 16 {
		t.Errorf("Sum = %q; want 16 hex digits", r.Sum)
	}
}

func dump(r *Recipe) []string {
	return []string{"name " + r.Name, "description " + r.Description, "file " + r.File,
		"npm " + strings.Join(r.Install.NPM, "|"), "run " + strings.Join(r.Install.Run, "|"),
		"command " + strings.Join(r.Command, "|"), "unattended " + strings.Join(r.Unattended, "|"),
		"env " + strings.Join(r.Env, "|"), "instructions " + r.Instructions, "skills " + r.Skills,
		"files " + strings.Join(slices.Collect(func(yield func(string) bool) {
			for _, f := range r.Files {
				if !yield(f.Path + "=" + f.Content) {
					return
				}
			}
		}), "|")}
}

func TestParseMinimal(t *testing.T) {
	r, err := Parse("min.yaml", []byte("version: 1\nname: min\ncommand: [min]\nallow:\ncredentials: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	// "allow:" with nothing and an empty list are no rules: no Policy.
	if r.Policy != nil || r.Env != nil || r.Files != nil || r.Unattended != nil {
		t.Errorf("minimal recipe: %+v", r)
	}
	if got := r.Argv(nil); !slices.Equal(got, []string{"min"}) {
		t.Errorf("Argv = %q", got)
	}
}

// TestSum: the install step's hash changes with the install step and with
// nothing else.
func TestSum(t *testing.T) {
	base := "version: 1\nname: s\ncommand: [s]\ninstall: {npm: [a], run: [b]}\n"
	sum := func(src string) string {
		t.Helper()
		r, err := Parse("s.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return r.Sum
	}
	s := sum(base)
	if got := sum(base + "description: other\nenv: {X: \"1\"}\nunattended: [--y]\n# comment\n"); got != s {
		t.Errorf("Sum changed with what is not the install step: %s, %s", s, got)
	}
	for _, other := range []string{
		"version: 1\nname: s\ncommand: [s]\ninstall: {npm: [a, c], run: [b]}\n",
		"version: 1\nname: s\ncommand: [s]\ninstall: {npm: [a], run: [b, c]}\n",
		"version: 1\nname: s\ncommand: [s]\ninstall: {npm: [], run: [a, b]}\n",
		"version: 1\nname: s\ncommand: [s]\ninstall: {npm: [a@2], run: [b]}\n",
	} {
		if sum(other) == s {
			t.Errorf("Sum did not change with the install step:\n%s", other)
		}
	}
}
