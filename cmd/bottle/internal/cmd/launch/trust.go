package launch

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/project"
)

// trustFile lists the project files the user approved, one hash of path and
// content per line, in bottle's state directory (never in the project).
const trustFile = "trusted-projects"

// approve decides whether a project file may be used. A bottle.yaml comes
// with a repository, and it can widen the bottle (rules, workspace, the
// host's environment), so, like `direnv allow`, a file is used only once
// the user has seen what it sets and said yes: once per path and content,
// and again whenever it changes. --yes says yes for scripts.
func (opts *Options) approve(path string, p *project.Project) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	h := sha256.New()
	h.Write([]byte(abs + "\x00"))
	h.Write(data)
	if p.Allowlist != "" {
		// The allowlist it names is part of what is approved: a change to
		// it (a pull that adds a rule) is asked about again.
		policy, _ := os.ReadFile(p.Allowlist)
		fmt.Fprintf(h, "\x00%s\x00", p.Allowlist)
		h.Write(policy)
	}
	sum := h.Sum(nil)
	key := hex.EncodeToString(sum)
	store := filepath.Join(opts.StateDir, trustFile)
	known, _ := os.ReadFile(store)
	if slices.Contains(strings.Fields(string(known)), key) {
		return nil
	}
	w := opts.IO.Err
	fmt.Fprintf(w, "%s is new or has changed since you last approved it. It sets:\n", abs)
	describeProject(w, p)
	switch {
	case opts.Yes:
		fmt.Fprintln(w, "approved with --yes")
	case opts.IO.CanPrompt():
		fmt.Fprint(w, "Use this project file? [y/N] ")
		line, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("not approved; nothing was launched (to launch without it: bottle launch --no-project)"))
		}
	default:
		return cmdutil.UsageError(fmt.Errorf("%s is not approved: read it, then run bottle launch --yes (or run bottle launch in a terminal to be asked)", abs))
	}
	if err := os.MkdirAll(filepath.Dir(store), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(store, append(known, []byte(key+"\n")...))
}

// describeProject says what a project file would change about a launch.
func describeProject(w io.Writer, p *project.Project) {
	line := func(k, v string) { fmt.Fprintf(w, "  %-11s %s\n", k+":", termsafe.Line(v)) }
	if p.Name != "" {
		line("name", p.Name)
	}
	switch {
	case p.Image != "":
		line("image", p.Image)
	case p.Dockerfile != "":
		line("dockerfile", p.Dockerfile)
	}
	var pol *allowlist.Policy
	switch {
	case p.Allowlist != "":
		line("allowlist", p.Allowlist)
		pol, _ = allowlist.Load(p.Allowlist)
	case p.Inline != nil:
		pol, _ = allowlist.Parse(p.File, p.Inline)
	}
	if pol != nil {
		line("rules", ruleSummary(pol))
		for _, g := range pol.Git() {
			line("git", g.String()+" — the agent may clone it, and push only as that says")
		}
		if len(pol.Credentials()) > 0 {
			line("credentials", credentialSummary(pol)+" — resolved on this host at launch (a command: runs here) and sent to those hosts")
		}
	}
	if p.Workspace != "" {
		line("workspace", p.Workspace+" (copied into the agent)")
	}
	var env []string
	for _, kv := range p.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = append(env, k)
	}
	if len(env) > 0 {
		line("env", strings.Join(env, ", "))
	}
	if len(p.EnvFromCLI) > 0 {
		line("env (yours)", strings.Join(p.EnvFromCLI, ", ")+" — taken from your environment and given to the agent")
	}
	if len(p.Command) > 0 {
		line("command", strings.Join(p.Command, " "))
	}
	if l := p.Limits; l.Memory != "" || l.CPUs != "" || l.Pids > 0 {
		line("limits", fmt.Sprintf("memory %s, cpus %s, pids %d", orDash(l.Memory), orDash(l.CPUs), l.Pids))
	}
}

// ruleSummary is a policy in one line: its mode and each rule's target.
func ruleSummary(pol *allowlist.Policy) string {
	var rules []string
	for _, r := range append(append([]*allowlist.Rule{}, pol.Allow()...), pol.DenyRules()...) {
		rules = append(rules, r.ID+" "+r.Target())
	}
	if len(rules) == 0 {
		rules = []string{"none (everything denied)"}
	}
	return fmt.Sprintf("mode %s; %s", pol.Mode(), strings.Join(rules, ", "))
}

// credentialSummary is the credentials of pol in one line: each one's
// name, sources and hosts.
func credentialSummary(pol *allowlist.Policy) string {
	var parts []string
	for _, c := range pol.Credentials() {
		var srcs []string
		for _, src := range []allowlist.Source{c.Source, c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if src.Scheme != "" {
				srcs = append(srcs, src.String())
			}
		}
		parts = append(parts, fmt.Sprintf("%s from %s to %s", c.Name, strings.Join(srcs, ", "), strings.Join(c.Hosts(), ", ")))
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
