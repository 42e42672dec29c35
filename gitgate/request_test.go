package gitgate

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	pushCaps = " report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5"
	// fakePack stands for a pack: Receive only checks its magic.
	fakePack = "PACK\x00\x00\x00\x02\x00\x00\x00\x00" + "01234567890123456789"
)

func receive(t *testing.T, body string, lim Limits) (*Push, error) {
	t.Helper()
	if lim.Dir == "" {
		lim.Dir = t.TempDir()
	}
	p, err := Receive(iotest.OneByteReader(strings.NewReader(body)), lim)
	if p != nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func TestReceive(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want Push
	}{
		{"one update, no LF on the first line",
			pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack,
			Push{Commands: []Command{{oid1, oid2, "refs/heads/main"}}}},
		{"create and update, LFs",
			pkt(ZeroID+" "+oid2+" refs/heads/agent/x\x00"+pushCaps+"\n") + pkt(oid1+" "+oid3+" refs/heads/main\n") + "0000" + fakePack,
			Push{Commands: []Command{{ZeroID, oid2, "refs/heads/agent/x"}, {oid1, oid3, "refs/heads/main"}}}},
		{"later commands without LF",
			pkt(ZeroID+" "+oid2+" refs/heads/a\x00"+pushCaps) + pkt(oid1+" "+oid3+" refs/tags/v1") + "0000" + fakePack,
			Push{Commands: []Command{{ZeroID, oid2, "refs/heads/a"}, {oid1, oid3, "refs/tags/v1"}}}},
		{"shallow",
			pkt("shallow "+oid3) + pkt("shallow "+oid2+"\n") + pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack,
			Push{Shallow: []string{oid3, oid2}, Commands: []Command{{oid1, oid2, "refs/heads/main"}}}},
		{"push options",
			pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps+" push-options") + "0000" + pkt("ci.skip\n") + pkt("topic=x") + "0000" + fakePack,
			Push{Commands: []Command{{oid1, oid2, "refs/heads/main"}}, PushOptions: []string{"ci.skip", "topic=x"}}},
		{"push options, none sent",
			pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps+" push-options") + "0000" + "0000" + fakePack,
			Push{Commands: []Command{{oid1, oid2, "refs/heads/main"}}}},
		{"deletes without a pack",
			pkt(oid1+" "+ZeroID+" refs/heads/old\x00"+pushCaps) + pkt(oid2+" "+ZeroID+" refs/heads/older") + "0000",
			Push{Commands: []Command{{oid1, ZeroID, "refs/heads/old"}, {oid2, ZeroID, "refs/heads/older"}}}},
		{"deletes with a pack",
			pkt(oid1+" "+ZeroID+" refs/heads/old\x00"+pushCaps) + "0000" + fakePack,
			Push{Commands: []Command{{oid1, ZeroID, "refs/heads/old"}}}},
		{"upper-case ids", pkt(strings.ToUpper("abcdef"+oid1[6:])+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack,
			Push{Commands: []Command{{"abcdef" + oid1[6:], oid2, "refs/heads/main"}}}},
		{"the probe", "0000", Push{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := receive(t, tc.body, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := Push{Commands: p.Commands, Shallow: p.Shallow, PushOptions: p.PushOptions}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Receive =\n%+v\nwant\n%+v", got, tc.want)
			}
			if p.size != int64(len(tc.body)) {
				t.Errorf("size %d, want %d", p.size, len(tc.body))
			}
			wantOff := int64(strings.Index(tc.body, "PACK"))
			if wantOff < 0 {
				wantOff = int64(len(tc.body))
			}
			if p.packOff != wantOff {
				t.Errorf("packOff %d, want %d", p.packOff, wantOff)
			}
			body, n := p.Body()
			b, _ := io.ReadAll(body)
			if n != int64(len(tc.body)) || string(b) != tc.body {
				t.Errorf("Body() = %d bytes %.40q, want the request as sent", n, b)
			}
		})
	}
}

