package launch

import (
	"fmt"
	"io"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// JSON is what `bottle launch --json` prints on stdout once the bottle
// runs: its summary, for scripts (fields are only ever added).
type JSON struct {
	Name          string         `json:"name"`
	Backend       string         `json:"backend"`
	ProxyURL      string         `json:"proxy_url"`
	CAFingerprint string         `json:"ca_fingerprint"` // SHA-256 of the CA certificate, hex bytes joined by ':'
	StateDir      string         `json:"state_dir"`
	Containers    JSONContainers `json:"containers"`
	Networks      JSONNetworks   `json:"networks"`
	AgentUser     string         `json:"agent_user"`          // who commands run as in the agent: "agent", or "root" when the image has no agent user
	Mode          string         `json:"mode"`                // the allowlist's mode: "enforce" or "report"
	MCPURL        string         `json:"mcp_url,omitempty"`   // the supervise MCP server: the agent's MCP_SUPERVISE_URL
	Approvals     string         `json:"approvals,omitempty"` // --approvals: "ask" or "off"; absent: the allowlist's approvals: decides
	Agent         string         `json:"agent,omitempty"`     // --agent: the recipe's name
	// Command is the command -d started in the background (its state and
	// exit status: bottle list --json).
	Command []string `json:"command,omitempty"`
}

// JSONContainers are a bottle's containers, by role.
type JSONContainers struct {
	Agent   string `json:"agent"`
	Sidecar string `json:"sidecar"`
}

// JSONNetworks are a bottle's networks, by role.
type JSONNetworks struct {
	Internal string `json:"internal"`
	Egress   string `json:"egress"`
}

// ToJSON is b's summary.
func ToJSON(b *launcher.Bottle) JSON {
	return JSON{
		Name: b.Name, Backend: b.Backend, ProxyURL: b.ProxyURL, CAFingerprint: b.CAFingerprint, StateDir: b.StateDir,
		Containers: JSONContainers{Agent: b.Agent, Sidecar: b.Sidecar}, Networks: JSONNetworks{Internal: b.Internal, Egress: b.Egress},
		AgentUser: b.AgentUser, Mode: b.Mode, MCPURL: b.MCPURL, Approvals: b.Approvals, Agent: b.Recipe, Command: b.Command,
	}
}

// summary says what was launched: as JSON on stdout with --json, else in
// words on stderr (nothing with -q).
func (opts *Options) summary(b *launcher.Bottle, took time.Duration) error {
	if opts.Recipe != nil && b.Recipe == "" {
		// A launcher that does not record it yet: the launch had one.
		c := *b
		c.Recipe, b = opts.Recipe.Name, &c
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, ToJSON(b))
	}
	if opts.Quiet {
		return nil
	}
	from := ""
	if opts.Recipe != nil && !isBuiltin(opts.Recipe) {
		from = opts.Recipe.File
	}
	printSummary(opts.IO.Err, b, from, took, opts.headless())
	return nil
}

// printSummary says in words what runs; headless: the command is the
// agent's, and its output follows. from is the file of the agent's recipe
// when it is not a built-in one (a claude.yaml of the user's replaces the
// built-in claude): the summary says so.
func printSummary(w io.Writer, b *launcher.Bottle, from string, took time.Duration, headless bool) {
	fmt.Fprintf(w, "\nbottle %q is running (%s, launched in %.1fs)\n", b.Name, b.Backend, took.Seconds())
	fmt.Fprintf(w, "  proxy:     %s\n  CA:        sha256 %s\n  state:     %s\n", b.ProxyURL, b.CAFingerprint, b.StateDir)
	fmt.Fprintf(w, "  exec:      bottle exec %s -- CMD\n  shell:     bottle shell %s\n  allow:     bottle allow add HOST --bottle %s\n  egress:    bottle logs %s --egress -f\n  stop:      bottle stop %s\n",
		b.Name, b.Name, b.Name, b.Name, b.Name)
	if b.Approvals == "ask" {
		fmt.Fprintf(w, "  approve:   bottle approvals %s (denied requests are held until you decide)\n", b.Name)
	}
	if b.Recipe != "" {
		if from != "" {
			from = "recipe " + termsafe.Line(from) + "; "
		}
		fmt.Fprintf(w, "  agent:     %s (%sbottle shell %s opens it)\n", termsafe.Line(b.Recipe), from, b.Name)
	}
	switch {
	case headless:
		fmt.Fprintf(w, "  command:   %s; its output follows, and is kept in bottle logs %s\n\n", termsafe.Line(shquote.Join(b.Command)), b.Name)
	case len(b.Command) > 0:
		fmt.Fprintf(w, "  command:   %s, in the background\n  output:    bottle logs %s -f (ends when the command does)\n  status:    bottle list (its exit status, once it has ended)\n",
			termsafe.Line(shquote.Join(b.Command)), b.Name)
	}
}
