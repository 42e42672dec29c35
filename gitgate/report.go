package gitgate

import (
	"fmt"
	"io"
	"strings"
)

// Side-band framing (gitprotocol-pack.adoc, "Packfile Data"): each outer
// pkt-line is a band byte and its data; band 1 carries the report's own
// pkt-lines, nested, band 2 what git prints as "remote: " lines.
const (
	bandData     = "\x01"
	bandProgress = "\x02"
	sideBandMax  = 1000 // a whole side-band pkt-line, length included
)

// remapped are the reasons git's HTTP transport turns into its own words,
// dropping the text (transport-helper.c push_update_ref_status): a refusal
// whose reason is exactly one of them would lose its explanation.
var remapped = map[string]bool{
	"no match": true, "up to date": true, "non-fast forward": true, "already exists": true,
	"fetch first": true, "needs force": true, "stale info": true,
	"remote ref updated since checkout": true, "forced update": true, "expecting report": true,
}

// WriteReport writes a receive-pack result (receive-pack.c report) that
// git prints as the server's answer: "unpack ok", then "ok REF" or
// "ng REF REASON" for each of refs (git shows a rejected one as
// "! [remote rejected] REF (REASON)"), then a flush. The same lines answer
// a report-status and a report-status-v2 client.
//
// When the client asked for side-band-64k (or side-band, 1000-byte
// packets) the report is nested in band 1 and each message goes first on
// band 2, ending in LF, which git prints as "remote: MESSAGE"; then the
// final flush. Without side-band, git reads the bare report and cannot be
// shown messages: they are dropped. Control characters in a reason or a
// message become spaces (a reason is one line); a reason is cut to fit
// its pkt-line, and one git would replace with its own words
// ("non-fast forward", …) gets a word more. A client that asked for no
// report at all cannot be told which refs failed: git always asks.
func WriteReport(w io.Writer, caps Caps, refs []RefStatus, messages []string) error {
	report := appendPkt(nil, "unpack ok\n")
	for _, r := range refs {
		if !validRef(r.Ref) {
			return fmt.Errorf("gitgate: a report for %q, which is not a valid ref name", clip([]byte(r.Ref)))
		}
		if r.OK {
			report = appendPkt(report, "ok ", r.Ref, "\n")
			continue
		}
		reason := reportReason(r.Reason, maxPayload-len("ng  \n")-len(r.Ref))
		report = appendPkt(report, "ng ", r.Ref, " ", reason, "\n")
	}
	report = append(report, flushPkt...)

	max := 0
	switch {
	case caps.SideBand64k:
		max = maxPayload - 1
	case caps.SideBand:
		max = sideBandMax - 5
	default:
		_, err := w.Write(report)
		return err
	}
	var out []byte
	for _, m := range messages {
		for _, line := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
			out = appendBand(out, bandProgress, oneLine(line)+"\n", max)
		}
	}
	out = appendBand(out, bandData, string(report), max)
	out = append(out, flushPkt...)
	_, err := w.Write(out)
	return err
}

// appendBand appends data to b on band, in packets of at most max bytes
// of data.
func appendBand(b []byte, band, data string, max int) []byte {
	for len(data) > max {
		b = appendPkt(b, band, data[:max])
		data = data[max:]
	}
	return appendPkt(b, band, data)
}

// reportReason is reason as one line of at most max bytes, never one of
// the words git replaces with its own.
func reportReason(reason string, max int) string {
	reason = strings.TrimSpace(oneLine(reason))
	if reason == "" {
		reason = "refused by the bottle's git gate"
	}
	if remapped[reason] {
		reason += " (bottle)"
	}
	if len(reason) > max {
		reason = strings.ToValidUTF8(reason[:max], "")
	}
	return reason
}

// oneLine replaces control characters (LF and CR among them) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
}
