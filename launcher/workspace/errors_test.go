package workspace

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostile is a name the agent may choose: an OSC 52 (which writes the
// terminal's clipboard) and a clear screen.
const hostile = "\x1b]52;c;cHduZWQ=\x07\x1b[2J"

// TestErrorsEscapeAgentsNames: an error of the file system about a file
// the agent named (the review's was the disk filling up; here the name is
// too long) says the name escaped, never raw, and still wraps the errno.
func TestErrorsEscapeAgentsNames(t *testing.T) {
	long := hostile + strings.Repeat("a", 300)
	err := Extract(tarOf(t, top, entry{name: "workspace/" + long, typ: tar.TypeReg, body: "x"}), filepath.Join(t.TempDir(), "dst"), "workspace", DefaultLimit)
	if err == nil || strings.ContainsRune(err.Error(), '\x1b') || !strings.Contains(err.Error(), `/workspace/\x1b]52`) || !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("Extract: %q", err)
	}

	// Into, where the directory the agent's file goes in is a file in
	// the destination.
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, hostile, "f"), "x\n")
	})
	out := t.TempDir()
	write(t, filepath.Join(out, hostile), "a file of the user's\n")
	_, err = c.Into(context.Background(), out, false)
	if err == nil || strings.ContainsRune(err.Error(), '\x1b') || !strings.Contains(err.Error(), `\x1b]52`) {
		t.Errorf("Into: %q", err)
	}
}

// TestPathError: only the errno of a path error is kept.
func TestPathError(t *testing.T) {
	for _, err := range []error{
		&fs.PathError{Op: "open", Path: "/x/" + hostile, Err: syscall.ENOSPC},
		&os.LinkError{Op: "rename", Old: hostile, New: hostile, Err: syscall.ENOSPC},
		fmt.Errorf("writing: %w", &fs.PathError{Op: "write", Path: hostile, Err: syscall.ENOSPC}),
	} {
		got := pathError("/workspace/"+hostile, err)
		if want := `/workspace/\x1b]52;c;cHduZWQ=\x07\x1b[2J: no space left on device`; got.Error() != want || !errors.Is(got, syscall.ENOSPC) {
			t.Errorf("pathError(%q) = %q, want %q", err, got, want)
		}
	}
	if got := pathError("/workspace/a", errors.New("b "+hostile)); strings.ContainsRune(got.Error(), '\x1b') {
		t.Errorf("an other error: %q", got)
	}
}
