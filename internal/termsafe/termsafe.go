// Package termsafe makes untrusted text safe to print on a terminal. Names,
// paths and log lines that an agent chose can carry escape sequences: C0 and
// C1 controls (CSI clears the screen, OSC 52 writes the clipboard), DEL, and
// bidirectional overrides that make text read differently than it is. Each
// is shown as a visible escape instead.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal as is. Line feed and
// tab are kept by Escape (see keep).
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f: // C0 controls, DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 controls (0x9b is a one-byte CSI)
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // ALM, LRM, RLM
		r >= 0x202a && r <= 0x202e, // LRE RLE PDF LRO RLO
		r >= 0x2066 && r <= 0x2069, // LRI RLI FSI PDI
		r == 0x2028, r == 0x2029:   // line and paragraph separators
		return true
	}
	return false
}

// Escape returns s with every control character but line feed and tab, and
// every bidirectional control, written as \xNN or \u{NNNN}; invalid UTF-8
// bytes as \xNN.
func Escape(s string) string { return escape(s, "\n\t") }

// Line is Escape for text that must stay on one line: line feeds and tabs
// are escaped too.
func Line(s string) string { return escape(s, "") }

func escape(s, keep string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unsafe(r) && !strings.ContainsRune(keep, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r) && !strings.ContainsRune(keep, r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u{%04x}`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// JSON rewrites a line of JSON so that no C1 or bidirectional control
// reaches a terminal raw: inside strings they become \uNNNN escapes, which
// decode to the same value. (Go's encoder already escapes C0 controls, and
// U+2028/2029.) Other bytes are left alone.
func JSON(line string) string {
	clean := true
	for _, r := range line {
		if r >= 0x80 && unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return line
	}
	var b strings.Builder
	for _, r := range line {
		if r >= 0x80 && unsafe(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Writer escapes what passes through it as Escape does. A UTF-8 sequence
// split across writes is held until it is whole.
type Writer struct {
	W       io.Writer
	pending []byte
}

func (e *Writer) Write(p []byte) (int, error) {
	buf := append(e.pending, p...)
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	e.pending = append([]byte(nil), buf[cut:]...)
	if _, err := io.WriteString(e.W, Escape(string(buf[:cut]))); err != nil {
		return 0, err
	}
	return len(p), nil
}
