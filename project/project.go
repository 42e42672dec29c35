// Package project reads bottle.yaml, the optional project file that holds the
// settings of `bottle launch` for one project, so that a plain `bottle
// launch` does the right thing. Flags override it.
//
//	version: 1
//	name: widget
//	image: my-agent:latest          # or dockerfile: ./Dockerfile.agent
//	allowlist: allowlist.yaml       # or inline: mode, allow, deny as in allowlist.yaml
//	env:
//	  LOG_LEVEL: debug
//	  ANTHROPIC_API_KEY:            # no value: taken from the environment of `bottle launch`
//	workspace: .                    # inside the project directory
//	command: [-p, "fix the failing tests"]   # with agent: its arguments (headless); else the command
//	agent: claude                   # an agent recipe: claude, codex, gemini, or one of .bottle/agents/
//	prompt: AGENTS.md               # copied to where the agent reads its instructions
//	skills: .claude/skills          # a directory, copied to where the agent reads its skills
//	memory: 4g                      # limits of the agent container
//	cpus: 2
//	pids_limit: 1024
//	git_identity:                   # who the agent's commits say made them
//	  name: Widget Bot              # (default: your git config's, else the bottle's)
//	  email: bot@widget.example.com
//
// A project file comes with a repository, so it is not trusted: bottle
// launch shows what it sets and asks before using it (see the CLI), and a
// project file cannot point the workspace (or the agent recipe, prompt or
// skills it names) outside its own directory.
package project

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/recipe"
)

// FileName is the project file bottle looks for in the working directory.
const FileName = "bottle.yaml"

// Project is a validated bottle.yaml. Paths are absolute.
type Project struct {
	File       string
	Name       string
	Image      string
	Dockerfile string
	Allowlist  string // a file, or
	Inline     []byte // a standalone allowlist document made from the inline rules
	Env        []string
	EnvFromCLI []string // names whose value comes from the launching environment
	Workspace  string
	Command    []string
	Limits     launcher.Limits
	// GitIdentity is git_identity: set in the agent over the image's own.
	GitIdentity launcher.GitIdentity
	// Agent is agent: a recipe's name, or the absolute path of a recipe
	// file (a value with a '/' or ending in .yaml); AgentAt is where the
	// value is (FILE:LINE:COL), for an error about the recipe it names.
	Agent   string
	AgentAt string
	// Prompt is prompt: a file, Skills skills: a directory, both inside
	// the project directory.
	Prompt string
	Skills string
}

// inlineKeys are the allowlist's keys that a project may hold inline
// (version is implied).
var inlineKeys = []string{"mode", "dlp", "allow", "deny", "credentials", "git"}

var ownKeys = []string{"name", "image", "dockerfile", "allowlist", "env", "workspace", "command", "memory", "cpus", "pids_limit", "git_identity", "agent", "prompt", "skills"}

// Keys returns the top-level keys of a project file that are not the
// allowlist's (version, mode, dlp, allow, deny, credentials, git): what allowlist.ParseEmbedded
// and allowlist.AddEmbedded are told belong to the project.
func Keys() []string { return slices.Clone(ownKeys) }

// IsProject reports whether the file at path, holding data, is a project
// file rather than a plain allowlist: it is named bottle.yaml, or one of
// the project's own keys is at its top.
func IsProject(path string, data []byte) bool {
	if filepath.Base(path) == FileName {
		return true
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if slices.Contains(ownKeys, root.Content[i].Value) {
			return true
		}
	}
	return false
}

// Load reads and validates path. Every problem is reported at once as
// FILE:LINE:COL: message (an allowlist.ErrorList).
func Load(path string) (*Project, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates the bytes of a project file.
func Parse(path string, data []byte) (*Project, error) {
	// The allowlist parser checks version, mode, allow and deny, and that no
	// unknown key is present.
	_, polErr := allowlist.ParseEmbedded(path, data, ownKeys)
	var errs allowlist.ErrorList
	var el allowlist.ErrorList
	if errors.As(polErr, &el) {
		errs = append(errs, el...)
	} else if polErr != nil {
		return nil, polErr
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errs // the allowlist parser has reported it
	}
	root := doc.Content[0]
	full, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	ps := &parser{file: path, dir: filepath.Dir(full), errs: errs, p: &Project{File: path}}
	inline := false
	keys := map[string]*yaml.Node{}
	read := ps.keys()
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		keys[k.Value] = k
		if slices.Contains(inlineKeys, k.Value) {
			inline = true
			continue
		}
		if f := read[k.Value]; f != nil {
			f(v)
		}
	}
	p := ps.p
	if p.Image != "" && p.Dockerfile != "" {
		ps.errorf(keys["dockerfile"], "give image or dockerfile, not both")
	}
	if inline && p.Allowlist != "" {
		ps.errorf(keys["allowlist"], "give allowlist (a file) or inline allow/deny rules, not both")
	}
	if len(ps.errs) > 0 {
		slices.SortStableFunc(ps.errs, func(a, b *allowlist.Error) int { return (a.Line-b.Line)*1000 + a.Col - b.Col })
		return nil, ps.errs
	}
	if inline {
		out, err := standalone(root)
		if err != nil {
			return nil, err
		}
		p.Inline = out
	}
	return p, nil
}

