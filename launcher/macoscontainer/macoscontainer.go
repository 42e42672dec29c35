// Package macoscontainer is the launcher's backend for Apple's `container`
// CLI on macOS: each container is a lightweight VM. It builds argv for the
// CLI (pure functions, pinned by golden tests) and parses its 1.x JSON
// (sorted keys, "/" escaped as "\/", addresses as CIDR strings).
package macoscontainer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/enginecli"
	"bottle.dev/bottle/launcher/workspace"
)

// MinVersion is the oldest `container` bottle works with: multiple
// --network flags (the sidecar's two networks) and `cp` arrived in 1.0.0,
// and the JSON shapes changed then.
var MinVersion = [3]int{1, 0, 0}

// Backend drives Apple's container CLI.
type Backend struct {
	Runner launcher.Runner // nil: launcher.ExecRunner
	Bin    string          // default "container"
	// BuilderDNS, when set, is given to the builder so image builds can
	// resolve package mirrors. Before 1.2.1 `container build --dns` does
	// not reach a builder that is already running (apple/container#402), so
	// Build runs `container builder start --dns` first, which recreates the
	// builder when its nameservers differ.
	BuilderDNS []string
}

// cli is the container program as the Backend's fields say.
func (b *Backend) cli() enginecli.CLI {
	return enginecli.CLI{Runner: b.Runner, Bin: cmp.Or(b.Bin, "container")}
}

// Name implements launcher.Backend.
func (b *Backend) Name() string { return "macos-container" }

var versionRE = regexp.MustCompile(`version (\d+)\.(\d+)\.(\d+)`)

// ParseVersion reads `container --version` ("container CLI version 1.2.2
// (build: release, commit: abc1234)").
func ParseVersion(s string) ([3]int, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return [3]int{}, fmt.Errorf("cannot read a version from %q", strings.TrimSpace(s))
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, nil
}

func older(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

type statusJSON struct {
	Status string `json:"status"`
}

// Version is the container CLI's version, as "1.0.0" (for bottle doctor).
func (b *Backend) Version(ctx context.Context) (string, error) {
	out, err := b.cli().Output(ctx, "--version")
	if err != nil {
		return "", err
	}
	v, err := ParseVersion(out)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}

// Check implements launcher.Backend: the CLI is there, new enough, and its
// system service runs.
func (b *Backend) Check(ctx context.Context) error {
	out, err := b.cli().Output(ctx, "--version")
	if err != nil {
		if launcher.NotInstalled(err) {
			return errors.New("container not found on PATH; install Apple's container (github.com/apple/container/releases) or pass --backend docker")
		}
		return err
	}
	v, err := ParseVersion(out)
	if err != nil {
		return err
	}
	if older(v, MinVersion) {
		return fmt.Errorf("container %d.%d.%d is too old: bottle needs %d.%d.%d or later (several networks per container, cp); upgrade from github.com/apple/container/releases",
			v[0], v[1], v[2], MinVersion[0], MinVersion[1], MinVersion[2])
	}
	st, err := b.cli().Output(ctx, "system", "status", "--format", "json")
	var s statusJSON
	if jerr := json.Unmarshal([]byte(st), &s); jerr != nil || s.Status != "running" {
		state := s.Status
		if state == "" && err != nil {
			state = err.Error()
		}
		return fmt.Errorf("the container system service is not running (%s); start it: container system start --enable-kernel-install", state)
	}
	return nil
}

// ImageExists implements launcher.Backend.
func (b *Backend) ImageExists(ctx context.Context, tag string) (bool, error) {
	return b.cli().Exists(ctx, notFound("image", tag), "image", "inspect", tag)
}

// imageJSON is what `container image inspect` says of an image that
// ImageID reads: its id (1.x: the index digest's hex), else that digest.
type imageJSON struct {
	ID            string `json:"id"`
	Configuration struct {
		Descriptor struct {
			Digest string `json:"digest"`
		} `json:"descriptor"`
	} `json:"configuration"`
	Index struct { // before 1.0
		Digest string `json:"digest"`
	} `json:"index"`
}

// ImageID implements launcher.Backend.
func (b *Backend) ImageID(ctx context.Context, ref string) (string, error) {
	out, err := b.cli().OutputUnlessGone(ctx, notFound("image", ref), "image", "inspect", ref)
	if err != nil || out == "" {
		return "", err
	}
	var imgs []imageJSON
	if err := json.Unmarshal([]byte(out), &imgs); err != nil {
		return "", fmt.Errorf("container image inspect %s: unexpected output: %w", ref, err)
	}
	if len(imgs) == 0 {
		return "", nil // 0.x prints only what it found
	}
	for _, id := range []string{imgs[0].ID, imgs[0].Configuration.Descriptor.Digest, imgs[0].Index.Digest} {
		if id != "" {
			return id, nil
		}
	}
	return "", fmt.Errorf("container image inspect %s: no id and no digest in its answer", ref)
}

// BuildArgs is the argv of an image build.
func BuildArgs(s launcher.BuildSpec, dns []string) []string {
	args := []string{"build", "--progress", "plain", "-t", s.Tag, "-f", s.Dockerfile}
	if s.NoCache {
		args = append(args, "--no-cache")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Args)) {
		args = append(args, "--build-arg", k+"="+s.Args[k])
	}
	for _, d := range dns {
		args = append(args, "--dns", d)
	}
	args = append(args, launcher.LabelFlags(s.Labels)...)
	return append(args, s.Context)
}

