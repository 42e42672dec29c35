package supervise

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
)

// Bounds of the tools' inputs.
const (
	maxReason = 1000 // bytes of the agent's reason
	maxPath   = 1024
	maxRecent = 50 // why_blocked's recent
	// maxAsking bounds the request_access calls waiting for a human at
	// once, as the proxy bounds a client's held requests
	// (proxy.MaxHeldPerClient): a human reads each one, and they share
	// the broker's MaxPending with the requests the proxy holds.
	maxAsking = 16
	// defaultRecent is why_blocked's recent when the agent names none.
	defaultRecent = 10
	// progressEvery is how often a blocked request_access tells a client
	// that asked for progress that it still waits (some reset their
	// timeouts on it).
	progressEvery = 10 * time.Second
)

// methods are the methods request_access takes (a rule's, but CONNECT:
// no method names access to the host as a whole).
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}

func ptr[T any](v T) *T { return &v }

func (s *Server) addTools() {
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:  "request_access",
		Title: "Ask the human for network access",
		Description: "Ask the human who supervises this sandbox to allow a host (and optionally a port, method and path) the allowlist blocks. " +
			"Give the reason you need it: the human reads it. Waits until the human decides or the approval times out, " +
			"and returns the decision and the human's note. If the allowlist already allows it, returns at once.",
		Annotations: &mcp.ToolAnnotations{OpenWorldHint: ptr(false), DestructiveHint: ptr(false)},
	}, s.requestAccess)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        "why_blocked",
		Title:       "Why was a request blocked",
		Description: "The sandbox's last network denials, newest first: what was refused, why, and the `bottle allow` command that would allow it (for the human to run, or to explain in request_access).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)},
	}, s.whyBlocked)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        "list_rules",
		Title:       "What the allowlist allows",
		Description: "The allowlist in force: its allow and deny rules in file order, the rules its git entries imply, the session grants a human made, the mode, and whether denials are held for approval.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)},
	}, s.listRules)
}

// AccessInput is request_access's arguments.
type AccessInput struct {
	Host   string `json:"host" jsonschema:"the host name (or IP address) to reach, e.g. api.example.com"`
	Port   int    `json:"port,omitempty" jsonschema:"the port, 1 to 65535; default 443"`
	Method string `json:"method,omitempty" jsonschema:"the HTTP method (GET, POST, ...); omit for access to the host as a whole"`
	Path   string `json:"path,omitempty" jsonschema:"the path, starting with /, without a query; a trailing /** covers everything below it; omit for every path"`
	Reason string `json:"reason" jsonschema:"why you need it, for the human who decides (at most 1000 characters)"`
}

// AccessResult is request_access's answer.
type AccessResult struct {
	// Status is "allowed" (the allowlist or a session grant already
	// allows it; nothing was filed), "approved" (the human allowed it),
	// "denied" (the human denied it, or the allowlist refuses it in a way
	// no approval overrules), "timeout" (nobody decided in time), or
	// "unavailable" (approvals are off, or cannot be filed now).
	Status  string `json:"status"`
	ID      string `json:"id,omitempty"`      // the approval's id
	Verdict string `json:"verdict,omitempty"` // once, host, always, deny
	By      string `json:"by,omitempty"`      // who decided
	Note    string `json:"note,omitempty"`    // the human's note
	Rule    string `json:"rule,omitempty"`    // the rule that allows or refuses it
	Reason  string `json:"reason,omitempty"`  // the allowlist's reason
	Command string `json:"command,omitempty"` // what the human can run to allow it
	Message string `json:"message"`
}

// target is request_access's arguments, checked and normalised.
type target struct {
	host   string
	port   uint16
	method string
	path   string
	reason string
}

