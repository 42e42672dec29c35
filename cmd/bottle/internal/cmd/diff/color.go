package diff

import (
	"bytes"
	"io"
	"strings"

	"bottle.dev/bottle/internal/termsafe"
)

// The colours of a diff on a terminal, as git's defaults.
const (
	bold  = "\x1b[1m"
	red   = "\x1b[31m"
	green = "\x1b[32m"
	cyan  = "\x1b[36m"
	reset = "\x1b[m"
)

// colorWriter writes a diff to a terminal a line at a time: the agent's
// text escaped (termsafe), and, with color, each line coloured by what it
// is. The escaping comes first, so no colour of the agent's survives.
type colorWriter struct {
	w       io.Writer
	color   bool
	partial []byte
	inHunk  bool
}

func (c *colorWriter) Write(p []byte) (int, error) {
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := io.WriteString(c.w, c.line(string(c.partial[:i]))+"\n"); err != nil {
			return 0, err
		}
		c.partial = c.partial[i+1:]
	}
}

// Flush writes what is left of a last line without a newline.
func (c *colorWriter) Flush() error {
	if len(c.partial) == 0 {
		return nil
	}
	_, err := io.WriteString(c.w, c.line(string(c.partial)))
	c.partial = nil
	return err
}

func (c *colorWriter) line(s string) string {
	s = termsafe.Escape(s) // tabs stay; there is no line feed left
	if !c.color {
		return s
	}
	switch {
	case strings.HasPrefix(s, "diff --git "):
		c.inHunk = false
		return bold + s + reset
	case strings.HasPrefix(s, "@@"):
		c.inHunk = true
		return cyan + s + reset
	case !c.inHunk:
		return bold + s + reset // the header: index, modes, ---, +++
	case strings.HasPrefix(s, "+"):
		return green + s + reset
	case strings.HasPrefix(s, "-"):
		return red + s + reset
	}
	return s
}