// Build implements launcher.Backend.
func (b *Backend) Build(ctx context.Context, s launcher.BuildSpec) error {
	if len(b.BuilderDNS) > 0 {
		args := []string{"builder", "start"}
		for _, d := range b.BuilderDNS {
			args = append(args, "--dns", d)
		}
		if err := b.cli().Run(ctx, args...); err != nil {
			return err
		}
	}
	return b.cli().Build(ctx, BuildArgs(s, b.BuilderDNS), s.Progress)
}

// NetworkCreateArgs is the argv that creates a network. --internal gives a
// hostOnly network: no route out through vmnet's NAT.
func NetworkCreateArgs(n launcher.NetworkSpec) []string {
	args := []string{"network", "create"}
	if n.Internal {
		args = append(args, "--internal")
	}
	args = append(args, launcher.LabelFlags(n.Labels)...)
	return append(args, n.Name)
}

// NetworkCreate implements launcher.Backend. An existing network of that
// name is taken only when n.SameLaunch says this launch made it (the create
// is being repeated); any other is never adopted.
func (b *Backend) NetworkCreate(ctx context.Context, n launcher.NetworkSpec) error {
	err := b.cli().Run(ctx, NetworkCreateArgs(n)...)
	if !networkExists(err) {
		return err
	}
	if info, ierr := b.NetworkInspect(ctx, n.Name); ierr == nil && n.SameLaunch(info) {
		return nil
	}
	return fmt.Errorf("network %s already exists, and bottle does not adopt a network it did not create; remove it if it is a leftover (bottle cleanup, or container network delete %s)", n.Name, n.Name)
}

// networkExists is Apple's "Error: network NAME already exists".
func networkExists(err error) bool { return launcher.StderrSays(err, "already exists") }

type networkJSON struct {
	ID            string `json:"id"`
	Configuration struct {
		Name   string            `json:"name"`
		Mode   string            `json:"mode"`
		Labels map[string]string `json:"labels"`
	} `json:"configuration"`
	Status struct {
		IPv4Gateway string `json:"ipv4Gateway"`
		IPv4Subnet  string `json:"ipv4Subnet"`
	} `json:"status"`
}

func (n networkJSON) info() launcher.NetworkInfo {
	hostOnly := n.Configuration.Mode == "hostOnly"
	// hostOnly is the most isolation Apple's vmnet offers: no route out.
	// (The host stays reachable, apple/container#1320: the self-test checks.)
	return launcher.NetworkInfo{Name: n.Configuration.Name, Subnet: n.Status.IPv4Subnet, Gateway: n.Status.IPv4Gateway,
		Internal: hostOnly, Isolated: hostOnly, Labels: n.Configuration.Labels}
}

// ParseNetworks reads `network inspect` (pretty) or `network list --format
// json` (compact): the same array of 1.x NetworkResource objects.
func ParseNetworks(data []byte) ([]launcher.NetworkInfo, error) {
	var ns []networkJSON
	if err := json.Unmarshal(data, &ns); err != nil {
		return nil, fmt.Errorf("unexpected container network JSON (is container older than 1.0.0?): %v", err)
	}
	var out []launcher.NetworkInfo
	for _, n := range ns {
		if n.Configuration.Name == "" {
			return nil, errors.New("unexpected container network JSON: no configuration.name (a 0.x shape; bottle needs container 1.0.0 or later)")
		}
		out = append(out, n.info())
	}
	return out, nil
}

