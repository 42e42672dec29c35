package contract

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSuperviseRoundTrip: what the launcher renders, the supervisor reads
// back exactly, the command included (flags after -- are the command's).
func TestSuperviseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		o    SuperviseOptions
		argv []string
	}{
		{SuperviseOptions{}, []string{"make", "test"}},
		{SuperviseOptions{Log: "/run/bottle/output.log", Status: "/run/bottle/status.json", PidFile: "/run/bottle/command.pid"}, []string{"claude", "-p", "--log", "x"}},
		{SuperviseOptions{Check: true}, []string{"--", "-v"}},
	} {
		args := tc.o.Args(tc.argv)
		if args[0] != "supervise" {
			t.Fatalf("argv starts %q", args[0])
		}
		got, argv, err := ParseSupervise(args[1:], "", &bytes.Buffer{})
		if err != nil || got != tc.o || !reflect.DeepEqual(argv, tc.argv) {
			t.Errorf("%+v %q\n→ %q\n→ %+v %q (%v)", tc.o, tc.argv, args, got, argv, err)
		}
	}
	if got := strings.Join(SuperviseOptions{PidFile: "/p"}.Args([]string{"ls"}), " "); got != "supervise --pid-file /p -- ls" {
		t.Errorf("got %s", got)
	}
	var errb bytes.Buffer
	if _, _, err := ParseSupervise([]string{"--log", "x"}, "", &errb); err == nil || !strings.Contains(errb.String(), "no command") {
		t.Errorf("no command: %v %q", err, errb.String())
	}
	if _, _, err := ParseSupervise([]string{"--nope", "--", "ls"}, "", &bytes.Buffer{}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

func TestPidFile(t *testing.T) {
	for _, tc := range []struct{ pid, pgid int }{{42, 0}, {42, 43}} {
		pid, pgid, err := ParsePidFile(FormatPidFile(tc.pid, tc.pgid))
		if err != nil || pid != tc.pid || pgid != tc.pgid {
			t.Errorf("%+v: %d %d %v", tc, pid, pgid, err)
		}
	}
	// What the agent could put there instead: nothing that signals init
	// or every process.
	for _, bad := range []string{"", "x", "1", "0", "-1", "42 -5", "42 1", "-42 7"} {
		if pid, pgid, err := ParsePidFile([]byte(bad)); err == nil {
			t.Errorf("%q read as %d %d", bad, pid, pgid)
		}
	}
}

func TestCommandStatus(t *testing.T) {
	s := CommandStatus{Argv: []string{"sh", "-c", "exit 3"}, Started: time.Unix(1, 0).UTC(), Ended: time.Unix(2, 0).UTC(), ExitCode: 143, Signal: "TERM"}
	got, err := ParseCommandStatus(s.Marshal())
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := ParseCommandStatus(bytes.Repeat([]byte(" "), MaxStatusBytes+1)); err == nil {
		t.Error("an oversized status was read")
	}
}