func (s *Server) checkAccess(in AccessInput) (target, error) {
	var t target
	h := strings.TrimSpace(in.Host)
	if h == "" {
		return t, errors.New("host is required: the name (or IP address) to reach, e.g. api.example.com")
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		t.host = a.Unmap().String()
	} else {
		if strings.ContainsAny(h, "*/:") {
			return t, fmt.Errorf("host %q: give one host name, without a scheme, port, path or wildcard (e.g. api.example.com)", in.Host)
		}
		n, err := allowlist.NormalizeName(h)
		if err != nil {
			return t, fmt.Errorf("host %q is not a valid name: %v", in.Host, err)
		}
		t.host = n
	}
	switch {
	case in.Port == 0:
		t.port = 443
	case in.Port < 1 || in.Port > 65535:
		return t, fmt.Errorf("port %d: want a number from 1 to 65535", in.Port)
	default:
		t.port = uint16(in.Port)
	}
	if in.Method != "" {
		t.method = strings.ToUpper(strings.TrimSpace(in.Method))
		if !slices.Contains(methods, t.method) {
			return t, fmt.Errorf("method %q: want one of %s, or none for the host as a whole", in.Method, strings.Join(methods, ", "))
		}
	}
	if in.Path != "" {
		switch {
		case !strings.HasPrefix(in.Path, "/"):
			return t, fmt.Errorf("path %q: it must start with /", in.Path)
		case strings.ContainsAny(in.Path, "?#"):
			// The query is not repeated: it may hold a token.
			p, _, _ := strings.Cut(in.Path, "?")
			p, _, _ = strings.Cut(p, "#")
			return t, fmt.Errorf("path %q: give the path without a query or fragment", clip(p, 80))
		case len(in.Path) > maxPath:
			return t, fmt.Errorf("path: at most %d bytes", maxPath)
		case !printable(in.Path):
			return t, errors.New("path: it holds control characters")
		case escapedWildcard(in.Path):
			// The allowlist decodes a rule's path: "%2A" would be a
			// wildcard the human does not read as one.
			return t, fmt.Errorf("path %q: an escaped \"*\" (%%2A) is a wildcard in a rule; write the wildcard as *, or name the exact path", clip(in.Path, 80))
		}
		t.path = in.Path
		// The path becomes a rule's path if the human allows it: the
		// allowlist's editor says what it refuses, and why.
		if _, err := allowlist.Add("request", []byte("version: 1\nallow: []\n"), allowlist.RuleSpec{Host: t.host, Paths: []string{t.path}}); err != nil {
			return t, fmt.Errorf("path %q: %v", in.Path, err)
		}
	}
	t.reason = strings.TrimSpace(in.Reason)
	switch {
	case t.reason == "":
		return t, errors.New("reason is required: say why you need this access; the human who decides reads it")
	case len(t.reason) > maxReason:
		return t, fmt.Errorf("reason: at most %d bytes (this one has %d)", maxReason, len(t.reason))
	case !utf8.ValidString(t.reason) || !printableText(t.reason):
		return t, errors.New("reason: it holds control characters; write plain text")
	}
	if s.cfg.Scrub != nil {
		// A credential's value never reaches the host's files or the
		// audit: in the reason it is replaced by its name; a target that
		// holds one is refused.
		if s.cfg.Scrub(t.host) != t.host || s.cfg.Scrub(t.path) != t.path {
			return t, errors.New("the host or path holds a credential's value or placeholder; name the target without it")
		}
		t.reason = s.cfg.Scrub(t.reason)
	}
	return t, nil
}

