package shared

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/shquote"
)

// AddEditFlags adds the flags of the verbs that edit (add, rm) on top of
// AddFlags: --live-only.
func (o *FileOptions) AddEditFlags(cmd *cobra.Command) {
	o.AddFlags(cmd)
	cmd.Flags().Lookup("bottle").Usage = "this running bottle's live allowlist (applied at once) and the file it was launched from"
	cmd.Flags().BoolVar(&o.LiveOnly, "live-only", false, "with --bottle: edit only the bottle's live allowlist, not the file it was launched from (a relaunch forgets the change)")
	check := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if o.LiveOnly && o.Bottle == "" {
			return cmdutil.UsageErrorf("--live-only needs --bottle NAME: without it there is no live allowlist to edit")
		}
		return check(c, args)
	}
}

// EditFunc makes one edit to the allowlist of src, whose content is data
// (nil: the file does not exist), and prints what it did. It returns the
// new content, or nil when nothing changed.
type EditFunc func(src Source, data []byte, exists bool) ([]byte, error)

// Edit makes an edit everywhere it belongs, and says where:
//
//   - With --bottle, the bottle's live allowlist, then the file the bottle
//     was launched from (Bottle.AllowlistSource: an allowlist, or a
//     bottle.yaml's inline rules), so that a relaunch keeps the change;
//     with --live-only, the live one alone, with a note that a relaunch
//     forgets it. A launch file that is gone or no longer takes the edit
//     does not stop the live edit: a warning says the file was not changed.
//   - Without --bottle, the file; when it changed, a running bottle
//     launched from that file is named, with the command that applies the
//     change to it now: the running policy is never changed behind the
//     user's back.
//
// again is the command that makes the same edit, without --file or
// --bottle, for that suggestion. Edit waits for the sidecar to apply a
// live change (Applied).
func (o *FileOptions) Edit(ctx context.Context, ios *cmdutil.IOStreams, again string, edit EditFunc) error {
	if err := o.Exists(); err != nil {
		return err
	}
	src, err := o.Source()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(src.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	exists := err == nil
	if !exists && o.Bottle != "" {
		return fmt.Errorf("bottle %q has no allowlist at %s; is it running? (bottle list)", o.Bottle, src.Path)
	}
	out, err := edit(src, data, exists)
	var notThere *NotThereError
	if err != nil && (o.Bottle == "" || o.LiveOnly || !errors.As(err, &notThere)) {
		return err
	}
	if out != nil {
		if err := atomicfile.Write(src.Path, out); err != nil {
			return fmt.Errorf("writing %s: %w", src.Path, err)
		}
	}
	if o.Bottle == "" {
		if out != nil {
			o.tellRunning(ios, src, again)
		}
		return nil
	}
	wrote, why := o.editLaunchFile(ios, edit)
	if notThere != nil {
		// The live allowlist lacks what a removal removes; the file the
		// bottle was launched from may still have it.
		if !wrote {
			return notThere
		}
		fmt.Fprintf(ios.Err, "note: %v\n", notThere)
		return nil
	}
	if why != nil {
		also := ""
		if out != nil {
			also = "; only the live allowlist was changed"
		}
		fmt.Fprintf(ios.Err, "warning: %v%s\n", why, also)
	}
	if out == nil {
		return nil
	}
	return o.Applied(ctx, ios, out)
}

// NotThereError is an EditFunc's error for a file that lacks what the
// edit removes. With --bottle, the live allowlist's does not stop the edit
// of the file the bottle was launched from, which may still have it.
type NotThereError struct{ Err error }

func (e *NotThereError) Error() string { return e.Err.Error() }

func (e *NotThereError) Unwrap() error { return e.Err }

// editLaunchFile makes the edit of a --bottle command in the file the
// bottle was launched from. It reports whether it wrote the file, and why
// it did not, when that needs a warning; notes (--live-only, a bottle that
// did not record the file) it prints itself.
func (o *FileOptions) editLaunchFile(ios *cmdutil.IOStreams, edit EditFunc) (bool, error) {
	b, err := o.state().Load(o.Bottle)
	if err != nil {
		return false, err
	}
	switch {
	case o.LiveOnly && b.AllowlistSource != "":
		fmt.Fprintf(ios.Err, "note: only the live allowlist of %s was changed; a relaunch from %s forgets it\n", o.Bottle, shown(b.AllowlistSource))
		return false, nil
	case o.LiveOnly:
		fmt.Fprintf(ios.Err, "note: only the live allowlist of %s was changed; a relaunch forgets it\n", o.Bottle)
		return false, nil
	case b.AllowlistSource == "":
		fmt.Fprintf(ios.Err, "note: %s was launched by an older bottle that did not record its allowlist's file: only the live allowlist was changed; make the same edit with --file to keep it\n", o.Bottle)
		return false, nil
	}
	src, err := resolve(shown(b.AllowlistSource))
	src.LaunchOf = o.Bottle
	if err != nil {
		return false, fmt.Errorf("%s, which %s was launched from, was not changed: %w", shown(b.AllowlistSource), o.Bottle, err)
	}
	data, err := os.ReadFile(src.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%s, was not changed: it no longer exists", src)
	} else if err != nil {
		return false, fmt.Errorf("%s, was not changed: %w", src, err)
	}
	out, err := edit(src, data, true)
	if err != nil {
		return false, fmt.Errorf("%s, was not changed: %w", src, err)
	}
	if out == nil {
		return false, nil
	}
	if err := atomicfile.Write(src.Path, out); err != nil {
		return false, fmt.Errorf("writing %s: %w", src.Path, err)
	}
	return true, nil
}

// tellRunning names the running bottles launched from src, whose policy
// an edit of the file does not change until their next launch, with the
// command that changes it now.
func (o *FileOptions) tellRunning(ios *cmdutil.IOStreams, src Source, again string) {
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return
	}
	for _, name := range o.launchedFrom(abs) {
		fmt.Fprintf(ios.Err, "bottle %s runs with this allowlist; it changes at its next launch, or apply it now with: %s --bottle %s\n", name, again, shquote.Quote(name))
	}
}

// launchedFrom names the bottles, not stopped, whose allowlist was
// launched from the file abs.
func (o *FileOptions) launchedFrom(abs string) []string {
	entries, err := os.ReadDir(o.StateDir)
	if err != nil {
		return nil
	}
	var names []string
	l := o.state()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := l.Load(e.Name())
		if err != nil || !b.Stopped.IsZero() || b.AllowlistSource != abs {
			continue
		}
		names = append(names, b.Name)
	}
	return names
}
