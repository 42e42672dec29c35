package launcher_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/launcher"
)

// TestDockerfileContext: a Dockerfile is built with its own directory as
// the context and its own path (so COPY finds the files beside it, and an
// error names the file); an unchanged context is not built again, a
// changed file is, and --rebuild builds every step again.
func TestDockerfileContext(t *testing.T) {
	l, f, s := setup(t)
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile.agent")
	os.WriteFile(df, []byte("FROM debian\nCOPY tool.sh /usr/local/bin/\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tool.sh"), []byte("echo 1\n"), 0o755)
	s.Image, s.Dockerfile = "", df
	launch := func() *launcher.Bottle {
		t.Helper()
		b, err := l.Launch(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Stop(context.Background(), "demo"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	agentBuilds := func() []launcher.BuildSpec {
		var out []launcher.BuildSpec
		for _, b := range f.Builds() {
			if strings.HasPrefix(b.Tag, "bottle-agent:") {
				out = append(out, b)
			}
		}
		return out
	}
	first := launch()
	builds := agentBuilds()
	if len(builds) != 1 || builds[0].Dockerfile != df || builds[0].Context != dir || builds[0].Tag != first.AgentImage || builds[0].NoCache {
		t.Fatalf("builds %+v", builds)
	}
	if launch(); len(agentBuilds()) != 1 {
		t.Errorf("an unchanged context was built again: %+v", agentBuilds())
	}
	os.WriteFile(filepath.Join(dir, "tool.sh"), []byte("echo 2\n"), 0o755)
	second := launch()
	if builds := agentBuilds(); len(builds) != 2 || second.AgentImage == first.AgentImage {
		t.Errorf("a changed file was not built: %+v", builds)
	}
	s.Rebuild = true
	third := launch()
	if builds := agentBuilds(); len(builds) != 3 || !builds[2].NoCache || third.AgentImage != second.AgentImage {
		t.Errorf("--rebuild: %+v", builds)
	}
}

// TestChecksBeforeAnything: a missing image, Dockerfile, workspace,
// allowlist or bottle-sidecar is said before the engine makes anything and
// before the bottle has a state directory; a dead engine too.
func TestChecksBeforeAnything(t *testing.T) {
	for name, tc := range map[string]struct {
		spec func(*launcher.Spec)
		fail string
		want string
	}{
		"image":      {spec: func(s *launcher.Spec) { s.Image = "nothere:1" }, want: "image nothere:1 is not on this machine, and bottle never pulls images"},
		"dockerfile": {spec: func(s *launcher.Spec) { s.Image, s.Dockerfile = "", "/nonexistent/Dockerfile" }, want: "--dockerfile: open /nonexistent/Dockerfile"},
		"workspace":  {spec: func(s *launcher.Spec) { s.Workspace = "/nonexistent/ws" }, want: "workspace /nonexistent/ws"},
		"allowlist":  {spec: func(s *launcher.Spec) { s.Allowlist = "/nonexistent/allowlist.yaml" }, want: "allowlist: open /nonexistent/allowlist.yaml"},
		"sidecar":    {spec: func(s *launcher.Spec) { s.SidecarBinary = "/nonexistent/bottle-sidecar" }, want: "bottle-sidecar /nonexistent/bottle-sidecar"},
		"engine":     {spec: func(*launcher.Spec) {}, fail: "Check", want: "injected failure"},
	} {
		t.Run(name, func(t *testing.T) {
			l, f, s := setup(t)
			tc.spec(&s)
			f.FailAt = tc.fail
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(l.Dir("demo")); !os.IsNotExist(err) {
				t.Errorf("a state directory was made: %v", err)
			}
			for _, c := range f.Calls() {
				if !strings.HasPrefix(c, "Check") && c != "List" && !strings.HasPrefix(c, "ImageExists ") {
					t.Errorf("the engine was asked to %s", c)
				}
			}
		})
	}
}

// TestBaseImageID: the agent image's tag holds the ID of its base image
// as the engine reports it, so a base rebuilt (or pulled again) under the
// same name builds the agent image again; an unchanged one does not.
func TestBaseImageID(t *testing.T) {
	for _, own := range []bool{true, false} {
		l, f, s := setup(t)
		s.Image = ""
		base := "debian:trixie-slim" // the default agent Dockerfile's
		if !own {
			dir := t.TempDir()
			s.Dockerfile = filepath.Join(dir, "Dockerfile")
			base = "example.test/base:1"
			os.WriteFile(s.Dockerfile, []byte("ARG BASE=example.test/base:1\nFROM ${BASE} AS build\nFROM build\n"), 0o644)
		}
		f.SetImageID(base, "sha256:aaaa")
		launch := func() string {
			t.Helper()
			b, err := l.Launch(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Stop(context.Background(), "demo"); err != nil {
				t.Fatal(err)
			}
			return b.AgentImage
		}
		first, again := launch(), launch()
		f.SetImageID(base, "sha256:bbbb")
		rebuilt := launch()
		if first != again || rebuilt == first {
			t.Errorf("own Dockerfile %v: tags %s, %s, then with a new base ID %s", own, first, again, rebuilt)
		}
		n := 0
		for _, b := range f.Builds() {
			if b.Tag == first || b.Tag == rebuilt {
				n++
			}
		}
		if n != 2 {
			t.Errorf("own Dockerfile %v: %d agent builds, want 2 (one per base ID): %+v", own, n, f.Builds())
		}
	}
}

func TestDockerfileBases(t *testing.T) {
	for _, tc := range []struct {
		df   string
		args map[string]string
		want string
	}{
		{"FROM debian:12\n", nil, "debian:12"},
		{"ARG BASE_IMAGE=debian:trixie-slim\nFROM ${BASE_IMAGE}\n", nil, "debian:trixie-slim"},
		{"ARG BASE_IMAGE=debian:trixie-slim\nFROM ${BASE_IMAGE}\n", map[string]string{"BASE_IMAGE": "mine:2"}, "mine:2"},
		{"# c\nFROM --platform=linux/amd64 golang:1 AS build\nRUN x \\\n  y\nFROM scratch\nCOPY --from=build /a /a\nFROM build AS again\nFROM alpine:3\n", nil, "golang:1 alpine:3"},
		{"FROM $UNSET\n", nil, ""},
	} {
		if got := strings.Join(launcher.DockerfileBases([]byte(tc.df), tc.args), " "); got != tc.want {
			t.Errorf("%q %v: %q, want %q", tc.df, tc.args, got, tc.want)
		}
	}
}
