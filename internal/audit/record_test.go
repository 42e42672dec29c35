package audit

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestRecordSchema pins the JSON keys of an audit line: scripts read them
// (`bottle logs --egress --json | jq`), and the README documents them.
// Changing one is a change of the format, to be made on purpose.
func TestRecordSchema(t *testing.T) {
	var keys []string
	rt := reflect.TypeOf(Record{})
	for i := range rt.NumField() {
		keys = append(keys, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	want := []string{"time", "bottle", "kind", "client", "method", "scheme", "host", "port", "path", "name", "qtype", "rcode",
		"decision", "rule", "cause", "reason", "status", "bytes_in", "bytes_out", "duration_ms", "dst_ip", "error", "credential", "dlp", "repeated", "count", "git", "approval", "selftest"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys\n got %q\nwant %q", keys, want)
	}
	// A line keeps only what its kind uses; time, kind and decision always.
	b, _ := json.Marshal(&Record{Time: "t", Kind: KindDNS, Name: "x.test", QType: "A", Decision: DecisionDeny})
	if string(b) != `{"time":"t","kind":"dns","name":"x.test","qtype":"A","decision":"deny"}` {
		t.Errorf("%s", b)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.Name != "x.test" {
		t.Errorf("%+v %v", back, err)
	}
}

// TestRecordClipGit: a push's ref names and paths are the agent's; they
// are bounded like every other field it chooses.
func TestRecordClipGit(t *testing.T) {
	long := strings.Repeat("x", 3*MaxField)
	r := &Record{Git: &GitPush{Repo: long, Refs: []GitRef{{Ref: long, Reason: long}}, Findings: []string{long}, Commits: []string{long}}}
	r.Clip()
	g := r.Git
	for _, f := range []string{g.Repo, g.Refs[0].Ref, g.Refs[0].Reason, g.Findings[0], g.Commits[0]} {
		if len(f) > MaxField+32 {
			t.Errorf("not clipped: %d bytes", len(f))
		}
	}
}

func TestRecordClip(t *testing.T) {
	r := &Record{Path: strings.Repeat("p", 3*MaxField), Reason: strings.Repeat("r", 3*MaxField), Name: strings.Repeat("n", 3*MaxField)}
	r.Clip()
	for _, f := range []string{r.Path, r.Reason, r.Name} {
		if len(f) > MaxField+32 {
			t.Errorf("%d bytes after Clip", len(f))
		}
	}
}

// A line is what json.Marshal makes of the record, and a newline: the pooled
// encoder Write uses changes no byte (HTML escaping, invalid UTF-8, U+2028),
// and a buffer reused after a long line leaves nothing of it in the next.
func TestWriteIsMarshal(t *testing.T) {
	recs := []*Record{
		{Time: "t", Kind: KindRequest, Host: "a.test", Path: "/<script>&amp;\u2028\xff", Decision: DecisionAllow, Reason: "GET a.test:443/ matches allow[0]", Port: 443, Duration: 1.25},
		{Time: "t", Kind: KindGitPush, Decision: DecisionDeny, Git: &GitPush{Repo: "r", Refs: []GitRef{{Ref: strings.Repeat("x", 70<<10)}}}},
		{Time: "t", Kind: KindDNS, Name: "x.test", Decision: DecisionDeny},
	}
	var buf strings.Builder
	l := New(&buf)
	var want strings.Builder
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want.Write(append(b, '\n'))
		l.Write(r)
	}
	if buf.String() != want.String() {
		t.Errorf("Write wrote\n%.300s\nwant\n%.300s", buf.String(), want.String())
	}
}
