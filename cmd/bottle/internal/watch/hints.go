package watch

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// hints works out, for a denial, the command that would allow it now: the
// bottle's live allowlist, read again when it changes, asked as the
// sidecar asks it (allowlist.Policy.AllowCommand, scoped to the bottle).
type hints struct {
	state *launcher.Launcher
	cache map[string]*policyEntry
}

type policyEntry struct {
	mod time.Time
	pol *allowlist.Policy
	err error
}

// policy is the live allowlist of bottle name.
func (h *hints) policy(name string) (*allowlist.Policy, error) {
	path := filepath.Join(h.state.ConfigDir(name), contract.AllowlistFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if e := h.cache[name]; e != nil && e.mod.Equal(st.ModTime()) {
		return e.pol, e.err
	}
	pol, err := allowlist.Load(path)
	h.cache[name] = &policyEntry{mod: st.ModTime(), pol: pol, err: err}
	return pol, err
}

// policyCauses are the denials an allowlist rule changes; the others (a
// secret in the request, fronting, a malformed path, …) are refused
// whatever the allowlist says.
var policyCauses = map[string]bool{
	allowlist.CauseNoRule.String(): true, allowlist.CausePort.String(): true, allowlist.CauseMethod.String(): true,
	allowlist.CausePath.String(): true, allowlist.CauseDenyRule.String(): true, allowlist.CauseDenyCIDR.String(): true,
}

// allow is what to run to allow a request like r from now on, or why
// there is nothing to run. It is computed from r's host, port, method and
// path (never a query: the audit has none).
func (h *hints) allow(bottle string, r audit.Record) string {
	if !denied(r) {
		return ""
	}
	if r.Kind == audit.KindApproval || r.Kind == audit.KindSuppressed {
		return ""
	}
	if !policyCauses[r.Cause] {
		return "no rule allows this: a denial of cause " + termsafe.Line(r.Cause) + " is refused whatever the allowlist says (the reason says what to do)"
	}
	pol, err := h.policy(bottle)
	if err != nil {
		return "the bottle's live allowlist cannot be read (" + oneLine(err.Error()) + ")"
	}
	req := allowlist.Request{Scheme: r.Scheme, Host: r.Host, Port: r.Port, Method: r.Method, Path: r.Path}
	var d allowlist.Decision
	switch {
	case r.Kind == audit.KindDNS:
		req = allowlist.Request{Host: strings.TrimSuffix(r.Name, ".")}
		d = pol.DecideName(req.Host)
	case r.Kind == audit.KindConnect || r.Kind == audit.KindTunnel || r.Method == "" || strings.EqualFold(r.Method, "CONNECT"):
		req.Method, req.Path = "", ""
		d = pol.DecideConnect(req.Host, req.Port)
	default:
		d = pol.Decide(req)
	}
	if !d.Denied() {
		return "allowed now by " + d.Rule + " (the allowlist changed since)"
	}
	cmd := pol.AllowCommand(req, d, allowlist.HintScope{Bottle: bottle})
	if cmd == "" {
		return "no single rule allows this (" + termsafe.Line(d.Explain()) + ")"
	}
	return termsafe.Line(cmd)
}
