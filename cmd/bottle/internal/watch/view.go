package watch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/x/ansi"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/logs"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/termsafe"
)

// Lines of the screen around the table.
const (
	maxPendingLines = 5 // pending approvals shown at once (the selected one always among them)
	detailLines     = 7
)

// View draws the screen: the header, the pending approvals, the table of
// decisions (newest at the bottom), the detail pane, the status line and
// the keys. Every line is cut to the terminal's width, never wrapped.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	var out []string
	out = append(out, m.header()...)
	out = append(out, m.pendingView()...)
	if m.showHelp {
		out = append(out, m.helpView()...)
	} else {
		out = append(out, m.table()...)
	}
	if m.detail {
		out = append(out, m.detailView()...)
	}
	out = append(out, m.statusLine(), m.footer())
	for i, l := range out {
		out[i] = ansi.Truncate(l, max(m.width, 1), "…")
	}
	return strings.Join(out, "\n")
}

// header is the first line: what is watched, the filters, and whether the
// table follows.
func (m Model) header() []string {
	var bs []string
	for _, b := range m.bottles {
		bs = append(bs, b.Name+" "+m.statusWord(b))
	}
	what := "no bottles yet"
	if len(bs) > 0 {
		what = strings.Join(bs, ", ")
	}
	var filters []string
	if m.deniedOnly {
		filters = append(filters, "denied only")
	}
	if m.bottle != "" && m.opt.Name == "" {
		filters = append(filters, "bottle "+m.bottle)
	}
	if m.search != "" {
		filters = append(filters, "search "+strconv.Quote(m.search))
	}
	f := "all decisions"
	if len(filters) > 0 {
		f = "filter: " + strings.Join(filters, ", ") + " (esc clears)"
	}
	follow := "following"
	if !m.follow {
		follow = "scrolled (G follows)"
	}
	n := len(m.visible())
	line := fmt.Sprintf("bottle watch · %s · %s · %d shown · %s", what, f, n, follow)
	if m.err != nil {
		line += " · " + m.st.warn.Render("error: "+oneLine(m.err.Error()))
	}
	return []string{m.st.bold.Render(line)}
}

func (m Model) statusWord(b Bottle) string {
	if b.Running() {
		return m.st.allow.Render(b.Status)
	}
	return m.st.warn.Render(b.Status)
}

// pendingView is the pinned block of pending approvals, the selected one
// marked: o/h/a/d decide it.
func (m Model) pendingView() []string {
	if len(m.pending) == 0 {
		return nil
	}
	q := m.pending[m.pendSel]
	title := fmt.Sprintf("PENDING APPROVALS (%d) · o once · h host · a always · d deny → %s", len(m.pending), q.ID)
	if !m.onPending && len(m.pending) > 1 {
		title += " (tab selects another)"
	}
	out := []string{m.st.pending.Render(title)}
	first := 0
	if m.pendSel >= maxPendingLines {
		first = m.pendSel - maxPendingLines + 1
	}
	for i := first; i < len(m.pending) && i < first+maxPendingLines; i++ {
		out = append(out, m.pendingLine(i))
	}
	if rest := len(m.pending) - first - maxPendingLines; rest > 0 {
		out = append(out, m.st.dim.Render(fmt.Sprintf("  … and %d more (↓ in the list)", rest)))
	}
	return out
}

func (m Model) pendingLine(i int) string {
	q := m.pending[i]
	s := termsafe.Line
	mark := "  "
	if i == m.pendSel {
		mark = "▸ "
	}
	left := m.timeLeft(q)
	parts := []string{mark + q.ID, s(q.Bottle), left, "×" + strconv.Itoa(max(q.Count, 1)), s(q.Cause), target(q.Request)}
	if q.AgentReason != "" {
		parts = append(parts, "agent: "+quote(q.AgentReason))
	}
	line := strings.Join(parts, "  ")
	if i == m.pendSel && m.onPending {
		return m.st.sel.Render(line)
	}
	return line
}

// timeLeft is how long the agent's request is still held, or what became
// of it.
func (m Model) timeLeft(q Pending) string {
	if v, ok := m.deciding[q.ID]; ok {
		return "sent " + string(v)
	}
	left := q.Expires.Sub(m.opt.Now())
	if q.State == approval.StateExpired || left <= 0 {
		return "expired (h/a allow it for next time)"
	}
	return left.Round(time.Second).String() + " left"
}