// parser reads the project's own keys into p, collecting every problem.
type parser struct {
	file string
	dir  string // the project file's directory: relative paths are from here
	errs allowlist.ErrorList
	p    *Project
}

// keys maps each of the project's own keys to what reads it.
func (ps *parser) keys() map[string]func(v *yaml.Node) {
	p := ps.p
	return map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			if s, ok := ps.str("name", v); ok {
				if err := launcher.ValidName(s); err != nil {
					ps.errorf(v, "%v", err)
				}
				p.Name = s
			}
		},
		"image":        func(v *yaml.Node) { p.Image, _ = ps.str("image", v) },
		"dockerfile":   func(v *yaml.Node) { p.Dockerfile = ps.path("dockerfile", v) },
		"allowlist":    func(v *yaml.Node) { p.Allowlist = ps.path("allowlist", v) },
		"workspace":    func(v *yaml.Node) { p.Workspace = ps.inside("workspace", v, "a directory", "--workspace DIR") },
		"agent":        ps.agent,
		"prompt":       func(v *yaml.Node) { p.Prompt = ps.inside("prompt", v, "a file", "--prompt FILE") },
		"skills":       func(v *yaml.Node) { p.Skills = ps.inside("skills", v, "a directory", "--skills DIR") },
		"memory":       func(v *yaml.Node) { limit(ps, "memory", v, launcher.ParseMemory, &p.Limits.Memory) },
		"cpus":         func(v *yaml.Node) { limit(ps, "cpus", v, launcher.ParseCPUs, &p.Limits.CPUs) },
		"pids_limit":   func(v *yaml.Node) { limit(ps, "pids_limit", v, launcher.ParsePids, &p.Limits.Pids) },
		"command":      ps.command,
		"env":          ps.env,
		"git_identity": ps.gitIdentity,
	}
}

func (ps *parser) errorf(n *yaml.Node, format string, args ...any) {
	ps.errs = append(ps.errs, &allowlist.Error{File: ps.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func (ps *parser) str(key string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
		ps.errorf(v, "%s must be a non-empty string", key)
		return "", false
	}
	return v.Value, true
}

// path reads a path, made absolute from the project file's directory.
func (ps *parser) path(key string, v *yaml.Node) string {
	s, ok := ps.str(key, v)
	if !ok {
		return ""
	}
	if filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(ps.dir, s)
}

// inside reads a path that must lie inside the project directory: a
// project file comes with a repository, and may not point bottle at the
// rest of the user's disk. what and flag go into the error: the kind of
// path, and the flag that may name one anywhere.
func (ps *parser) inside(key string, v *yaml.Node, what, flag string) string {
	p := ps.path(key, v)
	if p != "" && !InsideDir(p, ps.dir) {
		ps.errorf(v, "%s %q is outside the project directory %s; a project file may only name %s inside it (to use another, pass %s)", key, v.Value, ps.dir, what, flag)
		return ""
	}
	return p
}

// agent reads agent: a recipe's name, or a recipe file inside the project
// directory (recipe.IsPath). Whether the recipe exists is decided where it
// is looked up (recipe.Find), which reports it at AgentAt.
func (ps *parser) agent(v *yaml.Node) {
	s, ok := ps.str("agent", v)
	if !ok {
		return
	}
	ps.p.AgentAt = fmt.Sprintf("%s:%d:%d", ps.file, v.Line, v.Column)
	if recipe.IsPath(s) {
		ps.p.Agent = ps.inside("agent", v, "a recipe file", "--agent FILE")
		return
	}
	if err := recipe.ValidName(s); err != nil {
		ps.errorf(v, "agent: %v (the built-in ones: %s; bottle agents lists them all; a file: ./NAME.yaml)", err, strings.Join(recipe.Builtin(), ", "))
		return
	}
	ps.p.Agent = s
}

// limit reads a resource limit with parse into *out.
func limit[T any](ps *parser, key string, v *yaml.Node, parse func(string) (T, error), out *T) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		ps.errorf(v, "must be a single value")
		return
	}
	x, err := parse(v.Value)
	if err != nil {
		ps.errorf(v, "%s: %v", key, err)
		return
	}
	*out = x
}

