package allowlist

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"bottle.dev/bottle/internal/shquote"
)

// AllowCommand returns the `bottle allow` command that would let a request
// like req through, for denial messages: narrow where the host already has
// method or path rules, host-wide otherwise. When a deny rule decided, it is
// the command that removes that rule, followed (&&) by whatever else the
// request then needs: the command as a whole makes the request allowed. A
// req without a method is a CONNECT.
func (p *Policy) AllowCommand(req Request, d Decision) string {
	t, err := parseTarget(req.Host)
	if err != nil {
		return ""
	}
	// A path that CleanPath refuses is denied whatever the rules say; a
	// command without --path would only allow far more.
	segs, err := CleanPath(req.Path)
	if err != nil {
		return ""
	}
	if r := p.ruleByID(d.Rule); r != nil && r.Deny {
		rm := "bottle allow rm --deny " + ruleArgs(r)
		rest := p.without(r)
		var next Decision
		if req.Method == "" {
			next = rest.DecideConnect(req.Host, req.Port)
		} else {
			next = rest.Decide(req)
		}
		if !next.Denied() {
			return rm
		}
		if more := rest.AllowCommand(req, next); more != "" {
			return rm + " && " + more
		}
		return rm
	}
	port := req.Port
	if port == 0 {
		port = DefaultPort(req.Scheme)
	}
	args := []string{"bottle allow add", shquote.Quote(t.String())}
	if port != 80 && port != 443 {
		args = append(args, "--port", shquote.Quote(strconv.Itoa(int(port))))
	}
	narrow := false
	if !t.ip.IsValid() {
		for _, r := range p.hostRules(t.name) {
			if !r.Deny && r.hasL7() {
				narrow = true
			}
		}
	}
	if narrow && req.Method != "" {
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
			return ""
		}
		args = append(args, "--method", shquote.Quote(method), "--path", shquote.Quote(matched))
	}
	return strings.Join(args, " ")
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
	q := &Policy{mode: p.mode, allow: p.allow}
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

// ruleArgs renders a rule as `bottle allow` arguments.
func ruleArgs(r *Rule) string {
	args := []string{shquote.Quote(r.Target())}
	if !r.DefaultPorts {
		for _, p := range r.Ports {
			args = append(args, "--port", shquote.Quote(strconv.Itoa(int(p))))
		}
	}
	for _, m := range r.Methods {
		args = append(args, "--method", shquote.Quote(m))
	}
	for _, g := range r.Paths {
		args = append(args, "--path", shquote.Quote(g.raw))
	}
	if r.Passthrough {
		args = append(args, "--passthrough")
	}
	if r.SNIOptional {
		args = append(args, "--sni-optional")
	}
	return strings.Join(args, " ")
}
