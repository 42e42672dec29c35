package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/golden"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
)

// TestLaunchArgvGolden pins the docker command lines of a launch: the
// specs Launch handed its backend, recorded against the fake engine, run
// through this backend with a Runner that writes down each argv.
func TestLaunchArgvGolden(t *testing.T) {
	rec := fakebackend.Record(t)
	log := &fakebackend.ArgvLog{}
	golden.Check(t, filepath.Join("testdata", "launch.golden"), rec.Transcript(t, &Backend{Runner: log}, log))
}

// TestLaunchAgentArgvGolden pins the docker command lines of a launch
// with an agent recipe: its install layer's build, its environment, and
// the provisioning of its files, prompt and skills as the agent user.
func TestLaunchAgentArgvGolden(t *testing.T) {
	rec := fakebackend.RecordAgent(t)
	log := &fakebackend.ArgvLog{}
	golden.Check(t, filepath.Join("testdata", "launch-agent.golden"), rec.Transcript(t, &Backend{Runner: log}, log))
}

// TestExecArgvGolden pins the exec of an interactive shell, which the CLI
// (not the launch) hands the backend: a terminal, stdin, the agent user.
func TestExecArgvGolden(t *testing.T) {
	argv := launcher.ExecArgs("bottle-demo-agent", launcher.ExecSpec{Argv: []string{"bash"}, User: "agent", Workdir: "/workspace", TTY: true, Stdin: strings.NewReader("")})
	golden.Check(t, filepath.Join("testdata", "exec-tty.golden"), []byte(launcher.PrettyCommand(append([]string{"docker"}, argv...))+"\n"))
}

