package allowlist

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode says whether a policy blocks what it does not allow.
type Mode uint8

const (
	Enforce Mode = iota // deny what is not allowed
	Report              // decide as Enforce would, but let it through marked WouldDeny
)

func (m Mode) String() string {
	if m == Report {
		return "report"
	}
	return "enforce"
}

// Rule is one entry of the allow or deny list, validated and normalised.
type Rule struct {
	ID    string // "allow[3]", "deny[0]"
	Deny  bool
	Index int

	Host    hostPattern  // set when the rule has `host:`
	hasHost bool         //
	CIDR    netip.Prefix // set when the rule has `cidr:`

	Ports        []uint16 // sorted; nil on a deny rule means every port
	DefaultPorts bool     // Ports came from the default, not the file
	Methods      []string // upper case; nil means every method
	Paths        []pathGlob
	Passthrough  bool // tls: passthrough
	// SNIOptional is `sni: optional` (passthrough rules only): the tunnel's
	// TLS ClientHello may leave out the server name.
	SNIOptional bool
	// DLP is the rule's `dlp:` (allow host rules only), which overrides the
	// file's for the requests the rule admits; HasDLP says it is set.
	DLP    DLPMode
	HasDLP bool

	Line, Col int // position of the rule in its file

	// Origin is the rule's `origin:` (allow rules only): who added it, when
	// not the person editing the file, "agent claude" for a rule an agent
	// recipe brought (Merge). It changes no decision; list and check show it.
	Origin string

	// implied marks a rule a `git:` entry implies (ID "git[N]"): it is
	// judged after the file's allow rules.
	implied bool
}

// HostPattern returns the rule's host pattern as written in canonical form
// ("*.github.com"), or "" for a cidr rule.
func (r *Rule) HostPattern() string {
	if !r.hasHost {
		return ""
	}
	return r.Host.String()
}

// Target is what the rule matches: its host pattern, or its address range.
func (r *Rule) Target() string {
	if r.hasHost {
		return r.Host.String()
	}
	return r.CIDR.String()
}

// String describes the rule in one line, the way every message shows a rule:
// "allow[1]: github.com ports 80,443 methods GET,POST paths /acme/**"
// (and "dlp off" when the rule has its own dlp:).
func (r *Rule) String() string {
	var b strings.Builder
	b.WriteString(r.ID + ": " + r.Target())
	if r.Ports != nil {
		b.WriteString(" ports " + JoinPorts(r.Ports))
	} else {
		b.WriteString(" all ports")
	}
	if r.Methods != nil {
		b.WriteString(" methods " + strings.Join(r.Methods, ","))
	}
	if r.Paths != nil {
		b.WriteString(" paths " + strings.Join(r.PathGlobs(), ","))
	}
	if r.HasDLP {
		b.WriteString(" dlp " + r.DLP.String())
	}
	switch {
	case r.Passthrough && r.SNIOptional:
		b.WriteString(" (tls passthrough, sni optional)")
	case r.Passthrough:
		b.WriteString(" (tls passthrough)")
	}
	return b.String()
}

