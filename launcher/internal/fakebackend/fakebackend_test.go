package fakebackend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/launcher"
)

// reporter stands in for the test the fake reports to, so that what the
// fake calls unexpected can be seen.
type reporter struct {
	testing.TB
	errs []string
}

func (r *reporter) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *reporter) Helper() {}

func own(role string) map[string]string {
	return map[string]string{launcher.LabelManaged: "true", launcher.LabelOwner: "o1", launcher.LabelName: "demo", launcher.LabelRole: role}
}

// TestUnexpectedCallsFail: what bottle must never do fails the test; what
// a real engine refuses is the engine's error, and the test goes on.
func TestUnexpectedCallsFail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mount := filepath.Join(dir, "f")
	os.WriteFile(mount, nil, 0o644)
	for _, tc := range []struct {
		name       string
		call       func(f *Backend) error
		unexpected string // in the test's error; "": none
		engine     string // in the returned error
	}{
		{"remove a container that is not there", func(f *Backend) error { return f.Remove(ctx, "bottle-demo-agent") }, "no such container", "no such container"},
		{"remove a stranger's container", func(f *Backend) error {
			f.AddContainer(launcher.RunSpec{Name: "theirs"})
			return f.Remove(ctx, "theirs")
		}, "not labelled as bottle's", "not labelled"},
		{"remove a network that is not there", func(f *Backend) error { return f.NetworkRemove(ctx, "bottle-demo-internal") }, "no such network", "no such network"},
		{"remove a stranger's network", func(f *Backend) error {
			f.AddNetwork(launcher.NetworkSpec{Name: "theirs"})
			return f.NetworkRemove(ctx, "theirs")
		}, "not labelled as bottle's", "not labelled"},
		{"create a network this bottle has", func(f *Backend) error {
			f.AddNetwork(launcher.NetworkSpec{Name: "bottle-demo-internal", Internal: true, Labels: own("internal")})
			return f.NetworkCreate(ctx, launcher.NetworkSpec{Name: "bottle-demo-internal", Internal: true, Labels: own("internal")})
		}, "has that network already", "has that network already"},
		{"create a network a stranger has", func(f *Backend) error {
			f.AddNetwork(launcher.NetworkSpec{Name: "bottle-demo-internal"})
			return f.NetworkCreate(ctx, launcher.NetworkSpec{Name: "bottle-demo-internal", Internal: true, Labels: own("internal")})
		}, "", "does not adopt"},
		{"create a network without bottle's labels", func(f *Backend) error {
			return f.NetworkCreate(ctx, launcher.NetworkSpec{Name: "n", Labels: map[string]string{launcher.LabelManaged: "true"}})
		}, "has no dev.bottle.owner label", ""},
		{"run a container this bottle has", func(f *Backend) error {
			f.AddImage("i")
			f.AddContainer(launcher.RunSpec{Name: "bottle-demo-agent", Labels: own("agent")})
			return f.Run(ctx, launcher.RunSpec{Name: "bottle-demo-agent", Image: "i", Labels: own("agent")})
		}, "has that container already", "has that container already"},
		{"run over a stranger's container", func(f *Backend) error {
			f.AddImage("i")
			f.AddContainer(launcher.RunSpec{Name: "bottle-demo-agent"})
			return f.Run(ctx, launcher.RunSpec{Name: "bottle-demo-agent", Image: "i", Labels: own("agent")})
		}, "", "is already in use"},
		{"run an image that is not there", func(f *Backend) error {
			return f.Run(ctx, launcher.RunSpec{Name: "c", Image: "missing", Labels: own("agent")})
		}, "", "No such image: missing"},
		{"run with a mount that is not there", func(f *Backend) error {
			f.AddImage("i")
			return f.Run(ctx, launcher.RunSpec{Name: "c", Image: "i", Labels: own("agent"), Mounts: []launcher.Mount{{Source: filepath.Join(dir, "nope"), Target: "/x"}}})
		}, "", "bind source path does not exist"},
		{"build an image that is there", func(f *Backend) error {
			f.AddImage("t")
			return f.Build(ctx, launcher.BuildSpec{Tag: "t", Dockerfile: mount, Labels: map[string]string{launcher.LabelManaged: "true"}})
		}, "never rebuilt", "never rebuilt"},
		{"exec in a container that is not there", func(f *Backend) error {
			return f.Exec(ctx, "c", launcher.ExecSpec{Argv: []string{"true"}})
		}, "no such container", "no such container"},
		{"exec a command the fake does not know", func(f *Backend) error {
			f.AddContainer(launcher.RunSpec{Name: "c", Labels: own("agent")})
			return f.Exec(ctx, "c", launcher.ExecSpec{Argv: []string{"rm", "-rf", "/"}})
		}, "does not know", "does not know"},
		{"remove a network still in use", func(f *Backend) error {
			f.AddImage("i")
			f.AddNetwork(launcher.NetworkSpec{Name: "n", Labels: own("internal")})
			if err := f.Run(ctx, launcher.RunSpec{Name: "c", Image: "i", Networks: []string{"n"}, Labels: own("agent"), Mounts: []launcher.Mount{{Source: mount, Target: "/f"}}}); err != nil {
				return err
			}
			return f.NetworkRemove(ctx, "n")
		}, "", "has active endpoints (c)"},
		{"a cancelled context", func(f *Backend) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return f.Check(cctx)
		}, "", "context canceled"},
		{"the injected failure", func(f *Backend) error {
			f.FailAt = "Check"
			return f.Check(ctx)
		}, "", "injected failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reporter{TB: t}
			err := tc.call(New(r))
			got := strings.Join(r.errs, "\n")
			if tc.unexpected == "" && got != "" || !strings.Contains(got, tc.unexpected) {
				t.Errorf("the test was told %q; want %q", got, tc.unexpected)
			}
			if tc.engine != "" && (err == nil || !strings.Contains(err.Error(), tc.engine)) {
				t.Errorf("err = %v; want %q", err, tc.engine)
			}
		})
	}
}

// TestRepeatedCreateOfSameLaunch: the fake keeps the backends' contract: a
// network created again by the launch that made it is fine.
func TestRepeatedCreateOfSameLaunch(t *testing.T) {
	r := &reporter{TB: t}
	f := New(r)
	l := own("internal")
	l[launcher.LabelLaunch] = "abc"
	n := launcher.NetworkSpec{Name: "bottle-demo-internal", Internal: true, Labels: l}
	for range 2 {
		if err := f.NetworkCreate(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.errs) > 0 || f.State() != "network bottle-demo-internal internal" {
		t.Errorf("%q\n%s", r.errs, f.State())
	}
}

// TestStateSorted: the state lists containers, then networks, by name,
// with "-" for what is not bottle's.
func TestStateSorted(t *testing.T) {
	f := New(t)
	f.AddNetwork(launcher.NetworkSpec{Name: "b", Labels: own("egress")})
	f.AddNetwork(launcher.NetworkSpec{Name: "a"})
	f.AddContainer(launcher.RunSpec{Name: "z", Labels: own("agent")})
	f.AddContainer(launcher.RunSpec{Name: "y"})
	want := "container y -\ncontainer z agent\nnetwork a -\nnetwork b egress"
	if got := f.State(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
