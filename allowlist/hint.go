package allowlist

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"bottle.dev/bottle/internal/shquote"
)

// HintScope says which allowlist the commands of a hint edit, as flags
// added to each of them. The zero value adds none: the command edits the
// allowlist `bottle allow` finds where it runs.
type HintScope struct {
	// Bottle is a bottle's name (--bottle NAME): the command edits that
	// bottle's live allowlist and the file it was launched from. The
	// sidecar sets it, so that the hint in a 403 reaches the bottle that
	// refused.
	Bottle string
	// File is an allowlist file (--file PATH).
	File string
}

// flags are the words the scope adds to a command, quoted.
func (s HintScope) flags() string {
	switch {
	case s.Bottle != "":
		return " --bottle " + shquote.Quote(s.Bottle)
	case s.File != "":
		return " --file " + shquote.Quote(s.File)
	}
	return ""
}

// AllowCommand returns the `bottle allow` command that would let a request
// like req through, for denial messages: narrow where the host already has
// method or path rules, host-wide otherwise; for a git clone or fetch over
// smart HTTP, the rule the whole clone needs. When a deny rule decided, it
// is the command that removes that rule, followed (&&) by whatever else the
// request then needs: the command as a whole makes the request allowed. A
// req without a method is a CONNECT. Each command carries the flags of
// scope.
func (p *Policy) AllowCommand(req Request, d Decision, scope HintScope) string {
	cmds := p.allowCommands(req, d)
	for i := range cmds {
		cmds[i] += scope.flags()
	}
	return strings.Join(cmds, " && ")
}

// allowCommands are the commands of AllowCommand, without the scope.
func (p *Policy) allowCommands(req Request, d Decision) []string {
	if d.Cause == CauseGitSSH {
		// The passthrough rule exists already: no rule lets git over SSH
		// past the gate (the reason says to use https).
		return nil
	}
	t, err := parseTarget(req.Host)
	if err != nil {
		return nil
	}
	// A path that CleanPath refuses is denied whatever the rules say; a
	// command without --path would only allow far more.
	segs, err := CleanPath(req.Path)
	if err != nil {
		return nil
	}
	if r := p.ruleByID(d.Rule); r != nil && r.Deny {
		rm := "bottle allow rm " + r.Spec().Args()
		rest := p.without(r)
		var next Decision
		if req.Method == "" {
			next = rest.DecideConnect(req.Host, req.Port)
		} else {
			next = rest.Decide(req)
		}
		if !next.Denied() {
			return []string{rm}
		}
		return append([]string{rm}, rest.allowCommands(req, next)...)
	}
	port := req.Port
	if port == 0 {
		port = DefaultPort(req.Scheme)
	}
	if cmd, ok := p.apexCommand(t, port, req, segs, d); ok {
		return []string{cmd}
	}
	args := []string{"bottle allow add", shquote.Quote(t.String())}
	if port != 80 && port != 443 {
		args = append(args, "--port", shquote.Quote(strconv.Itoa(int(port))))
		if req.Method == "" && nonHTTPPort(port) {
			// A CONNECT to the port of a protocol that is not HTTP (ssh, a
			// database): an intercepted rule would let the tunnel open and
			// then fail at the TLS handshake the proxy expects.
			args = append(args, "--passthrough")
		}
	}
	if req.Method == "" {
		return []string{strings.Join(args, " ")}
	}
	if repo, ok := gitRepo(segs); ok && !t.ip.IsValid() {
		// A clone or fetch makes two requests (GET …/info/refs, then POST
		// …/git-upload-pack), a push the same two for receive-pack: a rule
		// for the one path seen would only lead to the next denial.
		args = append(args, "--path", shquote.Quote(repo), "--method", "GET", "--method", "POST")
		return []string{strings.Join(args, " ")}
	}
	narrow := false
	if !t.ip.IsValid() {
		for _, r := range p.hostRules(t.name) {
			if !r.Deny && r.hasL7() {
				narrow = true
			}
		}
	}
	if narrow {
		// The method and path come from the client: quoted, since the hint
		// is meant to be pasted into a shell.
		method := strings.ToUpper(req.Method)
		// The path as it is matched (no ";parameters"), the only form a
		// rule can hold.
		matched := "/" + strings.Join(segs, "/")
		if !printable(method) || !printable(matched) {
			// Quoting keeps a shell safe, not a terminal: an escape sequence
			// or a right-to-left override would still act on the screen
			// that shows the hint. No rule can name such a method anyway.
			return nil
		}
		args = append(args, "--method", shquote.Quote(method), "--path", shquote.Quote(matched))
	}
	return []string{strings.Join(args, " ")}
}

