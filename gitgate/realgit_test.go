package gitgate

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The tests below run the real git client against a gate built from this
// package: info/refs comes from git-http-backend through NoThin, and a
// push is read with Receive and answered with WriteReport, never applied.

// gitSandbox runs git with a private HOME and no system config, so the
// host's git config (url rewrites, credential helpers, proxies) stays out.
type gitSandbox struct {
	t    *testing.T
	root string
	env  []string
}

func newGitSandbox(t *testing.T) *gitSandbox {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	root := t.TempDir()
	home := filepath.Join(root, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return &gitSandbox{t: t, root: root, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "LANG=C",
		"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	}}
}

// run runs git in dir and returns its combined output and error.
func (g *gitSandbox) run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, g.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (g *gitSandbox) must(dir string, args ...string) string {
	g.t.Helper()
	out, err := g.run(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// bare makes a bare repository r.git holding one commit on main, with the
// files given, and a clone of it in "work"; it returns both paths.
func (g *gitSandbox) bare(files map[string]string) (bare, work string) {
	g.t.Helper()
	bare = filepath.Join(g.root, "srv", "r.git")
	work = filepath.Join(g.root, "work")
	g.must(g.root, "init", "-q", "--bare", "-b", "main", bare)
	g.must(g.root, "init", "-q", "-b", "main", work)
	for name, content := range files {
		g.write(work, name, content)
	}
	g.must(work, "add", ".")
	g.must(work, "commit", "-q", "-m", "first")
	g.must(work, "push", "-q", bare, "main")
	g.must(work, "remote", "add", "origin", bare)
	g.must(work, "fetch", "-q", "origin")
	return bare, work
}

func (g *gitSandbox) write(dir, name, content string) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// state is what a repository holds: its refs and its objects.
func (g *gitSandbox) state(repo string) string {
	g.t.Helper()
	return g.must(repo, "for-each-ref") + g.must(repo, "count-objects", "-v")
}

// gate is the test's git server: git-http-backend for GETs, edited with
// NoThin when noThin is set; Receive and a refusal of every ref for
// pushes. It keeps what it saw.
type gate struct {
	t       *testing.T
	backend *cgi.Handler
	noThin  bool
	spool   string

	mu       sync.Mutex
	adverts  []string // the advertisements as sent to the client
	probes   int      // pushes with no commands ("0000")
	pushes   []*seen
	handlerr []string
}

type seen struct {
	commands []Command
	caps     Caps
	options  []string
	chunked  bool
	pack     []byte
}

func newGate(t *testing.T, g *gitSandbox, noThin bool) (*gate, string) {
	t.Helper()
	exe := strings.TrimSpace(g.must(g.root, "--exec-path"))
	gt := &gate{t: t, noThin: noThin, spool: t.TempDir(), backend: &cgi.Handler{
		Path: filepath.Join(exe, "git-http-backend"),
		Dir:  g.root,
		Env: append(slices.Clone(g.env), "GIT_PROJECT_ROOT="+filepath.Join(g.root, "srv"),
			"GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=agent"),
	}}
	srv := httptest.NewServer(gt)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, e := range gt.handlerr {
			t.Error(e)
		}
	})
	return gt, srv.URL + "/r.git"
}

func (gt *gate) fail(format string, args ...any) {
	gt.mu.Lock()
	gt.handlerr = append(gt.handlerr, fmt.Sprintf(format, args...))
	gt.mu.Unlock()
}

func (gt *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet:
		rec := httptest.NewRecorder()
		gt.backend.ServeHTTP(rec, r)
		var body io.Reader = rec.Body
		if gt.noThin && r.URL.Query().Get("service") == "git-receive-pack" {
			body = NoThin(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			gt.fail("NoThin: %v", err)
		}
		gt.mu.Lock()
		gt.adverts = append(gt.adverts, string(b))
		gt.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(b)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
		gt.receivePack(w, r)
	default:
		gt.fail("unexpected %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusNotFound)
	}
}

// Refusals the gate gives, as the proxy words them.
const (
	refusedMain  = "bottle: refs/heads/main is not in the push: globs of git.example.com/acme/widget"
	refusedOther = "bottle: the push is refused whole: refs/heads/main is not allowed"
	refusedMsg   = "bottle: push to git.example.com/acme/widget refused: it may push only refs/heads/agent/**"
)

func (gt *gate) receivePack(w http.ResponseWriter, r *http.Request) {
	body, err := DecodeBody(r.Body, r.Header.Get("Content-Encoding"))
	if err != nil {
		gt.fail("DecodeBody: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := Receive(body, Limits{Dir: gt.spool})
	if err != nil {
		gt.fail("Receive: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer p.Close()
	w.Header().Set("Content-Type", ResultType)
	if len(p.Commands) == 0 {
		gt.mu.Lock()
		gt.probes++
		gt.mu.Unlock()
		return // as receive-pack answers a probe: nothing
	}
	s := &seen{commands: p.Commands, caps: p.Caps, options: p.PushOptions, chunked: slices.Contains(r.TransferEncoding, "chunked")}
	rc, n := p.Body()
	all, _ := io.ReadAll(rc)
	if int64(len(all)) != n {
		gt.fail("Body: %d bytes, says %d", len(all), n)
	}
	s.pack = all[p.packOff:]
	gt.mu.Lock()
	gt.pushes = append(gt.pushes, s)
	gt.mu.Unlock()

	var refs []RefStatus
	for _, c := range p.Commands {
		reason := refusedOther
		if c.Ref == "refs/heads/main" {
			reason = refusedMain
		}
		refs = append(refs, RefStatus{Ref: c.Ref, Reason: reason})
	}
	if err := WriteReport(w, p.Caps, refs, []string{refusedMsg}); err != nil {
		gt.fail("WriteReport: %v", err)
	}
}

// git push shows the gate's refusal as a server's: the messages as
// "remote:" lines, each ref as "[remote rejected]" with its reason, exit
// status 1, and the repository is unchanged. For the default protocol and
// for protocol.version=1 (whose advertisement starts "version 1").
func TestRealGitPushRefused(t *testing.T) {
	for _, proto := range []string{"", "1"} {
		t.Run("protocol.version="+proto, func(t *testing.T) {
			g := newGitSandbox(t)
			bare, work := g.bare(map[string]string{"README": "hello\n"})
			gt, url := newGate(t, g, true)
			g.write(work, "README", "hello again\n")
			g.must(work, "commit", "-q", "-am", "second")
			g.must(work, "branch", "agent/x")
			before := g.state(bare)

			args := []string{"push", url, "main", "agent/x"}
			if proto != "" {
				args = append([]string{"-c", "protocol.version=" + proto}, args...)
			}
			out, err := g.run(work, args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("git push: %v, want exit status 1\n%s", err, out)
			}
			want := "remote: " + refusedMsg + "        \n" +
				"To " + url + "\n" +
				" ! [remote rejected] main -> main (" + refusedMain + ")\n" +
				" ! [remote rejected] agent/x -> agent/x (" + refusedOther + ")\n" +
				"error: failed to push some refs to '" + url + "'\n"
			if out != want {
				t.Errorf("git push printed\n%s\nwant\n%s", out, want)
			}
			if after := g.state(bare); after != before {
				t.Errorf("the repository changed:\n%s\nwas\n%s", after, before)
			}

			if len(gt.adverts) != 1 || !strings.Contains(gt.adverts[0], " no-thin\n") {
				t.Errorf("advertisements %q, want one with no-thin", gt.adverts)
			}
			if v1 := strings.Contains(gt.adverts[0], pkt("version 1\n")); v1 != (proto == "1") {
				t.Errorf("advertisement has version 1: %v, want %v", v1, proto == "1")
			}
			if len(gt.pushes) != 1 {
				t.Fatalf("%d pushes reached the gate, want 1", len(gt.pushes))
			}
			p := gt.pushes[0]
			if gt.probes != 0 || p.chunked {
				t.Errorf("probes %d, chunked %v; a small push is one body with a Content-Length", gt.probes, p.chunked)
			}
			head := strings.TrimSpace(g.must(work, "rev-parse", "main"))
			old := strings.TrimSpace(g.must(work, "rev-parse", "origin/main"))
			wantCmds := []Command{{old, head, "refs/heads/main"}, {ZeroID, head, "refs/heads/agent/x"}}
			if !slices.Equal(p.commands, wantCmds) {
				t.Errorf("commands %v, want %v", p.commands, wantCmds)
			}
			if !p.caps.ReportStatusV2 || !p.caps.SideBand64k || !strings.HasPrefix(p.caps.Agent, "git/") {
				t.Errorf("caps %+v, want report-status-v2, side-band-64k and git's agent", p.caps)
			}
			if slices.Contains(p.caps.All, "no-thin") {
				t.Errorf("the client echoed no-thin: %v", p.caps.All)
			}
		})
	}
}

// A one-line edit of a large file arrives as a thin pack (the blob a delta
// on the version only the server has) unless the advertisement says
// no-thin; with NoThin the pack is self-contained, as index-pack without
// --fix-thin proves. The NoThin push also goes as git sends a large body:
// a "0000" probe, then the body chunked.
func TestRealGitNoThin(t *testing.T) {
	var big strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&big, "line %d of a file large enough to be sent as a delta: %x\n", i, i*7919)
	}
	for _, noThin := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoThin=%v", noThin), func(t *testing.T) {
			g := newGitSandbox(t)
			_, work := g.bare(map[string]string{"big.txt": big.String()})
			gt, url := newGate(t, g, noThin)
			g.write(work, "big.txt", strings.Replace(big.String(), "line 2000 ", "line two thousand ", 1))
			g.must(work, "commit", "-q", "-am", "edit one line")
			// With a small http.postBuffer git probes with "0000" first,
			// then sends the body chunked.
			out, err := g.run(work, "-c", "http.postBuffer=4096", "push", url, "main:refs/heads/agent/x")
			if err == nil {
				t.Fatalf("git push succeeded; the gate refuses every push\n%s", out)
			}
			if len(gt.pushes) != 1 {
				t.Fatalf("%d pushes reached the gate, want 1\n%s", len(gt.pushes), out)
			}
			if len(gt.adverts) != 1 || strings.Contains(gt.adverts[0], "no-thin") != noThin {
				t.Errorf("advertisements %q; want no-thin in it: %v", gt.adverts, noThin)
			}
			pack := gt.pushes[0].pack
			entries := packEntries(t, pack)
			if len(entries) != 3 {
				t.Errorf("%d objects in the pack, want 3 (commit, tree, blob): %v", len(entries), entries)
			}
			refDeltas := 0
			for _, e := range entries {
				if e == "ref-delta" {
					refDeltas++
				}
			}
			indexed := indexPack(t, g, pack)
			if !noThin {
				if refDeltas == 0 || indexed == nil {
					t.Errorf("without no-thin: %d ref-deltas, index-pack %v; want a thin pack (%d bytes, %v)", refDeltas, indexed, len(pack), entries)
				}
				return
			}
			if refDeltas != 0 || indexed != nil {
				t.Errorf("with no-thin: %d ref-deltas, index-pack %v; want a self-contained pack (%d bytes, %v)", refDeltas, indexed, len(pack), entries)
			}
			if len(pack) < 20000 {
				t.Errorf("a %d-byte pack cannot hold the whole %d-byte file", len(pack), big.Len())
			}
			if gt.probes != 1 || !gt.pushes[0].chunked {
				t.Errorf("probes %d, chunked %v; want git's probe and a chunked body", gt.probes, gt.pushes[0].chunked)
			}
		})
	}
}

// packEntries walks a pack (gitformat-pack.adoc) and names each entry's
// type: "commit", "tree", "blob", "tag", "ofs-delta" or "ref-delta".
func packEntries(t *testing.T, pack []byte) []string {
	t.Helper()
	if len(pack) < 32 || string(pack[:4]) != "PACK" || binary.BigEndian.Uint32(pack[4:]) != 2 {
		t.Fatalf("not a version 2 pack: %.12q", pack)
	}
	count := binary.BigEndian.Uint32(pack[8:])
	r := bytes.NewReader(pack[12:])
	br := bufio.NewReader(r)
	names := []string{1: "commit", 2: "tree", 3: "blob", 4: "tag", 6: "ofs-delta", 7: "ref-delta"}
	var out []string
	for range count {
		c, err := br.ReadByte()
		if err != nil {
			t.Fatalf("pack entry %d: %v", len(out), err)
		}
		typ := c >> 4 & 7
		for c&0x80 != 0 {
			c, _ = br.ReadByte()
		}
		switch typ {
		case 6:
			for c, _ = br.ReadByte(); c&0x80 != 0; c, _ = br.ReadByte() {
			}
		case 7:
			var id [20]byte
			io.ReadFull(br, id[:])
		}
		z, err := zlib.NewReader(br)
		if err != nil {
			t.Fatalf("pack entry %d: %v", len(out), err)
		}
		if _, err := io.Copy(io.Discard, z); err != nil {
			t.Fatalf("pack entry %d: %v", len(out), err)
		}
		out = append(out, names[typ])
	}
	if rest, _ := io.ReadAll(br); len(rest) != 20 {
		t.Fatalf("%d bytes after the entries, want the 20-byte trailer", len(rest))
	}
	return out
}

// indexPack runs git index-pack (no --fix-thin) on pack in an empty
// repository: it fails on a delta whose base is not in the pack.
func indexPack(t *testing.T, g *gitSandbox, pack []byte) error {
	t.Helper()
	dir := t.TempDir()
	g.must(dir, "init", "-q", "--bare")
	cmd := exec.Command("git", "index-pack", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, g.env, bytes.NewReader(pack)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// A delete sends no pack, and push options come after the commands when
// the server advertises them (receive.advertisePushOptions): Receive reads
// both from real git, and the refusal prints for a delete too.
func TestRealGitDeleteAndPushOptions(t *testing.T) {
	g := newGitSandbox(t)
	bare, work := g.bare(map[string]string{"README": "hello\n"})
	g.must(work, "push", "-q", bare, "main:refs/heads/agent/old")
	g.must(bare, "config", "receive.advertisePushOptions", "true")
	gt, url := newGate(t, g, true)
	before := g.state(bare)

	out, err := g.run(work, "push", "-o", "ci.skip", "-o", "topic=x y", url, ":refs/heads/agent/old")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("git push: %v, want exit status 1\n%s", err, out)
	}
	if want := " ! [remote rejected] agent/old (" + refusedOther + ")\n"; !strings.Contains(out, want) {
		t.Errorf("git push printed\n%s\nwant a line\n%s", out, want)
	}
	if after := g.state(bare); after != before {
		t.Errorf("the repository changed:\n%s\nwas\n%s", after, before)
	}
	if len(gt.pushes) != 1 {
		t.Fatalf("%d pushes reached the gate, want 1", len(gt.pushes))
	}
	p := gt.pushes[0]
	old := strings.TrimSpace(g.must(work, "rev-parse", "main"))
	if want := []Command{{old, ZeroID, "refs/heads/agent/old"}}; !slices.Equal(p.commands, want) || !p.commands[0].Delete() {
		t.Errorf("commands %v, want %v", p.commands, want)
	}
	if len(p.pack) != 0 {
		t.Errorf("a delete came with %d bytes of pack", len(p.pack))
	}
	if !p.caps.PushOptions || !slices.Equal(p.options, []string{"ci.skip", "topic=x y"}) {
		t.Errorf("push options %v (negotiated %v), want [ci.skip topic=x y]", p.options, p.caps.PushOptions)
	}
}

// An empty repository advertises "capabilities^{}": NoThin edits that
// line, and git still reads the advertisement and pushes.
func TestRealGitPushToEmptyRepo(t *testing.T) {
	g := newGitSandbox(t)
	bare := filepath.Join(g.root, "srv", "r.git")
	work := filepath.Join(g.root, "work")
	g.must(g.root, "init", "-q", "--bare", "-b", "main", bare)
	g.must(g.root, "init", "-q", "-b", "main", work)
	g.write(work, "README", "hello\n")
	g.must(work, "add", ".")
	g.must(work, "commit", "-q", "-m", "first")
	gt, url := newGate(t, g, true)

	out, err := g.run(work, "push", url, "main")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, " ! [remote rejected] main -> main ("+refusedMain+")\n") {
		t.Fatalf("git push: %v, want exit status 1 and main rejected\n%s", err, out)
	}
	if len(gt.adverts) != 1 || !strings.Contains(gt.adverts[0], ZeroID+" capabilities^{}\x00") || !strings.Contains(gt.adverts[0], " no-thin\n") {
		t.Errorf("advertisement %q, want capabilities^{} with no-thin", gt.adverts)
	}
	if len(gt.pushes) != 1 || len(gt.pushes[0].commands) != 1 || !gt.pushes[0].commands[0].Create() {
		t.Fatalf("pushes %+v, want one that creates main", gt.pushes)
	}
	if entries := packEntries(t, gt.pushes[0].pack); !slices.Equal(slices.Sorted(slices.Values(entries)), []string{"blob", "commit", "tree"}) {
		t.Errorf("pack %v, want commit, tree, blob", entries)
	}
}
