//go:build unix

package launcher

import (
	"io"
	"os"
	"syscall"
)

// processGroup puts a command in a process group of its own, so that a
// Ctrl-C at the terminal reaches bottle alone: bottle then ends the
// command through its context and tears down what a launch made, instead
// of the engine's CLI dying half way and saying so. A command that reads
// the terminal stays in bottle's group, the only one the terminal lets
// read (a character device is taken for one: /dev/null loses nothing).
func processGroup(stdin io.Reader) *syscall.SysProcAttr {
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return nil
		}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
