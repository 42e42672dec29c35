// Package recipe reads agent recipes: what `bottle launch --agent NAME`
// needs to run one coding agent CLI in a bottle, written as a small YAML
// file, so that adding an agent is a file and not a code change.
//
//	version: 1
//	name: claude
//	description: Anthropic's Claude Code
//	install:                          # at image build time, through the build's own network
//	  npm: ["@anthropic-ai/claude-code"]
//	  run: ["claude --version"]       # shell lines, as root, after the npm packages
//	command: [claude]                 # the agent CLI
//	unattended: [--dangerously-skip-permissions]   # put right after command: the bottle is the sandbox
//	env:                              # for the agent, before the user's -e
//	  DISABLE_AUTOUPDATER: "1"
//	allow:                            # allow rules, exactly as in allowlist.yaml
//	  - host: api.anthropic.com
//	credentials:                      # credentials, exactly as in allowlist.yaml
//	  - name: anthropic
//	    hosts: [api.anthropic.com]
//	    header: x-api-key
//	    source: env:ANTHROPIC_API_KEY
//	    agent_env: ANTHROPIC_API_KEY
//	instructions: ~/.claude/CLAUDE.md # where --prompt FILE goes (~: the agent user's home)
//	skills: ~/.claude/skills          # where --skills DIR goes
//	files:                            # written in the agent at provisioning, as the agent user
//	  - path: ~/.claude/bottle-mcp.json
//	    content: '{"mcpServers": {"bottle": {"type": "http", "url": "{mcp_url}"}}}'
//
// Recipes are found by name (Find): in the project's .bottle/agents/,
// then in $XDG_CONFIG_HOME/bottle/agents/ (~/.config/bottle/agents/),
// then among the built-in ones (claude, codex, gemini); a name with a '/',
// or ending in .yaml or .yml, is a path. docs/agents.md has every key.
package recipe

// Recipe is one validated agent recipe.
type Recipe struct {
	Name        string
	Description string
	// File is where the recipe was read from: its path, or
	// "builtin:NAME.yaml".
	File    string
	Install Install
	// Command is the agent CLI; Unattended the flags that turn its
	// unattended mode on, put right after it (Argv).
	Command    []string
	Unattended []string
	// Env is K=V for the agent, in the file's order: after bottle's own
	// variables, before the user's -e (which win).
	Env []string
	// Policy is a standalone allowlist document (version: 1, allow:,
	// credentials:) holding the recipe's rules and credentials exactly as
	// the recipe wrote them: allowlist.Merge adds them to the bottle's.
	// Nil when the recipe has neither.
	Policy []byte
	// Instructions is where the prompt file (--prompt) goes in the agent,
	// Skills where the skills directory (--skills) goes; "~/" is the agent
	// user's home. Empty: the agent reads none, and the flag is refused.
	Instructions string
	Skills       string
	// Files are written in the agent at provisioning, as the agent user.
	Files []File
	// Sum is a hash of the recipe's install step (and nothing else): it
	// goes into the agent image's tag, so an unchanged install is cached.
	Sum string
}

// Install is how the agent CLI gets into the agent image, at build time.
type Install struct {
	// NPM are packages for `npm install -g` ("@openai/codex",
	// "pkg@1.2.3"). The image gets Node.js and npm from its Debian
	// packages when it has no npm.
	NPM []string
	// Run are shell lines run as root after the packages, each its own
	// RUN step.
	Run []string
}

// File is a file a recipe writes in the agent at provisioning. In Path
// "~/" is the agent user's home. Content expands {mcp_url} (the supervise
// MCP server's URL, the agent's MCP_SUPERVISE_URL), {home} (the agent
// user's home) and {workspace} (/workspace). A .json file that the image
// already has is deep-merged (the recipe's keys win); any other file that
// exists is left as it is, with a note.
type File struct {
	Path    string
	Content string
}

// Argv is the agent's command line for args, the user's words after --:
// Command, then Unattended, then args. When args already begin with the
// agent CLI (bottle launch --agent claude -- claude -p "…"), that word is
// not repeated.
func (r *Recipe) Argv(args []string) []string {
	if len(r.Command) > 0 && len(args) > 0 && args[0] == r.Command[0] {
		args = args[1:]
	}
	argv := append(append([]string{}, r.Command...), r.Unattended...)
	return append(argv, args...)
}