// JoinPorts writes ports as "80,443".
func JoinPorts(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// PathGlobs returns the rule's paths as written.
func (r *Rule) PathGlobs() []string {
	out := make([]string, len(r.Paths))
	for i, g := range r.Paths {
		out[i] = g.raw
	}
	return out
}

// hasL7 reports whether the rule looks inside requests.
func (r *Rule) hasL7() bool { return r.Methods != nil || r.Paths != nil }

func (r *Rule) portOK(port uint16) bool { return r.Ports == nil || slices.Contains(r.Ports, port) }

func (r *Rule) methodOK(m string) bool { return r.Methods == nil || slices.Contains(r.Methods, m) }

func (r *Rule) pathOK(segs []string) bool {
	if r.Paths == nil {
		return true
	}
	for _, g := range r.Paths {
		if g.match(segs) {
			return true
		}
	}
	return false
}

// Policy is an immutable, validated allowlist. It is safe for concurrent use.
type Policy struct {
	mode Mode
	dlp  DLPMode
	// approvals and approvalTimeout are `approvals:` and
	// `approval_timeout:` (0: DefaultApprovalTimeout).
	approvals       ApprovalMode
	approvalTimeout time.Duration
	allow           []*Rule
	deny            []*Rule
	creds           []*Credential
	// git is the `git:` section; gitRules the allow rules it implies
	// (indexed with the others).
	git      []*GitRepo
	gitRules []*Rule
	gitHosts map[string]*GitRepo // the first entry on each host
	// ruleDLP says some allow rule has its own `dlp:`, so DLPFor must
	// find the rule that admits a request.
	ruleDLP bool

	// Host rules indexed by the name they hang off, so a decision looks at the
	// rules for its own name and suffixes only: cost grows with the number of
	// labels in the name, not with the number of rules.
	exact map[string][]*Rule // "api.github.com"
	one   map[string][]*Rule // "*.github.com" under "github.com"
	deep  map[string][]*Rule // "**.pythonhosted.org" under "pythonhosted.org"
	cidrs []*Rule            // few in practice; checked in order
}

// Mode returns the policy's mode.
func (p *Policy) Mode() Mode { return p.mode }

// Allow and DenyRules return the rules in file order. The slices must not be
// modified.
func (p *Policy) Allow() []*Rule     { return p.allow }
func (p *Policy) DenyRules() []*Rule { return p.deny }

func (p *Policy) buildIndex() {
	p.exact = map[string][]*Rule{}
	p.one = map[string][]*Rule{}
	p.deep = map[string][]*Rule{}
	p.gitHosts = map[string]*GitRepo{}
	for _, g := range p.git {
		if p.gitHosts[g.Host] == nil {
			p.gitHosts[g.Host] = g
		}
	}
	for _, list := range [][]*Rule{p.deny, p.allow, p.gitRules} {
		for _, r := range list {
			p.ruleDLP = p.ruleDLP || r.HasDLP
			if !r.hasHost {
				p.cidrs = append(p.cidrs, r)
				continue
			}
			switch r.Host.wild {
			case exact:
				p.exact[r.Host.suffix] = append(p.exact[r.Host.suffix], r)
			case oneLabel:
				p.one[r.Host.suffix] = append(p.one[r.Host.suffix], r)
			default:
				p.deep[r.Host.suffix] = append(p.deep[r.Host.suffix], r)
			}
		}
	}
}

// hostRules returns every host rule whose pattern matches the normalised name,
// deny rules first, each list in file order.
func (p *Policy) hostRules(name string) []*Rule {
	if rules, only := p.onlyExact(name); only {
		// The common case, a name with rules of its own and no wildcard
		// over it: that list is in order already (buildIndex), and is
		// returned as is, without a copy. Callers only read it.
		return rules
	}
	out := slices.Clone(p.exact[name])
	if _, parent, ok := strings.Cut(name, "."); ok {
		out = append(out, p.one[parent]...)
		for rest := parent; ; {
			out = append(out, p.deep[rest]...)
			_, next, ok := strings.Cut(rest, ".")
			if !ok {
				break
			}
			rest = next
		}
	}
	slices.SortStableFunc(out, ruleOrder)
	return out
}

// onlyExact returns the exact rules of name, and whether no wildcard rule
// matches it.
func (p *Policy) onlyExact(name string) ([]*Rule, bool) {
	_, parent, ok := strings.Cut(name, ".")
	if !ok {
		return p.exact[name], true
	}
	if len(p.one[parent]) > 0 {
		return nil, false
	}
	for rest := parent; ; {
		if len(p.deep[rest]) > 0 {
			return nil, false
		}
		_, next, ok := strings.Cut(rest, ".")
		if !ok {
			return p.exact[name], true
		}
		rest = next
	}
}

// apexWildcards are the allow rules whose wildcard stands over name
// ("*.example.com", "**.example.com" for example.com) and so, by design,
// do not cover name itself: the rules a person most likely meant to cover
// it, in file order.
func (p *Policy) apexWildcards(name string) []*Rule {
	var out []*Rule
	for _, r := range append(slices.Clone(p.one[name]), p.deep[name]...) {
		if !r.Deny {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, ruleOrder)
	return out
}

func (p *Policy) cidrRules(a netip.Addr) []*Rule {
	var out []*Rule
	for _, r := range p.cidrs {
		if r.CIDR.Contains(a) {
			out = append(out, r)
		}
	}
	return out // already deny-first, in file order
}

// ruleOrder sorts deny rules first, then the file's allow rules, then the
// rules `git:` implies, each in file order.
func ruleOrder(a, b *Rule) int {
	if ra, rb := a.rank(), b.rank(); ra != rb {
		return ra - rb
	}
	return a.Index - b.Index
}

func (r *Rule) rank() int {
	switch {
	case r.Deny:
		return 0
	case r.implied:
		return 2
	}
	return 1
}

// Action is what the proxy does with a CONNECT.
type Action uint8

const (
	ActionDeny      Action = iota // answer 403, never dial
	ActionTunnel                  // tls: passthrough: relay bytes, check SNI only
	ActionIntercept               // terminate TLS, check every inner request
)

func (a Action) String() string {
	switch a {
	case ActionTunnel:
		return "tunnel"
	case ActionIntercept:
		return "intercept"
	}
	return "deny"
}

// RuleDefault is the rule id of decisions no rule made.
const RuleDefault = "default"

// Decision is the answer to one question put to the policy.
type Decision struct {
	// Allowed says whether to let the traffic through. In report mode it is
	// true even when the policy would deny; WouldDeny then says so.
	Allowed   bool
	WouldDeny bool
	Action    Action // for DecideConnect; ActionDeny or ActionIntercept elsewhere
	Rule      string // "allow[3]", "deny[0]" or "default"
	// Cause says why, as a value; Explain says it to a person. A decision
	// that denies, or would deny in report mode, carries the cause of the
	// denial; one that simply allows carries CauseAllowed.
	Cause Cause
	// Reason is the reason of a denial (or a would-deny), and of any
	// decision built outside the policy. An allowed decision the policy
	// made leaves it empty and keeps what its reason is made of instead,
	// for Explain to write when someone reads it: allowing is the hot path
	// (every request, every query), and most allowed reasons are never
	// read. Read a decision's reason with Explain, never with Reason.
	Reason string
	why    allowReason
	// AllowNoSNI is set on an ActionTunnel decision whose passthrough rule
	// lets a TLS client omit the SNI (`sni: optional`). Without it, a
	// passthrough tunnel that carries TLS must name the CONNECT host in its
	// ClientHello.
	AllowNoSNI bool
}

// Denied reports whether enforce mode would block this (whatever the mode).
func (d Decision) Denied() bool { return !d.Allowed || d.WouldDeny }

// Explain says why, to a person: Reason, or for an allowed decision of the
// policy the reason it left to be written on demand ("GET
// api.github.com:443/v1 matches allow[3]").
func (d Decision) Explain() string {
	if d.Reason != "" || d.why.kind == noReason {
		return d.Reason
	}
	return d.why.String()
}

// reasonKind is which sentence an allowed decision's reason is.
type reasonKind uint8

const (
	noReason         reasonKind = iota
	matchRequest                // "GET host:port/path matches allow[N]" (Decide)
	matchConnect                // "host:port matches allow[N]" (DecideConnect)
	matchL7Deny                 // "host:port matches allow[N]; requests are checked against deny[M]"
	matchTunnel                 // "host:port matches allow[N] (tls: passthrough)"
	matchTunnelNoSNI            // "host:port matches allow[N] (tls: passthrough, sni: optional)"
	matchName                   // "name matches allow[N]" (DecideName)
	reachDst                    // "name may be reached at addr" (CheckDst)
)

// allowReason is what an allowed decision's reason is made of. It holds
// strings the decision's inputs already hold, so keeping it costs no
// allocation; String writes the sentence in one.
type allowReason struct {
	kind         reasonKind
	t            target
	port         uint16
	method, path string     // matchRequest
	rule, other  string     // the rule that allows; the deny rule of matchL7Deny
	dst          netip.Addr // reachable
}

func (w allowReason) String() string {
	var buf [160]byte
	b := buf[:0]
	switch w.kind {
	case matchRequest:
		b = appendTarget(b, w.t, w.port, w.method, w.path)
	case matchName:
		b = append(b, w.t.name...)
	case reachDst:
		b = w.t.appendTo(b)
		b = append(b, " may be reached at "...)
		return string(w.dst.AppendTo(b))
	default:
		b = appendHostPort(b, w.t, w.port)
	}
	b = append(b, " matches "...)
	b = append(b, w.rule...)
	switch w.kind {
	case matchL7Deny:
		b = append(b, "; requests are checked against "...)
		b = append(b, w.other...)
	case matchTunnel:
		b = append(b, " (tls: passthrough)"...)
	case matchTunnelNoSNI:
		b = append(b, " (tls: passthrough, sni: optional)"...)
	}
	return string(b)
}

func (p *Policy) allowed(action Action, rule string, why allowReason) Decision {
	return Decision{Allowed: true, Action: action, Rule: rule, Cause: CauseAllowed, why: why}
}

func (p *Policy) denied(cause Cause, rule, format string, args ...any) Decision {
	d := Decision{Action: ActionDeny, Rule: rule, Cause: cause, Reason: fmt.Sprintf(format, args...)}
	if p.mode == Report {
		// Report mode lets traffic through while recording what enforce would
		// do. A CONNECT is intercepted so that every inner request is still
		// judged and logged.
		d.Allowed, d.WouldDeny, d.Action = true, true, ActionIntercept
	}
	return d
}

// target is a host name or IP literal as a client named it, normalised.
type target struct {
	name string     // normalised name, when not an IP
	ip   netip.Addr // when the host is an IP literal (IPv4-mapped unmapped)
}

func (t target) String() string {
	if t.ip.IsValid() {
		return t.ip.String()
	}
	return t.name
}

func (t target) appendTo(b []byte) []byte {
	if t.ip.IsValid() {
		return t.ip.AppendTo(b)
	}
	return append(b, t.name...)
}

func parseTarget(host string) (target, error) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	// Only what could be an address is parsed as one: a failed ParseAddr
	// allocates its error, and most targets are names. Every form
	// ParseAddr takes starts with a digit (IPv4) or has a colon (IPv6).
	if maybeAddr(h) {
		if a, err := netip.ParseAddr(h); err == nil {
			return target{ip: a.Unmap().WithZone("")}, nil
		}
	}
	n, err := NormalizeName(host)
	if err != nil {
		return target{}, err
	}
	return target{name: n}, nil
}

func maybeAddr(h string) bool {
	return h != "" && (h[0] >= '0' && h[0] <= '9' || strings.IndexByte(h, ':') >= 0)
}

// Request is an HTTP request as the proxy sees it.
type Request struct {
	Scheme string     // "http" or "https"
	Host   string     // name or IP literal, without port
	Port   uint16     // 0: the scheme's default (DefaultPort)
	Method string     // any case
	Path   string     // escaped path as sent (query, if any, is ignored)
	DstIP  netip.Addr // the address the proxy will dial, when already resolved
}

// DefaultPort is the port a target of scheme means when it names none,
// whatever the letter case: 443 for https and wss, 80 for http, ws and any
// other scheme (which could only be carried as plain HTTP). An empty scheme
// is https: a target given without one (a Request built without a Scheme,
// like a CONNECT's host) is taken to be TLS, as a CONNECT without a port
// goes to 443. The proxy never asks with an empty scheme: it reads a
// request without one as http first.
func DefaultPort(scheme string) uint16 {
	if scheme == "" || strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "wss") {
		return 443
	}
	return 80
}