// NetworkInspect implements launcher.Backend.
func (b *Backend) NetworkInspect(ctx context.Context, name string) (launcher.NetworkInfo, error) {
	out, err := b.cli().Output(ctx, "network", "inspect", name)
	if err != nil {
		return launcher.NetworkInfo{}, err
	}
	ns, err := ParseNetworks([]byte(out))
	if err != nil {
		return launcher.NetworkInfo{}, err
	}
	if len(ns) != 1 {
		return launcher.NetworkInfo{}, fmt.Errorf("network %s: %d results", name, len(ns))
	}
	return ns[0], nil
}

// notFound says which answer of Apple's (stderr, exit 1) means that the
// object does not exist: "container not found: a, b", "network not found:
// x", "image not found: x" (1.x).
func notFound(kind, name string) func(error) bool {
	return func(err error) bool {
		return launcher.StderrSays(err, kind+" not found: "+name, kind+" not found: \""+name+"\"")
	}
}

// NetworkRemove implements launcher.Backend; a missing network is fine.
func (b *Backend) NetworkRemove(ctx context.Context, name string) error {
	return b.cli().RunUnlessGone(ctx, notFound("network", name), "network", "delete", name)
}

// RunArgs is the argv that starts a container. All networks are given at
// once, in order — the first carries the default route — because `container`
// has no `network connect`. Each container is a VM with its own kernel, so
// RunSpec.NetworkOf cannot be honoured: the container joins Networks (the
// same network, the same topology), and Limits.Pids and Sysctls do not
// apply. envFile holds the environment ("": none).
func RunArgs(r launcher.RunSpec, envFile string) []string {
	args := []string{"run", "-d", "--progress", "none", "--name", r.Name}
	for _, n := range r.Networks {
		args = append(args, "--network", n)
	}
	r.Limits.Memory = strings.ToUpper(r.Limits.Memory) // Apple writes sizes as 512M, 4G
	return append(args, launcher.RunFlags(r, envFile)...)
}

// Run implements launcher.Backend. `container run` pulls a missing image and
// has no flag against it, so the image is checked first: bottle never pulls.
func (b *Backend) Run(ctx context.Context, r launcher.RunSpec) error {
	if len(r.Name) < 2 || len(r.Name) > 63 {
		return fmt.Errorf("container name %q: Apple's container needs 2 to 63 characters", r.Name)
	}
	if ok, err := b.ImageExists(ctx, r.Image); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("image %s is not on this machine, and bottle never pulls images: build it, or pull it yourself (container image pull %s)", r.Image, r.Image)
	}
	envFile := ""
	if len(r.Env) > 0 {
		p, done, err := launcher.WriteEnvFile(r.Env)
		if err != nil {
			return fmt.Errorf("container %s: %w", r.Name, err)
		}
		defer done()
		envFile = p
	}
	return b.cli().Run(ctx, RunArgs(r, envFile)...)
}

type attachmentJSON struct {
	Network     string `json:"network"`
	IPv4Address string `json:"ipv4Address"` // "a.b.c.d/nn"
	IPv4Gateway string `json:"ipv4Gateway"`
}

type containerJSON struct {
	ID            string `json:"id"`
	Configuration struct {
		ID     string            `json:"id"`
		Labels map[string]string `json:"labels"`
		Image  struct {
			Reference string `json:"reference"`
		} `json:"image"`
	} `json:"configuration"`
	Status struct {
		State    string           `json:"state"`
		Networks []attachmentJSON `json:"networks"`
	} `json:"status"`
}

