package launch

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/project"
	"bottle.dev/bottle/recipe"
)

// trustFile lists the project files the user approved, one hash of path and
// content per line, in bottle's state directory (never in the project).
const trustFile = "trusted-projects"

// approve decides whether a project file may be used. A bottle.yaml comes
// with a repository, and it can widen the bottle (rules, workspace, the
// host's environment, an agent recipe's rules, credentials and install
// step), so, like `direnv allow`, a file is used only once the user has
// seen what it sets and said yes: once per path and content, and again
// whenever it, or a file it names whose content matters (the allowlist, the
// Dockerfile, a recipe that is not built in, the prompt, the skills),
// changes. --yes says
// yes for scripts. The recipe it names is looked up here, and kept in
// opts.projectRecipe, so that what was approved is what is used.
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
	if p.Dockerfile != "" {
		// So is the Dockerfile: its RUN lines run at build time, as a
		// recipe's install step does.
		fmt.Fprintf(h, "\x00dockerfile\x00%s\x00", p.Dockerfile)
		hashTree(h, p.Dockerfile)
	}
	var r *recipe.Recipe
	if p.Agent != "" {
		r, err = findRecipe(p.Agent, filepath.Dir(abs))
		var el allowlist.ErrorList
		switch {
		case errors.As(err, &el):
			return cmdutil.InvalidInput(fmt.Errorf("%s: agent %s: the recipe is not valid:\n%w", p.AgentAt, p.Agent, err))
		case err != nil:
			return cmdutil.InvalidInput(fmt.Errorf("%s: %w", p.AgentAt, err))
		}
		if !isBuiltin(r) {
			// So is a recipe of the project's (or of the user's): its rules,
			// credentials and install step are the bottle's.
			content, _ := os.ReadFile(r.File)
			fmt.Fprintf(h, "\x00recipe\x00%s\x00", r.File)
			h.Write(content)
			opts.approvedRecipe = r.File
		}
		opts.projectRecipe = r
	}
	for _, c := range []struct{ kind, path string }{{"prompt", p.Prompt}, {"skills", p.Skills}} {
		if c.path != "" {
			// What the agent is told and given: a changed prompt is a
			// changed instruction.
			fmt.Fprintf(h, "\x00%s\x00%s\x00", c.kind, c.path)
			hashTree(h, c.path)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	return opts.trust(key, abs, "Use this project file?",
		"bottle launch --no-project", func(w io.Writer) { describeProject(w, p, r) })
}

// approveRecipe decides whether a recipe that came with the project may be
// used, as approve does for a project file: a recipe in the project
// directory (its .bottle/agents/, or a file there given with --agent) adds
// rules and credentials to the bottle, whose command: sources run on this
// host, and shell lines to the image build. Built-in recipes, the user's
// own (~/.config/bottle/agents/) and one a project file's approval
// already covered are used as they are.
func (opts *Options) approveRecipe(r *recipe.Recipe) error {
	if isBuiltin(r) || r.File == opts.approvedRecipe || opts.projectDir == "" {
		return nil
	}
	// --agent ./agents/x.yaml is a relative path: judged as an absolute one
	// (InsideDir cannot relate a relative path to the project's).
	abs, err := filepath.Abs(r.File)
	if err != nil {
		return err
	}
	// Inside the project as written, or once links are followed: a link in
	// its .bottle/agents/ may point anywhere (a sibling clone, a download),
	// and what it points to is the project's word, not the user's.
	rel, err := filepath.Rel(opts.projectDir, abs)
	written := err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	if !written && !project.InsideDir(abs, opts.projectDir) {
		return nil
	}
	for _, d := range recipe.Dirs("") {
		if project.InsideDir(abs, d) {
			return nil // the user's own, even when the project holds that directory
		}
	}
	data, err := os.ReadFile(r.File)
	if err != nil {
		return err
	}
	h := sha256.New()
	fmt.Fprintf(h, "recipe\x00%s\x00", abs)
	h.Write(data)
	return opts.trust(hex.EncodeToString(h.Sum(nil)), "the agent recipe "+abs+" (it came with this project)",
		"Use this agent recipe?", "move it out of the project, or pass --agent FILE with a recipe of your own; the project's .bottle/agents/ comes first",
		func(w io.Writer) {
			describeRecipe(func(k, v string) { fmt.Fprintf(w, "  %-11s %s\n", k+":", termsafe.Line(v)) }, r)
		})
}

// trust asks, once per key, whether subject, which describe shows, may be
// used: the answer (or --yes) is remembered in the trust store; a refusal
// names without, the way to launch without it.
func (opts *Options) trust(key, subject, question, without string, describe func(io.Writer)) error {
	store := filepath.Join(opts.StateDir, trustFile)
	known, _ := os.ReadFile(store)
	if slices.Contains(strings.Fields(string(known)), key) {
		return nil
	}
	w := opts.IO.Err
	fmt.Fprintf(w, "%s is new or has changed since you last approved it. It sets:\n", termsafe.Line(subject))
	describe(w)
	switch {
	case opts.Yes:
		fmt.Fprintln(w, "approved with --yes")
	case opts.IO.CanPrompt():
		fmt.Fprint(w, question+" [y/N] ")
		line, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("not approved; nothing was launched (to launch without it: %s)", without))
		}
	default:
		return cmdutil.UsageError(fmt.Errorf("%s is not approved: read it, then run bottle launch --yes (or run bottle launch in a terminal to be asked)", subject))
	}
	if err := os.MkdirAll(filepath.Dir(store), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(store, append(known, []byte(key+"\n")...))
}

