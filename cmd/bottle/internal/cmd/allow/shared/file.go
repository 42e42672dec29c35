// Package shared holds what the `bottle allow` verbs share: which
// allowlist they work on (a file, the one bottle.yaml names or holds, or a
// running bottle's live one), the rule selectors of add and rm, and how a
// rule is shown.
package shared

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/project"
)

// DefaultAllowlist is the file `bottle allow` uses without --file, when
// the working directory has no bottle.yaml: the one `bottle launch` reads
// by default.
const DefaultAllowlist = "allowlist.yaml"

// DefaultWait is how long `--bottle` edits wait for the sidecar to confirm.
const DefaultWait = 5 * time.Second

// FileOptions locate the allowlist a command works on: --file, or
// --bottle NAME for that bottle's live allowlist.
type FileOptions struct {
	File     string // --file
	Bottle   string // --bottle
	LiveOnly bool   // --live-only (add and rm): with --bottle, not the file it was launched from
	StateDir string // bottle's state directory, where --bottle's file is
	// Wait is how long an edit of a bottle's allowlist waits for its
	// sidecar to confirm it; zero means DefaultWait.
	Wait time.Duration
}

// AddFlags adds --file and --bottle to cmd, and the check of --bottle's
// name before anything runs.
func (o *FileOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "allowlist file, or a bottle.yaml: the allowlist it names, or its inline rules (default: bottle.yaml here when there is one, else allowlist.yaml)")
	cmd.Flags().StringVar(&o.Bottle, "bottle", "", "the live allowlist of this running bottle (applied at once)")
	cmd.MarkFlagsMutuallyExclusive("file", "bottle")
	cmd.RegisterFlagCompletionFunc("file", cmdutil.CompleteYAML)
	cmd.RegisterFlagCompletionFunc("bottle", cmdutil.CompleteBottleFlag(&o.StateDir, cmdutil.AllBottles))
	cmd.PreRunE = func(*cobra.Command, []string) error { return o.Check() }
}

// Check refuses a --bottle NAME that is not a bottle name before any path
// is made of it ("../../x" would edit a file outside the state dir).
func (o *FileOptions) Check() error {
	if o.Bottle == "" {
		return nil
	}
	if err := launcher.ValidName(o.Bottle); err != nil {
		return cmdutil.UsageError(fmt.Errorf("--bottle: %w", err))
	}
	return nil
}

// Exists refuses a --bottle NAME that names no bottle, in the words (and
// with the exit status, 1) of every verb, before anything is read or
// written. Without --bottle there is nothing to check.
func (o *FileOptions) Exists() error {
	if o.Bottle == "" {
		return nil
	}
	if _, err := o.state().Load(o.Bottle); errors.Is(err, launcher.ErrNoBottle) {
		return err
	}
	return nil
}

func (o *FileOptions) state() *launcher.Launcher { return &launcher.Launcher{StateDir: o.StateDir} }

// Source is the allowlist a command reads and edits, once found.
type Source struct {
	Path string // the file, as it is shown
	// Project says Path is a project file with the rules inline: it is
	// read and edited with the project's own keys kept as they are.
	Project bool
	// Via is the project file whose allowlist: key names Path, if any.
	Via string
	// Bottle names the bottle whose live allowlist Path is (--bottle).
	Bottle string
	// LaunchOf names the bottle that was launched from Path, when an edit
	// of its live allowlist is made here too.
	LaunchOf string
}

// String names the source in messages: "allowlist.yaml",
// "team/allowlist.yaml (named by bottle.yaml)", "the live allowlist of
// demo (PATH)", "bottle.yaml, which demo was launched from".
func (s Source) String() string {
	name := s.Path
	if s.Via != "" {
		name += " (named by " + s.Via + ")"
	}
	switch {
	case s.Bottle != "":
		return "the live allowlist of " + s.Bottle + " (" + s.Path + ")"
	case s.LaunchOf != "":
		return name + ", which " + s.LaunchOf + " was launched from"
	}
	return name
}

// Parse reads data as the source's content.
func (s Source) Parse(data []byte) (*allowlist.Policy, error) {
	if s.Project {
		return allowlist.ParseEmbedded(s.Path, data, project.Keys())
	}
	return allowlist.Parse(s.Path, data)
}

// Add is allowlist.Add on the source's content.
func (s Source) Add(data []byte, spec allowlist.RuleSpec) (allowlist.EditResult, error) {
	if s.Project {
		return allowlist.AddEmbedded(s.Path, data, spec, project.Keys())
	}
	return allowlist.Add(s.Path, data, spec)
}

// Remove is allowlist.Remove on the source's content.
func (s Source) Remove(data []byte, spec allowlist.RuleSpec, all bool) (allowlist.EditResult, error) {
	if s.Project {
		return allowlist.RemoveEmbedded(s.Path, data, spec, all, project.Keys())
	}
	return allowlist.Remove(s.Path, data, spec, all)
}

