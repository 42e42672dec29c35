package launcher

import (
	"strings"
	"testing"
)

// TestParseLimits: limits are read strictly, and a mistake says what to
// write instead.
func TestParseLimits(t *testing.T) {
	for in, want := range map[string]string{"512m": "512m", " 4G ": "4g", "8192k": "8192k", "512": "", "7m": "", "1.5g": "", "-1m": ""} {
		got, err := ParseMemory(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("ParseMemory(%q) = %q, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{"2": "2", "1.50": "1.5", "0": "", "x": "", "2000": ""} {
		got, err := ParseCPUs(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("ParseCPUs(%q) = %q, %v", in, got, err)
		}
	}
	for in, want := range map[string]int{"1024": 1024, "16": 16, "15": 0, "many": 0} {
		got, err := ParsePids(in)
		if got != want || (err == nil) != (want != 0) {
			t.Errorf("ParsePids(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseMemory("512"); err == nil || !strings.Contains(err.Error(), "e.g. 512m or 4g") {
		t.Errorf("no fix in %v", err)
	}
}
