// Package docker is the launcher's Docker backend: pure argv builders for the
// docker CLI and parsers for its JSON output, run through a launcher.Runner.
package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"bottle.dev/bottle/launcher"
)

// Backend drives the docker CLI.
type Backend struct {
	Runner launcher.Runner // nil: launcher.ExecRunner
	Bin    string          // default "docker"
}

func (b *Backend) runner() launcher.Runner { return launcher.OrExec(b.Runner) }

func (b *Backend) bin() string {
	if b.Bin == "" {
		return "docker"
	}
	return b.Bin
}

func (b *Backend) out(ctx context.Context, args ...string) (string, error) {
	return launcher.Output(ctx, b.Runner, append([]string{b.bin()}, args...)...)
}

func (b *Backend) run(ctx context.Context, args ...string) error {
	_, err := b.out(ctx, args...)
	return err
}

// Name implements launcher.Backend.
func (b *Backend) Name() string { return "docker" }

// Check asks the daemon for its version.
func (b *Backend) Check(ctx context.Context) error {
	v, err := b.out(ctx, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		var re *launcher.RunError
		if errors.As(err, &re) && re.ExitCode == -1 {
			return fmt.Errorf("docker not found on PATH; install Docker (apt-get install docker.io) or pass --backend macos-container")
		}
		return fmt.Errorf("the Docker daemon does not answer (%v); start it (systemctl start docker, or dockerd &)", err)
	}
	if v == "" {
		return errors.New("the Docker daemon reported no version")
	}
	return nil
}

// Version returns the engine's version.
func (b *Backend) Version(ctx context.Context) (string, error) {
	return b.out(ctx, "version", "--format", "{{.Server.Version}}")
}

// ImageExists implements launcher.Backend.
func (b *Backend) ImageExists(ctx context.Context, tag string) (bool, error) {
	err := b.run(ctx, "image", "inspect", "--format", "{{.Id}}", tag)
	if err == nil {
		return true, nil
	}
	if launcher.ExitCode(err) == 1 {
		return false, nil // "Error: No such image"
	}
	return false, err
}

// BuildArgs is the argv of an image build.
func BuildArgs(s launcher.BuildSpec) []string {
	args := []string{"build", "-f", s.Dockerfile, "-t", s.Tag}
	for _, k := range slices.Sorted(maps.Keys(s.Args)) {
		args = append(args, "--build-arg", k+"="+s.Args[k])
	}
	args = append(args, launcher.LabelFlags(s.Labels)...)
	return append(args, s.Context)
}

// Build implements launcher.Backend.
func (b *Backend) Build(ctx context.Context, s launcher.BuildSpec) error {
	var log bytes.Buffer
	w := io.Writer(&log)
	if s.Progress != nil {
		w = io.MultiWriter(&log, s.Progress)
	}
	err := b.runner().Run(ctx, launcher.Cmd{Argv: append([]string{b.bin()}, BuildArgs(s)...), Stdout: w, Stderr: w})
	if err != nil && s.Progress == nil {
		return fmt.Errorf("%w\nbuild output:\n%s", err, lastLines(log.String(), 30))
	}
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NetworkCreateArgs is the argv that creates a network. An internal network
// also gets no address for the host: a plain --internal bridge still lets
// containers reach every address of the host (moby/libnetwork#1151), and
// inhibit_ipv4 leaves the bridge without one.
func NetworkCreateArgs(n launcher.NetworkSpec) []string {
	args := []string{"network", "create", "--driver", "bridge"}
	if n.Internal {
		args = append(args, "--internal", "-o", "com.docker.network.bridge.inhibit_ipv4=true")
	}
	args = append(args, launcher.LabelFlags(n.Labels)...)
	return append(args, n.Name)
}

// NetworkCreate implements launcher.Backend. An existing network with the
// same name and our labels is accepted (launch steps are idempotent).
func (b *Backend) NetworkCreate(ctx context.Context, n launcher.NetworkSpec) error {
	err := b.run(ctx, NetworkCreateArgs(n)...)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		info, ierr := b.NetworkInspect(ctx, n.Name)
		if ierr == nil && info.Labels[launcher.LabelManaged] == "true" && info.Internal == n.Internal {
			return nil
		}
	}
	return err
}

type networkJSON struct {
	Name     string            `json:"Name"`
	Internal bool              `json:"Internal"`
	Labels   map[string]string `json:"Labels"`
	IPAM     struct {
		Config []struct {
			Subnet  string `json:"Subnet"`
			Gateway string `json:"Gateway"`
		} `json:"Config"`
	} `json:"IPAM"`
}

// ParseNetworkInspect reads `docker network inspect` JSON (an array).
func ParseNetworkInspect(data []byte) (launcher.NetworkInfo, error) {
	var ns []networkJSON
	if err := json.Unmarshal(data, &ns); err != nil || len(ns) != 1 {
		return launcher.NetworkInfo{}, fmt.Errorf("unexpected docker network inspect output: %v", err)
	}
	n := ns[0]
	info := launcher.NetworkInfo{Name: n.Name, Internal: n.Internal, Labels: n.Labels}
	for _, c := range n.IPAM.Config {
		if strings.Contains(c.Subnet, ".") { // the IPv4 range
			info.Subnet, info.Gateway = c.Subnet, c.Gateway
			break
		}
	}
	return info, nil
}

