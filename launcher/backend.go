// Package launcher makes bottles: it builds the images, creates the two
// networks, starts the sidecar and the agent, proves the agent cannot get
// around the sidecar, and tears it all down again. Container engines are
// behind the Backend interface (launcher/docker, launcher/macoscontainer).
package launcher

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/netip"
	"slices"

	"bottle.dev/bottle/launcher/workspace"
)

// Labels every resource bottle makes carries; enumeration and cleanup go by
// them and never touch anything without them.
const (
	LabelManaged = "dev.bottle.managed"
	LabelName    = "dev.bottle.name"
	LabelRole    = "dev.bottle.role"
	LabelOwner   = "dev.bottle.owner" // a hash of the state directory the bottle belongs to
	// LabelLaunch is a random id of the launch that made a network; see
	// NetworkSpec.SameLaunch.
	LabelLaunch = "dev.bottle.launch"
)

// Backend is a container engine as the launcher needs it.
type Backend interface {
	Name() string
	// Check says whether the engine can be used now, and if not, why and
	// what to do.
	Check(ctx context.Context) error

	ImageExists(ctx context.Context, tag string) (bool, error)
	// ImageID is the ID the engine gives image ref on this machine, ""
	// when it is not here: what changes when an image is rebuilt or
	// pulled again under the same name.
	ImageID(ctx context.Context, ref string) (string, error)
	Build(ctx context.Context, b BuildSpec) error

	// NetworkCreate creates n. It is idempotent for the launch that made
	// the network and for nobody else: when one of n's name exists, it is
	// taken only if n.SameLaunch says so, and refused otherwise.
	NetworkCreate(ctx context.Context, n NetworkSpec) error
	NetworkInspect(ctx context.Context, name string) (NetworkInfo, error)
	NetworkRemove(ctx context.Context, name string) error // idempotent

	// Run creates and starts a container attached to Networks in order (the
	// first carries the default route) and returns once it runs.
	Run(ctx context.Context, r RunSpec) error
	Inspect(ctx context.Context, name string) (ContainerInfo, error)
	Exec(ctx context.Context, name string, e ExecSpec) error
	CopyIn(ctx context.Context, name, src, dst string) error
	// CopyOut copies the directory src of container name to dst on the
	// host, a directory it makes (dst must not exist), so that dst holds
	// what src held. What is in src is the agent's: a backend takes no
	// more than limit, writes nothing outside dst, follows no symlink
	// and makes no special file where it can help it (see
	// workspace.Extract); the caller checks what it got either way
	// (workspace.Check).
	CopyOut(ctx context.Context, name, src, dst string, limit workspace.Limit) error
	Logs(ctx context.Context, name string, follow bool, out io.Writer) error
	Remove(ctx context.Context, name string) error // stop and delete; idempotent

	// List returns the containers and networks carrying all of labels.
	List(ctx context.Context, labels map[string]string) ([]Resource, error)
}

// ImageUserer is what a Backend may do besides: say which user image ref
// is configured to run as (its Dockerfile's last USER), "" for none. An
// agent recipe's install layer, whose steps run as root, then ends as
// that user again; without it, the layer ends as root (which bottle never
// runs anything as but the provisioning: see agentDockerfile).
type ImageUserer interface {
	ImageUser(ctx context.Context, ref string) (string, error)
}

// Addresser is what a Backend may do besides: create a network on the
// subnet it is told (NetworkSpec.Subnet) and put a container at the
// address it is told on it (RunSpec.IPs) — Docker's --subnet and --ip;
// Apple's container has no --ip. With it, a launch chooses the internal
// network's subnet and the sidecar's address up front, and starts the
// agent while the sidecar starts, instead of waiting to read the
// sidecar's address back.
type Addresser interface {
	// Subnets are the IPv4 subnets the engine's networks use now; ok
	// false says this backend cannot take addresses after all.
	Subnets(ctx context.Context) (subnets []netip.Prefix, ok bool, err error)
}

// ErrSubnetTaken is what NetworkCreate's error wraps when the subnet it
// was asked for overlaps one the engine already has (another launch took
// it first): the launch tries another.
var ErrSubnetTaken = errors.New("the subnet overlaps another network's")

// BuildSpec is one image build.
type BuildSpec struct {
	Tag        string
	Dockerfile string // path
	Context    string // directory
	Args       map[string]string
	Labels     map[string]string
	Progress   io.Writer // build output; nil: only shown on failure
	NoCache    bool      // build every step again (launch --rebuild)
}

// NetworkSpec is one network.
type NetworkSpec struct {
	Name     string
	Internal bool // no route out and no address for the host on it
	Labels   map[string]string
	// Subnet is the IPv4 CIDR the network is to have; "": the engine's
	// choice. Only given to an Addresser.
	Subnet string
}

