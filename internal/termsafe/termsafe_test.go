package termsafe

import (
	"encoding/json"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want, line string }{
		{"plain host.test", "plain host.test", "plain host.test"},
		{"a\nb\tc", "a\nb\tc", `a\x0ab\x09c`},
		{"\x1b]52;c;aGVsbG8=\x07", `\x1b]52;c;aGVsbG8=\x07`, `\x1b]52;c;aGVsbG8=\x07`}, // OSC 52
		{"\u009b2J", `\u{009b}2J`, `\u{009b}2J`},                                       // C1 CSI
		{"x\x7fy", `x\x7fy`, `x\x7fy`},
		{"evil\u202egnp.exe", `evil\u{202e}gnp.exe`, `evil\u{202e}gnp.exe`},
		{"bad\xffbyte", `bad\xffbyte`, `bad\xffbyte`},
		{"ünïcode ok", "ünïcode ok", "ünïcode ok"},
		{"cr\r", `cr\x0d`, `cr\x0d`},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q; want %q", tc.in, got, tc.line)
		}
	}
}

func TestJSONKeepsMeaning(t *testing.T) {
	in, _ := json.Marshal(map[string]string{"host": "\u009b2J\u202eabc", "ok": "é"})
	out := JSON(string(in))
	for _, r := range out {
		if r >= 0x80 && unsafe(r) {
			t.Fatalf("raw control left in %q", out)
		}
	}
	var a, b map[string]string
	json.Unmarshal(in, &a)
	if err := json.Unmarshal([]byte(out), &b); err != nil || a["host"] != b["host"] || b["ok"] != "é" {
		t.Errorf("meaning changed: %q → %q (%v)", in, out, err)
	}
}
