package gitgate

import (
	"bottle.dev/bottle/internal/contract"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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
// scanner does, and counts the bytes it was given. Inspect runs several
// at once.
type markerScanner struct {
	marker string
	seen   atomic.Int64
	scans  atomic.Int64
}

func (m *markerScanner) Scan(r io.Reader, found func(rule string, offset int64)) error {
	m.scans.Add(1)
	buf := make([]byte, 4096)
	var (
		window []byte // the bytes not yet ruled out, from offset base
		base   int64
	)
	for {
		n, err := r.Read(buf)
		m.seen.Add(int64(n))
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
func packTypes(t testing.TB, pack []byte) map[plumbing.ObjectType]int {
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
	// Two blobs, the tree's names and the commit were scanned.
	if n := s.scans.Load(); n != 4 {
		t.Errorf("%d scans, want 4 (two blobs, one tree, one commit)", n)
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
				if min := int64(4 * len(text) * 9 / 10); s.seen.Load() < min {
					t.Errorf("scanner saw %d bytes, want at least %d", s.seen.Load(), min)
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
	for _, want := range []string{"thin pack: the object at pack offset ", "is a delta on " + base + ", which the push does not carry", "no-thin"} {
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

// packEntry is one object of a hand-made pack: the type and size header,
// extra (an OFS_DELTA's offset or a REF_DELTA's base id), then data
// deflated; size is data's length unless given.
func packEntry(typ plumbing.ObjectType, data []byte, extra []byte, size ...int64) []byte {
	n := int64(len(data))
	if len(size) > 0 {
		n = size[0]
	}
	c := byte(typ)<<4 | byte(n&15)
	n >>= 4
	var b []byte
	for n > 0 {
		b = append(b, c|0x80)
		c = byte(n & 0x7f)
		n >>= 7
	}
	b = append(b, c)
	b = append(b, extra...)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	return append(b, z.Bytes()...)
}

// handPack is a pack of entries, with a header saying count objects (-1:
// as many as entries) and its checksum.
func handPack(count int, entries ...[]byte) []byte {
	if count < 0 {
		count = len(entries)
	}
	b := []byte("PACK\x00\x00\x00\x02")
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	for _, e := range entries {
		b = append(b, e...)
	}
	sum := sha1.Sum(b)
	return append(b, sum[:]...)
}

// varint is a delta header size.
func varint(n uint64) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func TestInspectHandMadePacks(t *testing.T) {
	base := []byte("hello, base\n")
	baseID := plumbing.ComputeHash(plumbing.BlobObject, base)
	// A delta on base: copy its 12 bytes, insert "more\n".
	delta := slices.Concat(varint(12), varint(17), []byte{0x90, 12, 5}, []byte("more\n"))
	blob := packEntry(plumbing.BlobObject, base, nil)
	badTree := []byte("100644 a\x00short")
	badTreeID := plumbing.ComputeHash(plumbing.TreeObject, badTree)
	ref := func(d []byte, on plumbing.Hash, size ...int64) []byte {
		return packEntry(plumbing.REFDeltaObject, d, on[:], size...)
	}

	// The good delta resolves: the scanner sees base's copy and the insert.
	res := inspect(t, handPack(-1, blob, ref(delta, baseID)), &markerScanner{marker: "base\nmore"}, false)
	if res.Objects != 2 || res.Blobs != 2 || len(res.Findings) != 1 || res.Findings[0].Line != 1 {
		t.Errorf("Inspect = %+v; want two blobs and the marker at line 1 of the delta's result", res)
	}

	for _, tc := range []struct {
		name string
		pack []byte
		want error
	}{
		{"delta on a base of another size", handPack(-1, blob, ref(slices.Concat(varint(11), delta[1:]), baseID)), ErrMalformed},
		{"delta makes another size than it says", handPack(-1, blob, ref(slices.Concat(varint(12), varint(18), delta[2:]), baseID)), ErrMalformed},
		{"copy past the base", handPack(-1, blob, ref(slices.Concat(varint(12), varint(17), []byte{0x91, 1, 12}, []byte("more\n")), baseID)), ErrMalformed},
		{"insert past the result", handPack(-1, blob, ref(slices.Concat(varint(12), varint(13), []byte{0x90, 12, 5}, []byte("more\n")), baseID)), ErrMalformed},
		{"reserved instruction", handPack(-1, blob, ref(slices.Concat(varint(12), varint(17), []byte{0}), baseID)), ErrMalformed},
		{"bytes after the result", handPack(-1, blob, ref(slices.Concat(delta, []byte{1, 'x'}), baseID)), ErrMalformed},
		{"delta cut short", handPack(-1, blob, ref(delta[:len(delta)-2], baseID)), ErrMalformed},
		{"OFS_DELTA on no object", handPack(-1, blob, packEntry(plumbing.OFSDeltaObject, delta, []byte{3})), ErrMalformed},
		{"REF_DELTA on an absent object", handPack(-1, blob, ref(delta, plumbing.ComputeHash(plumbing.BlobObject, []byte("upstream")))), ErrThin},
		{"size in the header larger than the data", handPack(-1, packEntry(plumbing.BlobObject, base, nil, 13)), ErrMalformed},
		{"size in the header smaller than the data", handPack(-1, packEntry(plumbing.BlobObject, base, nil, 11)), ErrMalformed},
		{"an unknown type", handPack(-1, packEntry(5, base, nil)), ErrMalformed},
		{"a commit without a tree", handPack(-1, packEntry(plumbing.CommitObject, []byte("author x\n\nmsg\n"), nil)), ErrMalformed},
		{"a commit's tree cut short", handPack(-1, packEntry(plumbing.TreeObject, badTree, nil), packEntry(plumbing.CommitObject, []byte("tree "+badTreeID.String()+"\n\nmsg\n"), nil)), ErrMalformed},
		{"too many objects", handPack(maxObjects + 1), ErrTooLarge},
		{"a delta that makes too much", handPack(-1, blob, ref(slices.Concat(varint(12), varint(maxInflate*contract.DefaultGitMaxPack+1)), baseID)), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pushOf(t, tc.pack).Inspect(context.Background(), &markerScanner{marker: "x"}, false)
			if !errors.Is(err, tc.want) {
				t.Errorf("Inspect error = %v, want %v", err, tc.want)
			}
		})
	}
}

// funcScanner is a Scanner that is a function.
type funcScanner func(r io.Reader, found func(string, int64)) error

func (f funcScanner) Scan(r io.Reader, found func(string, int64)) error { return f(r, found) }

func TestInspectScannerError(t *testing.T) {
	r := newRepo(t)
	c := r.commit("one", map[string]string{"a.txt": lines(100, "a")})
	boom := errors.New("boom")
	_, err := pushOf(t, r.pack([]string{c})).Inspect(context.Background(), funcScanner(func(io.Reader, func(string, int64)) error { return boom }), false)
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Fatalf("Inspect error = %v, want the scanner's", err)
	}
}

// TestInspectScannerStopsEarly: a Scanner that returns before reading
// all its content does not stall the decoding.
func TestInspectScannerStopsEarly(t *testing.T) {
	r := newRepo(t)
	c := r.commit("one", map[string]string{"a.txt": lines(20000, "a"), "b.txt": lines(20000, "b")})
	early := funcScanner(func(r io.Reader, found func(string, int64)) error {
		_, err := r.Read(make([]byte, 10))
		found("early", 0)
		return err
	})
	res := inspect(t, r.pack([]string{c}), early, false)
	if len(res.Findings) != 4 { // two blobs, the tree's names, the commit
		t.Errorf("Findings %v, want one in each of four objects", res.Findings)
	}
}

func TestInspectCancelledWhileScanning(t *testing.T) {
	r := newRepo(t)
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("f%02d.txt", i)] = fmt.Sprintf("%d\n", i)
	}
	c := r.commit("many", files)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var scans atomic.Int64
	s := funcScanner(func(r io.Reader, found func(string, int64)) error {
		if scans.Add(1) == 1 {
			cancel()
		}
		_, err := io.Copy(io.Discard, r)
		return err
	})
	_, err := pushOf(t, r.pack([]string{c})).Inspect(ctx, s, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Inspect error = %v, want context.Canceled", err)
	}
	// The blobs being scanned when the context is cancelled finish; no
	// other starts.
	if n := scans.Load(); n > int64(scanWorkers()) {
		t.Errorf("%d blobs scanned after the cancel, want it to stop", n-1)
	}
}

// TestInspectSymlinkAndSubmodule: a symlink's target is a blob like any
// other (and scanned); a submodule entry is a commit of another
// repository, skipped.
func TestInspectSymlinkAndSubmodule(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	if err := os.Symlink("/etc/"+key, filepath.Join(r.dir, "link")); err != nil {
		t.Fatal(err)
	}
	r.git(nil, "add", "link")
	r.git(nil, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("ab", 20)+",vendor/sub")
	c := r.commit("link and submodule", map[string]string{"a.txt": "1\n"})
	res := inspect(t, r.pack([]string{c}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "link", Line: 1, Commit: c, Object: r.rev(c + ":link")})
}

// TestInspectAfterReceive: a request read by Receive (commands, then the
// pack) is inspected from where its pack starts, and the scratch files
// Inspect makes in the spool directory are gone when it returns.
func TestInspectAfterReceive(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	old := r.commit("upstream", map[string]string{"README": "hi\n"})
	c := r.commit("add", map[string]string{"deep/er/x.env": "a\nb\nk=" + key + "\n"})
	cmd := old + " " + c + " refs/heads/agent/x\x00 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5"
	body := fmt.Sprintf("%04x%s0000", len(cmd)+4, cmd) + string(r.pack([]string{c, "^" + old}))
	spool := t.TempDir()
	p, err := Receive(strings.NewReader(body), Limits{Dir: spool})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.Inspect(context.Background(), &markerScanner{marker: key}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantFindings(t, res.Findings, Finding{Rule: "marker", Path: "deep/er/x.env", Line: 3, Commit: c, Object: r.rev(c + ":deep/er/x.env")})
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("the spool directory holds %d files after Inspect, want none (all removed at once)", len(left))
	}
}

// TestInspectKeepsAtMostMaxHits: a blob of key-shaped lines cannot make
// the gate hold a finding per line.
func TestInspectKeepsAtMostMaxHits(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	c := r.commit("many", map[string]string{"a.txt": strings.Repeat(key+"\n", maxHits+500), "b.txt": key + "\n"})
	res := inspect(t, r.pack([]string{c}), &markerScanner{marker: key}, false)
	if len(res.Findings) != maxHits {
		t.Fatalf("%d findings, want %d", len(res.Findings), maxHits)
	}
	if f := res.Findings[maxHits-1]; f.Path != "a.txt" && f.Path != "b.txt" || f.Line < 1 {
		t.Errorf("last finding %+v", f)
	}
}

// FuzzInspect: whatever the pack (its checksum fixed up), Inspect returns a result or says why
// the pack is refused (ErrMalformed, ErrThin, ErrTooLarge); it never
// panics or fails otherwise.
func FuzzInspect(f *testing.F) {
	base := []byte("hello, base\nline two\n")
	baseID := plumbing.ComputeHash(plumbing.BlobObject, base)
	blob := packEntry(plumbing.BlobObject, base, nil)
	delta := slices.Concat(varint(uint64(len(base))), varint(26), []byte{0x90, byte(len(base)), 5}, []byte("more\n"))
	tree := slices.Concat([]byte("100644 a.txt\x00"), baseID[:])
	treeID := plumbing.ComputeHash(plumbing.TreeObject, tree)
	commit := []byte("tree " + treeID.String() + "\nauthor a <a@example.com> 0 +0000\n\nmsg FAKESECRET\n")
	f.Add(handPack(-1, blob, packEntry(plumbing.REFDeltaObject, delta, baseID[:])))
	f.Add(handPack(-1, blob, packEntry(plumbing.OFSDeltaObject, delta, []byte{byte(len(blob))})))
	f.Add(handPack(-1, blob, packEntry(plumbing.TreeObject, tree, nil), packEntry(plumbing.CommitObject, commit, nil)))
	f.Add(handPack(0))
	f.Fuzz(func(t *testing.T, pack []byte) {
		// Most changes would only break the checksum: fix it, so that the
		// fuzzer reaches the objects.
		if len(pack) >= 32 {
			sum := sha1.Sum(pack[:len(pack)-20])
			pack = append(pack[:len(pack)-20:len(pack)-20], sum[:]...)
		}
		res, err := pushOf(t, pack).Inspect(context.Background(), &markerScanner{marker: "FAKESECRET"}, true)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrThin) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Inspect error %v is none of ErrMalformed, ErrThin, ErrTooLarge", err)
			}
			return
		}
		if res.Objects < res.Blobs || res.Objects < len(res.Commits) {
			t.Fatalf("Result %+v counts more blobs or commits than objects", res)
		}
	})
}

// TestInspectSecretInFileName: a file name is pushed content too; the
// finding names its directory, not the file.
func TestInspectSecretInFileName(t *testing.T) {
	r := newRepo(t)
	key := secret(t)
	old := r.commit("upstream", map[string]string{"README": "hi\n"})
	c := r.commit("names", map[string]string{"config/" + key + ".txt": "", "top-" + key: ""})
	res := inspect(t, r.pack([]string{c, "^" + old}), &markerScanner{marker: key}, false)
	wantFindings(t, res.Findings,
		Finding{Rule: "marker", Path: "(a file name)", Commit: c, Object: r.rev(c + "^{tree}")},
		Finding{Rule: "marker", Path: "config/ (a file name)", Commit: c, Object: r.rev(c + ":config")},
	)
	for _, f := range res.Findings {
		if strings.Contains(f.String(), key) {
			t.Errorf("finding %q holds the secret", f)
		}
	}
}