// Source finds the allowlist: --bottle's live one; --file, where a project
// file is followed to the allowlist it names or stands for its inline
// rules; else bottle.yaml in the working directory, the same way; else
// allowlist.yaml. So an edit lands where `bottle launch` will read it. A
// project file that is not valid is a usage error with its problems.
func (o *FileOptions) Source() (Source, error) {
	switch {
	case o.Bottle != "":
		return Source{Path: filepath.Join(o.state().ConfigDir(o.Bottle), contract.AllowlistFile), Bottle: o.Bottle}, nil
	case o.File != "":
		return resolve(o.File)
	}
	if _, err := os.Stat(project.FileName); err == nil {
		return resolve(project.FileName)
	}
	return Source{Path: DefaultAllowlist}, nil
}

// resolve finds the allowlist that file is, or, for a project file, names
// or holds. A file that does not exist is itself (add creates it).
func resolve(file string) (Source, error) {
	data, err := os.ReadFile(file)
	if err != nil || !project.IsProject(file, data) {
		return Source{Path: file}, nil
	}
	p, err := project.Parse(file, data)
	if err != nil {
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return Source{}, cmdutil.UsageError(fmt.Errorf("%s is not valid:\n%w", file, err))
		}
		return Source{}, cmdutil.UsageError(err)
	}
	switch {
	case p.Allowlist != "":
		return Source{Path: shown(p.Allowlist), Via: file}, nil
	case p.Inline != nil:
		return Source{Path: file, Project: true}, nil
	}
	// Neither: bottle launch reads allowlist.yaml, from the directory it
	// runs in, which for a project file is the file's own.
	return Source{Path: filepath.Join(filepath.Dir(file), DefaultAllowlist)}, nil
}

// shown is path as messages show it: relative to the working directory
// when it lies below it.
func shown(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

// Path is the allowlist's path (see Source); "" when it cannot be found.
func (o *FileOptions) Path() string {
	s, err := o.Source()
	if err != nil {
		return ""
	}
	return s.Path
}

// Applied waits until the bottle's sidecar has loaded the allowlist it was
// given (data), so that "added" means "in force". The sidecar's own status
// file says so (contract.ReloadStatus): it lives in the sidecar's state,
// which the agent cannot write, and names the hash of what was loaded. A
// file the sidecar rejected is reported with the sidecar's errors. Notes
// go to w. Without --bottle there is nothing to wait for.
func (o *FileOptions) Applied(ctx context.Context, ios *cmdutil.IOStreams, data []byte) error {
	if o.Bottle == "" {
		return nil
	}
	l := o.state()
	b, err := l.Load(o.Bottle)
	if err != nil {
		return err
	}
	if !b.Stopped.IsZero() {
		if o.LiveOnly {
			// Its next launch copies the file it is launched from again.
			fmt.Fprintf(ios.Err, "bottle %s is stopped; nothing runs with the change\n", o.Bottle)
			return nil
		}
		fmt.Fprintf(ios.Err, "bottle %s is stopped; the change applies when it is launched again\n", o.Bottle)
		return nil
	}
	wait := o.Wait
	if wait == 0 {
		wait = DefaultWait
	}
	want := contract.Hash(data)
	err = l.WaitStatus(ctx, o.Bottle, wait, func(st contract.ReloadStatus) (bool, error) {
		switch {
		case st.Tried != want:
			return false, nil
		case !st.OK:
			return true, fmt.Errorf("the sidecar of %s rejected the new file and keeps the previous policy:\n%s", o.Bottle, strings.TrimRight(st.Errors, "\n"))
		}
		return true, nil
	})
	switch {
	case err == nil:
		fmt.Fprintf(ios.Err, "the sidecar of %s applied it\n", o.Bottle)
		return nil
	case errors.Is(err, launcher.ErrNotConfirmed) || ctx.Err() != nil:
		return fmt.Errorf("the file was written, but the sidecar of %s did not confirm it within %s; is the bottle running? (bottle list; its log: bottle logs %s --sidecar)",
			o.Bottle, wait, o.Bottle)
	}
	return err
}

// Load reads and parses the allowlist; a missing or invalid file is a usage
// error (exit 2) with every problem listed.
func (o *FileOptions) Load() (*allowlist.Policy, error) {
	if err := o.Exists(); err != nil {
		return nil, err
	}
	src, err := o.Source()
	if err != nil {
		return nil, err
	}
	return src.Load()
}

// Load reads and parses the source; a missing or invalid file is a usage
// error (exit 2) with every problem listed.
func (s Source) Load() (*allowlist.Policy, error) {
	data, err := os.ReadFile(s.Path)
	var pol *allowlist.Policy
	if err == nil {
		pol, err = s.Parse(data)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, cmdutil.InvalidInputf("%s does not exist; create it with 'bottle allow add HOST' or pass --file", s)
	case err != nil:
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return nil, cmdutil.InvalidInput(fmt.Errorf("%s is not a valid allowlist:\n%w", s, err))
		}
		return nil, cmdutil.InvalidInput(err)
	}
	return pol, nil
}
