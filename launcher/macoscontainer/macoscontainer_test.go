package macoscontainer

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/golden"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
	"bottle.dev/bottle/launcher/workspace"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseContainers(t *testing.T) {
	cs, err := ParseContainers(read(t, "inspect-1.x.json"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("%v %v", cs, err)
	}
	c := cs[0]
	if c.Name != "bottle-demo-agent" || !c.Running || c.Networks["bottle-demo-internal"] != "192.168.100.3" || c.Labels["dev.bottle.role"] != "agent" || c.Image != "docker.io/library/bottle-agent:abc" {
		t.Errorf("%+v", c)
	}
	cs, err = ParseContainers(read(t, "list-1.x.json"))
	if err != nil || len(cs) != 3 {
		t.Fatalf("%v %v", cs, err)
	}
	if sc := cs[1]; sc.Networks["bottle-demo-internal"] != "192.168.100.2" || sc.Networks["bottle-demo-egress"] != "192.168.65.2" {
		t.Errorf("sidecar networks %v", sc.Networks)
	}
	if _, err := ParseContainers(read(t, "list-0.12.json")); err == nil || !strings.Contains(err.Error(), "1.0.0") {
		t.Errorf("0.12 document: %v", err)
	}
}

func TestParseNetworks(t *testing.T) {
	ns, err := ParseNetworks(read(t, "networks-1.x.json"))
	if err != nil || len(ns) != 2 {
		t.Fatalf("%v %v", ns, err)
	}
	if n := ns[1]; n.Name != "bottle-demo-internal" || !n.Internal || n.Subnet != "192.168.100.0/24" || n.Gateway != "192.168.100.1" || ns[0].Internal {
		t.Errorf("%+v", ns)
	}
	if _, err := ParseNetworks(read(t, "networks-0.12.json")); err == nil {
		t.Error("0.12 network document accepted")
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("container CLI version 1.2.2 (build: release, commit: abc1234)\n")
	if err != nil || v != [3]int{1, 2, 2} {
		t.Errorf("%v %v", v, err)
	}
	if _, err := ParseVersion("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}

// fakeCLI answers `container` invocations from a table keyed by the first
// two arguments.
type fakeCLI struct {
	out   map[string]string
	fail  map[string]error
	calls [][]string
}

func (f *fakeCLI) Run(_ context.Context, c launcher.Cmd) error {
	f.calls = append(f.calls, c.Argv)
	key := strings.Join(c.Argv[1:min(3, len(c.Argv))], " ")
	if err, ok := f.fail[key]; ok {
		if o, ok := f.out[key]; ok && c.Stdout != nil {
			c.Stdout.Write([]byte(o))
		}
		return err
	}
	if o, ok := f.out[key]; ok && c.Stdout != nil {
		c.Stdout.Write([]byte(o))
	}
	return nil
}

func TestCheck(t *testing.T) {
	ok := map[string]string{"--version": "container CLI version 1.2.2 (build: release, commit: abc)", "system status": `{"status":"running"}`}
	cases := []struct {
		name string
		out  map[string]string
		fail map[string]error
		want string
	}{
		{"ok", ok, nil, ""},
		{"missing", nil, map[string]error{"--version": &launcher.RunError{ExitCode: -1, Err: os.ErrNotExist}}, "container not found on PATH"},
		{"too old", map[string]string{"--version": "container CLI version 0.12.3 (build: release, commit: abc)"}, nil, "container 0.12.3 is too old: bottle needs 1.0.0"},
		{"not running", map[string]string{"--version": ok["--version"], "system status": `{"status":"not running"}`},
			map[string]error{"system status": &launcher.RunError{ExitCode: 1, Err: os.ErrInvalid}}, "container system start"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &Backend{Runner: &fakeCLI{out: tc.out, fail: tc.fail}}
			err := b.Check(context.Background())
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestListFiltersByLabelAndNeverTouchesBuilder(t *testing.T) {
	f := &fakeCLI{out: map[string]string{"list --all": string(read(t, "list-1.x.json")), "network list": string(read(t, "networks-1.x.json"))}}
	b := &Backend{Runner: f}
	res, err := b.List(context.Background(), map[string]string{launcher.LabelManaged: "true"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Kind+":"+r.Name)
	}
	if strings.Join(names, ",") != "container:bottle-demo-sidecar,network:bottle-demo-internal" {
		t.Errorf("listed %v", names)
	}
	if err := b.Remove(context.Background(), "bottle-demo-sidecar"); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if strings.Contains(strings.Join(c, " "), "--all") && (c[1] == "stop" || c[1] == "delete") {
			t.Errorf("used --all: %v", c)
		}
	}
	if err := b.Run(context.Background(), launcher.RunSpec{Name: "x", Image: "i"}); err == nil {
		t.Error("a 1-character container name was accepted")
	}
}

// TestLaunchArgvGolden pins the container command lines of a launch: the
// specs Launch handed its backend, recorded against the fake engine, run
// through this backend with a Runner that writes down each argv.
func TestLaunchArgvGolden(t *testing.T) {
	rec := fakebackend.Record(t)
	log := &fakebackend.ArgvLog{}
	golden.Check(t, filepath.Join("testdata", "launch.golden"), rec.Transcript(t, &Backend{Runner: log, BuilderDNS: []string{"192.0.2.53"}}, log))
}

// TestExecArgvGolden pins the exec of an interactive shell, which the CLI
// (not the launch) hands the backend: a terminal, stdin, the agent user.
func TestExecArgvGolden(t *testing.T) {
	argv := launcher.ExecArgs("bottle-demo-agent", launcher.ExecSpec{Argv: []string{"sh"}, User: "agent", Workdir: "/workspace", TTY: true, Stdin: strings.NewReader("")})
	golden.Check(t, filepath.Join("testdata", "exec.golden"), []byte(launcher.PrettyCommand(append([]string{"container"}, argv...))+"\n"))
}

// TestClassifiesByStderr: only Apple's "… not found: NAME" means gone; a
// missing binary or a stopped service is an error; a missing image is never
// pulled.
func TestClassifiesByStderr(t *testing.T) {
	ctx := context.Background()
	noBinary := &launcher.RunError{Argv: []string{"container"}, ExitCode: -1, Err: os.ErrNotExist}
	noService := &launcher.RunError{Argv: []string{"container"}, ExitCode: 1, Stderr: "Error: XPC connection error: Connection invalid"}
	for name, err := range map[string]error{"missing binary": noBinary, "service down": noService} {
		b := &Backend{Runner: &fakeCLI{fail: map[string]error{"stop bottle-x-agent": err, "network delete": err, "image inspect": err}}}
		if err := b.Remove(ctx, "bottle-x-agent"); err == nil {
			t.Errorf("%s: Remove said the container is gone", name)
		}
		if err := b.NetworkRemove(ctx, "bottle-x-internal"); err == nil {
			t.Errorf("%s: NetworkRemove said the network is gone", name)
		}
		if _, err := b.ImageExists(ctx, "img"); err == nil {
			t.Errorf("%s: ImageExists gave no error", name)
		}
	}
	gone := func(kind, n string) error {
		return &launcher.RunError{ExitCode: 1, Stderr: "Error: " + kind + " not found: " + n}
	}
	b := &Backend{Runner: &fakeCLI{fail: map[string]error{"stop bottle-x-agent": gone("container", "bottle-x-agent"),
		"delete --force": gone("container", "bottle-x-agent"), "network delete": gone("network", "bottle-x-internal"), "image inspect": gone("image", "img")}}}
	if err := b.Remove(ctx, "bottle-x-agent"); err != nil {
		t.Errorf("Remove of a missing container: %v", err)
	}
	if err := b.NetworkRemove(ctx, "bottle-x-internal"); err != nil {
		t.Errorf("NetworkRemove of a missing network: %v", err)
	}
	if ok, err := b.ImageExists(ctx, "img"); ok || err != nil {
		t.Errorf("missing image: %v %v", ok, err)
	}
	// Another object's "not found" is not this one's.
	b = &Backend{Runner: &fakeCLI{fail: map[string]error{"network delete": gone("network", "bottle-y-internal")}}}
	if err := b.NetworkRemove(ctx, "bottle-x-internal"); err == nil {
		t.Error("another network's not-found was taken for this one's")
	}
	f := &fakeCLI{fail: map[string]error{"image inspect": gone("image", "my-agent:latest")}}
	b = &Backend{Runner: f}
	if err := b.Run(ctx, launcher.RunSpec{Name: "bottle-x-agent", Image: "my-agent:latest"}); err == nil || !strings.Contains(err.Error(), "never pulls") {
		t.Errorf("missing image at run: %v", err)
	}
	for _, c := range f.calls {
		if c[1] == "run" {
			t.Errorf("ran a container whose image is missing: %v", c)
		}
	}
	b = &Backend{Runner: &fakeCLI{fail: map[string]error{"network create": &launcher.RunError{ExitCode: 1, Stderr: "Error: network bottle-x-internal already exists"}}}}
	if err := b.NetworkCreate(ctx, launcher.NetworkSpec{Name: "bottle-x-internal", Internal: true}); err == nil || !strings.Contains(err.Error(), "does not adopt") {
		t.Errorf("existing network: %v", err)
	}
}

// TestNetworkCreateAdoptsOnlyItsOwnLaunch: creating a network again with
// the same spec and the same launch id succeeds; a network of that name
// that anyone else made is refused and left alone.
func TestNetworkCreateAdoptsOnlyItsOwnLaunch(t *testing.T) {
	labels := map[string]string{launcher.LabelManaged: "true", launcher.LabelName: "x", launcher.LabelRole: "internal", launcher.LabelLaunch: "0123abcd"}
	spec := launcher.NetworkSpec{Name: "bottle-x-internal", Internal: true, Labels: labels}
	found := func(mode string, l map[string]string) string {
		j, _ := json.Marshal([]map[string]any{{"id": "bottle-x-internal",
			"configuration": map[string]any{"name": "bottle-x-internal", "mode": mode, "labels": l},
			"status":        map[string]string{"ipv4Subnet": "192.168.100.0/24", "ipv4Gateway": "192.168.100.1"}}})
		return string(j)
	}
	other := maps.Clone(labels)
	other[launcher.LabelLaunch] = "ffff0000"
	for _, tc := range []struct {
		name, found string
		adopted     bool
	}{
		{"same launch", found("hostOnly", labels), true},
		{"another launch of the bottle", found("hostOnly", other), false},
		{"a stranger's", found("hostOnly", map[string]string{}), false},
		{"the launch id, but NAT", found("nat", labels), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCLI{fail: map[string]error{"network create": &launcher.RunError{ExitCode: 1, Stderr: "Error: network bottle-x-internal already exists"}},
				out: map[string]string{"network inspect": tc.found}}
			err := (&Backend{Runner: f}).NetworkCreate(context.Background(), spec)
			if tc.adopted && err != nil {
				t.Errorf("a repeated create of this launch's network: %v", err)
			}
			if !tc.adopted && (err == nil || !strings.Contains(err.Error(), "does not adopt a network it did not create")) {
				t.Errorf("err = %v; want the refusal", err)
			}
			for _, c := range f.calls {
				if c[1] == "network" && c[2] != "create" && c[2] != "inspect" {
					t.Errorf("touched the existing network: %q", c)
				}
			}
		})
	}
}

// TestImageID: the image's id as 1.x prints it (the reference's
// ImageResource shape), else its descriptor's or (0.x) index digest; ""
// for an image that is not here; an error for an answer without either.
func TestImageID(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ out, want string }{
		{`[{"configuration" : {"descriptor" : {"digest" : "sha256:4bcf"}, "name" : "registry.example.test\/library\/alpine:3.22"}, "id" : "4bcf", "variants" : []}]`, "4bcf"},
		{`[{"configuration" : {"descriptor" : {"digest" : "sha256:4bcf"}}}]`, "sha256:4bcf"},
		{`[{"name" : "alpine", "index" : {"digest" : "sha256:old"}}]`, "sha256:old"},
		{`[]`, ""},
	} {
		b := &Backend{Runner: &fakeCLI{out: map[string]string{"image inspect": tc.out}}}
		if got, err := b.ImageID(ctx, "alpine:3.22"); err != nil || got != tc.want {
			t.Errorf("%s: %q %v; want %q", tc.out, got, err, tc.want)
		}
	}
	b := &Backend{Runner: &fakeCLI{out: map[string]string{"image inspect": `[{"name" : "x"}]`}}}
	if _, err := b.ImageID(ctx, "x"); err == nil {
		t.Error("an answer without an id took for one")
	}
	b = &Backend{Runner: &fakeCLI{fail: map[string]error{"image inspect": &launcher.RunError{ExitCode: 1, Stderr: "Error: image not found: x"}}}}
	if id, err := b.ImageID(ctx, "x"); id != "" || err != nil {
		t.Errorf("a missing image: %q %v", id, err)
	}
}

// copyingCLI plays Apple's cp: it writes 1 MiB files into dst, without
// end, until it is stopped.
type copyingCLI struct{ written int64 }

func (f *copyingCLI) Run(ctx context.Context, c launcher.Cmd) error {
	dst := c.Argv[len(c.Argv)-1]
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return &launcher.RunError{Argv: c.Argv, ExitCode: -1, Err: ctx.Err()}
		default:
		}
		if err := os.WriteFile(filepath.Join(dst, fmt.Sprint(i)), chunk, 0o644); err != nil {
			return err
		}
		f.written += int64(len(chunk))
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCopyOutStopsAtLimit: cp writes the copy itself, so CopyOut measures
// it as it grows and stops cp once it holds more than the limit, saying
// so.
func TestCopyOutStopsAtLimit(t *testing.T) {
	watchInterval = 20 * time.Millisecond
	f := &copyingCLI{}
	b := &Backend{Runner: f}
	limit := workspace.Limit{Bytes: 8 << 20, Files: 1000}
	err := b.CopyOut(context.Background(), "bottle-x-agent", "/workspace", filepath.Join(t.TempDir(), "files"), limit)
	if want := "/workspace holds more than 8m of files"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CopyOut: %v, want %s", err, want)
	}
	if f.written > 2*limit.Bytes {
		t.Errorf("cp wrote %d bytes before it was stopped", f.written)
	}
}