func (ps *parser) command(v *yaml.Node) {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		ps.errorf(v, "command must be a list of words, e.g. [claude, -p, \"fix the tests\"]")
		return
	}
	for _, w := range v.Content {
		if w.Kind != yaml.ScalarNode {
			ps.errorf(w, "command: each word must be a string")
			continue
		}
		ps.p.Command = append(ps.p.Command, w.Value)
	}
}

func (ps *parser) env(v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		ps.errorf(v, "env must be a mapping of NAME: value (no value: taken from the launching environment)")
		return
	}
	for j := 0; j+1 < len(v.Content); j += 2 {
		ek, ev := v.Content[j], v.Content[j+1]
		if ek.Value == "" || strings.ContainsAny(ek.Value, "= ") {
			ps.errorf(ek, "env: %q is not a variable name", ek.Value)
			continue
		}
		switch {
		case ev.Kind == yaml.ScalarNode && ev.Tag == "!!null":
			ps.p.EnvFromCLI = append(ps.p.EnvFromCLI, ek.Value)
		case ev.Kind == yaml.ScalarNode:
			ps.p.Env = append(ps.p.Env, ek.Value+"="+ev.Value)
		default:
			ps.errorf(ev, "env: %s must be a single value", ek.Value)
		}
	}
}

// gitIdentity reads git_identity: {name, email}, both needed. Neither may
// hold what git would drop or a line break ("<", ">", control
// characters); the email needs an "@".
func (ps *parser) gitIdentity(v *yaml.Node) {
	const usage = "git_identity must be a mapping of name and email, e.g. {name: Widget Bot, email: bot@widget.example.com}"
	if v.Kind != yaml.MappingNode {
		ps.errorf(v, usage)
		return
	}
	var id launcher.GitIdentity
	seen := map[string]bool{}
	for j := 0; j+1 < len(v.Content); j += 2 {
		k, val := v.Content[j], v.Content[j+1]
		var field *string
		switch k.Value {
		case "name":
			field = &id.Name
		case "email":
			field = &id.Email
		default:
			ps.errorf(k, "git_identity: unknown key %q (it has name and email)", k.Value)
			continue
		}
		seen[k.Value] = true
		s, ok := ps.str("git_identity."+k.Value, val)
		if !ok {
			continue
		}
		if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '<' || r == '>' }); i >= 0 {
			ps.errorf(val, "git_identity.%s %q: no '<', '>' or control characters (git would drop them)", k.Value, s)
			continue
		}
		if k.Value == "email" && !strings.Contains(s, "@") {
			ps.errorf(val, "git_identity.email %q is not an address (want e.g. bot@widget.example.com)", s)
			continue
		}
		*field = s
	}
	for _, want := range []string{"name", "email"} {
		if !seen[want] {
			ps.errorf(v, "git_identity: %s is missing (%s)", want, usage)
		}
	}
	if id.Name != "" && id.Email != "" {
		ps.p.GitIdentity = id
	}
}

// InsideDir reports whether path is dir or below it, once symlinks are
// resolved (a link inside the project may point anywhere). Of a path that
// does not exist yet, the part that does is resolved (escape/CLAUDE.md,
// with escape a link out, is outside), and the rest judged as written.
func InsideDir(path, dir string) bool {
	path = resolveExisting(filepath.Clean(path))
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolveExisting is path with symlinks resolved in its longest prefix
// that exists.
func resolveExisting(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(p) == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// standalone makes an allowlist document of the inline keys, comments kept.
func standalone(root *yaml.Node) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "version"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"})
	for i := 0; i+1 < len(root.Content); i += 2 {
		if slices.Contains(inlineKeys, root.Content[i].Value) {
			m.Content = append(m.Content, root.Content[i], root.Content[i+1])
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	enc.Close()
	return append([]byte("# made by bottle from the inline rules of bottle.yaml\n"), buf.Bytes()...), nil
}
