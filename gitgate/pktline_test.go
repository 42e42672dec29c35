package gitgate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// pkt is s as one pkt-line, for building test bodies.
func pkt(s string) string { return string(appendPkt(nil, s)) }

func TestAppendPkt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "0004"},
		{"a\n", "0006a\n"},
		{"# service=git-receive-pack\n", "001f# service=git-receive-pack\n"},
		{strings.Repeat("x", maxPayload), "fff0" + strings.Repeat("x", maxPayload)},
	} {
		if got := pkt(tc.in); got != tc.want {
			t.Errorf("pkt(%.20q) = %.30q, want %.30q", tc.in, got, tc.want)
		}
	}
	if got := string(appendPkt([]byte("0000"), "\x01", "ab")); got != "0000"+"0007\x01ab" {
		t.Errorf("appendPkt with parts = %q", got)
	}
}

func TestReadPkt(t *testing.T) {
	r := strings.NewReader("0006a\n" + "0000" + "0001" + "0002" + "0004" + "000AABCDEF")
	want := []struct {
		kind    int
		payload string
	}{{pktData, "a\n"}, {pktFlush, ""}, {pktDelim, ""}, {pktEnd, ""}, {pktData, ""}, {pktData, "ABCDEF"}}
	for i, w := range want {
		kind, raw, payload, err := readPkt(r)
		if err != nil || kind != w.kind || string(payload) != w.payload {
			t.Fatalf("line %d: readPkt = %d %q %q %v, want %d %q", i, kind, raw, payload, err, w.kind, w.payload)
		}
	}
	if _, raw, _, err := readPkt(r); err != io.EOF || len(raw) != 0 {
		t.Fatalf("at the end: %q %v, want io.EOF", raw, err)
	}
}

func TestReadPktErrors(t *testing.T) {
	for _, tc := range []struct {
		in, raw string
		err     error
	}{
		{"00", "00", io.ErrUnexpectedEOF},
		{"0009abc", "0009abc", io.ErrUnexpectedEOF},
		{"0003", "0003", errPktLength},
		{"fff1" + strings.Repeat("x", 65520), "fff1", errPktLength},
		{"00g0", "00g0", errPktLength},
		{"PACK", "PACK", errPktLength},
	} {
		_, raw, _, err := readPkt(strings.NewReader(tc.in))
		if !errors.Is(err, tc.err) || string(raw) != tc.raw {
			t.Errorf("readPkt(%.12q) = raw %.12q, %v; want raw %q, %v", tc.in, raw, err, tc.raw, tc.err)
		}
	}
}

// readPkt must never read past its line: NoThin and the request parser
// hand the rest of the stream on.
func TestReadPktExact(t *testing.T) {
	r := bytes.NewReader([]byte("0008abcdREST"))
	if _, _, p, err := readPkt(r); err != nil || string(p) != "abcd" {
		t.Fatalf("readPkt = %q, %v", p, err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "REST" {
		t.Fatalf("left %q, want REST", rest)
	}
}
