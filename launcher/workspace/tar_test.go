package workspace

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type entry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func tarOf(t *testing.T, entries ...entry) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Linkname: e.link}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return &buf
}

var top = entry{name: "workspace/", typ: tar.TypeDir, mode: 0o755}

// TestExtract: a copy of /workspace as the engine streams it becomes the
// same tree, with modes reduced to 0644/0755 and hard links copied.
func TestExtract(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "files")
	err := Extract(tarOf(t, top,
		entry{name: "workspace/a.txt", typ: tar.TypeReg, body: "a\n", mode: 0o4755},
		entry{name: "workspace/deep/er/b.txt", typ: tar.TypeReg, body: "b\n"}, // parents implicit
		entry{name: "workspace/deep/", typ: tar.TypeDir},                      // and named later
		entry{name: "workspace/link", typ: tar.TypeSymlink, link: "a.txt"},
		entry{name: "workspace/hard", typ: tar.TypeLink, link: "workspace/a.txt"},
	), dst, "workspace", DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, dst); !reflect.DeepEqual(got, []string{"a.txt", "deep/", "deep/er/", "deep/er/b.txt", "hard", "link"}) {
		t.Errorf("files %q", got)
	}
	if st, _ := os.Stat(filepath.Join(dst, "a.txt")); st.Mode() != 0o755 {
		t.Errorf("a.txt mode %v, want 0755 (no setuid)", st.Mode())
	}
	if data, _ := os.ReadFile(filepath.Join(dst, "hard")); string(data) != "a\n" {
		t.Errorf("hard = %q", data)
	}
}

// TestExtractRefuses: every way a stream could write outside its
// directory, or make what bottle never takes, is refused by name, and
// nothing lands outside.
func TestExtractRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		limit   Limit
		want    string
	}{
		{"dotdot", []entry{top, {name: "workspace/../x", typ: tar.TypeReg, body: "x"}}, DefaultLimit, "workspace/../x, a path outside it"},
		{"absolute", []entry{top, {name: "/etc/x", typ: tar.TypeReg, body: "x"}}, DefaultLimit, "/etc/x, an absolute path"},
		{"elsewhere", []entry{top, {name: "other/x", typ: tar.TypeReg, body: "x"}}, DefaultLimit, "other/x, which is not under it"},
		{"through a symlink", []entry{top, {name: "workspace/d", typ: tar.TypeSymlink, link: ".."},
			{name: "workspace/d/x", typ: tar.TypeReg, body: "x"}}, DefaultLimit, "/workspace/d/x is under /workspace/d, which is not a directory"},
		{"hard link out", []entry{top, {name: "workspace/h", typ: tar.TypeLink, link: "etc/passwd"}}, DefaultLimit, "etc/passwd, which is not under it"},
		{"hard link to a link", []entry{top, {name: "workspace/l", typ: tar.TypeSymlink, link: "/etc/passwd"},
			{name: "workspace/h", typ: tar.TypeLink, link: "workspace/l"}}, DefaultLimit, "/workspace/h is a hard link to /workspace/l, which is not a file"},
		{"fifo", []entry{top, {name: "workspace/p", typ: tar.TypeFifo}}, DefaultLimit, "/workspace/p is a fifo"},
		{"device", []entry{top, {name: "workspace/sda", typ: tar.TypeBlock}}, DefaultLimit, "/workspace/sda is a block device"},
		{"char device", []entry{top, {name: "workspace/mem", typ: tar.TypeChar}}, DefaultLimit, "/workspace/mem is a character device"},
		{"twice", []entry{top, {name: "workspace/a", typ: tar.TypeReg, body: "1"}, {name: "workspace/a", typ: tar.TypeReg, body: "2"}}, DefaultLimit, "/workspace/a appears twice"},
		{"top is a symlink", []entry{{name: "workspace", typ: tar.TypeSymlink, link: "/etc"}}, DefaultLimit, "/workspace in the bottle is a symlink (to /etc), not a directory"},
		{"no top", []entry{{name: "workspace/a", typ: tar.TypeReg, body: "a"}}, DefaultLimit, "does not start with the directory itself"},
		{"empty", nil, DefaultLimit, "is empty"},
		{"huge", []entry{top, {name: "workspace/big", typ: tar.TypeReg, body: strings.Repeat("x", 2048)}}, Limit{Bytes: 1024, Files: 10}, "/workspace holds more than 1k of files"},
		{"huge by hard links", []entry{top, {name: "workspace/a", typ: tar.TypeReg, body: strings.Repeat("x", 600)},
			{name: "workspace/b", typ: tar.TypeLink, link: "workspace/a"}}, Limit{Bytes: 1024, Files: 10}, "more than 1k"},
		{"many", []entry{top, {name: "workspace/a", typ: tar.TypeReg}, {name: "workspace/b", typ: tar.TypeReg}}, Limit{Bytes: 1024, Files: 2}, "more than 2 files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			err := Extract(tarOf(t, tc.entries...), filepath.Join(parent, "files"), "workspace", tc.limit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for _, f := range listFiles(t, parent) {
				if f != "files/" && !strings.HasPrefix(f, "files/") {
					t.Errorf("written outside: %s", f)
				}
			}
			if tc.name == "huge" {
				if st, err := os.Stat(filepath.Join(parent, "files", "big")); err == nil {
					t.Errorf("the huge file was written (%d bytes)", st.Size())
				}
			}
		})
	}
}

// TestHead: the agent's HEAD is read by bottle: a branch (loose or
// packed), a detached commit, and nothing for what it cannot read.
func TestHead(t *testing.T) {
	id := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"loose", map[string]string{"HEAD": "ref: refs/heads/main\n", "refs/heads/main": id + "\n"}, id},
		{"packed", map[string]string{"HEAD": "ref: refs/heads/main\n", "packed-refs": "# pack-refs with: peeled\n" + id + " refs/heads/main\n"}, id},
		{"detached", map[string]string{"HEAD": id + "\n"}, id},
		{"unborn", map[string]string{"HEAD": "ref: refs/heads/main\n"}, ""},
		{"outside", map[string]string{"HEAD": "ref: refs/../../../etc/passwd\n"}, ""},
		{"loop", map[string]string{"HEAD": "ref: refs/heads/a\n", "refs/heads/a": "ref: refs/heads/a\n"}, ""},
		{"garbage", map[string]string{"HEAD": "hello\n"}, ""},
		{"huge", map[string]string{"HEAD": strings.Repeat("x", 4096)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gitDir := t.TempDir()
			for p, data := range tc.files {
				write(t, filepath.Join(gitDir, p), data)
			}
			tr := &Tree{GitDir: gitDir}
			if got := tr.Head(); got != tc.want {
				t.Errorf("Head() = %q, want %q", got, tc.want)
			}
		})
	}
	if got := (&Tree{}).Head(); got != "" {
		t.Errorf("no .git: %q", got)
	}
}

// TestSizes: --max-size's values.
func TestSizes(t *testing.T) {
	for s, n := range map[string]int64{"512": 512, "1k": 1 << 10, "500m": 500 << 20, "8G": 8 << 30} {
		if got, err := ParseSize(s); err != nil || got != n {
			t.Errorf("ParseSize(%q) = %d, %v", s, got, err)
		}
		if s != "8G" && FormatSize(n) != strings.ToLower(s) {
			t.Errorf("FormatSize(%d) = %q", n, FormatSize(n))
		}
	}
	for _, s := range []string{"", "0", "-1m", "1.5g", "1t", "99999999999g"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) took it", s)
		}
	}
}