// Decide judges a full request: host, port, method and path, and, when known,
// the address it resolved to.
func (p *Policy) Decide(req Request) Decision {
	d, _ := p.decide(req)
	return d
}

// decide is Decide that also returns the allow rule that admits the request
// (nil when none does, including a would-deny in report mode).
func (p *Policy) decide(req Request) (Decision, *Rule) {
	port := req.Port
	if port == 0 {
		port = DefaultPort(req.Scheme)
	}
	t, err := parseTarget(req.Host)
	if err != nil {
		return p.denied(CauseBadName, RuleDefault, "host %q is not a valid name: %v", req.Host, err), nil
	}
	method := strings.ToUpper(req.Method)
	segs, err := CleanPath(req.Path)
	if err != nil {
		return p.denied(pathCause(err), RuleDefault, "%s", err), nil
	}
	var rules []*Rule
	if t.ip.IsValid() {
		rules = p.cidrRules(t.ip)
	} else {
		rules = p.hostRules(t.name)
	}
	var nearMiss *Rule
	for _, r := range rules {
		if !r.portOK(port) {
			if !r.Deny && nearMiss == nil {
				nearMiss = r
			}
			continue
		}
		if !r.methodOK(method) || !r.pathOK(segs) {
			if !r.Deny && nearMiss == nil {
				nearMiss = r
			}
			continue
		}
		if r.Deny {
			return p.denied(CauseDenyRule, r.ID, "%s matches %s", describeTarget(t, port, method, req.Path), r.ID), nil
		}
		if req.DstIP.IsValid() {
			if d, bad := p.checkDst(t, req.DstIP, port); bad {
				return d, nil
			}
		}
		return p.allowed(ActionIntercept, r.ID, allowReason{kind: matchRequest, t: t, port: port, method: method, path: req.Path, rule: r.ID}), r
	}
	cause, why := p.noRuleReason(t, port, method, req.Path, nearMiss)
	return p.denied(cause, RuleDefault, "%s", why), nil
}