// NetworkInspect implements launcher.Backend.
func (b *Backend) NetworkInspect(ctx context.Context, name string) (launcher.NetworkInfo, error) {
	out, err := b.out(ctx, "network", "inspect", name)
	if err != nil {
		return launcher.NetworkInfo{}, err
	}
	return ParseNetworkInspect([]byte(out))
}

// NetworkRemove implements launcher.Backend; a missing network is not an error.
func (b *Backend) NetworkRemove(ctx context.Context, name string) error {
	err := b.run(ctx, "network", "rm", name)
	if err != nil && (strings.Contains(err.Error(), "No such network") || strings.Contains(err.Error(), "not found")) {
		return nil
	}
	return err
}

// CreateArgs is the argv that creates (not starts) a container on its first
// network. Engines before API 1.44 take one --network at create; the others
// are connected before start (see Run).
func CreateArgs(r launcher.RunSpec) []string {
	args := []string{"create", "--name", r.Name}
	if len(r.Networks) > 0 {
		args = append(args, "--network", r.Networks[0])
	}
	return append(args, launcher.RunFlags(r)...)
}

// Run implements launcher.Backend: create, connect the other networks in
// order, start.
func (b *Backend) Run(ctx context.Context, r launcher.RunSpec) error {
	if err := b.run(ctx, CreateArgs(r)...); err != nil {
		return err
	}
	for _, n := range r.Networks[1:] {
		if err := b.run(ctx, "network", "connect", n, r.Name); err != nil {
			return err
		}
	}
	return b.run(ctx, "start", r.Name)
}

type containerJSON struct {
	Name  string `json:"Name"`
	State struct {
		Status  string `json:"Status"`
		Running bool   `json:"Running"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

// ParseInspect reads `docker inspect` JSON (an array) of one container.
func ParseInspect(data []byte) (launcher.ContainerInfo, error) {
	var cs []containerJSON
	if err := json.Unmarshal(data, &cs); err != nil || len(cs) != 1 {
		return launcher.ContainerInfo{}, fmt.Errorf("unexpected docker inspect output: %v", err)
	}
	c := cs[0]
	info := launcher.ContainerInfo{Name: strings.TrimPrefix(c.Name, "/"), Running: c.State.Running, State: c.State.Status,
		Image: c.Config.Image, Labels: c.Config.Labels, Networks: map[string]string{}}
	for n, s := range c.NetworkSettings.Networks {
		info.Networks[n] = s.IPAddress
	}
	return info, nil
}

// Inspect implements launcher.Backend.
func (b *Backend) Inspect(ctx context.Context, name string) (launcher.ContainerInfo, error) {
	out, err := b.out(ctx, "container", "inspect", name)
	if err != nil {
		return launcher.ContainerInfo{}, err
	}
	return ParseInspect([]byte(out))
}

// Exec implements launcher.Backend; the command's exit status is in the
// returned *launcher.RunError.
func (b *Backend) Exec(ctx context.Context, name string, e launcher.ExecSpec) error {
	return b.runner().Run(ctx, launcher.Cmd{Argv: append([]string{b.bin()}, launcher.ExecArgs(name, e)...), Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr})
}

// CopyIn implements launcher.Backend.
func (b *Backend) CopyIn(ctx context.Context, name, src, dst string) error {
	return b.run(ctx, "cp", src, name+":"+dst)
}

// Logs implements launcher.Backend.
func (b *Backend) Logs(ctx context.Context, name string, follow bool, out io.Writer) error {
	args := []string{b.bin(), "logs"}
	if follow {
		args = append(args, "-f")
	}
	return b.runner().Run(ctx, launcher.Cmd{Argv: append(args, name), Stdout: out, Stderr: out})
}

// Remove implements launcher.Backend; a missing container is not an error.
func (b *Backend) Remove(ctx context.Context, name string) error {
	err := b.run(ctx, "rm", "-f", name)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}

type psJSON struct {
	Names  string `json:"Names"`
	Name   string `json:"Name"`
	State  string `json:"State"`
	Labels string `json:"Labels"`
}

// ParseList reads `docker ps/network ls --format '{{json .}}'`: one object
// per line, labels as "k=v,k=v".
func ParseList(kind string, data []byte) ([]launcher.Resource, error) {
	var out []launcher.Resource
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var p psJSON
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("unexpected docker list output %q: %v", line, err)
		}
		r := launcher.Resource{Kind: kind, Name: p.Names, State: p.State, Labels: map[string]string{}}
		if r.Name == "" {
			r.Name = p.Name
		}
		for _, kv := range strings.Split(p.Labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.Labels[k] = v
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func filterArgs(labels map[string]string) []string {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		args = append(args, "--filter", "label="+k+"="+labels[k])
	}
	return args
}

// List implements launcher.Backend.
func (b *Backend) List(ctx context.Context, labels map[string]string) ([]launcher.Resource, error) {
	ps, err := b.out(ctx, append(append([]string{"ps", "-a"}, filterArgs(labels)...), "--format", "{{json .}}")...)
	if err != nil {
		return nil, err
	}
	cs, err := ParseList("container", []byte(ps))
	if err != nil {
		return nil, err
	}
	ns, err := b.out(ctx, append(append([]string{"network", "ls"}, filterArgs(labels)...), "--format", "{{json .}}")...)
	if err != nil {
		return nil, err
	}
	nets, err := ParseList("network", []byte(ns))
	if err != nil {
		return nil, err
	}
	return append(cs, nets...), nil
}
