// Package watch is the live terminal view of `bottle watch`: the egress
// decisions of one bottle or of all, as they are written, and the pending
// approvals, pinned on top, each decided with one key.
//
// It is a bubbletea model (a plain value: a test feeds it messages and
// reads its View) over a Feed, which polls the state directory: the audit
// files (egress.jsonl and its rotations) and the approvals channels
// (approval.List). It shows what the audit holds, which has no query string
// and no secret, and adds none; everything the agent chose (hosts, paths,
// the reason it gave) is escaped before it reaches the screen.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/launcher"
)

// DecideFunc records a human's verdict on approval id, found in whichever
// bottle of stateDir holds it; it returns that bottle and the request.
type DecideFunc func(ctx context.Context, stateDir, id string, v approval.Verdict, by, note string) (string, approval.Request, error)

// Options configure a Model.
type Options struct {
	StateDir string
	Name     string // one bottle; "" for all
	By       string // who decides, as the audit records it: "bottle watch (alice)"
	Decide   DecideFunc
	// Bell gets a terminal bell ("\a") when a new approval arrives; nil
	// rings none.
	Bell io.Writer
	// Plain draws without colour or emphasis (NO_COLOR, tests): the
	// selection is marked with "▸" either way.
	Plain bool
	// Poll is how often the state directory is looked at; zero means
	// 200ms.
	Poll time.Duration
	// Now and Location are the clock and the time zone of the times shown
	// (tests fix them); nil means time.Now and time.Local.
	Now      func() time.Time
	Location *time.Location
	// MaxRows is how many decisions are kept; zero means 5000.
	MaxRows int
}

// Model is the view's state.
type Model struct {
	opt   Options
	ctx   context.Context
	feed  *Feed
	hints *hints
	keys  keyMap
	st    styles

	rows    []Row
	pending []Pending
	bottles []Bottle
	// deciding holds the verdicts sent and not yet acted on by the
	// sidecar (the request is still listed).
	deciding map[string]approval.Verdict

	width, height int

	deniedOnly bool
	bottle     string // the bottle filter; "" for all
	search     string
	searching  bool
	before     string // the search when / was pressed, for esc
	input      textinput.Model

	onPending bool // the selection is in the pending approvals, not the table
	pendSel   int  // the pending approval o/h/a/d decide
	sel       int  // the selected row of the table (an index into the visible rows)
	follow    bool // the selection stays on the newest row
	top       int  // the first row of the table on the screen

	detail   bool
	showHelp bool
	status   string
	err      error
	quitting bool
}

// New returns the model of opt, watching until ctx ends.
func New(ctx context.Context, opt Options) Model {
	if opt.Poll == 0 {
		opt.Poll = 200 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.MaxRows == 0 {
		opt.MaxRows = 5000
	}
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "host or path"
	in.Cursor.SetMode(cursorStatic)
	st := lipglossStyles(opt.Plain)
	in.PromptStyle, in.TextStyle, in.PlaceholderStyle = st.none, st.none, st.dim
	state := &launcher.Launcher{StateDir: opt.StateDir}
	return Model{
		opt: opt, ctx: ctx,
		feed:     &Feed{State: state, Name: opt.Name},
		hints:    &hints{state: state, cache: map[string]*policyEntry{}},
		keys:     defaultKeys(),
		st:       st,
		deciding: map[string]approval.Verdict{},
		bottle:   opt.Name,
		input:    in,
		follow:   true,
		width:    80, height: 24,
	}
}

// Run shows the view on the terminal of in and out until q, ctrl-c, or
// the end of ctx.
func Run(ctx context.Context, in io.Reader, out io.Writer, opt Options) error {
	p := tea.NewProgram(New(ctx, opt), tea.WithAltScreen(), tea.WithInput(in), tea.WithOutput(out), tea.WithContext(ctx))
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // interrupted: the view is all there is to stop
	}
	return err
}

// Messages of the model's own.
type (
	tickMsg    time.Time
	decidedMsg struct {
		id      string
		verdict approval.Verdict
		bottle  string
		err     error
	}
)

// Init polls at once.
func (m Model) Init() tea.Cmd {
	return func() tea.Msg { return tickMsg(m.opt.Now()) }
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		cmd := m.poll()
		return m.settle(), tea.Batch(cmd, tea.Tick(m.opt.Poll, func(t time.Time) tea.Msg { return tickMsg(t) }))
	case decidedMsg:
		if msg.err != nil {
			delete(m.deciding, msg.id)
			m.status = "not decided: " + oneLine(msg.err.Error())
		} else {
			m.status = fmt.Sprintf("%s %s (bottle %s): %s", verdictDone(msg.verdict), msg.id, msg.bottle, verdictEffect(msg.verdict))
		}
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			// Keys typed faster than they are read come as one message:
			// each is a key of its own ("/spec" is / then s, p, e, c).
			var cmds []tea.Cmd
			var model tea.Model = m
			for _, r := range msg.Runes {
				var cmd tea.Cmd
				model, cmd = model.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				cmds = append(cmds, cmd)
			}
			return model, tea.Batch(cmds...)
		}
		if m.searching {
			return m.searchKey(msg)
		}
		model, cmd := m.key(msg)
		if mm, ok := model.(Model); ok {
			return mm.settle(), cmd
		}
		return model, cmd
	}
	return m.settle(), nil
}