// request is t as the policy judges it. With neither method nor path it
// is a CONNECT (the host as a whole); a path for every method is judged
// as a GET of it.
func (t target) request() allowlist.Request {
	scheme := "https"
	if t.port == 80 {
		scheme = "http"
	}
	r := allowlist.Request{Scheme: scheme, Host: t.host, Port: t.port}
	if t.method != "" || t.path != "" {
		r.Method, r.Path = cmpOr(t.method, "GET"), cmpOr(t.path, "/")
	}
	return r
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (t target) String() string {
	s := hostPort(t.host, t.port)
	if t.method != "" {
		s = t.method + " " + s
	}
	return s + t.path
}

func hostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

func (s *Server) requestAccess(ctx context.Context, req *mcp.CallToolRequest, in AccessInput) (*mcp.CallToolResult, AccessResult, error) {
	t, err := s.checkAccess(in)
	if err != nil {
		return nil, AccessResult{}, err
	}
	pol := s.cfg.Policy()
	ar := t.request()
	d := decide(pol, ar)
	scope := allowlist.HintScope{Bottle: s.cfg.Bottle}
	switch {
	case d.WouldDeny:
		// Report mode lets everything through; nobody needs to approve.
		return result(AccessResult{Status: "allowed", Rule: d.Rule, Reason: d.Explain(), Command: pol.AllowCommand(ar, d, scope),
			Message: fmt.Sprintf("%s goes through: the allowlist is in report mode, which only logs that it would deny it (%s)", t, d.Explain())})
	case d.Allowed:
		return result(AccessResult{Status: "allowed", Rule: d.Rule, Reason: d.Explain(),
			Message: fmt.Sprintf("%s is already allowed (%s): %s", t, d.Rule, d.Explain())})
	}
	cmd := pol.AllowCommand(ar, d, scope)
	// Only what the proxy would hold may be asked for: a deny rule, the
	// address guard and the rest are refused at once.
	if !allowlist.Holdable(d.Cause) {
		return result(AccessResult{Status: "denied", Rule: d.Rule, Reason: d.Explain(), Command: cmd,
			Message: fmt.Sprintf("%s is refused (%s, %s): %s. No approval overrules this; only the user can change the allowlist%s",
				t, d.Rule, d.Cause, d.Explain(), commandHint(cmd))})
	}
	// A session grant admits what the proxy would hold, never what a deny
	// rule (added since) refuses.
	if s.cfg.Approvals != nil {
		if id, ok := s.cfg.Approvals.Granted(ar); ok {
			return result(AccessResult{Status: "allowed", ID: id,
				Message: fmt.Sprintf("%s is already allowed by the session grant of approval %s", t, id)})
		}
	}
	if s.cfg.Approvals == nil || s.mode(pol) != allowlist.ApprovalsAsk {
		return result(AccessResult{Status: "unavailable", Rule: d.Rule, Reason: d.Explain(), Command: cmd,
			Message: fmt.Sprintf("%s is not allowed (%s), and approvals are off in this bottle, so nobody is asked. The user can allow it%s",
				t, d.Explain(), commandHint(cmd))})
	}
	select {
	case s.asking <- struct{}{}:
		defer func() { <-s.asking }()
	default:
		return nil, AccessResult{}, fmt.Errorf("%d requests for access already wait for the human; wait for their answers before asking for more", maxAsking)
	}
	q := approvalRequest(pol, t, d, s.cfg.Bottle)
	timeout := pol.ApprovalTimeout()
	stop := s.progress(ctx, req, t, timeout)
	id, dec := s.cfg.Approvals.AskMCP(ctx, q, timeout)
	stop()
	return result(decisionResult(t, id, dec, d, q.Command))
}

// mode is the approvals setting in force.
func (s *Server) mode(pol *allowlist.Policy) allowlist.ApprovalMode {
	switch s.cfg.ApprovalsFlag {
	case "ask":
		return allowlist.ApprovalsAsk
	case "off":
		return allowlist.ApprovalsOff
	}
	return pol.Approvals()
}

func decide(pol *allowlist.Policy, r allowlist.Request) allowlist.Decision {
	if r.Method == "" {
		return pol.DecideConnect(r.Host, r.Port)
	}
	return pol.Decide(r)
}

// approvalRequest is what request_access files: the target, why the
// policy denies it, the agent's reason, and what each verdict allows, as
// for a request the proxy holds (Policy.ApprovalRules): always the rule as
// narrow as the denial, host the host and port. A path the agent gave as a
// glob ("/docs/**"), which ApprovalRules does not write, is written as
// given: the human reads it before allowing it.
func approvalRequest(pol *allowlist.Policy, t target, d allowlist.Decision, bottle string) approval.Request {
	kind := "request"
	if t.method == "" && t.path == "" {
		kind = "connect"
	}
	r := t.request()
	always, host := pol.ApprovalRules(r, d)
	if t.path == "" && len(always) == 1 && len(always[0].Paths) == 1 {
		// The method on every path (judged as one of "/"), as Once
		// grants it.
		always[0].Paths = nil
	}
	if always == nil && (d.Cause == allowlist.CauseMethod || d.Cause == allowlist.CausePath) {
		rule := allowlist.RuleSpec{Host: t.host, Ports: []uint16{t.port}, Paths: []string{t.path}}
		if t.method != "" {
			rule.Methods = []string{t.method}
		}
		always = []allowlist.RuleSpec{rule}
	}
	return approval.Request{Kind: kind, Scheme: r.Scheme, Host: t.host, Port: t.port, Method: t.method, Path: t.path,
		Cause: d.Cause.String(), Rule: d.Rule, Reason: d.Explain(), AgentReason: t.reason,
		Always: always, Command: allowlist.ApprovalCommand(always, allowlist.HintScope{Bottle: bottle}), HostRule: host}
}

// decisionResult says what the human decided, or that nobody did.
func decisionResult(t target, id string, dec approval.Decision, d allowlist.Decision, cmd string) AccessResult {
	r := AccessResult{ID: id, Verdict: string(dec.Verdict), By: dec.By, Note: dec.Note, Rule: d.Rule, Reason: d.Explain()}
	note := ""
	if dec.Note != "" {
		note = fmt.Sprintf(" The human's note: %q.", dec.Note)
	}
	switch {
	case dec.Verdict == approval.Once:
		r.Status = "approved"
		r.Message = fmt.Sprintf("Approved once by %s: %s is allowed for the next %s.%s", dec.By, t, approval.MCPOnceGrant, note)
	case dec.Verdict == approval.Host:
		r.Status = "approved"
		r.Message = fmt.Sprintf("Approved by %s: %s is allowed, every method and path, for this bottle's lifetime.%s", dec.By, hostPort(t.host, t.port), note)
	case dec.Verdict == approval.Always:
		r.Status = "approved"
		r.Message = fmt.Sprintf("Approved by %s, for good: the allowlist now allows %s.%s", dec.By, t, note)
	case id == "" || dec.By == approval.ByStopping:
		r.Status, r.Verdict = "unavailable", ""
		r.Command = cmd
		r.Message = fmt.Sprintf("The approval could not be filed (%s). The user can allow it%s", dec.By, commandHint(cmd))
	case dec.By == approval.ByTimeout || dec.By == approval.ByAgentGone:
		r.Status, r.Verdict = "timeout", ""
		r.Command = cmd
		r.Message = fmt.Sprintf("Nobody decided approval %s in time; it stays listed for the user for a while. The user can still allow it%s", id, commandHint(cmd))
	default:
		r.Status = "denied"
		r.Message = fmt.Sprintf("Denied by %s: %s stays blocked.%s", dec.By, t, note)
	}
	return r
}

func commandHint(cmd string) string {
	if cmd == "" {
		return "."
	}
	return " with: " + cmd
}

// result is out as a tool result: its message as the text, and the whole
// as the structured content.
func result[T any](out T) (*mcp.CallToolResult, T, error) {
	var msg string
	switch o := any(out).(type) {
	case AccessResult:
		msg = o.Message
	case BlockedResult:
		msg = o.text()
	case RulesResult:
		msg = o.text()
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: msg}}}, out, nil
}

