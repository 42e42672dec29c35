package approvals

import (
	"testing"
	"time"
)

func TestColumns(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0s"}, {12 * time.Second, "12s"}, {3*time.Minute + 59*time.Second, "3m"}, {47 * time.Hour, "47h"}, {72 * time.Hour, "3d"}} {
		if got := age(tc.d); got != tc.want {
			t.Errorf("age(%s) = %q; want %q", tc.d, got, tc.want)
		}
	}
	if got := expires(now, now.Add(48*time.Second)); got != "in 48s" {
		t.Errorf("expires, later: %q", got)
	}
	if got := expires(now, now.Add(-2*time.Minute)); got != "2m ago" {
		t.Errorf("expires, past: %q", got)
	}
	if got := cut("a\x1b[2Jbcdef", 6); got != `a\x1b…` {
		t.Errorf("cut = %q", got)
	}
	if got := cut("short", 6); got != "short" {
		t.Errorf("cut = %q", got)
	}
}
