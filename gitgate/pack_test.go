package gitgate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// repo is a git repository in a temporary directory, driven with the real
// git binary, isolated from the user's and the system's configuration.
type repo struct {
	t   testing.TB
	dir string
	env []string
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	home := t.TempDir()
	r := &repo{t: t, dir: t.TempDir(), env: append(os.Environ(),
		"HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	)}
	r.git(nil, "init", "-q", "-b", "main")
	return r
}

// git runs git in the repository with stdin and returns its stdout.
func (r *repo) git(stdin []byte, args ...string) []byte {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// write writes files (path: content) into the work tree.
func (r *repo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit writes files, commits everything with msg and returns the id.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.write(files)
	r.git(nil, "add", "-A")
	r.git(nil, "commit", "-q", "--allow-empty", "-m", msg)
	return r.rev("HEAD")
}

func (r *repo) rev(name string) string {
	r.t.Helper()
	return strings.TrimSpace(string(r.git(nil, "rev-parse", name)))
}

// pack is what `git push` would send for new with old upstream:
// pack-objects --revs with "^old" lines; args add options (--thin,
// --delta-base-offset, --window).
func (r *repo) pack(newOld []string, args ...string) []byte {
	r.t.Helper()
	stdin := strings.Join(newOld, "\n") + "\n"
	return r.git([]byte(stdin), append([]string{"pack-objects", "--stdout", "--revs", "-q"}, args...)...)
}

// pushOf is a Push whose spool file holds a request (one command and a
// flush) followed by pack, as Receive leaves it.
func pushOf(t testing.TB, pack []byte) *Push {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "push")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := ZeroID + " " + strings.Repeat("1", 40) + " refs/heads/agent/x\x00 report-status"
	prefix := fmt.Sprintf("%04x%s0000", len(cmd)+4, cmd)
	if _, err := f.WriteString(prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(pack); err != nil {
		t.Fatal(err)
	}
	return &Push{file: f, size: int64(len(prefix) + len(pack)), packOff: int64(len(prefix))}
}

// pushFile is a Push of the pack file at path (no request before it), for
// packs too large to hold in memory in the benchmark.
func pushFile(t testing.TB, path string) *Push {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return &Push{file: f, size: st.Size(), packOff: 0}
}

// markerScanner is a fake Scanner: it finds each occurrence of marker
// (rule "marker"), reading the content in small pieces as a streaming
// scanner does, and counts the bytes it was given.
type markerScanner struct {
	marker string
	seen   int64
	scans  int
}

func (m *markerScanner) Scan(r io.Reader, found func(rule string, offset int64)) error {
	m.scans++
	buf := make([]byte, 4096)
	var (
		window []byte // the bytes not yet ruled out, from offset base
		base   int64
	)
	for {
		n, err := r.Read(buf)
		m.seen += int64(n)
		window = append(window, buf[:n]...)
		for {
			i := bytes.Index(window, []byte(m.marker))
			if i < 0 {
				break
			}
			found("marker", base+int64(i))
			window, base = window[i+1:], base+int64(i)+1
		}
		if keep := len(m.marker) - 1; len(window) > keep {
			base += int64(len(window) - keep)
			window = append(window[:0], window[len(window)-keep:]...)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// secret is a marker made at test time, so no secret-shaped value sits in
// the source.
func secret(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "FAKESECRET" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// lines is n lines of distinct text.
func lines(n int, tag string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s line %d: the quick brown fox jumps over the lazy dog\n", tag, i+1)
	}
	return b.String()
}

// withLine is text with its line n (1-based) replaced by line.
func withLine(text string, n int, line string) string {
	ls := strings.SplitAfter(text, "\n")
	ls[n-1] = line + "\n"
	return strings.Join(ls, "")
}

func inspect(t *testing.T, pack []byte, s Scanner, honourAllow bool) *Result {
	t.Helper()
	res, err := pushOf(t, pack).Inspect(context.Background(), s, honourAllow)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return res
}

func wantFindings(t *testing.T, got []Finding, want ...Finding) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %+v\nwant %+v", got, want)
	}
}

// packTypes counts the pack's objects by their type on disk (OFS_DELTA
// and REF_DELTA included).
func packTypes(t *testing.T, pack []byte) map[plumbing.ObjectType]int {
	t.Helper()
	sc := packfile.NewScanner(bytes.NewReader(pack))
	_, n, err := sc.Header()
	if err != nil {
		t.Fatal(err)
	}
	types := map[plumbing.ObjectType]int{}
	for range n {
		h, err := sc.NextObjectHeader()
		if err != nil {
			t.Fatal(err)
		}
		types[h.Type]++
	}
	return types
}

func TestInspectSimplePack(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c := r.commit("add config", map[string]string{
		"README":   "hello\n",
		"prod.env": "A=1\nB=2\nKEY=" + key + "\n",
	})
	pack := r.pack([]string{c})
	s := &markerScanner{marker: key}
	res := inspect(t, pack, s, false)
	// one commit, one tree, two blobs
	if res.Objects != 4 || res.Blobs != 2 || !slices.Equal(res.Commits, []string{c}) {
		t.Errorf("Objects %d Blobs %d Commits %v; want 4, 2, [%s]", res.Objects, res.Blobs, res.Commits, c)
	}
	blob := r.rev(c + ":prod.env")
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "prod.env", Line: 3, Commit: c, Object: blob})
	if got, want := res.Findings[0].String(), "marker in prod.env:3 (commit "+c[:12]+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Two blobs, one commit and the tree's names were scanned, every
	// byte of them.
	if s.scans != 4 {
		t.Errorf("%d scans, want 4 (two blobs, one commit, one tree)", s.scans)
	}
}

func TestInspectNilScannerDecodesOnly(t *testing.T) {
	r := newRepo(t)
	c1 := r.commit("one", map[string]string{"a": "1\n"})
	c2 := r.commit("two", map[string]string{"b": "2\n"})
	res := inspect(t, r.pack([]string{c2}), nil, false)
	if res.Objects != 6 || res.Blobs != 2 || len(res.Findings) != 0 {
		t.Errorf("Objects %d Blobs %d Findings %v; want 6, 2, none", res.Objects, res.Blobs, res.Findings)
	}
	if got := slices.Sorted(slices.Values(res.Commits)); !slices.Equal(got, slices.Sorted(slices.Values([]string{c1, c2}))) {
		t.Errorf("Commits %v, want %s and %s", res.Commits, c1, c2)
	}
}

func TestInspectNoPack(t *testing.T) {
	p := pushOf(t, nil) // only a delete: no pack follows the commands
	res, err := p.Inspect(context.Background(), &markerScanner{marker: "x"}, false)
	if err != nil || res.Objects != 0 || len(res.Commits) != 0 {
		t.Fatalf("Inspect = %+v, %v; want an empty result", res, err)
	}
}

func TestInspectEmptyPack(t *testing.T) {
	r := newRepo(t)
	c := r.commit("one", map[string]string{"a": "1\n"})
	// A new ref on a commit upstream has already: git sends an empty pack.
	res := inspect(t, r.pack([]string{c, "^" + c}), &markerScanner{marker: "x"}, false)
	if res.Objects != 0 || len(res.Commits) != 0 || len(res.Findings) != 0 {
		t.Errorf("Inspect = %+v; want nothing", res)
	}
}

// TestInspectDeltified edits a file over several commits and packs them
// with deltas (OFS_DELTA with --delta-base-offset, REF_DELTA without):
// the secret is only in the edited version, which the pack carries as a
// delta, so finding it at its line proves the scanner saw the resolved
// content. Sizes cover objects read into memory and those streamed from
// the spool file (above largeObject).
func TestInspectDeltified(t *testing.T) {
	for _, size := range []struct {
		name  string
		lines int
	}{{"100KB", 1500}, {"3MB", 45000}} {
		for _, delta := range []struct {
			name string
			args []string
			typ  plumbing.ObjectType
		}{
			{"ofs", []string{"--delta-base-offset", "--window=50", "--depth=50"}, plumbing.OFSDeltaObject},
			{"ref", []string{"--window=50", "--depth=50"}, plumbing.REFDeltaObject},
		} {
			t.Run(size.name+"/"+delta.name, func(t *testing.T) {
				r := newRepo(t)
				key := secret(t)
				text := lines(size.lines, "big")
				c1 := r.commit("add big", map[string]string{"data/big.txt": text})
				text = withLine(text, 10, "edited line ten")
				c2 := r.commit("edit", map[string]string{"data/big.txt": text})
				line := size.lines - 7
				text = withLine(text, line, "token = "+key)
				c3 := r.commit("add token", map[string]string{"data/big.txt": text})
				text = withLine(text, 20, "edited line twenty")
				c4 := r.commit("edit again", map[string]string{"data/big.txt": text})

				pack := r.pack([]string{c4}, delta.args...)
				if n := packTypes(t, pack)[delta.typ]; n == 0 {
					t.Fatalf("the pack has no %v: the test does not test deltas", delta.typ)
				}
				s := &markerScanner{marker: key}
				res := inspect(t, pack, s, false)
				// four commits, each with its root tree, data/ and a blob
				if res.Objects != 4*4 || res.Blobs != 4 {
					t.Errorf("Objects %d Blobs %d; want 16, 4", res.Objects, res.Blobs)
				}
				if got := slices.Sorted(slices.Values(res.Commits)); !slices.Equal(got, slices.Sorted(slices.Values([]string{c1, c2, c3, c4}))) {
					t.Errorf("Commits %v, want the four", res.Commits)
				}
				// c3 adds the token; c4's version holds it too (another
				// blob, at the same path and line, added by c4).
				wantFindings(t, res.Findings,
					Finding{Rule: "marker", Path: "data/big.txt", Line: line, Commit: c3, Object: r.rev(c3 + ":data/big.txt")},
					Finding{Rule: "marker", Path: "data/big.txt", Line: line, Commit: c4, Object: r.rev(c4 + ":data/big.txt")},
				)
				// Every version was scanned whole (four blobs of about the
				// same size, four small commits).
				if min := int64(4 * len(text) * 9 / 10); s.seen < min {
					t.Errorf("scanner saw %d bytes, want at least %d", s.seen, min)
				}
			})
		}
	}
}

func TestInspectThinPackFails(t *testing.T) {
	r := newRepo(t)
	text := lines(3000, "big")
	c1 := r.commit("add big", map[string]string{"big.txt": text})
	c2 := r.commit("edit", map[string]string{"big.txt": withLine(text, 100, "one line changed")})
	pack := r.pack([]string{c2, "^" + c1}, "--thin")
	if packTypes(t, pack)[plumbing.REFDeltaObject] == 0 {
		t.Fatal("git made no REF_DELTA: the pack is not thin")
	}
	_, err := pushOf(t, pack).Inspect(context.Background(), &markerScanner{marker: "x"}, false)
	if !errors.Is(err, ErrThin) {
		t.Fatalf("Inspect error = %v, want ErrThin", err)
	}
	base := r.rev(c1 + ":big.txt")
	for _, want := range []string{"the pack is thin", "is a delta on " + base, "no-thin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The same push without --thin is whole and decodes.
	if res := inspect(t, r.pack([]string{c2, "^" + c1}), nil, false); res.Blobs != 1 {
		t.Errorf("the no-thin pack has %d blobs, want 1", res.Blobs)
	}
}

// TestInspectSecretThreeCommitsDeep: the push adds three commits on top
// of what upstream has; the first adds the secret, the next two touch
// other files. The finding names the file, its line and the first commit.
func TestInspectSecretThreeCommitsDeep(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	old := r.commit("upstream", map[string]string{"README": "hi\n", "config/base.env": "X=1\n"})
	c1 := r.commit("add prod config", map[string]string{"config/prod.env": "A=1\nB=2\nAWS_KEY=" + key + "\nC=3\n"})
	c2 := r.commit("docs", map[string]string{"README": "hi there\n"})
	c3 := r.commit("more docs", map[string]string{"docs/guide.md": "# Guide\n"})

	res := inspect(t, r.pack([]string{c3, "^" + old}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "config/prod.env", Line: 3, Commit: c1, Object: r.rev(c1 + ":config/prod.env")})
	if got := slices.Sorted(slices.Values(res.Commits)); !slices.Equal(got, slices.Sorted(slices.Values([]string{c1, c2, c3}))) {
		t.Errorf("Commits %v, want the three new ones", res.Commits)
	}
	// Upstream's blobs are not in the pack: README's new version and the
	// two new files are.
	if res.Blobs != 3 {
		t.Errorf("Blobs %d, want 3", res.Blobs)
	}
}

// TestInspectOldestCommitWins: the same blob (same content) added under
// two paths in two commits is reported once, at the older one.
func TestInspectOldestCommitWins(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c1 := r.commit("first", map[string]string{"z/first.txt": key + "\n"})
	r.commit("second", map[string]string{"a/copy.txt": key + "\n"})
	c3 := r.commit("third", map[string]string{"other": "x\n"})
	res := inspect(t, r.pack([]string{c3}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "z/first.txt", Line: 1, Commit: c1, Object: r.rev(c1 + ":z/first.txt")})
}

func TestInspectNestedPath(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c := r.commit("nested", map[string]string{
		"a/b/c.txt":  "one\n" + key + "\n",
		"a/b/d.txt":  "clean\n",
		"a/e.txt":    "clean\n",
		"top.txt":    "clean\n",
		"x/y/z/w.md": "clean\n",
	})
	res := inspect(t, r.pack([]string{c}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "a/b/c.txt", Line: 2, Commit: c, Object: r.rev(c + ":a/b/c.txt")})
}

func TestInspectMessages(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	r.write(map[string]string{"a": "1\n"})
	r.git(nil, "add", "-A")
	r.git(nil, "commit", "-q", "-m", "subject\n\nbody line\nkey "+key)
	c := r.rev("HEAD")
	r.git(nil, "tag", "-a", "v1", "-m", "release\n\n"+key)
	tagID := r.rev("v1")

	res := inspect(t, r.pack([]string{"v1"}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings,
		Finding{Rule: "marker", Path: "commit message", Line: 4, Commit: c, Object: c},
		Finding{Rule: "marker", Path: "tag message", Line: 3, Commit: c, Object: tagID},
	)
}

func TestInspectAllowMarker(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c := r.commit("allow", map[string]string{
		"a.txt": "x\nk = " + key + " # gitleaks:allow\n",
		"b.txt": "y\nk = " + key + "\n",
	})
	pack := r.pack([]string{c})
	a := Finding{Rule: "marker", Path: "a.txt", Line: 2, Commit: c, Object: r.rev(c + ":a.txt")}
	b := Finding{Rule: "marker", Path: "b.txt", Line: 2, Commit: c, Object: r.rev(c + ":b.txt")}
	wantFindings(t, inspect(t, pack, &markerScanner{marker: key}, false).Findings, a, b)
	wantFindings(t, inspect(t, pack, &markerScanner{marker: key}, true).Findings, b)
}

// TestInspectFileName: a secret in a file or directory name is found in
// the tree that holds the name, and the finding does not repeat the name.
func TestInspectFileName(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c := r.commit("names", map[string]string{
		"docs/" + key + ".txt": "clean\n",
		"a/" + key + "/b.txt":  "clean too\n",
	})
	res := inspect(t, r.pack([]string{c}), &markerScanner{marker: key}, false)
	docs, a := r.rev(c+":docs"), r.rev(c+":a")
	want := []Finding{
		{Rule: "marker", Path: "a file name of tree " + a[:12], Line: 1, Object: a},
		{Rule: "marker", Path: "a file name of tree " + docs[:12], Line: 1, Object: docs},
	}
	slices.SortFunc(want, func(x, y Finding) int { return strings.Compare(x.Path, y.Path) })
	wantFindings(t, res.Findings, want...)
	for _, f := range res.Findings {
		if strings.Contains(f.String(), key) {
			t.Errorf("finding %q repeats the secret", f)
		}
	}
}

// TestInspectLooseBlob: a blob no new tree reaches is scanned still, and
// named by its id.
func TestInspectLooseBlob(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	id := strings.TrimSpace(string(r.git([]byte("a\n"+key+"\n"), "hash-object", "-w", "--stdin")))
	pack := r.git([]byte(id+"\n"), "pack-objects", "--stdout", "-q")
	res := inspect(t, pack, &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "(object " + id + ")", Line: 2, Object: id})
}

func TestInspectCorruptPack(t *testing.T) {
	r := newRepo(t)
	c := r.commit("one", map[string]string{"a.txt": lines(200, "a"), "b.txt": lines(200, "b")})
	good := r.pack([]string{c})
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for _, tc := range []struct {
		name string
		pack []byte
	}{
		{"flipped byte in an object", edit(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })},
		{"bad checksum", edit(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })},
		{"trailing garbage", append(slices.Clone(good), "garbage after the pack"...)},
		{"trailing copy of the checksum", append(slices.Clone(good), good[len(good)-20:]...)},
		{"truncated", good[:len(good)-30]},
		{"no checksum", good[:len(good)-20]},
		{"not a pack", []byte("this is not a pack, it is text long enough to parse")},
		{"too short", []byte("PACK")},
		{"more objects than declared", edit(func(b []byte) []byte { b[11]++; return b })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pushOf(t, tc.pack).Inspect(context.Background(), &markerScanner{marker: "x"}, false)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Inspect error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestInspectCancelled(t *testing.T) {
	r := newRepo(t)
	c := r.commit("one", map[string]string{"a.txt": "1\n"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pushOf(t, r.pack([]string{c})).Inspect(ctx, &markerScanner{marker: "x"}, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Inspect error = %v, want context.Canceled", err)
	}
}

func TestLocate(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than locate's buffer
	text := "one\ntwo gitleaks:allow\n" + long + "gitleaks:allow" + long + "\nfour\n" +
		long[:64<<10-5] + "gitleaks:allow\nsix"
	at := func(s string, n int) int64 {
		i := -1
		for range n {
			i += 1 + strings.Index(text[i+1:], s)
		}
		return int64(i)
	}
	hits := []hit{
		{off: 0},                  // line 1
		{off: at("two", 1)},       // line 2, allowed
		{off: at("x", 1)},         // line 3, allowed (marker in the middle of a long line)
		{off: at("four", 1)},      // line 4
		{off: at("four", 1) + 10}, // line 5, allowed (marker across a buffer seam)
		{off: at("six", 1)},       // line 6, the last, unterminated
	}
	if err := locate(strings.NewReader(text), hits); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line  int
		allow bool
	}{{1, false}, {2, true}, {3, true}, {4, false}, {5, true}, {6, false}}
	for i, h := range hits {
		if h.line != want[i].line || h.allow != want[i].allow {
			t.Errorf("hit at %d: line %d allow %v, want %d %v", h.off, h.line, h.allow, want[i].line, want[i].allow)
		}
	}
}
