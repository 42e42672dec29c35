package gitgate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

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
