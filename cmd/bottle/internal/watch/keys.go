package watch

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
)

const cursorStatic = cursor.CursorStatic

// keyMap is every key of the view, with its help.
type keyMap struct {
	Once, Host, Always, Deny   key.Binding
	Denied, Bottle, Search     key.Binding
	Clear, Detail, Switch      key.Binding
	Up, Down, PageUp, PageDown key.Binding
	Top, Bottom, Help, Quit    key.Binding
}

func defaultKeys() keyMap {
	b := func(help string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(keys[0], help))
	}
	return keyMap{
		Once:     b("allow once", "o"),
		Host:     b("allow this host (bottle's lifetime)", "h"),
		Always:   b("allow always (writes the rule)", "a"),
		Deny:     b("deny", "d"),
		Denied:   b("denied only", "f"),
		Bottle:   b("cycle bottle", "b"),
		Search:   b("search host/path", "/"),
		Clear:    b("clear filters", "esc"),
		Detail:   b("detail pane", "enter"),
		Switch:   b("pending ⇄ table", "tab"),
		Up:       b("up", "up", "k"),
		Down:     b("down", "down", "j"),
		PageUp:   b("page up", "pgup"),
		PageDown: b("page down", "pgdown"),
		Top:      b("oldest", "home", "g"),
		Bottom:   b("newest, follow", "end", "G"),
		Help:     b("help", "?"),
		Quit:     b("quit", "q", "ctrl+c"),
	}
}

// short is the footer's keys, in a word each.
func (k keyMap) short() []key.Binding {
	var out []key.Binding
	for _, b := range []struct {
		key.Binding
		word string
	}{{k.Once, "once"}, {k.Host, "host"}, {k.Always, "always"}, {k.Deny, "deny"}, {k.Denied, "denied"}, {k.Bottle, "bottle"},
		{k.Search, "search"}, {k.Detail, "detail"}, {k.Help, "help"}, {k.Quit, "quit"}} {
		b.SetHelp(b.Help().Key, b.word)
		out = append(out, b.Binding)
	}
	return out
}

// full is the help screen's keys, in columns.
func (k keyMap) full() [][]key.Binding {
	return [][]key.Binding{
		{k.Once, k.Host, k.Always, k.Deny},
		{k.Denied, k.Bottle, k.Search, k.Clear, k.Detail},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Switch},
		{k.Help, k.Quit},
	}
}

// styles are the view's emphasis; all plain without colour.
type styles struct {
	none, dim, bold, head, sel, deny, allow, pending, warn lipgloss.Style
}

func lipglossStyles(plain bool) styles {
	n := lipgloss.NewStyle()
	if plain {
		return styles{none: n, dim: n, bold: n, head: n, sel: n, deny: n, allow: n, pending: n, warn: n}
	}
	return styles{
		none:    n,
		dim:     n.Faint(true),
		bold:    n.Bold(true),
		head:    n.Bold(true).Underline(true),
		sel:     n.Reverse(true),
		deny:    n.Foreground(lipgloss.Color("1")),
		allow:   n.Foreground(lipgloss.Color("2")),
		pending: n.Foreground(lipgloss.Color("3")).Bold(true),
		warn:    n.Foreground(lipgloss.Color("3")),
	}
}
