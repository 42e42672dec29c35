package launch

import (
	"errors"
	"os"
	"strings"
	"testing"

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
	for answer, ok := range map[string]bool{"n\n": false, "yes\n": true} {
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
		buf := make([]byte, 4096)
		n, _ := master.Read(buf)
		if !strings.Contains(string(buf[:n]), "Use this project file? [y/N] ") && !strings.Contains(string(buf[:n]), "new or has changed") {
			t.Errorf("%q: the terminal showed %q", answer, buf[:n])
		}
	}
}
