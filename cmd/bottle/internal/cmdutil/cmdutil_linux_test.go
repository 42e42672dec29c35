package cmdutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIsTerminal: only a terminal is one; /dev/null is a character device
// but not a terminal.
func TestIsTerminal(t *testing.T) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pty here: %v", err)
	}
	defer m.Close()
	unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	n, _ := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	file, _ := os.Create(filepath.Join(t.TempDir(), "f"))
	defer file.Close()
	for name, c := range map[string]struct {
		f    any
		want bool
	}{"pty": {pts, true}, "/dev/null": {devnull, false}, "pipe": {pr, false}, "file": {file, false}, "not a file": {"x", false}} {
		if got := IsTerminal(c.f); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
	if s := (&IOStreams{In: pts, Out: pts, Err: devnull}); !s.Interactive() || s.CanPrompt() {
		t.Errorf("pty in and out, stderr /dev/null: interactive %v, can prompt %v", s.Interactive(), s.CanPrompt())
	}
}
