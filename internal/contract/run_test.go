package contract

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
)

// TestRunOptionsRoundTrip: whatever the launcher sets, the sidecar reads
// back exactly.
func TestRunOptionsRoundTrip(t *testing.T) {
	check := func(o RunOptions) bool {
		if o.AuditMaxBytes <= 0 {
			o.AuditMaxBytes = DefaultAuditMaxBytes
		}
		if o.GitMaxPack <= 0 {
			o.GitMaxPack = DefaultGitMaxPack
		}
		o.Approvals = []string{"", "ask", "off"}[len(o.Approvals)%3]
		args := o.Args()
		if args[0] != "run" {
			t.Errorf("argv starts %q", args[0])
			return false
		}
		got, err := ParseRun(args[1:], "", &bytes.Buffer{})
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("%+v\n→ %q\n→ %+v (%v)", o, args, got, err)
			return false
		}
		return true
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 500, Rand: rand.New(rand.NewSource(1))}); err != nil {
		t.Error(err)
	}
	// The launcher's own options, spelled out.
	o := DefaultRunOptions()
	o.InternalCIDR, o.AuditLog, o.StatusFile, o.Bottle = "172.20.0.0/16", SidecarStateDir+"/"+AuditFile, SidecarStateDir+"/"+StatusFile, "demo"
	want := "run --audit-log /var/log/bottle/egress.jsonl --bottle demo --internal-cidr 172.20.0.0/16 --status-file /var/log/bottle/reload.json"
	if got := strings.Join(o.Args(), " "); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := DefaultRunOptions().Args(); len(got) != 1 {
		t.Errorf("defaults render as %q", got)
	}
}

func TestParseRunRefuses(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--audit-max-bytes", "0"}, {"--audit-max-bytes", "x"}} {
		var errb bytes.Buffer
		if _, err := ParseRun(args, "usage\n", &errb); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	var errb bytes.Buffer
	if _, err := ParseRun([]string{"-h"}, "usage: bottle-sidecar run\n", &errb); err != ErrHelp || !strings.Contains(errb.String(), "usage: bottle-sidecar run") || !strings.Contains(errb.String(), "-internal-cidr") {
		t.Errorf("-h: %v %q", err, errb.String())
	}
}

func TestProbeWords(t *testing.T) {
	for code, word := range map[int]string{ProbeOK: "ok", ProbeRefused: "refused", ProbeTimeout: "timeout", ProbeBlocked: "blocked", ProbeError: "error", ProbeUsage: "usage", 99: "unknown"} {
		if ProbeWord(code) != word {
			t.Errorf("%d: %s", code, ProbeWord(code))
		}
	}
}
