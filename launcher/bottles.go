package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/internal/termsafe"
)

// Summary is one bottle as `bottle list` shows it: its metadata and what
// the engine holds of it.
type Summary struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Step is the launch step a launching, incomplete, failed or
	// interrupted bottle is at or stopped at; Error why it failed.
	Step       string    `json:"step,omitempty"`
	Error      string    `json:"error,omitempty"`
	Backend    string    `json:"backend,omitempty"`
	Created    time.Time `json:"created,omitzero"`
	Stopped    time.Time `json:"stopped,omitzero"`
	Containers []string  `json:"containers"`
	Networks   []string  `json:"networks"`
	ProxyURL   string    `json:"proxy_url,omitempty"`
	// MCPURL is the supervise MCP server (the agent's MCP_SUPERVISE_URL);
	// Approvals what `bottle launch --approvals` said ("ask", "off"; empty:
	// the allowlist's approvals: decides).
	MCPURL    string        `json:"mcp_url,omitempty"`
	Approvals string        `json:"approvals,omitempty"`
	Command   *CommandState `json:"command,omitempty"` // the detached command, if the launch started one

	lastActive time.Time // when it last did something: for prune --older-than
}

// Active reports whether `bottle list` shows the bottle without --all: it
// runs, is being launched, or the engine holds something of it.
func (s Summary) Active() bool {
	switch s.Status {
	case StatusRunning, StatusLaunching, StatusIncomplete, StatusUnknown:
		return true
	}
	return len(s.Containers)+len(s.Networks) > 0
}

// StatusText is the status with the step where that helps: "incomplete
// (at self-test)", "failed (at images)".
func (s Summary) StatusText() string {
	switch s.Status {
	case StatusLaunching, StatusIncomplete, StatusFailed, StatusInterrupted:
		if s.Step != "" {
			return fmt.Sprintf("%s (at %s)", s.Status, s.Step)
		}
	}
	return string(s.Status)
}

