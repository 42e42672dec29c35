package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair with nothing but the kernel.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pty here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestIsTerminal: only a terminal is one; /dev/null is a character device
// but not a terminal.
func TestIsTerminal(t *testing.T) {
	_, pts := openPTY(t)
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
		if got := isTerminal(c.f); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
	// And exec asks for a terminal when both ends are one.
	f := newFakeEngine(t)
	f.bottle("demo", "docker")
	if code, errs := runFiles(t, pts, pts, "exec", "demo", "--", "true"); code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	if c := f.calls(); len(c) != 1 || c[0] != "docker exec -i -t -u agent -w /workspace bottle-demo-agent true" {
		t.Errorf("calls %q", c)
	}
	// From a terminal, with stdout to /dev/null (the cron and script case):
	// no terminal for the engine, which would refuse one.
	os.Remove(filepath.Join(f.dir, "calls"))
	if code, errs := runFiles(t, pts, devnull, "exec", "demo", "--", "true"); code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	if c := f.calls(); len(c) != 1 || c[0] != "docker exec -i -u agent -w /workspace bottle-demo-agent true" {
		t.Errorf("stdout to /dev/null: %q", c)
	}
}