// hashTree writes into h what a file, or every file below a directory, is:
// each one's path (from root) and content, in a stable order. What cannot
// be read is written as its error, so that it changes the hash too.
func hashTree(h io.Writer, root string) {
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, path)
		if err != nil {
			fmt.Fprintf(h, "\x00%s\x00error %v", rel, err)
			return nil
		}
		if !d.Type().IsRegular() {
			fmt.Fprintf(h, "\x00%s\x00%s", rel, d.Type())
			if d.Type()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(path)
				fmt.Fprintf(h, " %s", target)
			}
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(h, "\x00%s\x00error %v", rel, err)
			return nil
		}
		defer f.Close()
		fmt.Fprintf(h, "\x00%s\x00", rel)
		io.Copy(h, f)
		return nil
	})
}

// describeProject says what a project file would change about a launch;
// r is the recipe its agent: names (nil for none).
func describeProject(w io.Writer, p *project.Project, r *recipe.Recipe) {
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
	if r != nil {
		describeRecipe(line, r)
	}
	if p.Prompt != "" {
		line("prompt", p.Prompt+" (copied to "+copiedTo(r, "instructions")+")")
	}
	if p.Skills != "" {
		line("skills", p.Skills+" (copied to "+copiedTo(r, "skills")+")")
	}
	if !p.GitIdentity.IsZero() {
		line("git author", p.GitIdentity.String()+" on the agent's commits")
	}
	if l := p.Limits; l.Memory != "" || l.CPUs != "" || l.Pids > 0 {
		line("limits", fmt.Sprintf("memory %s, cpus %s, pids %d", orDash(l.Memory), orDash(l.CPUs), l.Pids))
	}
}

// describeRecipe says what an agent recipe adds to a bottle: where it
// comes from, its rules and credentials (merged into the bottle's
// allowlist), what it installs into the agent image and its command.
func describeRecipe(line func(k, v string), r *recipe.Recipe) {
	line("agent", r.Name+" ("+recipeFrom(r)+")")
	if r.Policy != nil {
		pol, err := allowlist.Parse(r.File, r.Policy)
		if err != nil {
			line("agent rules", "not valid: "+err.Error())
		} else {
			rules := ruleSummary(pol)
			_, rules, _ = strings.Cut(rules, "; ") // the recipe's mode is not the bottle's
			line("agent rules", rules+" — added to the bottle's allowlist")
			if len(pol.Credentials()) > 0 {
				line("agent creds", credentialSummary(pol)+" — resolved on this host at launch (a command: runs here) and sent to those hosts")
			}
		}
	}
	var install []string
	if len(r.Install.NPM) > 0 {
		install = append(install, "npm "+strings.Join(r.Install.NPM, " "))
	}
	for _, run := range r.Install.Run {
		install = append(install, "run "+run)
	}
	if len(install) > 0 {
		line("install", strings.Join(install, "; ")+" — into the agent image, at build time, as root")
	}
	line("agent runs", shquote.Join(r.Argv(nil)))
}

// isBuiltin reports whether r is one of bottle's own recipes.
func isBuiltin(r *recipe.Recipe) bool { return strings.HasPrefix(r.File, "builtin:") }

// recipeFrom says where r was read from.
func recipeFrom(r *recipe.Recipe) string {
	if isBuiltin(r) {
		return "built-in recipe"
	}
	return "recipe " + r.File
}

// copiedTo says where r puts the prompt ("instructions") or the skills:
// the agent's path, or in words when there is no recipe yet (--agent) or
// it reads none.
func copiedTo(r *recipe.Recipe, what string) string {
	to := ""
	if r != nil {
		to = r.Skills
		if what == "instructions" {
			to = r.Instructions
		}
	}
	if to == "" {
		return "where the agent reads its " + what
	}
	return "the agent's " + to
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
