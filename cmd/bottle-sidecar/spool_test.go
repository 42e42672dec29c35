package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestPrepareSpool: a missing spool directory is made private (0700); the
// pushes a previous run left are removed, and nothing else in it.
func TestPrepareSpool(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "spool")
	if err := prepareSpool(dir, log); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Fatalf("spool dir: %v %v", st, err)
	}
	for _, name := range []string{"push-123", "push-abc", "keep.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "push-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := prepareSpool(dir, log); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 || filepath.Base(left[0]) != "keep.txt" || filepath.Base(left[1]) != "push-dir" {
		t.Fatalf("left in the spool: %v; want keep.txt and push-dir", left)
	}
	if err := prepareSpool("", log); err != nil {
		t.Fatalf("no spool: %v", err)
	}
}