// progress tells a client that asked for progress, every progressEvery,
// that the approval still waits; stop ends it.
func (s *Server) progress(ctx context.Context, req *mcp.CallToolRequest, t target, timeout time.Duration) (stop func()) {
	tok := req.Params.GetProgressToken()
	if tok == nil || req.Session == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(s.cfg.progressEvery)
		defer tk.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				waited := time.Since(start).Round(time.Second)
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok,
					Progress: waited.Seconds(), Total: timeout.Seconds(),
					Message: fmt.Sprintf("waiting for the human to decide on %s (%s of %s)", t, waited, timeout)})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// BlockedInput is why_blocked's arguments.
type BlockedInput struct {
	Recent int `json:"recent,omitempty" jsonschema:"how many of the last denials, 1 to 50; default 10"`
}

// BlockedResult is why_blocked's answer.
type BlockedResult struct {
	Denials []Blocked `json:"denials"`
}

// Blocked is one denial and what would allow it now.
type Blocked struct {
	Denial
	// Now is what the allowlist in force says of it: "denied", or
	// "allowed" when a rule (or a session grant) allows it since.
	Now string `json:"now"`
	// Command is the `bottle allow` command that would allow it, for the
	// denials a rule can allow.
	Command string `json:"command,omitempty"`
}

