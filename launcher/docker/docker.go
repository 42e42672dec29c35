// Package docker is the launcher's Docker backend: pure argv builders for the
// docker CLI and parsers for its JSON output, run through a launcher.Runner.
package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/enginecli"
	"bottle.dev/bottle/launcher/workspace"
)

// Backend drives the docker CLI.
type Backend struct {
	Runner launcher.Runner // nil: launcher.ExecRunner
	Bin    string          // default "docker"

	// checked says Check has succeeded: the daemon answered, and it is
	// not asked again (choosing the backend checks it, and so does the
	// launch; each ask is a round trip to the daemon). A daemon that
	// goes away after is said by the next command that fails.
	checked atomic.Bool
}

// cli is the docker program as the Backend's fields say.
func (b *Backend) cli() enginecli.CLI {
	return enginecli.CLI{Runner: b.Runner, Bin: cmp.Or(b.Bin, "docker")}
}

// Name implements launcher.Backend.
func (b *Backend) Name() string { return "docker" }

// What the docker CLI says (on stderr, exit 1) when the object it was asked
// about does not exist. Engines from 20.10 to 28 word these alike.
func noSuchImage(err error) bool { return launcher.StderrSays(err, "no such image") }

func noSuchContainer(err error) bool {
	return launcher.StderrSays(err, "no such container", "no such object")
}

func noSuchNetwork(name string) func(error) bool {
	return func(err error) bool { return launcher.StderrSays(err, "no such network", "network "+name+" not found") }
}

// networkExists is the daemon's "Error response from daemon: network with
// name NAME already exists".
func networkExists(err error) bool { return launcher.StderrSays(err, "already exists") }

// Check asks the daemon for its version.
func (b *Backend) Check(ctx context.Context) error {
	if b.checked.Load() {
		return nil
	}
	v, err := b.Version(ctx)
	if err != nil {
		if launcher.NotInstalled(err) {
			return fmt.Errorf("docker not found on PATH; install Docker (apt-get install docker.io) or pass --backend macos-container")
		}
		return fmt.Errorf("the Docker daemon does not answer (%v); start it (systemctl start docker, or dockerd &)", err)
	}
	if v == "" {
		return errors.New("the Docker daemon reported no version")
	}
	b.checked.Store(true)
	return nil
}

// Version returns the engine's version.
func (b *Backend) Version(ctx context.Context) (string, error) {
	return b.cli().Output(ctx, "version", "--format", "{{.Server.Version}}")
}

// ImageExists implements launcher.Backend.
func (b *Backend) ImageExists(ctx context.Context, tag string) (bool, error) {
	return b.cli().Exists(ctx, noSuchImage, "image", "inspect", "--format", "{{.Id}}", tag)
}

// ImageID implements launcher.Backend.
func (b *Backend) ImageID(ctx context.Context, ref string) (string, error) {
	return b.cli().OutputUnlessGone(ctx, noSuchImage, "image", "inspect", "--format", "{{.Id}}", ref)
}

// ImageUser implements launcher.ImageUserer: the image's Config.User.
func (b *Backend) ImageUser(ctx context.Context, ref string) (string, error) {
	return b.cli().Output(ctx, "image", "inspect", "--format", "{{.Config.User}}", ref)
}

// BuildArgs is the argv of an image build. --force-rm: the classic
// builder keeps the container of a failed step (and its image) otherwise,
// and a failed install step of an agent recipe would leave both behind.
func BuildArgs(s launcher.BuildSpec) []string {
	args := []string{"build", "--force-rm", "-f", s.Dockerfile, "-t", s.Tag}
	if s.NoCache {
		args = append(args, "--no-cache")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Args)) {
		args = append(args, "--build-arg", k+"="+s.Args[k])
	}
	args = append(args, launcher.LabelFlags(s.Labels)...)
	return append(args, s.Context)
}

// Build implements launcher.Backend.
func (b *Backend) Build(ctx context.Context, s launcher.BuildSpec) error {
	return b.cli().Build(ctx, BuildArgs(s), s.Progress)
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
	if n.Subnet != "" {
		args = append(args, "--subnet", n.Subnet)
	}
	args = append(args, launcher.LabelFlags(n.Labels)...)
	return append(args, n.Name)
}

