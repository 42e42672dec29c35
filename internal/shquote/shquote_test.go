package shquote

import (
	"os/exec"
	"strings"
	"testing"
)

// TestQuoteRoundTrip: a real shell reads back exactly the words quoted.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"plain", "a b", "it's", "$(id)", "`id`", "*", "x|$0&#", "new\nline", "", "--path=/a/**", "é", "semi;colon", "~user", "!bang", `back\slash`}
	out, err := exec.Command("sh", "-c", `for w in `+Join(words)+`; do printf '%s\0' "$w"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(words) {
		t.Fatalf("%d words back: %q", len(got), got)
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("%q came back as %q", words[i], got[i])
		}
	}
	if Quote("api.example.com") != "api.example.com" || Quote("a b") != "'a b'" {
		t.Error("quoting of simple words changed")
	}
}
