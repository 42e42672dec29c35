package gitgate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var twoRefs = []RefStatus{
	{Ref: "refs/heads/main", Reason: "bottle: refs/heads/main is not in push:"},
	{Ref: "refs/heads/agent/x", OK: true},
}

func TestWriteReportBare(t *testing.T) {
	for _, caps := range []Caps{{ReportStatus: true}, {ReportStatusV2: true}, {}} {
		var b bytes.Buffer
		if err := WriteReport(&b, caps, twoRefs, []string{"not shown"}); err != nil {
			t.Fatal(err)
		}
		want := pkt("unpack ok\n") + pkt("ng refs/heads/main bottle: refs/heads/main is not in push:\n") + pkt("ok refs/heads/agent/x\n") + "0000"
		if b.String() != want {
			t.Errorf("%+v: report =\n%q\nwant\n%q", caps, b.String(), want)
		}
	}
}

func TestWriteReportSideBand(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReport(&b, Caps{ReportStatusV2: true, SideBand64k: true}, twoRefs, []string{"bottle: push refused", "two\nlines\n"}); err != nil {
		t.Fatal(err)
	}
	report := pkt("unpack ok\n") + pkt("ng refs/heads/main bottle: refs/heads/main is not in push:\n") + pkt("ok refs/heads/agent/x\n") + "0000"
	want := pkt("\x02bottle: push refused\n") + pkt("\x02two\n") + pkt("\x02lines\n") + pkt("\x01"+report) + "0000"
	if b.String() != want {
		t.Errorf("report =\n%q\nwant\n%q", b.String(), want)
	}
}

// demux reads a side-band stream as git's client does: each packet's band
// and data, band 1 reassembled, until the final flush.
func demux(t *testing.T, stream []byte, max int) (report string, progress string) {
	t.Helper()
	r := bytes.NewReader(stream)
	var band1, band2 strings.Builder
	for {
		kind, raw, payload, err := readPkt(r)
		if err != nil {
			t.Fatalf("side-band stream: %v", err)
		}
		if kind == pktFlush {
			break
		}
		if len(raw) > max {
			t.Fatalf("a packet of %d bytes; the client takes %d", len(raw), max)
		}
		switch payload[0] {
		case 1:
			band1.Write(payload[1:])
		case 2:
			band2.Write(payload[1:])
		default:
			t.Fatalf("band %d", payload[0])
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the final flush", r.Len())
	}
	return band1.String(), band2.String()
}

// reportLines reads the nested report's pkt-lines up to its flush.
func reportLines(t *testing.T, report string) []string {
	t.Helper()
	r := strings.NewReader(report)
	var lines []string
	for {
		kind, _, payload, err := readPkt(r)
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		if kind == pktFlush {
			break
		}
		lines = append(lines, string(payload))
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the report's flush", r.Len())
	}
	return lines
}

// A report longer than a packet is split across band-1 packets, and long
// messages across band-2 packets; 1000-byte packets for side-band.
func TestWriteReportSplit(t *testing.T) {
	var refs []RefStatus
	var want []string
	want = append(want, "unpack ok\n")
	for i := range 300 {
		ref := "refs/heads/agent/r" + strings.Repeat("r", i)
		refs = append(refs, RefStatus{Ref: ref, Reason: "bottle: " + strings.Repeat("why ", i)})
		want = append(want, "ng "+ref+" "+strings.TrimSpace("bottle: "+strings.Repeat("why ", i))+"\n")
	}
	long := strings.Repeat("m", 70000)
	for _, tc := range []struct {
		caps Caps
		max  int
	}{{Caps{ReportStatus: true, SideBand64k: true}, maxPkt}, {Caps{ReportStatus: true, SideBand: true}, sideBandMax}} {
		var b bytes.Buffer
		if err := WriteReport(&b, tc.caps, refs, []string{long, "short"}); err != nil {
			t.Fatal(err)
		}
		report, progress := demux(t, b.Bytes(), tc.max)
		if got := reportLines(t, report); strings.Join(got, "") != strings.Join(want, "") {
			t.Errorf("%+v: the reassembled report differs", tc.caps)
		}
		if progress != long+"\nshort\n" {
			t.Errorf("%+v: the messages differ", tc.caps)
		}
	}
}

func TestWriteReportReasons(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"bottle: two\nlines\x1b[31m", "bottle: two lines [31m"},
		{"", "refused by the bottle's git gate"},
		{"  ", "refused by the bottle's git gate"},
		{"non-fast forward", "non-fast forward (bottle)"},
		{"fetch first", "fetch first (bottle)"},
		{"bottle: non-fast forward", "bottle: non-fast forward"},
		{strings.Repeat("é", 40000), strings.Repeat("é", (maxPayload-len("ng refs/heads/main \n"))/2)},
	} {
		var b bytes.Buffer
		if err := WriteReport(&b, Caps{ReportStatus: true}, []RefStatus{{Ref: "refs/heads/main", Reason: tc.reason}}, nil); err != nil {
			t.Fatal(err)
		}
		lines := reportLines(t, b.String())
		if len(lines) != 2 || lines[1] != "ng refs/heads/main "+tc.want+"\n" {
			t.Errorf("reason %.20q: report %.60q, want %.40q", tc.reason, lines, tc.want)
		}
	}
	var b bytes.Buffer
	if err := WriteReport(&b, Caps{ReportStatus: true, SideBand64k: true}, nil, []string{"a\x1b]0;x\x07b"}); err != nil {
		t.Fatal(err)
	}
	if _, progress := demux(t, b.Bytes(), maxPkt); progress != "a ]0;x b\n" {
		t.Errorf("message = %q", progress)
	}
	if err := WriteReport(&b, Caps{}, []RefStatus{{Ref: "refs/heads/a b"}}, nil); err == nil || !strings.Contains(err.Error(), "not a valid ref name") {
		t.Errorf("a bad ref: %v", err)
	}
}

func TestWriteReportError(t *testing.T) {
	boom := errors.New("broken pipe")
	for _, caps := range []Caps{{}, {SideBand64k: true}} {
		if err := WriteReport(failWriter{boom}, caps, twoRefs, nil); !errors.Is(err, boom) {
			t.Errorf("%+v: %v", caps, err)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

var _ io.Writer = failWriter{}