// NetworkCreate implements launcher.Backend. A network of that name that
// already exists is taken only when n.SameLaunch says this launch made it
// (the create is being repeated); any other is never adopted, whatever its
// labels: nothing says how it is wired.
func (b *Backend) NetworkCreate(ctx context.Context, n launcher.NetworkSpec) error {
	err := b.cli().Run(ctx, NetworkCreateArgs(n)...)
	if n.Subnet != "" && launcher.StderrSays(err, "overlaps") {
		// "invalid pool request: Pool overlaps with other one on this
		// address space": another launch took the subnet first.
		return fmt.Errorf("%w: %w", launcher.ErrSubnetTaken, err)
	}
	if !networkExists(err) {
		return err
	}
	if info, ierr := b.NetworkInspect(ctx, n.Name); ierr == nil && n.SameLaunch(info) {
		return nil
	}
	return fmt.Errorf("network %s already exists, and bottle does not adopt a network it did not create; remove it if it is a leftover (bottle cleanup, or docker network rm %s)", n.Name, n.Name)
}

const inhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"

type networkJSON struct {
	Name     string            `json:"Name"`
	Internal bool              `json:"Internal"`
	Labels   map[string]string `json:"Labels"`
	Options  map[string]string `json:"Options"`
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
	info := launcher.NetworkInfo{Name: n.Name, Internal: n.Internal, Labels: n.Labels,
		Isolated: n.Internal && n.Options[inhibitIPv4] == "true"}
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
	out, err := b.cli().Output(ctx, "network", "inspect", name)
	if err != nil {
		return launcher.NetworkInfo{}, err
	}
	return ParseNetworkInspect([]byte(out))
}

// NetworkRemove implements launcher.Backend; a missing network is not an error.
func (b *Backend) NetworkRemove(ctx context.Context, name string) error {
	return b.cli().RunUnlessGone(ctx, noSuchNetwork(name), "network", "rm", name)
}

// Log limits of every container bottle runs: the engine's json-file log
// otherwise grows without bound, and the agent decides how much its
// container writes.
const (
	logMaxSize  = "10m"
	logMaxFiles = "3"
)

// CreateArgs is the argv that creates (not starts) a container on its first
// network. Engines before API 1.44 take one --network at create; the others
// are connected before start (see Run). envFile holds the environment ("":
// none). --pull never: a missing image is a local error, never a download.
func CreateArgs(r launcher.RunSpec, envFile string) []string {
	// No image healthcheck either: it would run the image's code, in the
	// agent's case before the self-test has judged its network.
	args := []string{"create", "--name", r.Name, "--pull", "never", "--no-healthcheck",
		"--log-opt", "max-size=" + logMaxSize, "--log-opt", "max-file=" + logMaxFiles}
	switch {
	case r.NetworkOf != "":
		args = append(args, "--network", "container:"+r.NetworkOf)
	case len(r.Networks) > 0:
		args = append(args, "--network", r.Networks[0])
		if ip := r.IPs[r.Networks[0]]; ip != "" {
			args = append(args, "--ip", ip)
		}
	}
	if r.Limits.Pids > 0 {
		args = append(args, "--pids-limit", fmt.Sprint(r.Limits.Pids))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Sysctls)) {
		args = append(args, "--sysctl", k+"="+r.Sysctls[k])
	}
	return append(args, launcher.RunFlags(r, envFile)...)
}

// Run implements launcher.Backend: create, connect the other networks in
// order, start.
func (b *Backend) Run(ctx context.Context, r launcher.RunSpec) error {
	envFile := ""
	if len(r.Env) > 0 {
		p, done, err := launcher.WriteEnvFile(r.Env)
		if err != nil {
			return fmt.Errorf("container %s: %w", r.Name, err)
		}
		defer done() // the engine has read it once create returns
		envFile = p
	}
	err := b.createAndStart(ctx, r, envFile)
	if ipv4Only := withoutIPv6Sysctls(r); err != nil && len(ipv4Only.Sysctls) < len(r.Sysctls) && launcher.StderrSays(err, "/proc/sys/net/ipv6") {
		// A kernel booted without IPv6 (ipv6.disable=1) has none of its
		// settings, and no IPv6 to turn off: make it again without them.
		b.Remove(ctx, r.Name)
		err = b.createAndStart(ctx, ipv4Only, envFile)
	}
	return err
}

func (b *Backend) createAndStart(ctx context.Context, r launcher.RunSpec, envFile string) error {
	err := b.cli().Run(ctx, CreateArgs(r, envFile)...)
	if launcher.StderrSays(err, "no such image", "pull access denied", "not found: manifest unknown") {
		return fmt.Errorf("image %s is not on this machine, and bottle never pulls images: build it, or pull it yourself (docker pull %s)", r.Image, r.Image)
	}
	if err != nil {
		return err
	}
	return b.connectAndStart(ctx, r)
}

