package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/syncbuf"
	"bottle.dev/bottle/launcher"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "demo", "--egress", "-f", "--json", "--raw")
	if r.Code != 0 || got.Name != "demo" || !got.Egress || !got.Follow || !got.JSON || !got.Raw || got.Sidecar {
		t.Errorf("%+v %+v", r, got)
	}
	for _, args := range [][]string{{}, {"demo", "--egress", "--sidecar"}, {"a", "b"}, {"a/b"}} {
		if r := fx.Run(NewCmd(fx.F, nil), nil, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
	// --json without --egress would print the text logs or nothing: say so,
	// whether or not the bottle is there.
	for _, args := range [][]string{{"demo", "--json"}, {"demo", "--json", "--sidecar"}, {"nothere", "--json", "-f"}} {
		r := fx.Run(NewCmd(fx.F, nil), nil, args...)
		if r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: --json is for the egress audit, whose lines are JSON: add --egress (the agent's and the sidecar's logs are text)\nRun 'bottle logs --help' for usage.\n" {
			t.Errorf("%q: %+v", args, r)
		}
	}
}

// TestEgress: the audit in text, typed, with everything the agent chose
// escaped (C0, C1, DEL, bidi; OSC 52 writes the clipboard), every kind
// shown, the rotated files first, and --json passed through with the
// controls escaped as JSON.
func TestEgress(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.Launch("demo", "docker")
	audits := filepath.Join(b.StateDir, contract.LogDir, contract.AuditFile)
	lines := []audit.Record{
		{Time: "t1", Kind: audit.KindRequest, Method: "GET", Host: "\u009b2Jevil\u202e.test", Port: 80, Path: "/x\x1b[31m", Decision: audit.DecisionDeny, Rule: "default", Reason: "no rule", Status: 403, Error: "boom", Repeated: 4},
		{Time: "t2", Kind: audit.KindDNS, Name: "q\x07.test", QType: "A", Decision: audit.DecisionDeny, Rule: "default", Reason: "no rule"},
		{Time: "t3", Kind: audit.KindSuppressed, Client: "172.30.0.3", Count: 1234567, Decision: audit.DecisionDeny},
		{Time: "t4", Kind: audit.KindTunnel, Host: "api.example.com", Port: 443, Decision: audit.DecisionAllow, Rule: "allow[0]", Reason: "ok", BytesIn: 10},
		{Time: "t5", Kind: audit.KindRequest, Method: "POST", Host: "api.example.com", Port: 443, Path: "/v1", Status: 200, Decision: audit.DecisionWouldDeny,
			Rule: "allow[0]", Cause: "dlp", Reason: "a secret pattern", Credential: "anthropic", DLP: []string{"github-pat", "slack-bot-token"}},
		{Time: "t6", Kind: audit.KindGitPush, Method: "POST", Host: "git.example.com", Port: 443, Path: "/acme/widget/git-receive-pack", Status: 200,
			Decision: audit.DecisionDeny, Rule: "git[0]", Cause: "git-secret", Reason: "push blocked: aws-access-token in a\x1b.env:3 (commit 1a2b3c4d5e6f)",
			Git: &audit.GitPush{Repo: "git.example.com/acme/widget", Entry: "git[0]", Scan: "block", Commits: []string{"1a2b", "3c4d"},
				Refs:     []audit.GitRef{{Ref: "refs/heads/agent/x\x1b", Status: "rejected", Reason: "bottle: push blocked: a secret in the pushed commits"}},
				Findings: []string{"aws-access-token in a\x1b.env:3 (commit 1a2b3c4d5e6f)"}}},
	}
	var data []byte
	for _, l := range lines {
		j, _ := json.Marshal(l)
		data = append(append(data, j...), '\n')
	}
	os.WriteFile(audits+".2", []byte(`{"time":"t0","kind":"connect","host":"old.test","port":443,"decision":"deny"}`+"\n"), 0o600)
	os.WriteFile(audits, append(append(data, "not json\n"...), `{"time":"partial"`...), 0o600)
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--egress")
	want := "t0 deny       connect          old.test:443   [] \n" +
		`t1 deny       request  GET     \u{009b}2Jevil\u{202e}.test:80/x\x1b[31m 403  [default] no rule  error: boom  (and 4 more like it)` + "\n" +
		`t2 deny       dns              q\x07.test (A)   [default] no rule` + "\n" +
		"t3 deny       suppressed         172.30.0.3 ×1234567   [] \n" +
		"t4 allow      tunnel           api.example.com:443   [allow[0]] ok\n" +
		"t5 would-deny request  POST    api.example.com:443/v1 200  [allow[0]] a secret pattern  credential: anthropic  dlp: github-pat,slack-bot-token\n" +
		`t6 deny       git-push POST    git.example.com/acme/widget 200  [git[0]] push blocked: aws-access-token in a\x1b.env:3 (commit 1a2b3c4d5e6f)  refs: agent/x\x1b rejected (bottle: push blocked: a secret in the pushed commits)  commits: 2  scan: block  findings: aws-access-token in a\x1b.env:3 (commit 1a2b3c4d5e6f)` + "\n"
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("egress text: %+v\nwant:\n%s", r, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--egress", "--json")
	if r.Code != 0 || strings.ContainsAny(r.Stdout, "\u009b\u202e") || strings.Count(r.Stdout, "\n") != 8 {
		t.Errorf("egress json: %+v", r)
	}
	var rec audit.Record
	first := strings.Split(r.Stdout, "\n")[1]
	if err := json.Unmarshal([]byte(first), &rec); err != nil || rec.Host != "\u009b2Jevil\u202e.test" {
		t.Errorf("the JSON does not decode to the same record: %v %q", err, first)
	}
	os.Remove(audits)
	if r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--egress"); r.Code != cmdutil.ExitError {
		t.Errorf("no audit: %+v", r)
	}
}