// poll reads what is new, and rings the bell for an approval that
// arrived.
func (m *Model) poll() tea.Cmd {
	p, err := m.feed.Poll()
	m.err = err
	m.rows = append(m.rows, p.Rows...)
	if over := len(m.rows) - m.opt.MaxRows; over > 0 {
		if !m.follow {
			m.sel -= m.visibleBefore(over)
		}
		m.rows = append([]Row(nil), m.rows[over:]...)
	}
	// The pending approval selected stays selected as others come and go.
	var selID string
	if m.pendSel < len(m.pending) {
		selID = m.pending[m.pendSel].ID
	}
	m.pending = p.Pending
	m.pendSel = 0
	for i, q := range m.pending {
		if q.ID == selID {
			m.pendSel = i
		}
	}
	for id := range m.deciding {
		if !m.listed(id) {
			delete(m.deciding, id)
		}
	}
	m.bottles = p.Bottles
	if len(p.Arrived) == 0 {
		return nil
	}
	m.status = fmt.Sprintf("new approval %s: o once · h host · a always · d deny", strings.Join(p.Arrived, ", "))
	if m.opt.Bell == nil {
		return nil
	}
	// The bell goes to the terminal between two frames: the renderer and
	// this write share the *os.File, whose writes do not interleave.
	bell := m.opt.Bell
	return func() tea.Msg { io.WriteString(bell, "\a"); return nil }
}

// visibleBefore counts the visible rows among the first n.
func (m *Model) visibleBefore(n int) int {
	c := 0
	for _, r := range m.rows[:n] {
		if m.shows(r) {
			c++
		}
	}
	return c
}

func (m *Model) listed(id string) bool {
	for _, q := range m.pending {
		if q.ID == id {
			return true
		}
	}
	return false
}

// key handles a key outside the search line.
func (m Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		m.quitting = true
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
	case key.Matches(msg, k.Once):
		return m.decide(approval.Once)
	case key.Matches(msg, k.Host):
		return m.decide(approval.Host)
	case key.Matches(msg, k.Always):
		return m.decide(approval.Always)
	case key.Matches(msg, k.Deny):
		return m.decide(approval.Deny)
	case key.Matches(msg, k.Denied):
		m.deniedOnly = !m.deniedOnly
		m.refilter()
	case key.Matches(msg, k.Bottle):
		m.cycleBottle()
		m.refilter()
	case key.Matches(msg, k.Search):
		m.searching, m.before = true, m.search
		m.input.SetValue(m.search)
		m.input.CursorEnd()
		return m, m.input.Focus()
	case key.Matches(msg, k.Clear):
		m.showHelp, m.detail = false, false
		m.deniedOnly, m.search = false, ""
		if m.opt.Name == "" {
			m.bottle = ""
		}
		m.status = ""
		m.refilter()
	case key.Matches(msg, k.Detail):
		m.detail = !m.detail
	case key.Matches(msg, k.Switch):
		m.onPending = !m.onPending && len(m.pending) > 0
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-max(1, m.tableHeight()-1))
	case key.Matches(msg, k.PageDown):
		m.move(max(1, m.tableHeight()-1))
	case key.Matches(msg, k.Top):
		m.onPending = false
		m.sel, m.follow = 0, false
	case key.Matches(msg, k.Bottom):
		m.onPending = false
		m.follow = true
	}
	return m, nil
}

// searchKey handles a key while the search line is open: the table
// filters as it is typed; enter keeps it, esc puts back the one before.
func (m Model) searchKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.Type {
	case tea.KeyCtrlC:
		m.quitting = true
		return m, tea.Quit
	case tea.KeyEnter:
		m.searching = false
		m.input.Blur()
		return m.settle(), nil
	case tea.KeyEsc:
		m.searching = false
		m.search = m.before
		m.input.Blur()
		m.refilter()
		return m.settle(), nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.search = m.input.Value()
	m.refilter()
	return m.settle(), cmd
}

// move moves the selection by n rows: within the pending approvals when
// they are selected, else within the table. Moving up leaves the newest
// row (the table stops following); moving to it follows again. Above the
// table's first row are the pending approvals, and below their last the
// table.
func (m *Model) move(n int) {
	if m.onPending {
		m.pendSel += n
		switch {
		case m.pendSel < 0:
			m.pendSel = 0
		case m.pendSel >= len(m.pending):
			m.pendSel = len(m.pending) - 1
			if n > 0 {
				m.onPending = false
				m.sel, m.follow = 0, false
			}
		}
		return
	}
	vis := m.visible()
	if m.follow {
		m.sel = len(vis) - 1
	}
	if m.sel+n < 0 && len(m.pending) > 0 && n == -1 {
		m.onPending, m.pendSel = true, len(m.pending)-1
		m.follow = false
		return
	}
	m.sel = min(max(m.sel+n, 0), len(vis)-1)
	m.follow = m.sel >= len(vis)-1
}