func TestParseInspect(t *testing.T) {
	data := `[{"Name":"/bottle-demo-sidecar","State":{"Status":"running","Running":true},
	  "Config":{"Image":"bottle-sidecar:x","Labels":{"dev.bottle.managed":"true"}},
	  "NetworkSettings":{"Networks":{"bottle-demo-egress":{"IPAddress":"172.21.0.2"},"bottle-demo-internal":{"IPAddress":"172.20.0.2"}}}}]`
	info, err := ParseInspect([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "bottle-demo-sidecar" || !info.Running || info.Networks["bottle-demo-internal"] != "172.20.0.2" || info.Labels["dev.bottle.managed"] != "true" {
		t.Errorf("%+v", info)
	}
	if _, err := ParseInspect([]byte(`[]`)); err == nil {
		t.Error("empty inspect accepted")
	}
	if _, err := ParseInspect([]byte(`not json`)); err == nil {
		t.Error("junk accepted")
	}
}

func TestParseNetworkInspect(t *testing.T) {
	data := `[{"Name":"bottle-demo-internal","Internal":true,"Labels":{"dev.bottle.name":"demo"},
	  "Options":{"com.docker.network.bridge.inhibit_ipv4":"true"},
	  "IPAM":{"Config":[{"Subnet":"fd00::/64"},{"Subnet":"172.20.0.0/16","Gateway":"172.20.0.1"}]}}]`
	n, err := ParseNetworkInspect([]byte(data))
	if err != nil || !n.Internal || !n.Isolated || n.Subnet != "172.20.0.0/16" || n.Gateway != "172.20.0.1" || n.Labels["dev.bottle.name"] != "demo" {
		t.Errorf("%+v %v", n, err)
	}
	// A plain --internal bridge still reaches the host (moby/libnetwork#1151).
	plain := strings.Replace(data, `"true"}`, `"false"}`, 1)
	if n, err := ParseNetworkInspect([]byte(plain)); err != nil || !n.Internal || n.Isolated {
		t.Errorf("without inhibit_ipv4: %+v %v", n, err)
	}
}

func TestParseList(t *testing.T) {
	data := `{"Names":"bottle-demo-agent","State":"running","Labels":"dev.bottle.managed=true,dev.bottle.name=demo,dev.bottle.role=agent"}
{"Names":"bottle-demo-sidecar","State":"exited","Labels":"dev.bottle.managed=true,dev.bottle.name=demo"}
`
	rs, err := ParseList("container", []byte(data))
	if err != nil || len(rs) != 2 || rs[0].Labels["dev.bottle.role"] != "agent" || rs[1].State != "exited" {
		t.Errorf("%+v %v", rs, err)
	}
	nets, err := ParseList("network", []byte(`{"Name":"bottle-demo-internal","Labels":"dev.bottle.name=demo"}`))
	if err != nil || nets[0].Name != "bottle-demo-internal" || nets[0].Kind != "network" {
		t.Errorf("%+v %v", nets, err)
	}
}

// fakeRunner records argv and answers from a table.
type fakeRunner struct {
	calls   [][]string
	answers map[string]string // first argv words → stdout
	fail    map[string]error
	onCall  func(argv []string)
}

func (f *fakeRunner) Run(_ context.Context, c launcher.Cmd) error {
	f.calls = append(f.calls, c.Argv)
	key := strings.Join(c.Argv[1:3], " ")
	if f.onCall != nil {
		f.onCall(c.Argv)
	}
	if err, ok := f.fail[key]; ok {
		return err
	}
	if out, ok := f.answers[key]; ok && c.Stdout != nil {
		c.Stdout.Write([]byte(out))
	}
	return nil
}

func TestRunConnectsNetworksInOrder(t *testing.T) {
	f := &fakeRunner{}
	b := &Backend{Runner: f}
	err := b.Run(context.Background(), launcher.RunSpec{Name: "c", Image: "i", Networks: []string{"egress", "internal"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.calls {
		got = append(got, strings.Join(c[1:3], " "))
	}
	if strings.Join(got, ";") != "create --name;network connect;start c" {
		t.Errorf("calls %q", got)
	}
	if f.calls[1][3] != "internal" {
		t.Errorf("connected %v", f.calls[1])
	}
}

func TestIdempotentRemoval(t *testing.T) {
	f := &fakeRunner{fail: map[string]error{
		"rm -f":      &launcher.RunError{Argv: []string{"docker", "rm"}, ExitCode: 1, Stderr: "Error: No such container: x"},
		"network rm": &launcher.RunError{Argv: []string{"docker", "network"}, ExitCode: 1, Stderr: "Error: No such network: n"},
	}}
	b := &Backend{Runner: f}
	if err := b.Remove(context.Background(), "x"); err != nil {
		t.Errorf("Remove of a missing container: %v", err)
	}
	if err := b.NetworkRemove(context.Background(), "n"); err != nil {
		t.Errorf("NetworkRemove of a missing network: %v", err)
	}
}

func TestCheckMessages(t *testing.T) {
	b := &Backend{Runner: &fakeRunner{fail: map[string]error{"version --format": &launcher.RunError{ExitCode: -1, Err: os.ErrNotExist}}}}
	if err := b.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "install Docker") {
		t.Errorf("no docker: %v", err)
	}
	b = &Backend{Runner: &fakeRunner{fail: map[string]error{"version --format": &launcher.RunError{ExitCode: 1, Stderr: "Cannot connect to the Docker daemon"}}}}
	if err := b.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "start it") {
		t.Errorf("no daemon: %v", err)
	}
	var buf bytes.Buffer
	b = &Backend{Runner: &fakeRunner{answers: map[string]string{"version --format": "28.2.2"}}}
	if err := b.Check(context.Background()); err != nil {
		t.Errorf("ok daemon: %v %s", err, buf.String())
	}
}

// TestRunKeepsValuesOffTheCommandLine: the environment reaches the engine in
// a file only the user can read, which is gone once the container exists.
func TestRunKeepsValuesOffTheCommandLine(t *testing.T) {
	var envFile, content string
	var mode os.FileMode
	f := &fakeRunner{onCall: func(argv []string) {
		for i, a := range argv {
			if a == "--env-file" {
				envFile = argv[i+1]
				st, _ := os.Stat(envFile)
				mode = st.Mode().Perm()
				b, _ := os.ReadFile(envFile)
				content = string(b)
			}
		}
	}}
	b := &Backend{Runner: f}
	err := b.Run(context.Background(), launcher.RunSpec{Name: "c", Image: "i", Networks: []string{"n"},
		Env: []string{"ANTHROPIC_API_KEY=sk-secret-value", "HTTPS_PROXY=http://10.0.0.2:3128"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if strings.Contains(strings.Join(c, " "), "sk-secret-value") {
			t.Errorf("a value on the command line: %q", c)
		}
	}
	if content != "ANTHROPIC_API_KEY=sk-secret-value\nHTTPS_PROXY=http://10.0.0.2:3128\n" || mode != 0o600 {
		t.Errorf("env file %s (%v): %q", envFile, mode, content)
	}
	if _, err := os.Stat(filepath.Dir(envFile)); !os.IsNotExist(err) {
		t.Errorf("the env file's directory is still there: %v", err)
	}
	err = b.Run(context.Background(), launcher.RunSpec{Name: "c", Image: "i", Env: []string{"KEY=line1\nline2"}})
	if err == nil || !strings.Contains(err.Error(), "KEY") || strings.Contains(err.Error(), "line1") {
		t.Errorf("a value with a line break: %v", err)
	}
}

// TestClassifiesByStderr: only the engine saying "no such …" means gone; a
// missing binary or a dead daemon is an error.
func TestClassifiesByStderr(t *testing.T) {
	noBinary := &launcher.RunError{Argv: []string{"docker"}, ExitCode: -1, Err: exec.ErrNotFound}
	noDaemon := &launcher.RunError{Argv: []string{"docker"}, ExitCode: 1, Stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}
	ctx := context.Background()
	for name, err := range map[string]error{"missing binary": noBinary, "dead daemon": noDaemon} {
		b := &Backend{Runner: &fakeRunner{fail: map[string]error{"rm -f": err, "network rm": err, "image inspect": err}}}
		if err := b.Remove(ctx, "bottle-x-agent"); err == nil {
			t.Errorf("%s: Remove said the container is gone", name)
		}
		if err := b.NetworkRemove(ctx, "bottle-x-internal"); err == nil {
			t.Errorf("%s: NetworkRemove said the network is gone", name)
		}
		if ok, err := b.ImageExists(ctx, "img"); err == nil {
			t.Errorf("%s: ImageExists = %v, nil", name, ok)
		}
	}
	b := &Backend{Runner: &fakeRunner{fail: map[string]error{"image inspect": &launcher.RunError{ExitCode: 1,
		Stderr: "Error response from daemon: no such image: img: No such image: img:latest"}}}}
	if ok, err := b.ImageExists(ctx, "img"); ok || err != nil {
		t.Errorf("missing image: %v %v", ok, err)
	}
	b = &Backend{Runner: &fakeRunner{fail: map[string]error{"network create": &launcher.RunError{ExitCode: 1,
		Stderr: "Error response from daemon: network with name bottle-x-internal already exists"}}}}
	if err := b.NetworkCreate(ctx, launcher.NetworkSpec{Name: "bottle-x-internal", Internal: true}); err == nil || !strings.Contains(err.Error(), "does not adopt") {
		t.Errorf("existing network: %v", err)
	}
	b = &Backend{Runner: &fakeRunner{fail: map[string]error{"create --name": &launcher.RunError{ExitCode: 1, Stderr: "Error: No such image: my-agent:latest"}}}}
	if err := b.Run(ctx, launcher.RunSpec{Name: "c", Image: "my-agent:latest"}); err == nil || !strings.Contains(err.Error(), "never pulls") {
		t.Errorf("missing image at run: %v", err)
	}
}

// TestRunWithoutKernelIPv6: on a kernel booted without IPv6 the IPv6
// settings do not exist and start fails; the container is made again
// without them (there is no IPv6 to turn off), and never otherwise.
func TestRunWithoutKernelIPv6(t *testing.T) {
	starts := 0
	f := &fakeRunner{}
	f.onCall = func(argv []string) {
		if argv[1] == "start" {
			starts++
			if starts == 1 {
				f.fail = map[string]error{"start c": &launcher.RunError{ExitCode: 1, Stderr: "Error response from daemon: failed to create task: runc create failed: " +
					"open /proc/sys/net/ipv6/conf/all/disable_ipv6: no such file or directory"}}
			} else {
				f.fail = nil
			}
		}
	}
	b := &Backend{Runner: f}
	spec := launcher.RunSpec{Name: "c", Image: "i", Networks: []string{"n"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.disable_ipv6": "1"}}
	if err := b.Run(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.calls {
		got = append(got, strings.Join(c[1:], " "))
	}
	all := strings.Join(got, "\n")
	if strings.Count(all, "create --name c") != 2 || !strings.Contains(all, "rm -f c") || starts != 2 {
		t.Fatalf("calls:\n%s", all)
	}
	last := got[len(got)-2] // the second create
	if !strings.Contains(last, "net.ipv4.ip_forward=0") || strings.Contains(last, "net.ipv6") {
		t.Errorf("second create: %s", last)
	}
	// Any other failure is not retried.
	f = &fakeRunner{fail: map[string]error{"start c": &launcher.RunError{ExitCode: 1, Stderr: "some other failure"}}}
	b = &Backend{Runner: f}
	if err := b.Run(context.Background(), spec); err == nil || len(f.calls) != 2 {
		t.Errorf("%v after %d calls", err, len(f.calls))
	}
}

// TestBuildOutputEscaped: a failed build's output is the image's own
// commands talking; it reaches the terminal with its controls escaped.
func TestBuildOutputEscaped(t *testing.T) {
	osc := "step 3: \x1b]52;c;ZXZpbA==\x07 failed\n"
	r := runnerFunc(func(_ context.Context, c launcher.Cmd) error {
		io.WriteString(c.Stdout, osc)
		return &launcher.RunError{Argv: c.Argv, ExitCode: 1, Stderr: osc}
	})
	err := (&Backend{Runner: r}).Build(context.Background(), launcher.BuildSpec{Tag: "t", Dockerfile: "/d", Context: "/c"})
	if err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `\x1b]52;c;ZXZpbA==\x07`) {
		t.Errorf("%q", err)
	}
}

type runnerFunc func(context.Context, launcher.Cmd) error

func (f runnerFunc) Run(ctx context.Context, c launcher.Cmd) error { return f(ctx, c) }

// TestNetworkCreateAdoptsOnlyItsOwnLaunch: creating a network again with
// the same spec and the same launch id succeeds (the first create's answer
// may have been lost); a network of that name that anyone else made, with
// bottle's other labels or not, is refused and left alone.
func TestNetworkCreateAdoptsOnlyItsOwnLaunch(t *testing.T) {
	labels := map[string]string{launcher.LabelManaged: "true", launcher.LabelName: "x", launcher.LabelRole: "internal", launcher.LabelLaunch: "0123abcd"}
	spec := launcher.NetworkSpec{Name: "bottle-x-internal", Internal: true, Labels: labels}
	exists := &launcher.RunError{ExitCode: 1, Stderr: "Error response from daemon: network with name bottle-x-internal already exists"}
	inspect := func(internal bool, inhibit string, l map[string]string) string {
		j, _ := json.Marshal([]map[string]any{{"Name": "bottle-x-internal", "Internal": internal, "Labels": l,
			"Options": map[string]string{"com.docker.network.bridge.inhibit_ipv4": inhibit},
			"IPAM":    map[string]any{"Config": []map[string]string{{"Subnet": "172.20.0.0/16", "Gateway": ""}}}}})
		return string(j)
	}
	other := maps.Clone(labels)
	other[launcher.LabelLaunch] = "ffff0000"
	noID := maps.Clone(labels)
	delete(noID, launcher.LabelLaunch)
	for _, tc := range []struct {
		name    string
		spec    launcher.NetworkSpec
		found   string // network inspect's answer; "": inspect fails
		adopted bool
	}{
		{"same launch", spec, inspect(true, "true", labels), true},
		{"same launch, engine added a label", spec, inspect(true, "true", map[string]string{launcher.LabelManaged: "true", launcher.LabelName: "x", launcher.LabelRole: "internal", launcher.LabelLaunch: "0123abcd", "com.example.extra": "1"}), true},
		{"another launch of the bottle", spec, inspect(true, "true", other), false},
		{"a stranger's", spec, inspect(true, "true", nil), false},
		{"bottle's labels, no launch id", spec, inspect(true, "true", noID), false},
		{"the launch id, but the host is on it", spec, inspect(true, "false", labels), false},
		{"the launch id, but it routes out", spec, inspect(false, "", labels), false},
		{"a spec without a launch id", launcher.NetworkSpec{Name: spec.Name, Internal: true, Labels: noID}, inspect(true, "true", noID), false},
		{"inspect fails", spec, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{fail: map[string]error{"network create": exists}, answers: map[string]string{"network inspect": tc.found}}
			if tc.found == "" {
				f.fail["network inspect"] = &launcher.RunError{ExitCode: 1, Stderr: "Error: No such network: bottle-x-internal"}
			}
			err := (&Backend{Runner: f}).NetworkCreate(context.Background(), tc.spec)
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
	// Any other failure of the create is its own error, not "exists".
	f := &fakeRunner{fail: map[string]error{"network create": &launcher.RunError{ExitCode: 1, Stderr: "Cannot connect to the Docker daemon"}}}
	if err := (&Backend{Runner: f}).NetworkCreate(context.Background(), spec); err == nil || strings.Contains(err.Error(), "adopt") || len(f.calls) != 1 {
		t.Errorf("dead daemon: %v after %q", err, f.calls)
	}
}

// TestListByLabels: the engine itself filters by every label asked for
// (sorted, so the argv is stable), for containers and networks alike.
func TestListByLabels(t *testing.T) {
	f := &fakeRunner{answers: map[string]string{
		"ps -a":      `{"Names":"bottle-demo-agent","State":"running","Labels":"dev.bottle.managed=true,dev.bottle.name=demo"}` + "\n",
		"network ls": `{"Name":"bottle-demo-internal","Labels":"dev.bottle.managed=true,dev.bottle.name=demo"}` + "\n",
	}}
	res, err := (&Backend{Runner: f}).List(context.Background(), map[string]string{launcher.LabelName: "demo", launcher.LabelManaged: "true"})
	if err != nil {
		t.Fatal(err)
	}
	filters := "--filter label=dev.bottle.managed=true --filter label=dev.bottle.name=demo --format {{json .}}"
	want := []string{"docker ps -a " + filters, "docker network ls " + filters}
	var got []string
	for _, c := range f.calls {
		got = append(got, strings.Join(c, " "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ran %q\nwant %q", got, want)
	}
	if len(res) != 2 || res[0].Kind != "container" || res[0].Name != "bottle-demo-agent" || res[1].Kind != "network" || res[1].Labels[launcher.LabelName] != "demo" {
		t.Errorf("listed %+v", res)
	}
}

// TestImageUser: the image's configured user, as docker prints it.
func TestImageUser(t *testing.T) {
	f := &fakeRunner{answers: map[string]string{"image inspect": "agent\n"}}
	var _ launcher.ImageUserer = &Backend{}
	if u, err := (&Backend{Runner: f}).ImageUser(context.Background(), "agent:1"); err != nil || u != "agent" ||
		strings.Join(f.calls[0], " ") != "docker image inspect --format {{.Config.User}} agent:1" {
		t.Errorf("%q %v %q", u, err, f.calls)
	}
}

// TestImageID: the engine's {{.Id}}; "" for an image that is not here; an
// engine that fails is an error, not a missing image.
func TestImageID(t *testing.T) {
	ctx := context.Background()
	f := &fakeRunner{answers: map[string]string{"image inspect": "sha256:abc\n"}}
	if id, err := (&Backend{Runner: f}).ImageID(ctx, "debian:12"); err != nil || id != "sha256:abc" ||
		strings.Join(f.calls[0], " ") != "docker image inspect --format {{.Id}} debian:12" {
		t.Errorf("%q %v %q", id, err, f.calls)
	}
	f = &fakeRunner{fail: map[string]error{"image inspect": &launcher.RunError{Argv: []string{"docker", "image"}, ExitCode: 1, Stderr: "Error response from daemon: No such image: debian:12"}}}
	if id, err := (&Backend{Runner: f}).ImageID(ctx, "debian:12"); err != nil || id != "" {
		t.Errorf("missing: %q %v", id, err)
	}
	f = &fakeRunner{fail: map[string]error{"image inspect": &launcher.RunError{Argv: []string{"docker", "image"}, ExitCode: 1, Stderr: "Cannot connect to the Docker daemon"}}}
	if _, err := (&Backend{Runner: f}).ImageID(ctx, "debian:12"); err == nil {
		t.Error("a dead engine took for a missing image")
	}
}