// TestEgressFollow: with -f, lines written later are printed, and a
// rotation starts over on the new file; cancelling ends it.
func TestEgressFollow(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.Launch("demo", "docker")
	path := filepath.Join(b.StateDir, contract.LogDir, contract.AuditFile)
	os.WriteFile(path, []byte(`{"time":"a","kind":"request","decision":"allow"}`+"\n"), 0o600)
	l, bb, err := fx.F.LoadBottle(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	opts := &Options{IO: &cmdutil.IOStreams{Out: &out}, Follow: true, Poll: time.Millisecond}
	go func() { done <- egressLog(ctx, filepath.Join(l.LogDir(bb.Name), contract.AuditFile), opts) }()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in %q", s, out.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("a allow")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"b","kind":"request",`)
	f.WriteString(`"decision":"deny"}` + "\n")
	f.Close()
	waitFor("b deny")
	os.Rename(path, path+".1")
	os.WriteFile(path, []byte(`{"time":"c","kind":"dns","name":"n.test","decision":"deny"}`+"\n"), 0o600)
	waitFor("c deny")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
	if strings.Count(out.String(), "\n") != 3 {
		t.Errorf("printed:\n%s", out.String())
	}
}

// TestContainerLogs: a running bottle's logs come from the engine,
// escaped unless --raw; a stopped bottle's are the ones saved at stop.
func TestContainerLogs(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.Launch("demo", "docker")
	fx.Fakert("hi \x1b]52;c;ZXZpbA==\x07 there\n", "log", b.Agent)
	fx.Fakert("sidecar says\n", "log", b.Sidecar)
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != 0 || r.Stdout != `hi \x1b]52;c;ZXZpbA==\x07 there`+"\n" {
		t.Errorf("agent log: %q", r.Stdout)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--raw"); r.Stdout != "hi \x1b]52;c;ZXZpbA==\x07 there\n" {
		t.Errorf("--raw: %q", r.Stdout)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--sidecar", "-f"); r.Stdout != "sidecar says\n" {
		t.Errorf("--sidecar: %q", r.Stdout)
	}
	if _, err := fx.Launcher("docker").Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	fx.Calls()
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--sidecar"); r.Code != 0 || r.Stdout != "sidecar says\n" {
		t.Errorf("stopped --sidecar: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--raw"); r.Code != 0 || !bytes.Contains([]byte(r.Stdout), []byte("\x1b]52")) {
		t.Errorf("stopped --raw: %+v", r)
	}
	if c := fx.Calls(); len(c) != 0 {
		t.Errorf("a stopped bottle's logs asked the engine: %q", c)
	}
	os.Remove(filepath.Join(b.StateDir, contract.LogDir, "agent.log"))
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle demo does not run, and its agent log was not saved") {
		t.Errorf("not saved: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "nothere"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, `no bottle named "nothere"`) {
		t.Errorf("unknown: %+v", r)
	}
}

// TestCommandLog: the detached command's output, the rotated file first,
// escaped; -f keeps printing what it writes and ends when it exits, or at
// once when the bottle is stopped.
func TestCommandLog(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.LaunchSpec("docker", launcher.Spec{Name: "demo", Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n"), Command: []string{"sleep", "60"}})
	dir := filepath.Join(b.StateDir, contract.CommandDir)
	os.WriteFile(filepath.Join(dir, contract.CommandLogFile+".1"), []byte("older\n"), 0o644)
	os.WriteFile(filepath.Join(dir, contract.CommandLogFile), []byte("first \x1b[2J\n"), 0o644)
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != 0 || r.Stdout != "older\nfirst \\x1b[2J\n" {
		t.Errorf("logs: %+v", r)
	}
	var out syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		opts := &Options{IO: &cmdutil.IOStreams{Out: &out, Err: &out}, Bottle: fx.F.LoadBottle, Name: "demo", Follow: true, Poll: 10 * time.Millisecond}
		done <- run(context.Background(), opts)
	}()
	time.Sleep(100 * time.Millisecond)
	f, _ := os.OpenFile(filepath.Join(dir, contract.CommandLogFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("second\n")
	f.Close()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("-f ended before the command did: %v %q", err, out.String())
	default:
	}
	fx.Fakert("", "end", b.Agent, "0")
	select {
	case err := <-done:
		if err != nil || out.String() != "older\nfirst \\x1b[2J\nsecond\n" {
			t.Errorf("-f: %v %q", err, out.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("-f did not end when the command did")
	}
	// Stopped with a command that never wrote its status: -f ends.
	s := fx.LaunchSpec("docker", launcher.Spec{Name: "other", Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n"), Command: []string{"sleep", "60"}})
	if _, err := fx.Launcher("docker").Stop(context.Background(), s.Name); err != nil {
		t.Fatal(err)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "other", "-f"); r.Code != 0 || r.Stdout != "" {
		t.Errorf("-f of a stopped bottle: %+v", r)
	}
}