// SameLaunch reports whether info, read back from a network found under
// n's name when creating n failed because one exists, is n as this same
// launch created it: it carries n's launch id (LabelLaunch, which n must
// have) and every other label of n, and it is as internal, and as
// isolated, as n asks.
//
// Why a launch id, and not the labels alone: a network of a bottle's name
// that this launch did not create says nothing about how it is wired (a
// plain internal bridge still reaches the host, moby/libnetwork#1151), and
// the bottle, owner and role labels prove nothing, since an earlier
// launch, a half-made one, or anyone who has seen them can put the same
// ones on a network of their own. The launch id is random, made when the
// launch starts, and first leaves it on the network its create makes: a
// network that carries it can only be that one. So a create repeated after
// its answer got lost succeeds, and whatever else exists is refused.
func (n NetworkSpec) SameLaunch(info NetworkInfo) bool {
	if n.Labels[LabelLaunch] == "" || info.Name != n.Name || info.Internal != n.Internal || n.Internal && !info.Isolated {
		return false
	}
	for k, v := range n.Labels {
		if got, ok := info.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NetworkInfo is what the launcher reads back about a network.
type NetworkInfo struct {
	Name     string
	Subnet   string // CIDR
	Gateway  string // may be empty (no host address)
	Internal bool
	// Isolated says the network has the backend's full isolation for an
	// internal network: on Docker --internal and no host address on the
	// bridge (inhibit_ipv4); on Apple's container a hostOnly network. The
	// launcher refuses an internal network without it.
	Isolated bool
	Labels   map[string]string
}

// Mount is a bind mount.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// RunSpec is one container.
type RunSpec struct {
	Name     string
	Image    string   // must be on this machine: backends never pull
	Networks []string // in order; the first carries the default route
	// NetworkOf, when set, asks to share that container's network namespace
	// (Docker's --network container:NAME), so that what runs here sees
	// exactly the network the other container sees. A backend that cannot
	// (Apple's container: each container is a VM) attaches to Networks
	// instead, which gives the same topology.
	NetworkOf string
	// IPs are the addresses the container is to have, by network (one
	// of Networks, whose subnet bottle chose); only given to an Addresser.
	IPs map[string]string
	DNS []string
	// Env is K=V for the container. Backends never put a value on a command
	// line (the process list, error messages): they hand the engine an env
	// file only the user can read. A value may not hold a line break.
	Env        []string
	Labels     map[string]string
	CapDrop    []string
	Mounts     []Mount
	User       string
	Entrypoint []string
	Cmd        []string
	Workdir    string
	Limits     Limits
	// Sysctls are namespaced kernel settings (Docker's --sysctl); backends
	// without them (Apple's container) ignore them.
	Sysctls map[string]string
}

// Limits bound what a container may take. Zero values: no limit.
type Limits struct {
	Memory string // a size: 512m, 4g (bytes when no unit)
	CPUs   string // a number of CPUs: 1.5
	Pids   int    // processes and threads (Docker; Apple's container has no such limit)
}

// ContainerInfo is what the launcher reads back about a container.
type ContainerInfo struct {
	Name     string
	Running  bool
	State    string
	Image    string
	Networks map[string]string // network name → IPv4 address
	Labels   map[string]string
}

// ExecSpec is one command inside a running container.
type ExecSpec struct {
	Argv    []string
	User    string
	Workdir string
	Env     []string
	TTY     bool
	// Detach starts the command and returns (the engine's exec -d): no
	// streams, no exit status.
	Detach bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Resource is a labelled container or network.
type Resource struct {
	Kind   string // "container" or "network"
	Name   string
	State  string
	Labels map[string]string
}

// The docker and Apple container CLIs spell these flags alike; both backends
// build their argv from here.

// LabelFlags renders labels as --label flags, sorted by key.
func LabelFlags(labels map[string]string) []string {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		args = append(args, "--label", k+"="+labels[k])
	}
	return args
}

// RunFlags are a container's options after its name and networks; envFile
// is where Env was written ("" when there is none).
func RunFlags(r RunSpec, envFile string) []string {
	var args []string
	for _, d := range r.DNS {
		args = append(args, "--dns", d)
	}
	for _, c := range r.CapDrop {
		args = append(args, "--cap-drop", c)
	}
	if envFile != "" {
		args = append(args, "--env-file", envFile)
	}
	if r.Limits.Memory != "" {
		args = append(args, "--memory", r.Limits.Memory)
	}
	if r.Limits.CPUs != "" {
		args = append(args, "--cpus", r.Limits.CPUs)
	}
	for _, m := range r.Mounts {
		v := m.Source + ":" + m.Target
		if m.ReadOnly {
			v += ":ro"
		}
		args = append(args, "-v", v)
	}
	if r.User != "" {
		args = append(args, "--user", r.User)
	}
	if r.Workdir != "" {
		args = append(args, "-w", r.Workdir)
	}
	if len(r.Entrypoint) > 0 {
		// Both CLIs take one entrypoint word; the rest go before Cmd.
		args = append(args, "--entrypoint", r.Entrypoint[0])
	}
	args = append(args, LabelFlags(r.Labels)...)
	args = append(args, r.Image)
	if len(r.Entrypoint) > 1 {
		args = append(args, r.Entrypoint[1:]...)
	}
	return append(args, r.Cmd...)
}

// ExecArgs is the argv of a command in a running container.
func ExecArgs(name string, e ExecSpec) []string {
	args := []string{"exec"}
	if e.Detach {
		args = append(args, "-d")
	}
	if e.Stdin != nil {
		args = append(args, "-i")
	}
	if e.TTY {
		args = append(args, "-t")
	}
	if e.User != "" {
		args = append(args, "-u", e.User)
	}
	if e.Workdir != "" {
		args = append(args, "-w", e.Workdir)
	}
	for _, v := range e.Env {
		args = append(args, "-e", v)
	}
	args = append(args, name)
	return append(args, e.Argv...)
}
