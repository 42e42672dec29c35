package exec

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// TestExecTerminal: the engine is asked for a terminal only when stdin and
// stdout both are one. In scripts and cron either is /dev/null, a pipe or a
// file, and docker then refuses ("the input device is not a TTY").
func TestExecTerminal(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Launch("demo", "docker")
	_, pts := cmdtest.PTY(t)
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	file, _ := os.Create(filepath.Join(t.TempDir(), "out"))
	defer file.Close()
	for name, c := range map[string]struct {
		in, out *os.File
		tty     bool
	}{
		"terminal": {pts, pts, true}, "stdout /dev/null": {pts, devnull, false}, "stdin /dev/null": {devnull, file, false},
		"stdin pipe": {pr, file, false}, "stdout pipe": {devnull, pw, false}, "stdout file": {devnull, file, false},
	} {
		fx.Calls()
		opts := &Options{IO: &cmdutil.IOStreams{In: c.in, Out: c.out, Err: fx.Err}, Bottle: fx.F.RunningBottle, Name: "demo", Command: []string{"true"}}
		if err := run(context.Background(), opts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// Without a terminal the command runs under the supervisor, which
		// bottle signals on a Ctrl-C; a terminal carries the Ctrl-C itself.
		want := `^docker exec -i -u agent -w /workspace bottle-demo-agent /usr/local/bin/bottle-probe supervise --pid-file /run/bottle/exec-[0-9a-f]{12}\.pid -- true$`
		if c.tty {
			want = `^docker exec -i -t -u agent -w /workspace bottle-demo-agent true$`
		}
		if calls := fx.Calls(); len(calls) != 1 || !regexp.MustCompile(want).MatchString(calls[0]) {
			t.Errorf("%s: %q; want %q", name, calls, want)
		}
	}
}