// withoutIPv6Sysctls is r without its net.ipv6.* settings.
func withoutIPv6Sysctls(r launcher.RunSpec) launcher.RunSpec {
	out := maps.Clone(r.Sysctls)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, "net.ipv6.") })
	r.Sysctls = out
	return r
}

// connectAndStart connects a created container to its other networks, in
// order, and starts it.
func (b *Backend) connectAndStart(ctx context.Context, r launcher.RunSpec) error {
	if r.NetworkOf != "" || len(r.Networks) == 0 {
		return b.cli().Run(ctx, "start", r.Name)
	}
	for _, n := range r.Networks[1:] {
		if err := b.cli().Run(ctx, ConnectArgs(n, r.Name, r.IPs[n])...); err != nil {
			return err
		}
	}
	return b.cli().Run(ctx, "start", r.Name)
}

// ConnectArgs is the argv that connects container name to network n, at
// address ip when it is not "".
func ConnectArgs(n, name, ip string) []string {
	args := []string{"network", "connect"}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	return append(args, n, name)
}

// Subnets implements launcher.Addresser: the IPv4 subnets of every
// network the engine has, read in two calls.
func (b *Backend) Subnets(ctx context.Context) ([]netip.Prefix, bool, error) {
	ids, err := b.cli().Output(ctx, "network", "ls", "-q")
	if err != nil {
		return nil, false, err
	}
	if strings.TrimSpace(ids) == "" {
		return nil, true, nil
	}
	out, err := b.cli().Output(ctx, append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, strings.Fields(ids)...)...)
	if err != nil {
		// A network removed between the two calls, say: the launch lets
		// the engine choose this time.
		return nil, false, err
	}
	return ParseSubnets(out), true, nil
}

// ParseSubnets reads the IPv4 CIDRs of Subnets' inspect output (words; the
// IPv6 ones and anything unreadable are left out).
func ParseSubnets(out string) []netip.Prefix {
	var ps []netip.Prefix
	for _, w := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(w); err == nil && p.Addr().Is4() {
			ps = append(ps, p.Masked())
		}
	}
	return ps
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
	out, err := b.cli().Output(ctx, "container", "inspect", name)
	if err != nil {
		return launcher.ContainerInfo{}, err
	}
	return ParseInspect([]byte(out))
}

// Exec implements launcher.Backend; the command's exit status is in the
// returned *launcher.RunError.
func (b *Backend) Exec(ctx context.Context, name string, e launcher.ExecSpec) error {
	return b.cli().Exec(ctx, name, e)
}

// CopyIn implements launcher.Backend.
func (b *Backend) CopyIn(ctx context.Context, name, src, dst string) error {
	return b.cli().Run(ctx, "cp", src, name+":"+dst)
}

// CopyOut implements launcher.Backend. It asks the engine for a tar
// stream of src (`docker cp NAME:SRC -`) and extracts it itself, rather
// than letting docker write dst: so the copy is bounded as it arrives
// (the agent may have made its workspace huge to fill the disk), and no
// fifo or device node the agent made is ever created on the host.
func (b *Backend) CopyOut(ctx context.Context, name, src, dst string, limit workspace.Limit) error {
	return b.cli().CopyOutStream(ctx, CopyOutArgs(name, src), dst, path.Base(src), limit)
}

// CopyOutArgs is the argv (after docker) of CopyOut's copy.
func CopyOutArgs(name, src string) []string { return []string{"cp", name + ":" + src, "-"} }

// Logs implements launcher.Backend.
func (b *Backend) Logs(ctx context.Context, name string, follow bool, out io.Writer) error {
	return b.cli().Logs(ctx, name, follow, out)
}

// Remove implements launcher.Backend; a missing container is not an error.
func (b *Backend) Remove(ctx context.Context, name string) error {
	return b.cli().RunUnlessGone(ctx, noSuchContainer, "rm", "-f", name)
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
	ps, err := b.cli().Output(ctx, append(append([]string{"ps", "-a"}, filterArgs(labels)...), "--format", "{{json .}}")...)
	if err != nil {
		return nil, err
	}
	cs, err := ParseList("container", []byte(ps))
	if err != nil {
		return nil, err
	}
	ns, err := b.cli().Output(ctx, append(append([]string{"network", "ls"}, filterArgs(labels)...), "--format", "{{json .}}")...)
	if err != nil {
		return nil, err
	}
	nets, err := ParseList("network", []byte(ns))
	if err != nil {
		return nil, err
	}
	return append(cs, nets...), nil
}
