package allowlist

import (
	"slices"
	"strings"
)

// Holdable reports whether a denial with cause c is one a human may
// overrule while the request is held (approvals: ask): no rule covers the
// target, or the rules that cover its host refuse its port, method or
// path. A deny rule, the address guard, fronting, a malformed request, a
// secret or a git refusal is refused at once.
func Holdable(c Cause) bool {
	return c == CauseNoRule || c == CausePort || c == CauseMethod || c == CausePath
}

// ApprovalRules returns the rules a human's approval of a denied request
// would write: always, as narrow as the request (its host and port; and
// its method and exact path when the rules refused the method or path,
// or, for a git smart-HTTP request, the endpoints of a fetch, or of a
// push when it is one: never a push for a clone's approval), and host, the host and port with every method
// and path (a session grant). A req without a method is a CONNECT: a
// passthrough rule when its port is that of a protocol that is not HTTP.
// always is nil when no rule can name the request (a path that does not
// clean, or that a glob would read as a wildcard); host is the zero
// RuleSpec when the host is not a valid target.
func (p *Policy) ApprovalRules(req Request, d Decision) (always []RuleSpec, host RuleSpec) {
	t, err := parseTarget(req.Host)
	if err != nil {
		return nil, RuleSpec{}
	}
	port := req.Port
	if port == 0 {
		port = DefaultPort(req.Scheme)
	}
	host = RuleSpec{Host: t.String(), Ports: []uint16{port}}
	if req.Method == "" && nonHTTPPort(port) {
		host.Passthrough = true
	}
	rule := host
	rule.Ports = slices.Clone(host.Ports)
	if req.Method != "" && (d.Cause == CauseMethod || d.Cause == CausePath) {
		segs, err := CleanPath(req.Path)
		if err != nil {
			return nil, host
		}
		if repo, ok := gitRepo(segs); ok && !t.ip.IsValid() {
			// A fetch is allowed a fetch's endpoints, a push a push's:
			// "/**" would let a clone's approval push to a repository no
			// `git:` entry gates.
			base := strings.TrimSuffix(repo, "/**")
			if segs[len(segs)-1] == "git-receive-pack" {
				rule.Methods, rule.Paths = []string{"GET", "POST"}, []string{base + "/info/refs", base + "/git-receive-pack"}
			} else {
				rule.Methods, rule.Paths = []string{"GET", "POST"}, []string{base + "/info/refs", base + "/git-upload-pack"}
			}
		} else {
			method := strings.ToUpper(req.Method)
			exact := "/" + strings.Join(segs, "/")
			if _, err := parsePathGlob(exact); err != nil || strings.Contains(exact, "*") || !printable(exact) || !printable(method) {
				return nil, host
			}
			rule.Methods, rule.Paths = []string{method}, []string{exact}
		}
	}
	return []RuleSpec{rule}, host
}

// ApprovalCommand is the `bottle allow add` command (one per rule, joined
// with &&) that writes rules, with the flags of scope: what a human runs
// to approve always by hand.
func ApprovalCommand(rules []RuleSpec, scope HintScope) string {
	cmds := make([]string, len(rules))
	for i, r := range rules {
		cmds[i] = "bottle allow add " + r.Args() + scope.flags()
	}
	return strings.Join(cmds, " && ")
}

// ConnectPageable reports whether a CONNECT the policy refused (d) can be
// answered inside the tunnel instead: with 200, TLS under a leaf of the
// bottle's CA, and the readable 403 for every request, so that the agent
// sees why. That needs a name (a leaf is never minted for an address), a
// port that carries HTTP (443, or one an intercepting allow rule names,
// and never the port of a protocol that is not HTTP), a refusal the page
// can explain (no rule, the port, a deny rule), and a host that is not
// only a passthrough target (its TLS is not the proxy's to end).
func (p *Policy) ConnectPageable(host string, port uint16, d Decision) bool {
	if d.Allowed || d.Cause != CauseNoRule && d.Cause != CausePort && d.Cause != CauseDenyRule {
		return false
	}
	t, err := parseTarget(host)
	if err != nil || t.ip.IsValid() || nonHTTPPort(port) {
		return false
	}
	if port != 443 && !slices.ContainsFunc(p.allow, func(r *Rule) bool {
		return !r.Passthrough && slices.Contains(r.Ports, port)
	}) {
		return false
	}
	var allow []*Rule
	for _, r := range p.hostRules(t.name) {
		if !r.Deny {
			allow = append(allow, r)
		}
	}
	return len(allow) == 0 || slices.ContainsFunc(allow, func(r *Rule) bool { return !r.Passthrough })
}
