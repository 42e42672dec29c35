package fakert

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, cfg Config, name string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), cfg, name, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestLoud: what the fake does not know fails with 99 and says what it was.
func TestLoud(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	for _, argv := range [][]string{
		{"docker", "pull", "alpine"},
		{"docker", "network", "create", "--driver", "bridge", "--ipv6", "n"},
		{"docker", "create", "--name", "x", "--pull", "never", "--privileged", "img"},
		{"docker", "ps", "-a", "--format", "table"},
		{"container", "stop", "--all"},
		{"container", "run", "--name", "x", "img"},
		{"podman", "ps"},
		{"fakert", "frobnicate"},
	} {
		if code, _, errs := run(t, cfg, argv[0], argv[1:]...); code != ExitUnknown || !strings.Contains(errs, "fakert") {
			t.Errorf("%q: exit %d %q", argv, code, errs)
		}
	}
	if code, _, errs := run(t, Config{}, "docker", "ps"); code != ExitUnknown || !strings.Contains(errs, "FAKERT_DIR") {
		t.Errorf("no dir: %d %q", code, errs)
	}
}

// TestFail: a call fails when its key is Fail or starts with it at a word
// boundary, with the engine's own prefix.
func TestFail(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Fail: "network create"}
	code, _, errs := run(t, cfg, "docker", "network", "create", "--driver", "bridge", "n1")
	if code != 1 || errs != "Error response from daemon: fakert: injected failure of \"network create n1\"\n" {
		t.Errorf("docker: %d %q", code, errs)
	}
	cfg.Fail = "network create n"
	if code, _, errs := run(t, cfg, "container", "network", "create", "n1"); code != 0 {
		t.Errorf("n is not n1: %d %q", code, errs)
	}
	if code, _, errs := run(t, cfg, "container", "network", "create", "n"); code != 1 || errs != "Error: fakert: injected failure of \"network create n\"\n" {
		t.Errorf("container: %d %q", code, errs)
	}
	if code, _, errs := run(t, cfg, "container", "network", "create", "n1"); code != 1 || errs != "Error: network n1 already exists\n" {
		t.Errorf("exists: %d %q", code, errs)
	}
	var st bytes.Buffer
	store{cfg.Dir}.locked(func(s *State) bool { s.Print(&st, true); return false })
	if st.String() != "network n1 subnet=172.30.0.0/24 labels=\n" {
		t.Errorf("state:\n%s", st.String())
	}
}

func TestNormalizeArgv(t *testing.T) {
	log := "docker build -f /w/bottle-build-123/Dockerfile -t bottle-sidecar:0123456789abcdef /w/bottle-build-123\n" +
		`docker exec p /bottle-sidecar probe --timeout 500ms batch '[{"kind":"tcp","args":["[fe80::1]:4242"],"timeout_ms":500},` +
		`{"kind":"tcp","args":["192.0.2.9:4242"],"timeout_ms":500},{"kind":"dns","args":["bottle-self-test-abc123.invalid","@172.30.0.2"],"timeout_ms":5000},` +
		`{"kind":"tcp","args":["172.30.1.2:3128"],"timeout_ms":500},{"kind":"http","args":["http://x.invalid/"],"proxy":"http://172.30.0.2:3128"}]'` + "\n" +
		"docker rm -f p\n"
	want := "docker build -f /w/bottle-build-N/Dockerfile -t bottle-sidecar:HASH /w/bottle-build-N\n" +
		"docker exec p /bottle-sidecar probe --timeout 500ms batch \n" +
		"  dns bottle-self-test-TOKEN.invalid @172.30.0.2 (5000ms)\n" +
		"  http http://x.invalid/ (proxy http://172.30.0.2:3128) (0ms)\n" +
		"  tcp 172.30.1.2:3128 (500ms)\n" +
		"  tcp HOST:PORT (500ms)\n" +
		"docker rm -f p\n"
	if got := NormalizeArgv(log); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := (Config{Names: map[string]string{"$WORK": "/tmp/w", "$W": "/tmp"}}).name("/tmp/w/x /tmp/y"); got != "$WORK/x $W/y" {
		t.Errorf("name: %q", got)
	}
}
