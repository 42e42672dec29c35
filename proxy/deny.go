package proxy

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// denial is what a readable 403 says: what was blocked, why, and what
// would allow it. The same page answers a plain-HTTP request, a request
// inside a tunnel (an intercepted one, or one the proxy opened only to
// show the page, deniedTunnel) and a CONNECT that cannot be shown one.
type denial struct {
	method, host string
	port         uint16
	path         string // escaped, never with a query
	d            allowlist.Decision
	hint         string // the `bottle allow` command; "" when none applies
	approvalID   string // the approval that was asked and not granted; "" when none
}

// deniedJSON is the body of a denial for a client that prefers JSON
// (Accept: application/json): the same facts as the text page, by name.
type deniedJSON struct {
	Error        string `json:"error"` // always "blocked"
	Host         string `json:"host"`
	Port         uint16 `json:"port"`
	Method       string `json:"method"`
	Path         string `json:"path"`
	Cause        string `json:"cause"`
	Rule         string `json:"rule"`
	Reason       string `json:"reason"`
	AllowCommand string `json:"allow_command"`
	ApprovalID   string `json:"approval_id"`
}

// denyAnswer is what the agent sees when something is blocked: 403, the
// deciding rule and the cause in headers, and a body a person (or an
// agent) can act on, as text, or JSON for a client that asks for it (see
// answer.response). Nothing the agent sent appears unbounded.
func denyAnswer(method, host string, port uint16, path string, d allowlist.Decision, hint string) *answer {
	return denial{method: method, host: host, port: port, path: path, d: d, hint: hint}.answer()
}

func (dn denial) answer() *answer {
	a := newAnswer(http.StatusForbidden, dn.text())
	a.header.Set("X-Bottle-Decision", "deny")
	a.header.Set("X-Bottle-Rule", dn.d.Rule)
	a.header.Set("X-Bottle-Denied", dn.d.Cause.String())
	if dn.approvalID != "" {
		a.header.Set("X-Bottle-Approval", dn.approvalID)
	}
	a.header.Set("Proxy-Status", proxyStatus("http_request_denied", dn.d.Explain()))
	a.deny = &dn
	return a
}

// usableHint is the hint when it can be shown whole: a clipped command
// would not run, so too long a one is left out.
func (dn denial) usableHint() string {
	if len(dn.hint) > audit.MaxField {
		return ""
	}
	return dn.hint
}

func (dn denial) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bottle: blocked %s %s\nreason: %s (rule %s)\ncause: %s\n", audit.Clip(dn.method), audit.Clip(joinHostPort(dn.host, dn.port)+dn.path), audit.Clip(dn.d.Explain()), dn.d.Rule, dn.d.Cause)
	if dn.approvalID != "" {
		fmt.Fprintf(&b, "approval: %s\n", dn.approvalID)
	}
	if h := dn.usableHint(); h != "" {
		fmt.Fprintf(&b, "to allow it, run on the host:\n  %s\n", h)
	}
	return b.String()
}

func (dn denial) json() string {
	b, _ := json.Marshal(deniedJSON{
		Error: "blocked", Host: audit.Clip(dn.host), Port: dn.port, Method: audit.Clip(dn.method), Path: audit.Clip(dn.path),
		Cause: dn.d.Cause.String(), Rule: dn.d.Rule, Reason: audit.Clip(dn.d.Explain()), AllowCommand: dn.usableHint(), ApprovalID: dn.approvalID,
	})
	return string(b) + "\n"
}

// negotiated is a, in JSON when a is a denial and r prefers JSON.
func (a *answer) negotiated(r *http.Request) *answer {
	if a.deny == nil || r == nil || !prefersJSON(r.Header.Values("Accept")) {
		return a
	}
	b := &answer{status: a.status, header: a.header.Clone(), body: a.deny.json(), deny: a.deny}
	b.header.Set("Content-Type", "application/json")
	b.header.Set("Content-Length", strconv.Itoa(len(b.body)))
	return b
}

// prefersJSON reports whether an Accept header ranks application/json
// above text: listed with a q above 0, and no text type (text/plain,
// text/html, text/*) with a higher q. A wildcard (*/*) prefers nothing:
// curl and Node's fetch send it and get the text page.
func prefersJSON(accept []string) bool {
	jsonQ, textQ := -1.0, -1.0
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			switch {
			case mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
				jsonQ = max(jsonQ, q)
			case mt == "text/plain" || mt == "text/html" || mt == "text/*":
				textQ = max(textQ, q)
			}
		}
	}
	return jsonQ > 0 && jsonQ >= textQ
}