// apexCommand is, for a name that no rule covers but a wildcard stands
// over ("*.example.com" for example.com), the wildcard's own rule for the
// name itself: what the person who wrote the wildcard most likely meant,
// when it would let this request through.
func (p *Policy) apexCommand(t target, port uint16, req Request, segs []string, d Decision) (string, bool) {
	if t.ip.IsValid() || d.Cause != CauseNoRule {
		return "", false
	}
	method := strings.ToUpper(req.Method)
	for _, r := range p.apexWildcards(t.name) {
		if !r.portOK(port) || req.Method != "" && (!r.methodOK(method) || !r.pathOK(segs)) {
			continue
		}
		spec := r.Spec()
		spec.Host = t.name
		return "bottle allow add " + spec.Args(), true
	}
	return "", false
}

// gitServices are the last segments of git's smart-HTTP requests: the ref
// advertisement (GET …/info/refs?service=…) and the two services.
var gitServices = [][]string{{"info", "refs"}, {"git-upload-pack"}, {"git-receive-pack"}}

// gitRepo reports whether the cleaned path segs is a request of git's
// smart-HTTP protocol, and returns the glob for everything under its
// repository ("/acme/widget.git/**"), which covers every request a clone,
// a fetch or a push makes.
func gitRepo(segs []string) (string, bool) {
	for _, tail := range gitServices {
		if len(segs) <= len(tail) || !slices.Equal(segs[len(segs)-len(tail):], tail) {
			continue
		}
		repo := segs[:len(segs)-len(tail)]
		glob := "/" + strings.Join(repo, "/") + "/**"
		// A segment the glob would read as a wildcard, or one a terminal
		// would not show as itself, makes no rule to suggest.
		if _, err := parsePathGlob(glob); err != nil || strings.Contains(strings.Join(repo, "/"), "*") || !printable(glob) {
			return "", false
		}
		return glob, true
	}
	return "", false
}

// printable reports whether s is valid UTF-8 made of characters that show
// as themselves: no control characters, no invisible formatting ones.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// without is p without rule r (a deny rule): the policy after `bottle allow
// rm --deny` of it.
func (p *Policy) without(r *Rule) *Policy {
	q := &Policy{mode: p.mode, allow: p.allow, git: p.git, gitRules: p.gitRules}
	for _, x := range p.deny {
		if x != r {
			q.deny = append(q.deny, x)
		}
	}
	q.buildIndex()
	return q
}

func (p *Policy) ruleByID(id string) *Rule {
	for _, list := range [][]*Rule{p.deny, p.allow} {
		for _, r := range list {
			if r.ID == id {
				return r
			}
		}
	}
	return nil
}

// Rule returns the rule with id ("allow[3]", "deny[0]"), or nil.
func (p *Policy) Rule(id string) *Rule { return p.ruleByID(id) }

// Spec is the rule as `bottle allow add|rm` names it: the flags that make
// it, or remove exactly it.
func (r *Rule) Spec() RuleSpec {
	s := RuleSpec{Host: r.Target(), Methods: r.Methods, Paths: r.PathGlobs(), Passthrough: r.Passthrough, SNIOptional: r.SNIOptional, Deny: r.Deny}
	if r.Paths == nil {
		s.Paths = nil
	}
	if !r.DefaultPorts {
		s.Ports = r.Ports
	}
	return s
}

// Args renders the spec as the arguments of `bottle allow add` (or rm),
// each word quoted for a shell: "--deny github.com --method DELETE".
func (s RuleSpec) Args() string {
	var args []string
	if s.Deny {
		args = append(args, "--deny")
	}
	args = append(args, shquote.Quote(s.Host))
	for _, p := range s.Ports {
		args = append(args, "--port", shquote.Quote(strconv.Itoa(int(p))))
	}
	for _, m := range s.Methods {
		args = append(args, "--method", shquote.Quote(m))
	}
	for _, g := range s.Paths {
		args = append(args, "--path", shquote.Quote(g))
	}
	if s.Passthrough {
		args = append(args, "--passthrough")
	}
	if s.SNIOptional {
		args = append(args, "--sni-optional")
	}
	return strings.Join(args, " ")
}
