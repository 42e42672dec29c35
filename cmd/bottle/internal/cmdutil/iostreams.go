package cmdutil

import (
	"bytes"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams are the standard streams a command uses; tests substitute
// buffers. Results go to Out, everything else (progress, notes, errors) to
// Err.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer
}

// System returns the process's real streams.
func System() *IOStreams { return &IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// Test returns streams backed by buffers: stdin reads in, and what the
// command writes is in the two buffers returned.
func Test(in string) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &IOStreams{In: strings.NewReader(in), Out: &out, Err: &errb}, &out, &errb
}

// IsTerminal reports whether f is a terminal. /dev/null is a character
// device too, so the mode bits are not enough: ask the terminal driver.
func IsTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// Interactive reports whether both stdin and stdout are terminals: only then
// is the engine asked for one (in scripts and cron either may be /dev/null,
// a pipe or a file, and docker refuses a terminal there).
func (s *IOStreams) Interactive() bool { return IsTerminal(s.In) && IsTerminal(s.Out) }

// CanPrompt reports whether a question can be asked and answered: stdin and
// stderr are terminals.
func (s *IOStreams) CanPrompt() bool { return IsTerminal(s.In) && IsTerminal(s.Err) }