// checkDst applies the address rules to a name's resolved destination: a deny
// cidr always wins, and a non-public address needs an allow cidr.
func (p *Policy) checkDst(t target, dst netip.Addr, port uint16) (Decision, bool) {
	if t.ip.IsValid() {
		return Decision{}, false // the literal itself was already judged
	}
	dst = dst.Unmap().WithZone("")
	cidrs := p.cidrRules(dst)
	for _, r := range cidrs {
		if r.Deny && r.portOK(port) {
			return p.denied(CauseDenyCIDR, r.ID, "%s resolves to %s, which %s denies", t, dst, r.ID), true
		}
	}
	class := AddrClass(dst)
	if class == "" {
		return Decision{}, false
	}
	for _, r := range cidrs {
		if !r.Deny && r.portOK(port) {
			return Decision{}, false
		}
	}
	return p.denied(CauseSpecialAddress, RuleDefault, "%s resolves to %s, a %s address; only a cidr rule can allow that (cidr: %s)",
		t, dst, class, netip.PrefixFrom(dst, dst.BitLen())), true
}

// CheckDst judges the address a name resolved to, for a connection whose name
// and port were already allowed (a passthrough tunnel, or any dial).
func (p *Policy) CheckDst(host string, port uint16, dst netip.Addr) Decision {
	t, err := parseTarget(host)
	if err != nil {
		return p.denied(CauseBadName, RuleDefault, "host %q is not a valid name: %v", host, err)
	}
	if d, bad := p.checkDst(t, dst, port); bad {
		return d
	}
	return p.allowed(ActionIntercept, RuleDefault, allowReason{kind: reachDst, t: t, dst: dst})
}