// quote is what the agent wrote, escaped, in quotes.
func quote(s string) string { return "\"" + termsafe.Line(s) + "\"" }

// target is what a pending approval asks for: METHOD HOST:PORT/PATH.
func target(q approval.Request) string {
	s := termsafe.Line
	t := s(q.Host) + ":" + strconv.Itoa(int(q.Port)) + s(q.Path)
	if q.Method != "" {
		return s(q.Method) + " " + t
	}
	return "CONNECT " + t
}

// columns are the table's widths: each fixed column as wide as its
// longest value shown (within a bound), and the host and the path share
// what they leave of the terminal's width.
type columns struct{ bottle, kind, method, decision, cause, host, path int }

func (m Model) columns(vis []Row) columns {
	c := columns{bottle: 6, kind: 4, method: 6, decision: 8, cause: 5}
	for _, b := range m.bottles {
		c.bottle = max(c.bottle, min(len(b.Name), 16))
	}
	for _, r := range vis {
		decision, cause := r.Rec.Decision, r.Rec.Cause
		if a := r.Rec.Approval; a != nil {
			decision, cause = a.Verdict, "by "+a.By
		}
		c.kind = max(c.kind, min(len(r.Rec.Kind), 10))
		c.method = max(c.method, min(len(r.Rec.Method), 7))
		c.decision = max(c.decision, min(len(decision), 10))
		c.cause = max(c.cause, min(len(cause), 24)) // "by bottle approve (alice)"
	}
	fixed := 2 + 9 + c.bottle + 1 + c.kind + 1 + c.method + 1 + c.decision + 1 + c.cause + 1 + 6 + 2
	rest := max(m.width-fixed, 0)
	c.host = max(rest*13/20, 16)
	c.path = max(rest-c.host, 8)
	return c
}

// cell is s cut or padded to w cells.
func cell(s string, w int) string {
	s = ansi.Truncate(s, w, "…")
	return s + strings.Repeat(" ", max(w-ansi.StringWidth(s), 0))
}

// table is the column heads and the rows on the screen.
func (m Model) table() []string {
	vis := m.visible()
	c := m.columns(vis)
	head := "  " + cell("TIME", 8) + " " + cell("BOTTLE", c.bottle) + " " + cell("KIND", c.kind) + " " + cell("METHOD", c.method) + " " +
		cell("HOST", c.host) + " " + cell("PATH", c.path) + " " + cell("DECISION", c.decision) + " " + cell("CAUSE", c.cause) + " " + "BYTES"
	out := []string{m.st.head.Render(head)}
	h := m.tableHeight()
	for i := m.top; i < len(vis) && i < m.top+h; i++ {
		out = append(out, m.rowLine(vis[i], c, i == m.sel && !m.onPending))
	}
	if len(vis) == 0 {
		msg := "  no decisions yet: each request, tunnel and refused DNS query of the agent shows here as it is made"
		if len(m.rows) > 0 {
			msg = fmt.Sprintf("  none of the %d decisions matches the filter (esc clears it)", len(m.rows))
		}
		out = append(out, m.st.dim.Render(msg))
	}
	return out
}

func (m Model) rowLine(r Row, c columns, selected bool) string {
	s := termsafe.Line
	rec := r.Rec
	host, path := logs.Where(&rec)
	decision, cause := s(rec.Decision), s(rec.Cause)
	if a := rec.Approval; a != nil {
		decision = s(a.Verdict)
		if a.By != "" {
			cause = "by " + s(a.By)
		}
	}
	mark := "  "
	if selected {
		mark = "▸ "
	}
	line := mark + cell(m.clock(rec), 8) + " " + cell(s(r.Bottle), c.bottle) + " " + cell(s(rec.Kind), c.kind) + " " + cell(s(rec.Method), c.method) + " " +
		cell(host, c.host) + " " + cell(path, c.path) + " " + cell(decision, c.decision) + " " + cell(cause, c.cause) + " " + size(rec.BytesIn+rec.BytesOut)
	switch {
	case selected:
		return m.st.sel.Render(line)
	case denied(rec):
		return m.st.deny.Render(line)
	}
	return line
}

// clock is a record's time of day where watch runs.
func (m Model) clock(r audit.Record) string {
	t := stamp(r)
	if t.IsZero() {
		return "?"
	}
	return t.In(m.opt.Location).Format("15:04:05")
}

