package cmdutil

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// CommandLog prints the output of bottle b's detached command, which its
// supervisor writes to the command directory (the older, rotated file
// first); with follow, it keeps reading until the command has ended (its
// status is written), the bottle is stopped, or ctx ends. poll is how
// often it looks again (zero: 200ms). `bottle logs` and a headless
// `bottle launch --agent` follow the command with it.
func CommandLog(ctx context.Context, l *launcher.Launcher, b *launcher.Bottle, out io.Writer, follow bool, poll time.Duration) error {
	path := filepath.Join(l.CommandDir(b.Name), contract.CommandLogFile)
	if f, err := launcher.OpenAgentFile(path + ".1"); err == nil {
		_, err = io.Copy(out, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	f, err := launcher.OpenAgentFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !follow {
			return nil // it has printed nothing yet
		}
	} else if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if poll == 0 {
		poll = 200 * time.Millisecond
	}
	for n := 0; ; n++ {
		if f != nil {
			if _, err := io.Copy(out, f); err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		// Once it has ended, what it wrote is all there: one more read.
		ended := l.CommandEnded(b)
		if !ended && n%10 == 0 {
			// A stop ends the command with the bottle, status or not.
			if nb, err := l.Load(b.Name); err != nil || l.CheckUsable(nb) != nil {
				ended = true
			}
		}
		if cur, err := os.Lstat(path); err == nil && (f == nil || !sameFile(f, cur)) {
			// Rotated (or just made): finish the old file, go on with the new.
			if f != nil {
				io.Copy(out, f)
				f.Close()
			}
			if f, err = launcher.OpenAgentFile(path); err != nil {
				f = nil
			}
			continue
		}
		if ended {
			if f != nil {
				_, err := io.Copy(out, f)
				return err
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

func sameFile(f *os.File, st fs.FileInfo) bool {
	fst, err := f.Stat()
	return err == nil && os.SameFile(fst, st)
}

// CommandStatus reads how bottle b's detached command ended; ok is false
// while it has not (or never will: it ended with the bottle). The agent
// can write the file, so what is read is bounded and parsed, nothing more.
func CommandStatus(l *launcher.Launcher, b *launcher.Bottle) (st contract.CommandStatus, ok bool, err error) {
	f, err := launcher.OpenAgentFile(filepath.Join(l.CommandDir(b.Name), contract.CommandStatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, contract.MaxStatusBytes+1))
	if err != nil {
		return st, false, err
	}
	st, err = contract.ParseCommandStatus(data)
	return st, err == nil, err
}
