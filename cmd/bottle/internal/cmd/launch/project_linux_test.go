package launch

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// TestProjectAsked: in a terminal, bottle asks; anything but yes launches
// nothing.
func TestProjectAsked(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\n"), 0o644)
	master, pts := cmdtest.PTY(t)
	// In order: a "no" leaves the file unapproved, so the "yes" is asked too.
	for _, c := range []struct {
		answer string
		ok     bool
	}{{"n\n", false}, {"yes\n", true}} {
		answer, ok := c.answer, c.ok
		master.WriteString(answer)
		opts := &Options{IO: &cmdutil.IOStreams{In: pts, Out: pts, Err: pts}, StateDir: fx.F.Env.StateDir, Lookup: fx.F.Lookup, Project: "bottle.yaml"}
		err := opts.applyProject(NewCmd(fx.F, nil))
		var se *cmdutil.StatusError
		switch {
		case ok && err != nil:
			t.Errorf("%q: %v", answer, err)
		case !ok && (!errors.As(err, &se) || se.Code != cmdutil.ExitError || !strings.Contains(err.Error(), "not approved; nothing was launched")):
			t.Errorf("%q: %v", answer, err)
		}
		// The terminal echoes the answer and shows the prompt, in as many
		// reads as it likes: read what it holds until the prompt is there.
		var shown strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(shown.String(), "Use this project file? [y/N] ") {
			master.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := master.Read(buf)
			shown.Write(buf[:n])
			if err != nil {
				t.Fatalf("%q: the terminal showed %q (%v)", answer, shown.String(), err)
			}
		}
		if !strings.Contains(shown.String(), "new or has changed") {
			t.Errorf("%q: the terminal showed %q", answer, shown.String())
		}
	}
}