// size is a byte count in a few characters: 512, 1.2k, 3.4M.
func size(n int64) string {
	switch {
	case n == 0:
		return ""
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 1000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	case n < 1000_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + "G"
}

// tableHeight is how many rows fit between the rest of the screen.
func (m Model) tableHeight() int {
	used := 1 + 1 + 2 // header, column heads, status, keys
	if n := len(m.pending); n > 0 {
		used += 1 + min(n, maxPendingLines)
		if n > maxPendingLines {
			used++
		}
	}
	if m.detail {
		used += detailLines
	}
	return max(m.height-used, 1)
}

// detailView is the pane for the selection: the rule that decided, the
// reason, and the command that does what a key here would.
func (m Model) detailView() []string {
	s := termsafe.Line
	var lines []string
	if m.onPending && len(m.pending) > 0 {
		q := m.pending[m.pendSel]
		how := "held by the proxy"
		if q.Source == approval.SourceMCP {
			how = "asked by the agent (MCP request_access)"
		}
		lines = []string{
			fmt.Sprintf("── pending approval %s · bottle %s · %s ", q.ID, s(q.Bottle), how),
			fmt.Sprintf("request  %s  ×%d held, %s", target(q.Request), max(q.Count, 1), m.timeLeft(q)),
			fmt.Sprintf("rule     %s (cause %s): %s", s(q.Rule), s(q.Cause), s(q.Reason)),
		}
		if q.AgentReason != "" {
			lines = append(lines, "agent    "+quote(q.AgentReason))
		}
		lines = append(lines,
			fmt.Sprintf("always   bottle approve %s --always   (writes: %s)", q.ID, s(q.Command)),
			fmt.Sprintf("also     bottle approve %s --once · bottle approve %s --host · bottle deny %s", q.ID, q.ID, q.ID))
	} else if vis := m.visible(); len(vis) > 0 {
		r := vis[m.sel]
		rec := r.Rec
		lines = []string{
			fmt.Sprintf("── %s · bottle %s · %s ", s(rec.Kind), s(r.Bottle), s(rec.Time)),
			fmt.Sprintf("rule     %s: %s", s(rec.Rule), s(rec.Reason)),
		}
		if rec.Cause != "" {
			lines[1] = fmt.Sprintf("rule     %s (cause %s): %s", s(rec.Rule), s(rec.Cause), s(rec.Reason))
		}
		if a := rec.Approval; a != nil {
			lines = append(lines, fmt.Sprintf("approval %s: %s by %s, %d held, waited %s", s(a.ID), s(a.Verdict), s(a.By), a.Count,
				(time.Duration(a.WaitedMS)*time.Millisecond).Round(time.Millisecond)))
		}
		if cmd := m.hints.allow(r.Bottle, rec); cmd != "" {
			lines = append(lines, "allow    "+cmd)
		}
		if rec.Error != "" {
			lines = append(lines, "error    "+s(rec.Error))
		}
		lines = append(lines, "audit    "+logs.Line(&rec))
	} else {
		lines = []string{"── nothing selected"}
	}
	for len(lines) < detailLines {
		lines = append(lines, "")
	}
	lines[0] = m.st.bold.Render(lines[0])
	return lines[:detailLines]
}

// statusLine is the search being typed, or the outcome of the last key.
func (m Model) statusLine() string {
	if m.searching {
		return m.input.View() + m.st.dim.Render("   enter keeps · esc cancels")
	}
	if m.status == "" {
		return ""
	}
	return m.st.warn.Render(m.status)
}

func (m Model) footer() string {
	h := help.New()
	h.Width = m.width
	if m.opt.Plain {
		h.Styles = help.Styles{}
	}
	return h.ShortHelpView(m.keys.short())
}

func (m Model) helpView() []string {
	h := help.New()
	if m.opt.Plain {
		h.Styles = help.Styles{}
	}
	out := []string{m.st.head.Render("KEYS")}
	out = append(out, strings.Split(h.FullHelpView(m.keys.full()), "\n")...)
	out = append(out, "",
		"o/h/a/d decide the pending approval marked ▸ (tab or ↑ from the table's top selects another).",
		"h allows the host (every method and path) until the bottle stops; a writes the rule to its allowlist.",
		"Without a terminal: bottle logs NAME --egress --follow, and bottle approvals.")
	for len(out) < m.tableHeight()+1 {
		out = append(out, "")
	}
	return out[:max(m.tableHeight()+1, 1)]
}