func TestReceiveCaps(t *testing.T) {
	p, err := receive(t, pkt(oid1+" "+oid2+" refs/heads/main\x00 report-status report-status-v2 side-band-64k side-band quiet atomic push-options object-format=sha1 agent=git/2.39.5")+"0000"+"0000"+fakePack, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := Caps{ReportStatus: true, ReportStatusV2: true, SideBand64k: true, SideBand: true, Quiet: true, Atomic: true, PushOptions: true, Agent: "git/2.39.5",
		All: []string{"report-status", "report-status-v2", "side-band-64k", "side-band", "quiet", "atomic", "push-options", "object-format=sha1", "agent=git/2.39.5"}}
	if !reflect.DeepEqual(p.Caps, want) {
		t.Errorf("Caps =\n%+v\nwant\n%+v", p.Caps, want)
	}
}

func TestReceiveMalformed(t *testing.T) {
	cmd := func(ref string) string { return pkt(oid1 + " " + oid2 + " " + ref + "\x00" + pushCaps) }
	for _, tc := range []struct{ name, body, msg string }{
		{"empty", "", "the request ends inside its commands"},
		{"no flush", cmd("refs/heads/main"), "the request ends inside its commands"},
		{"not pkt-lines", "PACK" + fakePack, `bad pkt-line length "PACK" among the commands`},
		{"delim", cmd("refs/heads/main") + "0001", "a delim or response-end pkt-line among the commands"},
		{"short id", pkt(oid1[1:]+" "+oid2+" refs/heads/main\x00") + "0000" + fakePack, `command 1: "` + oid1[1:] + `" is not a 40-digit hex object id`},
		{"not hex", pkt(strings.Repeat("g", 40)+" "+oid2+" refs/heads/main\x00") + "0000" + fakePack, "is not a 40-digit hex object id"},
		{"two fields", pkt(oid1+" "+oid2+"\x00") + "0000", `command 1 is not "OLD NEW REF"`},
		{"sha256", pkt(strings.Repeat("a", 64)+" "+strings.Repeat("b", 64)+" refs/heads/main\x00 report-status object-format=sha256") + "0000" + fakePack,
			"the repository's object format is sha256; the bottle's git gate supports only sha1 repositories for now"},
		{"caps on a later command", cmd("refs/heads/a") + cmd("refs/heads/b") + "0000" + fakePack, "command 2 has capabilities; only the first may"},
		{"twice the same ref", cmd("refs/heads/a") + pkt(oid2+" "+oid3+" refs/heads/a") + "0000" + fakePack, "command 2: refs/heads/a is updated twice"},
		{"update without a pack", cmd("refs/heads/main") + "0000", "refs/heads/main is created or updated, but the push carries no pack"},
		{"create without a pack", pkt(oid1+" "+ZeroID+" refs/heads/a\x00") + pkt(ZeroID+" "+oid2+" refs/heads/b") + "0000", "refs/heads/b is created or updated, but the push carries no pack"},
		{"not a pack", cmd("refs/heads/main") + "0000" + "PAC", "after its commands the request holds 3 bytes that are not a pack"},
		{"garbage after the probe", "0000" + fakePack, "no ref-update commands, but 32 more bytes"},
		{"push options unterminated", pkt(oid1+" "+oid2+" refs/heads/main\x00 push-options") + "0000" + pkt("a"), "the request ends inside its push options"},
		{"shallow after a command", cmd("refs/heads/main") + pkt("shallow "+oid3) + "0000" + fakePack, "a shallow line after the commands"},
		{"bad shallow", pkt("shallow xyz") + cmd("refs/heads/main") + "0000" + fakePack, `shallow line: "xyz" is not a 40-digit hex object id`},
		{"signed push", pkt("push-cert\x00 report-status") + "0000", "a signed push (push-cert)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := receive(t, tc.body, Limits{Dir: dir})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Receive = %v, %v; want ErrMalformed saying %q", p, err, tc.msg)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left %v in the spool", left)
			}
		})
	}
}

func TestValidRef(t *testing.T) {
	for _, ref := range []string{"refs/heads/main", "refs/heads/agent/x-1", "refs/tags/v1.2", "refs/heads/é", "refs/heads/a.b", "refs/for/main%topic=x", "refs/heads/@"} {
		if !validRef(ref) {
			t.Errorf("validRef(%q) = false", ref)
		}
	}
	for _, ref := range []string{"", "main", "HEAD", "refs/", "refs/heads/", "refs//x", "refs/heads/a..b", "refs/heads/a.", "refs/heads/.a",
		"refs/heads/a.lock", "refs/heads/a.lock/b", "refs/heads/a@{1}", "refs/heads/a b", "refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b",
		"refs/heads/a?", "refs/heads/*", "refs/heads/[a]", "refs/heads/a\\b", "refs/heads/a\x01", "refs/heads/a\x7f", "refs/heads/a\n", "heads/refs/x"} {
		if validRef(ref) {
			t.Errorf("validRef(%q) = true", ref)
		}
		_, err := receive(t, pkt(oid1+" "+oid2+" "+ref+"\x00")+"0000"+fakePack, Limits{})
		if ref != "" && !strings.ContainsAny(ref, " \n") && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "is not a valid ref name (git check-ref-format)")) {
			t.Errorf("Receive with ref %q: %v", ref, err)
		}
	}
}

