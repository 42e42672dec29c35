package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/shquote"
)

// Tmux is a tmux server of a test's own (its own socket), and one session
// of a fixed size in it.
type Tmux struct {
	t    *testing.T
	sock string
}

// StartTmux runs argv (with env) in a new detached session of width×height
// on a private server, killed when the test ends. It skips the test only
// when tmux is not installed (CI installs it: .ci/run).
func StartTmux(t *testing.T, width, height int, env, argv []string) *Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	// A socket path short enough for sun_path, in a directory of the test's.
	dir, err := os.MkdirTemp("", "tmux")
	if err != nil {
		t.Fatal(err)
	}
	tm := &Tmux{t: t, sock: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		exec.Command("tmux", "-S", tm.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	cmd := "exec env " + shquote.Join(append(env, argv...))
	if out, err := exec.Command("tmux", "-S", tm.sock, "-f", "/dev/null", "new-session", "-d", "-s", "w",
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return tm
}

// Capture is the pane's screen as text.
func (tm *Tmux) Capture() string {
	out, err := exec.Command("tmux", "-S", tm.sock, "capture-pane", "-p", "-t", "w").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// CaptureStyled is the screen with its attributes as escape sequences.
func (tm *Tmux) CaptureStyled() string {
	out, _ := exec.Command("tmux", "-S", tm.sock, "capture-pane", "-p", "-e", "-t", "w").Output()
	return string(out)
}

// Keys sends keys to the pane, as tmux send-keys names them.
func (tm *Tmux) Keys(keys ...string) {
	tm.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-S", tm.sock, "send-keys", "-t", "w"}, keys...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
	}
}

// WaitFor polls the screen until ok says it shows what is wanted, or
// fails the test with the last screen after deadline.
func (tm *Tmux) WaitFor(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := tm.Capture()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the screen never showed %s:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Shows waits until the screen holds every one of want.
func (tm *Tmux) Shows(want ...string) string {
	tm.t.Helper()
	return tm.WaitFor(strings.Join(want, " and "), func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// Alive says whether the session still runs.
func (tm *Tmux) Alive() bool {
	return exec.Command("tmux", "-S", tm.sock, "has-session", "-t", "w").Run() == nil
}

// buildBottle builds the bottle command into a directory of the test's.
func buildBottle(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bottle")
	if out, err := exec.Command("go", "build", "-o", bin, "bottle.dev/bottle/cmd/bottle").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestWatchInTmux: `bottle watch` in a real terminal (tmux, 160×40)
// against a state directory written by hand: the decisions appended show
// up, a pending approval appears pinned on top, o approves it once (the
// decision file says once and who), and f, / and enter filter and show
// the detail; q quits.
func TestWatchInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin := buildBottle(t)
	xdg := t.TempDir()
	fx := &fixture{t: t, state: filepath.Join(xdg, "bottle")}
	fx.bottle("demo", "")
	fx.audit("demo", request(1, "api.example.com", "/v1/models", "allow", ""))

	tm := StartTmux(t, 160, 40, []string{"XDG_STATE_HOME=" + xdg, "NO_COLOR=1", "TERM=xterm-256color"}, []string{bin, "watch"})
	tm.Shows("bottle watch · demo running", "api.example.com:443", "/v1/models")

	// New lines, as the sidecar appends them.
	fx.audit("demo", request(2, "evil.example.com", "/x", "deny", "no-rule"), request(3, "other.example.com", "/special/path", "deny", "no-rule"))
	tm.Shows("evil.example.com:443", "other.example.com:443", "/special/path")

	// A held request: pinned on top, then approved once with one key.
	q := heldRequest("1234abcd", "held.example.com", "/v1/data")
	q.Created, q.Expires = time.Now(), time.Now().Add(time.Minute)
	fx.pending("demo", q)
	tm.Shows("PENDING APPROVALS (1)", "▸ 1234abcd", "GET held.example.com:443/v1/data", "no-rule", "×2", "left")
	tm.Keys("o")
	var d approval.Decision
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(fx.approvals("demo"), approval.DecidedDir, "1234abcd.json")); err == nil {
			d = readDecision(t, fx.approvals("demo"), "1234abcd")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("o wrote no decision:\n%s", tm.Capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Verdict != approval.Once || !strings.HasPrefix(d.By, "bottle watch (") || !strings.HasSuffix(d.By, ")") {
		t.Errorf("decision %+v", d)
	}
	tm.Shows("allowed 1234abcd (bottle demo): once")
	// The sidecar takes the decision, and the request goes.
	os.Remove(filepath.Join(fx.approvals("demo"), approval.PendingDir, "1234abcd.json"))
	tm.WaitFor("the approval gone", func(s string) bool { return !strings.Contains(s, "PENDING APPROVALS") })

	// NO_COLOR: not one colour on the screen (the denials would be red).
	if styled := tm.CaptureStyled(); strings.Contains(styled, "\x1b[3") || strings.Contains(styled, ";3") || strings.Contains(styled, "38;") {
		t.Errorf("colours with NO_COLOR: %q", styled)
	}

	// f: denials only.
	tm.Keys("f")
	s := tm.Shows("filter: denied only", "evil.example.com")
	if strings.Contains(s, "/v1/models") {
		t.Errorf("f still shows the allowed row:\n%s", s)
	}
	// /: a search, typed.
	tm.Keys("/", "s", "p", "e", "c", "Enter")
	s = tm.Shows(`search "spec"`, "other.example.com")
	if strings.Contains(s, "evil.example.com") {
		t.Errorf("the search still shows evil.example.com:\n%s", s)
	}
	// enter: the detail of the selected row, with the command that allows it.
	tm.Keys("Enter")
	tm.Shows("rule     default (cause no-rule): no rule allows other.example.com", "allow    bottle allow add other.example.com --bottle demo")
	// esc clears; q quits.
	tm.Keys("Escape")
	tm.Shows("all decisions", "api.example.com:443")
	tm.Keys("q")
	deadline = time.Now().Add(10 * time.Second)
	for tm.Alive() {
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit:\n%s", tm.Capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