func (s *Server) whyBlocked(_ context.Context, _ *mcp.CallToolRequest, in BlockedInput) (*mcp.CallToolResult, BlockedResult, error) {
	n := in.Recent
	switch {
	case n == 0:
		n = defaultRecent
	case n < 1 || n > maxRecent:
		return nil, BlockedResult{}, fmt.Errorf("recent %d: want a number from 1 to %d", n, maxRecent)
	}
	pol := s.cfg.Policy()
	out := BlockedResult{Denials: []Blocked{}}
	for _, d := range s.cfg.Denials.Recent(n) {
		out.Denials = append(out.Denials, s.explain(pol, d))
	}
	return result(out)
}

// explain judges d again with the policy in force, and says what would
// allow it when a rule can.
func (s *Server) explain(pol *allowlist.Policy, d Denial) Blocked {
	b := Blocked{Denial: d, Now: "denied"}
	policyCause := slices.ContainsFunc([]allowlist.Cause{allowlist.CauseNoRule, allowlist.CausePort, allowlist.CauseMethod,
		allowlist.CausePath, allowlist.CauseDenyRule}, func(c allowlist.Cause) bool { return c.String() == d.Cause })
	if !policyCause {
		return b // a guard, the DLP, the git gate: no rule allows it
	}
	var r allowlist.Request
	var now allowlist.Decision
	switch d.Kind {
	case "dns":
		r = allowlist.Request{Host: d.Name, Port: 443}
		now = pol.DecideName(d.Name)
	default:
		r = allowlist.Request{Scheme: d.Scheme, Host: d.Host, Port: d.Port, Method: d.Method, Path: d.Path}
		if d.Kind != "request" {
			r.Method, r.Path = "", ""
		}
		now = decide(pol, r)
	}
	if !now.Denied() {
		b.Now = "allowed"
		return b
	}
	if s.cfg.Approvals != nil && allowlist.Holdable(now.Cause) {
		if _, ok := s.cfg.Approvals.Granted(r); ok {
			b.Now = "allowed"
			return b
		}
	}
	b.Command = pol.AllowCommand(r, now, allowlist.HintScope{Bottle: s.cfg.Bottle})
	return b
}

