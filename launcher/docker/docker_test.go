package docker

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/launcher"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestArgvGolden pins the docker command lines bottle runs.
func TestArgvGolden(t *testing.T) {
	l := map[string]string{launcher.LabelManaged: "true", launcher.LabelName: "demo", launcher.LabelRole: "sidecar"}
	cases := map[string][]string{
		"build": BuildArgs(launcher.BuildSpec{Tag: "bottle-agent:abc", Dockerfile: "/ctx/Dockerfile", Context: "/ctx",
			Args: map[string]string{"BASE_IMAGE": "base:1", "A": "b"}, Labels: map[string]string{launcher.LabelManaged: "true"}}),
		"network-internal": NetworkCreateArgs(launcher.NetworkSpec{Name: "bottle-demo-internal", Internal: true, Labels: l}),
		"network-egress":   NetworkCreateArgs(launcher.NetworkSpec{Name: "bottle-demo-egress", Labels: l}),
		"create-sidecar": CreateArgs(launcher.RunSpec{Name: "bottle-demo-sidecar", Image: "bottle-sidecar:x",
			Networks: []string{"bottle-demo-egress", "bottle-demo-internal"}, Labels: l, User: "65532:65532",
			Mounts: []launcher.Mount{{Source: "/state/config", Target: "/etc/bottle", ReadOnly: true}, {Source: "/state/logs", Target: "/var/log/bottle"}},
			Cmd:    []string{"run", "--config-dir", "/etc/bottle"}}),
		"create-agent": CreateArgs(launcher.RunSpec{Name: "bottle-demo-agent", Image: "bottle-agent:y", Networks: []string{"bottle-demo-internal"},
			DNS: []string{"172.20.0.2"}, CapDrop: []string{"NET_ADMIN", "NET_RAW"}, Env: []string{"HTTPS_PROXY=http://172.20.0.2:3128"},
			Mounts:     []launcher.Mount{{Source: "/state/resolv.conf", Target: "/etc/resolv.conf", ReadOnly: true}},
			Entrypoint: []string{"sleep", "infinity"}, Workdir: "/", Labels: l}),
		"exec-tty": launcher.ExecArgs("bottle-demo-agent", launcher.ExecSpec{Argv: []string{"bash"}, User: "agent", Workdir: "/workspace", TTY: true, Stdin: strings.NewReader("")}),
		"exec-env": launcher.ExecArgs("bottle-demo-agent", launcher.ExecSpec{Argv: []string{"probe", "tcp", "x:1"}, User: "0", Env: []string{"HTTP_PROXY="}}),
	}
	for name, argv := range cases {
		t.Run(name, func(t *testing.T) {
			got := launcher.PrettyCommand(append([]string{"docker"}, argv...)) + "\n"
			path := filepath.Join("testdata", name+".golden")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("got  %s want %s", got, want)
			}
		})
	}
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
	  "IPAM":{"Config":[{"Subnet":"fd00::/64"},{"Subnet":"172.20.0.0/16","Gateway":"172.20.0.1"}]}}]`
	n, err := ParseNetworkInspect([]byte(data))
	if err != nil || !n.Internal || n.Subnet != "172.20.0.0/16" || n.Gateway != "172.20.0.1" || n.Labels["dev.bottle.name"] != "demo" {
		t.Errorf("%+v %v", n, err)
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
}

func (f *fakeRunner) Run(_ context.Context, c launcher.Cmd) error {
	f.calls = append(f.calls, c.Argv)
	key := strings.Join(c.Argv[1:3], " ")
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