// stateDirs are the bottles with a state directory: name → metadata (nil
// when the directory has none: a launch from before metadata was written
// from the first step, or one just starting).
func (l *Launcher) stateDirs() (map[string]*Bottle, map[string]error, error) {
	entries, err := os.ReadDir(l.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	metas, bad := map[string]*Bottle{}, map[string]error{}
	for _, e := range entries {
		// .build and the like are bottle's own; a name that is not a
		// bottle's is nobody's to list.
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		b, err := l.Load(e.Name())
		switch {
		case errors.Is(err, ErrNoBottle):
			metas[e.Name()] = nil
		case err != nil:
			bad[e.Name()] = err
		default:
			metas[e.Name()] = b
		}
	}
	return metas, bad, nil
}

// on is l on the backend of that name (l itself for its own).
func (l *Launcher) on(ctx context.Context, backend string) (*Launcher, error) {
	if backend == "" || l.Backend != nil && backend == l.Backend.Name() {
		return l, nil
	}
	if l.BackendNamed == nil {
		return nil, fmt.Errorf("backend %s is not available here", backend)
	}
	be, err := l.BackendNamed(ctx, backend)
	if err != nil {
		return nil, err
	}
	other := *l
	other.Backend = be
	return &other, nil
}

// List returns every bottle of the state directory, and every one the
// engine holds resources of (a launch that died before it wrote any
// metadata), sorted by name. Each is looked up on the backend it was
// launched on; a bottle whose backend does not answer is StatusUnknown.
// Only when l's own backend cannot list is it an error.
func (l *Launcher) List(ctx context.Context) ([]Summary, error) {
	metas, bad, err := l.stateDirs()
	if err != nil {
		return nil, err
	}
	backends := []string{l.Backend.Name()}
	for _, b := range metas {
		if b != nil && !slices.Contains(backends, b.Backend) {
			backends = append(backends, b.Backend)
		}
	}
	type found struct {
		res     []Resource
		backend string
	}
	held := map[string]*found{}
	down := map[string]error{}
	for _, name := range backends {
		on, err := l.on(ctx, name)
		var res []Resource
		if err == nil {
			res, err = on.Backend.List(ctx, l.mine())
		}
		if err != nil {
			if name == l.Backend.Name() {
				return nil, err
			}
			down[name] = err
			continue
		}
		for _, r := range res {
			n := r.Labels[LabelName]
			if ValidName(n) != nil {
				continue
			}
			// A bottle's resources are on the backend it was launched
			// on (one without metadata: the first that has any).
			home := ""
			if b := metas[n]; b != nil {
				home = b.Backend
			}
			if home == "" && held[n] != nil {
				home = held[n].backend
			}
			if home != "" && home != name {
				continue
			}
			if held[n] == nil {
				held[n] = &found{backend: name}
			}
			held[n].res = append(held[n].res, r)
		}
	}
	names := map[string]bool{}
	for n := range metas {
		names[n] = true
	}
	for n := range held {
		names[n] = true
	}
	for n := range bad {
		names[n] = true
	}
	var out []Summary
	for _, n := range slices.Sorted(maps.Keys(names)) {
		b := metas[n]
		s := Summary{Name: n}
		var res []Resource
		if f := held[n]; f != nil {
			res, s.Backend = f.res, f.backend
		}
		for _, r := range res {
			if r.Kind == "container" {
				s.Containers = append(s.Containers, r.Name)
			} else {
				s.Networks = append(s.Networks, r.Name)
			}
		}
		switch {
		case bad[n] != nil:
			s.Status, s.Error = StatusUnknown, bad[n].Error()
		case b != nil && down[b.Backend] != nil && len(res) == 0 && !b.Ended():
			s.Status, s.Error, s.Backend = StatusUnknown, fmt.Sprintf("backend %s: %v", b.Backend, down[b.Backend]), b.Backend
		default:
			s.Status = l.status(n, b, res)
		}
		if b != nil {
			s.Backend, s.Created, s.Stopped, s.ProxyURL = b.Backend, b.Created, b.Stopped, b.ProxyURL
			s.MCPURL, s.Approvals = b.MCPURL, b.Approvals
			if s.Status != StatusRunning && s.Status != StatusUnknown {
				s.Step = b.Step
			}
			if s.Status == StatusFailed || s.Status == StatusRefused {
				s.Error = b.Error
			}
			s.Command = l.commandState(b, s.Status == StatusRunning)
			s.lastActive = b.Created
			if !b.Stopped.IsZero() {
				s.lastActive = b.Stopped
			}
		} else if st, err := os.Stat(l.Dir(n)); err == nil {
			s.lastActive = st.ModTime()
		}
		s.Containers, s.Networks = orEmpty(s.Containers), orEmpty(s.Networks)
		if s.Status == StatusFailed && b == nil && s.Error == "" {
			s.Error = "no metadata: a launch that did not finish (of an older bottle)"
		}
		out = append(out, s)
	}
	return out, nil
}

// status is what bottle name is, from its metadata (nil: none) and what
// the engine holds of it.
func (l *Launcher) status(name string, b *Bottle, res []Resource) Status {
	up := 0
	for _, r := range res {
		if role := r.Labels[LabelRole]; r.Kind == "container" && r.State == "running" && (role == "agent" || role == "sidecar") {
			up++
		}
	}
	switch {
	case (b == nil || b.State == StateLaunching) && l.Busy(name):
		return StatusLaunching
	case b == nil && len(res) > 0, b != nil && b.State == StateLaunching:
		return StatusIncomplete
	case b == nil:
		return StatusFailed
	case b.State == StateReady && b.Stopped.IsZero() && up == 2:
		return StatusRunning
	case len(res) > 0, b.State == StateReady && b.Stopped.IsZero():
		// Some of it, but not a running bottle: a container went away or
		// stopped, a stop half done.
		return StatusIncomplete
	case b.State == StateRefused:
		return StatusRefused
	case b.State == StateFailed:
		return StatusFailed
	case b.State == StateInterrupted:
		return StatusInterrupted
	}
	return StatusStopped
}

// Cleanup removes what the engine holds of incomplete bottles (half-made
// launches, launches that died, bottles a container of which went away)
// and marks them stopped, each on the backend it was launched on. It
// touches only labelled resources, and never a bottle that runs or is
// being launched.
func (l *Launcher) Cleanup(ctx context.Context, dryRun bool, report io.Writer) ([]Cleaned, error) {
	if report == nil {
		report = io.Discard
	}
	sums, err := l.List(ctx)
	if err != nil {
		return nil, err
	}
	var done []Cleaned
	var errs []error
	for _, s := range sums {
		if s.Status == StatusUnknown && s.Error != "" {
			fmt.Fprintf(report, "skipped: %s (%s)\n", termsafe.Line(s.Name), termsafe.Line(s.Error))
		}
		if s.Status != StatusIncomplete {
			continue
		}
		fmt.Fprintf(report, "%s: %s (containers %v, networks %v)\n", map[bool]string{true: "would remove", false: "removing"}[dryRun], termsafe.Line(s.Name), orEmpty(s.Containers), orEmpty(s.Networks))
		c := Cleaned{Summary: s}
		if !dryRun {
			// One that cannot be removed does not keep the others.
			on, err := l.on(ctx, s.Backend)
			if err == nil {
				_, err = on.Stop(ctx, s.Name)
			}
			if err != nil {
				c.Err = err
				errs = append(errs, fmt.Errorf("%s: %w", termsafe.Line(s.Name), err))
			}
		}
		done = append(done, c)
	}
	if len(done) == 0 {
		fmt.Fprintln(report, "nothing to clean up")
	}
	return done, errors.Join(errs...)
}

// Cleaned is a bottle Cleanup removed, or would remove in a dry run.
type Cleaned struct {
	Summary       // its resources, as List found them
	Err     error // why they could not all be removed; nil: removed (or a dry run)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// summary is bottle name as List sees it; found is false when it has
// neither a state directory nor resources.
func (l *Launcher) summary(ctx context.Context, name string) (Summary, bool, error) {
	if err := ValidName(name); err != nil {
		return Summary{}, false, err
	}
	sums, err := l.List(ctx)
	if err != nil {
		return Summary{}, false, err
	}
	for _, s := range sums {
		if s.Name == name {
			return s, true, nil
		}
	}
	return Summary{}, false, nil
}

// Remove removes bottle name's state directory: its CA, its saved logs,
// its command's output, all of it. A bottle that runs (or holds anything
// on the engine) is refused, unless force, which stops it first; one being
// launched is always refused. It returns the bottle as it was.
func (l *Launcher) Remove(ctx context.Context, name string, force bool) (Summary, error) {
	s, found, err := l.summary(ctx, name)
	if err != nil {
		return s, err
	}
	if !found {
		return s, &NoBottleError{Name: name}
	}
	if err := l.unpulled(name); err != nil && !force {
		return s, fmt.Errorf("%w, or drop them with the bottle: bottle rm --force %s", err, name)
	}
	switch {
	case s.Status == StatusLaunching:
		return s, fmt.Errorf("bottle %s is being launched; Ctrl-C that launch, then remove it", name)
	case s.Status == StatusUnknown:
		return s, fmt.Errorf("cannot tell whether bottle %s still runs (%s); nothing was removed", name, s.Error)
	case s.Active() && !force && s.Status == StatusRunning:
		return s, fmt.Errorf("bottle %s is running; stop it first (bottle stop %s), or stop and remove it at once: bottle rm --force %s", name, name, name)
	case s.Active() && !force:
		return s, fmt.Errorf("bottle %s is %s and the engine still holds some of it; remove that first (bottle stop %s, or bottle cleanup), or stop and remove it at once: bottle rm --force %s", name, s.StatusText(), name, name)
	case s.Active():
		on, err := l.on(ctx, s.Backend)
		if err == nil {
			_, err = on.Stop(ctx, name)
		}
		if err != nil {
			return s, fmt.Errorf("stopping bottle %s (nothing was removed from its state): %w", name, err)
		}
	}
	return s, l.removeDir(name)
}

// unpulled says, as an error, that bottle name keeps changes of its
// /workspace that stop saved and no pull took, or that it cannot tell (a
// status file it cannot read: the work is not dropped on a guess); nil
// when it keeps none.
func (l *Launcher) unpulled(name string) error {
	ws, err := l.ReadWorkspaceStatus(name)
	if err != nil {
		return fmt.Errorf("bottle %s: cannot tell whether its saved /workspace changes were pulled (%v); look at them (bottle diff %s), pull them (bottle pull %s)", name, err, name, name)
	}
	if !ws.Unpulled() {
		return nil
	}
	return fmt.Errorf("bottle %s: its /workspace has changes that were not pulled (see them: bottle diff %s); pull them (bottle pull %s)", name, name, name)
}

// removeDir removes bottle name's state directory, holding its lock so
// that no launch starts in it meanwhile.
func (l *Launcher) removeDir(name string) error {
	if _, err := os.Lstat(l.Dir(name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := l.lock(name)
	if err != nil {
		return err
	}
	defer lock.release()
	if err := os.RemoveAll(l.Dir(name)); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			// The agent may have made directories in its command directory
			// as a user of its own.
			return fmt.Errorf("removing %s: %w; files the agent made there may belong to another user: remove them with sudo rm -rf %s", l.Dir(name), err, l.Dir(name))
		}
		return fmt.Errorf("removing %s: %w", l.Dir(name), err)
	}
	return nil
}

// Prune removes the state directories of the bottles that do not run:
// stopped, failed, refused and interrupted ones, and incomplete ones once
// what the engine holds of them is removed — with olderThan, only those
// that last did something (stopped, or were launched) longer ago. It
// never touches a bottle that runs, is being launched, or whose backend
// does not answer. It reports each one it removes (with dryRun, would
// remove).
func (l *Launcher) Prune(ctx context.Context, olderThan time.Duration, dryRun bool, report io.Writer) error {
	sums, err := l.List(ctx)
	if err != nil {
		return err
	}
	n := 0
	var errs []error
	for _, s := range sums {
		switch s.Status {
		case StatusRunning, StatusLaunching, StatusUnknown:
			continue
		}
		if olderThan > 0 && time.Since(s.lastActive) < olderThan {
			continue
		}
		if err := l.unpulled(s.Name); err != nil {
			// The agent's work is not pruned: only an rm says it may go.
			fmt.Fprintf(report, "kept %v, or drop them: bottle rm --force %s\n", err, termsafe.Line(s.Name))
			continue
		}
		n++
		what := fmt.Sprintf("%s (%s", termsafe.Line(s.Name), s.StatusText())
		if !s.lastActive.IsZero() {
			what += ", " + ago(time.Since(s.lastActive))
		}
		what += ")"
		if dryRun {
			fmt.Fprintf(report, "would remove %s\n", what)
			continue
		}
		if s.Active() {
			on, err := l.on(ctx, s.Backend)
			if err == nil {
				_, err = on.Stop(ctx, s.Name)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w (its state directory was kept)", termsafe.Line(s.Name), err))
				continue
			}
		}
		if err := l.removeDir(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", termsafe.Line(s.Name), err))
			continue
		}
		fmt.Fprintf(report, "removed %s\n", what)
	}
	if n == 0 {
		fmt.Fprintln(report, "nothing to prune")
	}
	return errors.Join(errs...)
}

// ago says how long ago, roughly: "3 days ago", "5 minutes ago".
func ago(d time.Duration) string {
	unit := func(n int64, word string) string {
		if n != 1 {
			word += "s"
		}
		return fmt.Sprintf("%d %s ago", n, word)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	}
	return "just now"
}

// ParseAge reads a prune age: a Go duration (36h, 90m) or a number of
// days (7d).
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == days {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not an age; write e.g. 7d, 36h or 90m", s)
	}
	return d, nil
}