func TestReceiveTooLarge(t *testing.T) {
	body := pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack
	dir := t.TempDir()
	_, err := receive(t, body, Limits{Dir: dir, MaxPack: int64(len(body)) - 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Receive = %v, want ErrTooLarge", err)
	}
	if want := fmt.Sprintf("push of more than %[1]d bytes; the bottle's git gate takes at most %[1]d bytes (bottle-sidecar --git-max-pack)", len(body)-1); err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %v in the spool", left)
	}
	if p, err := receive(t, body, Limits{MaxPack: int64(len(body))}); err != nil || len(p.Commands) != 1 {
		t.Errorf("a body of exactly the limit: %v", err)
	}
	if got := (&tooLarge{max: 512 << 20}).Error(); got != "push of more than 512 MiB; the bottle's git gate takes at most 512 MiB (bottle-sidecar --git-max-pack)" {
		t.Errorf("the default limit reads %q", got)
	}
	for n, want := range map[int64]string{1 << 10: "1 KiB", 1500: "1500 bytes", 3 << 19: "1.5 MiB", 2 << 30: "2048 MiB"} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReceiveTooLargeKeepsCommands: a push over the limit is refused with
// its commands read (so that each ref can be answered), and no pack; one
// whose commands do not fit in the limit has none to give.
func TestReceiveTooLargeKeepsCommands(t *testing.T) {
	body := pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + pkt(ZeroID+" "+oid2+" refs/heads/agent/x") + "0000" + fakePack
	p, err := receive(t, body, Limits{MaxPack: int64(len(body)) - 1})
	if !errors.Is(err, ErrTooLarge) || p == nil || len(p.Commands) != 2 || p.Commands[1].Ref != "refs/heads/agent/x" {
		t.Fatalf("Receive = %+v, %v; want the two commands and ErrTooLarge", p, err)
	}
	if res, err := p.Inspect(context.Background(), nil, false); err != nil || res.Objects != 0 {
		t.Errorf("the pack of a push too large was inspected: %+v %v", res, err)
	}
	if p, err := receive(t, body, Limits{MaxPack: 10}); !errors.Is(err, ErrTooLarge) || p != nil {
		t.Errorf("commands cut by the limit: %+v, %v; want no Push", p, err)
	}
}

// TestReceiveTooManyCommands: a push of more ref updates than the gate
// judges at once is refused, however small its body.
func TestReceiveTooManyCommands(t *testing.T) {
	var b strings.Builder
	b.WriteString(pkt(ZeroID + " " + oid2 + " refs/heads/a/0\x00" + pushCaps))
	for i := 1; i <= maxCommands; i++ {
		b.WriteString(pkt(fmt.Sprintf("%s %s refs/heads/a/%d", ZeroID, oid2, i)))
	}
	b.WriteString("0000" + fakePack)
	p, err := Receive(strings.NewReader(b.String()), Limits{Dir: t.TempDir()})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "ref updates") {
		t.Fatalf("Receive = %v; want ErrTooLarge", err)
	}
	if p != nil {
		t.Errorf("Receive returned a Push with its error")
	}
	for what, build := range map[string]func(*strings.Builder){
		"shallow lines": func(b *strings.Builder) {
			for range maxCommands + 1 {
				b.WriteString(pkt("shallow " + oid1))
			}
			b.WriteString(pkt(ZeroID + " " + oid2 + " refs/heads/a\x00" + pushCaps))
			b.WriteString("0000" + fakePack)
		},
		"push options": func(b *strings.Builder) {
			b.WriteString(pkt(ZeroID + " " + oid2 + " refs/heads/a\x00 push-options"))
			b.WriteString("0000")
			for range maxCommands + 1 {
				b.WriteString(pkt("o"))
			}
			b.WriteString("0000" + fakePack)
		},
	} {
		var b strings.Builder
		build(&b)
		if _, err := Receive(strings.NewReader(b.String()), Limits{Dir: t.TempDir()}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Receive = %v; want ErrTooLarge", what, err)
		}
	}
}