// refilter keeps the selection on a row the filters still show (or
// follows when they show none of the rows it was on).
func (m *Model) refilter() {
	if m.follow {
		return
	}
	m.sel = min(m.sel, len(m.visible())-1)
	if m.sel < 0 {
		m.sel, m.follow = 0, true
	}
}

// cycleBottle steps the bottle filter: all, then each bottle, then all.
func (m *Model) cycleBottle() {
	if m.opt.Name != "" {
		m.status = "watching bottle " + m.opt.Name + " only (bottle watch without NAME watches all)"
		return
	}
	if m.bottle == "" {
		if len(m.bottles) > 0 {
			m.bottle = m.bottles[0].Name
		}
		return
	}
	for i, b := range m.bottles {
		if b.Name == m.bottle {
			if i+1 < len(m.bottles) {
				m.bottle = m.bottles[i+1].Name
			} else {
				m.bottle = ""
			}
			return
		}
	}
	m.bottle = ""
}

// decide sends verdict v on the selected pending approval.
func (m Model) decide(v approval.Verdict) (tea.Model, tea.Cmd) {
	if len(m.pending) == 0 {
		m.status = "no pending approval to decide"
		return m.settle(), nil
	}
	q := m.pending[min(m.pendSel, len(m.pending)-1)]
	if _, ok := m.deciding[q.ID]; ok {
		m.status = fmt.Sprintf("%s is decided already (%s); waiting for the sidecar", q.ID, m.deciding[q.ID])
		return m.settle(), nil
	}
	if q.State == approval.StateExpired && v == approval.Once {
		m.status = fmt.Sprintf("too late to allow %s once: the agent's request timed out; h allows the host, a always, for next time", q.ID)
		return m.settle(), nil
	}
	if m.opt.Decide == nil {
		m.status = "deciding is not available here"
		return m.settle(), nil
	}
	m.deciding[q.ID] = v
	m.status = fmt.Sprintf("deciding %s: %s…", q.ID, v)
	ctx, decide, dir, by := m.ctx, m.opt.Decide, m.opt.StateDir, m.opt.By
	return m.settle(), func() tea.Msg {
		b, _, err := decide(ctx, dir, q.ID, v, by, "")
		if b == "" {
			b = q.Bottle
		}
		return decidedMsg{id: q.ID, verdict: v, bottle: b, err: err}
	}
}

// shows says whether the filters let r through.
func (m *Model) shows(r Row) bool {
	if m.bottle != "" && r.Bottle != m.bottle {
		return false
	}
	if m.deniedOnly && !denied(r.Rec) {
		return false
	}
	if m.search != "" {
		host, path := r.Rec.Host, r.Rec.Path
		if r.Rec.Name != "" {
			host = r.Rec.Name
		}
		s := strings.ToLower(m.search)
		if !strings.Contains(strings.ToLower(host), s) && !strings.Contains(strings.ToLower(path), s) {
			return false
		}
	}
	return true
}

// visible are the rows the filters show, oldest first.
func (m *Model) visible() []Row {
	var out []Row
	for _, r := range m.rows {
		if m.shows(r) {
			out = append(out, r)
		}
	}
	return out
}

// settle makes the selection and the scroll position consistent with the
// rows and the screen.
func (m Model) settle() Model {
	if len(m.pending) == 0 {
		m.onPending, m.pendSel = false, 0
	}
	m.pendSel = min(max(m.pendSel, 0), max(len(m.pending)-1, 0))
	n := len(m.visible())
	if m.follow || m.sel >= n {
		m.sel = n - 1
	}
	m.sel = max(m.sel, 0)
	h := m.tableHeight()
	if m.sel < m.top {
		m.top = m.sel
	}
	if m.sel >= m.top+h {
		m.top = m.sel - h + 1
	}
	if m.follow {
		m.top = max(n-h, 0)
	}
	m.top = min(max(m.top, 0), max(n-1, 0))
	return m
}

// denied says whether a record is a refusal (or one report mode let
// through, or a held request that was not let through).
func denied(r audit.Record) bool {
	if r.Approval != nil {
		return !approval.Verdict(r.Approval.Verdict).Allows()
	}
	return r.Decision != "" && r.Decision != "allow"
}

func verdictDone(v approval.Verdict) string {
	if v == approval.Deny {
		return "denied"
	}
	return "allowed"
}

func verdictEffect(v approval.Verdict) string {
	switch v {
	case approval.Once:
		return "once: the held request proceeds"
	case approval.Host:
		return "this host for the bottle's lifetime: the held request proceeds"
	case approval.Always:
		return "always: the rule is in the bottle's allowlist, and the held request proceeds"
	}
	return "the agent gets the 403"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