func describeTarget(t target, port uint16, method, rawPath string) string {
	var buf [128]byte
	return string(appendTarget(buf[:0], t, port, method, rawPath))
}

// appendTarget appends "METHOD host:port/path" (the path without its query
// or fragment), or "host:port" when method is "".
func appendTarget(b []byte, t target, port uint16, method, rawPath string) []byte {
	if method == "" {
		return appendHostPort(b, t, port)
	}
	p := rawPath
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		p = "/"
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = appendHostPort(b, t, port)
	return append(b, p...)
}

func hostPort(t target, port uint16) string {
	var buf [64]byte
	return string(appendHostPort(buf[:0], t, port))
}

func appendHostPort(b []byte, t target, port uint16) []byte {
	if t.ip.Is6() {
		b = append(b, '[')
		b = t.ip.AppendTo(b)
		b = append(b, ']')
	} else {
		b = t.appendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

// noRuleReason says why no rule allowed the target: near is the first allow
// rule that covers its host but not all of the rest, if any.
func (p *Policy) noRuleReason(t target, port uint16, method, path string, near *Rule) (Cause, string) {
	what := describeTarget(t, port, method, path)
	if near == nil {
		if t.ip.IsValid() {
			return CauseNoRule, fmt.Sprintf("no rule allows %s (an IP address needs a cidr rule)", what)
		}
		if w := p.apexWildcards(t.name); len(w) > 0 {
			return CauseNoRule, fmt.Sprintf("no rule allows %s: %s (%s) covers the names under %s, not %s itself", what, w[0].HostPattern(), w[0].ID, t.name, t.name)
		}
		return CauseNoRule, fmt.Sprintf("no rule allows %s", what)
	}
	switch {
	case !near.portOK(port):
		return CausePort, fmt.Sprintf("%s covers %s but not port %d (it allows %s)", near.ID, t, port, portList(near.Ports))
	case method != "" && !near.methodOK(method):
		return CauseMethod, fmt.Sprintf("%s covers %s but not method %s (it allows %s)", near.ID, t, method, strings.Join(near.Methods, ", "))
	default:
		return CausePath, fmt.Sprintf("%s covers %s but not this path (it allows %s)", near.ID, t, strings.Join(near.PathGlobs(), ", "))
	}
}

func portList(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// DecideConnect judges a CONNECT to host (a name or IP literal) and port:
// deny it, tunnel it (tls: passthrough), or intercept it so that every inner
// request is judged by Decide.
func (p *Policy) DecideConnect(host string, port uint16) Decision {
	t, err := parseTarget(host)
	if err != nil {
		return p.denied(CauseBadName, RuleDefault, "host %q is not a valid name: %v", host, err)
	}
	var rules []*Rule
	if t.ip.IsValid() {
		rules = p.cidrRules(t.ip)
	} else {
		rules = p.hostRules(t.name)
	}
	var l7Deny, passthrough, intercept, nearMiss *Rule
	for _, r := range rules {
		if !r.portOK(port) {
			if !r.Deny && nearMiss == nil {
				nearMiss = r
			}
			continue
		}
		switch {
		case r.Deny && !r.hasL7():
			return p.denied(CauseDenyRule, r.ID, "%s matches %s", hostPort(t, port), r.ID)
		case r.Deny:
			if l7Deny == nil {
				l7Deny = r
			}
		case r.Passthrough:
			if passthrough == nil {
				passthrough = r
			}
		default:
			if intercept == nil {
				intercept = r
			}
		}
	}
	switch {
	case l7Deny != nil && (passthrough != nil || intercept != nil):
		// A deny rule that looks at methods or paths can only be enforced on
		// requests we can see, so such a target is intercepted even when a
		// passthrough rule also matches: deny wins over allow.
		r := intercept
		if r == nil {
			r = passthrough
		}
		return p.allowed(ActionIntercept, r.ID, allowReason{kind: matchL7Deny, t: t, port: port, rule: r.ID, other: l7Deny.ID})
	case passthrough != nil && p.gitHosts[t.name] != nil:
		// A tunnel to a declared repository's host carries git over SSH
		// (or TLS the proxy cannot see), around the gate.
		g := p.gitHosts[t.name]
		return p.denied(CauseGitSSH, passthrough.ID, "%s matches %s (tls: passthrough), but git over SSH would bypass the git gate; use https://%s/%s — bottle rewrites the agent's git@%s: remotes to HTTPS",
			hostPort(t, port), passthrough.ID, g.Host, g.Path, g.Host)
	case passthrough != nil:
		// The first passthrough rule decides, like every other choice here:
		// a later rule that lets the SNI be left out does not loosen it.
		if passthrough.SNIOptional {
			d := p.allowed(ActionTunnel, passthrough.ID, allowReason{kind: matchTunnelNoSNI, t: t, port: port, rule: passthrough.ID})
			d.AllowNoSNI = true
			return d
		}
		return p.allowed(ActionTunnel, passthrough.ID, allowReason{kind: matchTunnel, t: t, port: port, rule: passthrough.ID})
	case intercept != nil:
		return p.allowed(ActionIntercept, intercept.ID, allowReason{kind: matchConnect, t: t, port: port, rule: intercept.ID})
	}
	cause, why := p.noRuleReason(t, port, "", "", nearMiss)
	return p.denied(cause, RuleDefault, "%s", why)
}

// DecideName judges a DNS query for name: it is allowed when some rule could
// allow some request to that name, and no deny rule blocks the name outright.
// IP addresses play no part: DNS never decides policy.
func (p *Policy) DecideName(name string) Decision {
	n, err := NormalizeName(name)
	if err != nil {
		return p.denied(CauseBadName, RuleDefault, "%q is not a valid name: %v", name, err)
	}
	for _, r := range p.hostRules(n) {
		if r.Deny {
			if r.Ports == nil && !r.hasL7() {
				return p.denied(CauseDenyRule, r.ID, "%s matches %s", n, r.ID)
			}
			continue
		}
		return p.allowed(ActionIntercept, r.ID, allowReason{kind: matchName, t: target{name: n}, rule: r.ID})
	}
	return p.denied(CauseNoRule, RuleDefault, "no rule allows the name %s", n)
}