// The spool is unlinked at once: while the Push is open, nothing of it is
// in the directory, and the file is private.
func TestReceiveSpool(t *testing.T) {
	dir := t.TempDir()
	body := pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack
	p, err := receive(t, body, Limits{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the open spool is visible in %s: %v", dir, left)
	}
	if fi, err := p.file.Stat(); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("spool mode %v, %v; want 0600", fi.Mode(), err)
	}
	// Each Body is a new reader from the start.
	for range 2 {
		r, _ := p.Body()
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != body {
			t.Fatalf("Body() = %q", b)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := Receive(strings.NewReader(body), Limits{Dir: dir + "/missing"}); err == nil || !strings.Contains(err.Error(), "spooling a git push") || !strings.Contains(err.Error(), "--git-spool") {
		t.Errorf("Receive into a missing directory: %v", err)
	}
}

func TestReceiveReadError(t *testing.T) {
	// A body cut short (net/http's io.ErrUnexpectedEOF) is a client that
	// went away, not a short request.
	for _, boom := range []error{errors.New("connection reset"), io.ErrUnexpectedEOF} {
		_, err := Receive(io.MultiReader(strings.NewReader("0000"), iotest.ErrReader(boom)), Limits{Dir: t.TempDir()})
		if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "reading a git push: ") {
			t.Errorf("Receive = %v", err)
		}
	}
}

func TestDecodeBody(t *testing.T) {
	body := pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(body))
	zw.Close()
	for _, enc := range []string{"gzip", "x-gzip", " GZIP "} {
		r, err := DecodeBody(iotest.OneByteReader(bytes.NewReader(z.Bytes())), enc)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		p, err := Receive(r, Limits{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		b, n := p.Body()
		got, _ := io.ReadAll(b)
		if string(got) != body || n != int64(len(body)) || len(p.Commands) != 1 {
			t.Errorf("%s: Body is %q, want the decoded request", enc, got)
		}
		p.Close()
	}
	for _, enc := range []string{"", "identity"} {
		if r, err := DecodeBody(strings.NewReader(body), enc); err != nil {
			t.Errorf("%q: %v", enc, err)
		} else if b, _ := io.ReadAll(r); string(b) != body {
			t.Errorf("%q changed the body", enc)
		}
	}
	if _, err := DecodeBody(strings.NewReader(body), "br"); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `Content-Encoding "br"; the bottle's git gate takes gzip or none`) {
		t.Errorf("br: %v", err)
	}
	if _, err := DecodeBody(strings.NewReader(body), "gzip"); !errors.Is(err, ErrMalformed) {
		t.Errorf("gzip that is not: %v", err)
	}
	corrupt := bytes.Clone(z.Bytes())
	corrupt[len(corrupt)-6] ^= 0xff // the CRC
	r, err := DecodeBody(bytes.NewReader(corrupt), "gzip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Receive(r, Limits{Dir: t.TempDir()}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "the gzip-encoded body is corrupt") {
		t.Errorf("a corrupt gzip body: %v", err)
	}
}

// Whatever the body, Receive takes it or says ErrMalformed; what it takes
// has valid refs and ids, a pack offset inside the body, and the body
// kept byte for byte.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(pkt(oid1+" "+oid2+" refs/heads/main\x00"+pushCaps) + "0000" + fakePack))
	f.Add([]byte(pkt(oid1+" "+ZeroID+" refs/heads/a\x00 push-options") + "0000" + pkt("o") + "0000"))
	f.Add([]byte("0000"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Receive(bytes.NewReader(in), Limits{Dir: dir, MaxPack: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Receive: %v, want ErrMalformed", err)
			}
			return
		}
		defer p.Close()
		for _, c := range p.Commands {
			if !validRef(c.Ref) || !isID([]byte(c.Old)) || !isID([]byte(c.New)) {
				t.Fatalf("took %+v", c)
			}
		}
		if p.packOff > p.size || p.packOff < p.size && !bytes.HasPrefix(in[p.packOff:], []byte("PACK")) {
			t.Fatalf("packOff %d of %d", p.packOff, p.size)
		}
		b, n := p.Body()
		got, _ := io.ReadAll(b)
		if n != int64(len(in)) || !bytes.Equal(got, in) {
			t.Fatalf("Body is not the request")
		}
	})
}
