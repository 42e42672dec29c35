package gitgate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	oid1 = "1111111111111111111111111111111111111111"
	oid2 = "2222222222222222222222222222222222222222"
	oid3 = "3333333333333333333333333333333333333333"
	caps = "report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta object-format=sha1 agent=git/2.39.5"
)

var service = pkt("# service=git-receive-pack\n") + "0000"

func TestNoThin(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"refs",
			service + pkt(oid1+" refs/heads/main\x00"+caps+"\n") + pkt(oid2+" refs/heads/dev\n") + "0000",
			service + pkt(oid1+" refs/heads/main\x00"+caps+" no-thin\n") + pkt(oid2+" refs/heads/dev\n") + "0000"},
		{"empty repository",
			service + pkt(ZeroID+" capabilities^{}\x00"+caps+"\n") + "0000",
			service + pkt(ZeroID+" capabilities^{}\x00"+caps+" no-thin\n") + "0000"},
		{"version 1",
			service + pkt("version 1\n") + pkt(oid1+" refs/heads/main\x00"+caps+"\n") + "0000",
			service + pkt("version 1\n") + pkt(oid1+" refs/heads/main\x00"+caps+" no-thin\n") + "0000"},
		{"no service line (not over HTTP)",
			pkt(oid1+" refs/heads/main\x00"+caps+"\n") + "0000",
			pkt(oid1+" refs/heads/main\x00"+caps+" no-thin\n") + "0000"},
		{"no LF",
			service + pkt(oid1+" refs/heads/main\x00"+caps) + "0000",
			service + pkt(oid1+" refs/heads/main\x00"+caps+" no-thin") + "0000"},
		{"nothing after the NUL",
			service + pkt(ZeroID+" capabilities^{}\x00\n") + "0000",
			service + pkt(ZeroID+" capabilities^{}\x00no-thin\n") + "0000"},
		{"already no-thin",
			service + pkt(oid1+" refs/heads/main\x00no-thin "+caps+"\n") + "0000",
			service + pkt(oid1+" refs/heads/main\x00no-thin "+caps+"\n") + "0000"},
		{"only the first ref line",
			service + pkt(oid1+" refs/heads/main\x00"+caps+"\n") + pkt(oid2+" refs/heads/x\x00"+caps+"\n") + "0000",
			service + pkt(oid1+" refs/heads/main\x00"+caps+" no-thin\n") + pkt(oid2+" refs/heads/x\x00"+caps+"\n") + "0000"},
		{"ERR", pkt("ERR access denied\n"), pkt("ERR access denied\n")},
		{"ERR after the service line", service + pkt("ERR no such repo\n"), service + pkt("ERR no such repo\n")},
		{"ref line without capabilities",
			service + pkt(oid1+" refs/heads/main\n") + "0000",
			service + pkt(oid1+" refs/heads/main\n") + "0000"},
		{"service line without flush", pkt("# service=git-receive-pack\n") + pkt(oid1+" refs/heads/main\x00"+caps+"\n"),
			pkt("# service=git-receive-pack\n") + pkt(oid1+" refs/heads/main\x00"+caps+"\n")},
		{"not pkt-lines", "<html>Sign in</html>\n", "<html>Sign in</html>\n"},
		{"cut short", service + "00b1" + oid1, service + "00b1" + oid1},
		{"empty", "", ""},
		{"no room left",
			service + pkt(oid1+" refs/heads/main\x00"+strings.Repeat("x", maxPayload-61)),
			service + pkt(oid1+" refs/heads/main\x00"+strings.Repeat("x", maxPayload-61))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := io.ReadAll(NoThin(r))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want {
					t.Errorf("NoThin =\n%q\nwant\n%q", got, tc.want)
				}
			}
			// iotest.TestReader checks Read's contract (short buffers, EOF).
			if err := iotest.TestReader(NoThin(strings.NewReader(tc.in)), []byte(tc.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// NoThin holds only the head of the advertisement: it reads no further
// than the first ref line before it answers.
func TestNoThinBounded(t *testing.T) {
	head := service + pkt(oid1+" refs/heads/main\x00"+caps+"\n")
	src := &countingReader{r: io.MultiReader(strings.NewReader(head), endless{})}
	r := NoThin(src)
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if src.n != int64(len(head)) {
		t.Fatalf("NoThin read %d bytes before its first answer; the head is %d", src.n, len(head))
	}
	// A first ref line of the largest size is taken whole.
	big := service + pkt(oid1+" refs/heads/main\x00"+strings.Repeat("c", maxPayload-100))
	got, err := io.ReadAll(io.LimitReader(NoThin(io.MultiReader(strings.NewReader(big), endless{})), int64(len(big))+20))
	if err != nil {
		t.Fatal(err)
	}
	if want := service + pkt(oid1+" refs/heads/main\x00"+strings.Repeat("c", maxPayload-100)+" no-thin"); !strings.HasPrefix(string(got), want) {
		t.Fatalf("the largest first line was not edited")
	}
}

// A read error of the source reaches the reader, in the head or after it.
func TestNoThinError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, prefix := range []string{"", service[:10], service + pkt(oid1+" refs/heads/main\x00"+caps+"\n")} {
		got, err := io.ReadAll(NoThin(io.MultiReader(strings.NewReader(prefix), iotest.ErrReader(boom))))
		if !errors.Is(err, boom) {
			t.Errorf("after %q: err %v, want %v", prefix, err, boom)
		}
		if !bytes.HasPrefix(got, []byte(prefix[:min(len(prefix), 10)])) {
			t.Errorf("after %q: got %q", prefix, got)
		}
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Whatever the body, NoThin either passes it unchanged or adds exactly
// "no-thin" (with its separating space) to one pkt-line, whose length it
// fixes: the output read as pkt-lines has the same lines but that one.
func FuzzNoThin(f *testing.F) {
	f.Add([]byte(service + pkt(oid1+" refs/heads/main\x00"+caps+"\n") + "0000"))
	f.Add([]byte(service + pkt("version 1\n") + pkt(ZeroID+" capabilities^{}\x00\n") + "0000"))
	f.Add([]byte(pkt("ERR no\n")))
	f.Add([]byte("0000garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := io.ReadAll(NoThin(bytes.NewReader(in)))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(out, in) {
			return
		}
		d := len(out) - len(in)
		if d != len(" no-thin") && d != len("no-thin") {
			t.Fatalf("NoThin grew the body by %d bytes", d)
		}
		// Find the first differing pkt-line and check it is the edit.
		ri, ro := bytes.NewReader(in), bytes.NewReader(out)
		for {
			_, rawIn, pin, errIn := readPkt(ri)
			_, rawOut, pout, errOut := readPkt(ro)
			if errIn != nil || errOut != nil {
				t.Fatalf("no edited line found: %v %v", errIn, errOut)
			}
			if bytes.Equal(rawIn, rawOut) {
				continue
			}
			nul := bytes.IndexByte(pin, 0)
			body, _ := bytes.CutSuffix(pin, []byte("\n"))
			want := string(body) + strings.Repeat(" ", d-len("no-thin")) + "no-thin"
			if nul < 0 || string(bytes.TrimSuffix(pout, []byte("\n"))) != want || bytes.HasSuffix(pin, []byte("\n")) != bytes.HasSuffix(pout, []byte("\n")) {
				t.Fatalf("line %q became %q", pin, pout)
			}
			break
		}
		restIn, _ := io.ReadAll(ri)
		restOut, _ := io.ReadAll(ro)
		if !bytes.Equal(restIn, restOut) {
			t.Fatalf("the rest changed")
		}
	})
}