func (b BlockedResult) text() string {
	if len(b.Denials) == 0 {
		return "No denials recorded since the sidecar started."
	}
	var sb strings.Builder
	for _, d := range b.Denials {
		what := d.Host
		switch {
		case d.Kind == "dns":
			what = "DNS " + d.Name
		case d.Method != "":
			what = d.Method + " " + d.Scheme + "://" + hostPort(d.Host, d.Port) + d.Path
		case d.Port != 0:
			what = hostPort(d.Host, d.Port)
		}
		fmt.Fprintf(&sb, "%s %s: %s (%s, %s)", d.Time, what, d.Reason, d.Rule, d.Cause)
		switch {
		case d.Now == "allowed":
			sb.WriteString("; allowed now")
		case d.Command != "":
			sb.WriteString("; to allow it: " + d.Command)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// ListInput is list_rules's arguments: none.
type ListInput struct{}

// RulesResult is list_rules's answer.
type RulesResult struct {
	Mode            string      `json:"mode"`      // enforce or report
	Approvals       string      `json:"approvals"` // ask or off, as in force
	ApprovalTimeout string      `json:"approval_timeout"`
	Allow           []RuleInfo  `json:"allow"`
	Deny            []RuleInfo  `json:"deny"`
	Git             []GitInfo   `json:"git"`
	Grants          []GrantInfo `json:"grants"`
}

// RuleInfo is one rule.
type RuleInfo struct {
	ID   string             `json:"id"`
	Rule string             `json:"rule"` // as every message shows a rule
	Spec allowlist.RuleSpec `json:"spec"`
}

// GitInfo is one git: entry and the rule it implies.
type GitInfo struct {
	ID    string   `json:"id"`
	Repo  string   `json:"repo"`
	Push  []string `json:"push,omitempty"`
	Rule  string   `json:"rule"`
	Paths []string `json:"paths"`
}

// GrantInfo is a session grant a human made.
type GrantInfo struct {
	ID    string `json:"id"`
	Rule  string `json:"rule"` // as `bottle allow add` arguments
	Until string `json:"until,omitempty"`
}

func (s *Server) listRules(context.Context, *mcp.CallToolRequest, ListInput) (*mcp.CallToolResult, RulesResult, error) {
	pol := s.cfg.Policy()
	out := RulesResult{Mode: pol.Mode().String(), Approvals: s.mode(pol).String(), ApprovalTimeout: pol.ApprovalTimeout().String(),
		Allow: []RuleInfo{}, Deny: []RuleInfo{}, Git: []GitInfo{}, Grants: []GrantInfo{}}
	for _, r := range pol.Allow() {
		out.Allow = append(out.Allow, RuleInfo{ID: r.ID, Rule: r.String(), Spec: r.Spec()})
	}
	for _, r := range pol.DenyRules() {
		out.Deny = append(out.Deny, RuleInfo{ID: r.ID, Rule: r.String(), Spec: r.Spec()})
	}
	implied := pol.ImpliedRules()
	for i, g := range pol.Git() {
		gi := GitInfo{ID: g.ID, Repo: g.Repo(), Push: g.Push}
		if i < len(implied) {
			gi.Rule, gi.Paths = implied[i].String(), implied[i].PathGlobs()
		}
		out.Git = append(out.Git, gi)
	}
	if s.cfg.Approvals != nil {
		for _, g := range s.cfg.Approvals.ActiveGrants() {
			gi := GrantInfo{ID: g.ID, Rule: g.Rule.Args()}
			if !g.Until.IsZero() {
				gi.Until = g.Until.Format(time.RFC3339)
			}
			out.Grants = append(out.Grants, gi)
		}
	}
	return result(out)
}

func (r RulesResult) text() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "mode %s; approvals %s (timeout %s)\n", r.Mode, r.Approvals, r.ApprovalTimeout)
	for _, x := range r.Allow {
		sb.WriteString(x.Rule + "\n")
	}
	for _, x := range r.Deny {
		sb.WriteString(x.Rule + "\n")
	}
	for _, g := range r.Git {
		fmt.Fprintf(&sb, "%s: git repository %s (%s)\n", g.ID, g.Repo, g.Rule)
	}
	for _, g := range r.Grants {
		until := "for the bottle's lifetime"
		if g.Until != "" {
			until = "until " + g.Until
		}
		fmt.Fprintf(&sb, "grant %s: %s %s\n", g.ID, g.Rule, until)
	}
	if len(r.Allow)+len(r.Git)+len(r.Grants) == 0 {
		sb.WriteString("nothing is allowed\n")
	}
	return sb.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// escapedWildcard reports whether path has a "*" only once decoded.
func escapedWildcard(path string) bool {
	dec, err := url.PathUnescape(path)
	return err == nil && strings.Count(dec, "*") != strings.Count(path, "*")
}

// printableText allows spaces and newlines, not other control characters.
func printableText(s string) bool {
	for _, r := range s {
		if r != '\n' && r != ' ' && (unicode.IsControl(r) || r == 0x7f) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}