// ParseContainers reads `inspect` (pretty) or `list --format json`
// (compact): arrays of 1.x ManagedContainer objects. Addresses come as CIDR
// strings and are returned bare, keyed by network name.
func ParseContainers(data []byte) ([]launcher.ContainerInfo, error) {
	var cs []containerJSON
	if err := json.Unmarshal(data, &cs); err != nil {
		return nil, fmt.Errorf("unexpected container JSON (is container older than 1.0.0?): %v", err)
	}
	var out []launcher.ContainerInfo
	for _, c := range cs {
		if c.ID == "" {
			return nil, errors.New("unexpected container JSON: no top-level id (a 0.x shape; bottle needs container 1.0.0 or later)")
		}
		info := launcher.ContainerInfo{Name: c.ID, State: c.Status.State, Running: c.Status.State == "running",
			Image: c.Configuration.Image.Reference, Labels: c.Configuration.Labels, Networks: map[string]string{}}
		for _, a := range c.Status.Networks {
			if p, err := netip.ParsePrefix(a.IPv4Address); err == nil {
				info.Networks[a.Network] = p.Addr().String()
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// Inspect implements launcher.Backend.
func (b *Backend) Inspect(ctx context.Context, name string) (launcher.ContainerInfo, error) {
	out, err := b.cli().Output(ctx, "inspect", name)
	if err != nil {
		return launcher.ContainerInfo{}, err
	}
	cs, err := ParseContainers([]byte(out))
	if err != nil {
		return launcher.ContainerInfo{}, err
	}
	if len(cs) != 1 {
		return launcher.ContainerInfo{}, fmt.Errorf("container %s: %d results", name, len(cs))
	}
	return cs[0], nil
}

// Exec implements launcher.Backend.
func (b *Backend) Exec(ctx context.Context, name string, e launcher.ExecSpec) error {
	return b.cli().Exec(ctx, name, e)
}

// CopyIn implements launcher.Backend (`cp` is 1.0.0+; the container must run).
func (b *Backend) CopyIn(ctx context.Context, name, src, dst string) error {
	return b.cli().Run(ctx, "cp", src, name+":"+dst)
}

// CopyOut implements launcher.Backend (`cp` is 1.0.0+; the container must
// run). Apple's cp writes dst itself — through the guest agent, with no
// way to stream it — so limit cannot bound it as it arrives: while cp runs,
// dst is measured every watchInterval and cp is stopped once it holds more
// than limit (a little more may land in between). The caller's check
// (workspace.Check) refuses too much, any special file and any hard link,
// afterwards, before anything reads the copy; dst is in a fresh directory
// of the caller's own. dst must not exist: cp then makes it the copy of
// src (an existing one would get src inside it).
func (b *Backend) CopyOut(ctx context.Context, name, src, dst string, limit workspace.Limit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var over error // set, before cancel, when dst holds too much
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(watchInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := workspace.Measure(dst, limit); err != nil {
					over = err
					cancel()
					return
				}
			}
		}
	}()
	err := b.cli().Run(ctx, CopyOutArgs(name, src, dst)...)
	close(stop)
	<-watched
	if over != nil {
		return over
	}
	return err
}

// watchInterval is how often CopyOut measures what cp wrote so far.
var watchInterval = 200 * time.Millisecond

// CopyOutArgs is the argv (after container) of CopyOut's copy.
func CopyOutArgs(name, src, dst string) []string { return []string{"cp", name + ":" + src, dst} }

// Logs implements launcher.Backend.
func (b *Backend) Logs(ctx context.Context, name string, follow bool, out io.Writer) error {
	return b.cli().Logs(ctx, name, follow, out)
}

// Remove implements launcher.Backend: stop, then delete, by explicit ID —
// never --all, which also hits the buildkit builder.
func (b *Backend) Remove(ctx context.Context, name string) error {
	gone := notFound("container", name)
	if err := b.cli().RunUnlessGone(ctx, gone, "stop", name); err != nil {
		return err
	}
	return b.cli().RunUnlessGone(ctx, gone, "delete", "--force", name)
}

func hasLabels(l, want map[string]string) bool {
	for k, v := range want {
		if l[k] != v {
			return false
		}
	}
	return true
}

// List implements launcher.Backend. `container list` has no label filter,
// so the filtering is done here; the builder and unlabelled resources never
// match our labels.
func (b *Backend) List(ctx context.Context, labels map[string]string) ([]launcher.Resource, error) {
	out, err := b.cli().Output(ctx, "list", "--all", "--format", "json")
	if err != nil {
		return nil, err
	}
	cs, err := ParseContainers([]byte(out))
	if err != nil {
		return nil, err
	}
	var res []launcher.Resource
	for _, c := range cs {
		if hasLabels(c.Labels, labels) {
			res = append(res, launcher.Resource{Kind: "container", Name: c.Name, State: c.State, Labels: c.Labels})
		}
	}
	out, err = b.cli().Output(ctx, "network", "list", "--format", "json")
	if err != nil {
		return nil, err
	}
	ns, err := ParseNetworks([]byte(out))
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if hasLabels(n.Labels, labels) {
			res = append(res, launcher.Resource{Kind: "network", Name: n.Name, Labels: n.Labels})
		}
	}
	return res, nil
}
