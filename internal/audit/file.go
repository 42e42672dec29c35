package audit

import (
	"fmt"
	"os"
	"sync"
)

// File is an append-only audit file with a size cap: when a write would take
// it past MaxBytes it is renamed to PATH.1 (PATH.1 to PATH.2, and so on, the
// oldest beyond Keep removed) and a new PATH is started. The disk the audit
// can take is about (Keep+1) × MaxBytes, whatever the agent does.
type File struct {
	path     string
	maxBytes int64
	keep     int

	mu   sync.Mutex
	f    *os.File
	size int64
	// regular is false for a device or pipe (--audit-log /dev/null): such a
	// file is written as is and never renamed.
	regular bool
}

// Defaults for File.
const (
	DefaultMaxBytes = 16 << 20
	DefaultKeep     = 3
)

// OpenFile opens (appending) or creates path. maxBytes ≤ 0 and keep < 0 take
// the defaults; keep 0 keeps no old file.
func OpenFile(path string, maxBytes int64, keep int) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if keep < 0 {
		keep = DefaultKeep
	}
	f := &File{path: path, maxBytes: maxBytes, keep: keep}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) open() error {
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return err
	}
	f.f, f.size, f.regular = fh, st.Size(), st.Mode().IsRegular()
	return nil
}

// Write appends p, rotating first when p would not fit. One Write is never
// split across files.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return 0, os.ErrClosed
	}
	if f.regular && f.size > 0 && f.size+int64(len(p)) > f.maxBytes {
		if err := f.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := f.f.Write(p)
	f.size += int64(n)
	return n, err
}

func (f *File) rotate() error {
	f.f.Close()
	f.f = nil
	if f.keep == 0 {
		os.Remove(f.path)
	} else {
		os.Remove(fmt.Sprintf("%s.%d", f.path, f.keep))
		for i := f.keep - 1; i >= 1; i-- {
			os.Rename(fmt.Sprintf("%s.%d", f.path, i), fmt.Sprintf("%s.%d", f.path, i+1))
		}
		if err := os.Rename(f.path, f.path+".1"); err != nil {
			return err
		}
	}
	return f.open()
}

// Close syncs and closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	f.f.Sync()
	err := f.f.Close()
	f.f = nil
	return err
}
