// Package fakebackend is an in-memory container engine behind
// launcher.Backend, for tests. It keeps networks, containers and images
// with their labels, hands out addresses, and answers the self-test's
// probes from a table, so a launch runs without an engine.
//
// It is strict: a call bottle must never make fails the test — touching a
// container or network that does not exist or is not labelled as bottle's,
// creating what this bottle already has, building an image that is there,
// running a command it does not know — while what a real engine refuses
// (a name a stranger holds, an image that is not there, a network still in
// use) is answered with the engine's kind of error, as the backends would.
package fakebackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/fstree"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/workspace"
)

// Backend is the fake engine. Set its exported fields before the first
// call; they are read, never written, while a launch runs.
type Backend struct {
	// FailAt names one call that fails with an engine error, as Calls
	// lists it ("Run bottle-demo-agent", "NetworkCreate bottle-demo-egress",
	// "List").
	FailAt string
	// Probe gives the exit code of a self-test probe from its argv after
	// "bottle-sidecar probe --timeout 1s"; nil: GoodProbes.
	Probe func(argv []string) int
	// OnProbe, when set, is called for each probe before it is answered
	// (to play the sidecar's audit).
	OnProbe func(argv []string)
	// AgentUser is what the image's shell answers when provisioning asks
	// for the agent's user: "agent" (the default) or "root" (an image
	// without an agent user).
	AgentUser string
	// NotIsolated makes internal networks read back without the backend's
	// full isolation.
	NotIsolated bool
	// OnCall, when set, sees every call and its context first (to check
	// the context a teardown runs under, to cancel one mid-launch, or to
	// panic, playing a launch killed there).
	OnCall func(ctx context.Context, call string)

	t           testing.TB
	mu          sync.Mutex
	nets        map[string]*network
	containers  map[string]*container
	images      map[string]bool
	imageIDs    map[string]string // SetImageID
	imageUsers  map[string]string // SetImageUser
	nextSubnet  int
	calls       []string
	creates     []launcher.NetworkSpec
	runs        []launcher.RunSpec
	builds      []launcher.BuildSpec
	execs       []Exec
	copies      []Copy
	procs       map[string]*proc  // supervised commands that run, by pid file
	roots       map[string]string // container → its file system
	owners      map[string]string // "container:path" → its owner (agentfiles.go)
	dockerfiles map[string][]byte // tag → the Dockerfile it was built from
}

type network struct {
	spec     launcher.NetworkSpec
	subnet   int // the network is 10.subnet.0.0/24, its gateway .1
	nextHost int
}

type container struct {
	spec  launcher.RunSpec
	addrs map[string]string // network → address
}

// Exec is one command run in a container.
type Exec struct {
	Container string
	Spec      launcher.ExecSpec
}

// Copy is one file or directory copied into a container.
type Copy struct {
	Container, Src, Dst string
	// Seq is how many commands had been run (Execs) when it was made:
	// where it goes among them.
	Seq int
}

// New returns an empty engine that reports to t.
func New(t testing.TB) *Backend {
	return &Backend{t: t, nets: map[string]*network{}, containers: map[string]*container{}, images: map[string]bool{}, procs: map[string]*proc{}}
}

// GoodProbes answers every probe the way a sound bottle does: the proxy
// answers, the self-test's blocked name is refused by DNS and proxy,
// allowed names resolve, and nothing else is reachable.
func GoodProbes(argv []string) int {
	switch {
	case argv[0] == "http" && strings.HasSuffix(argv[1], "/healthz"):
		return contract.ProbeOK
	case argv[0] == "dns" && strings.HasPrefix(argv[1], "bottle-self-test"):
		return contract.ProbeBlocked
	case argv[0] == "http":
		return contract.ProbeBlocked
	case argv[0] == "dns":
		return contract.ProbeOK
	}
	return contract.ProbeTimeout // tcp: no route
}

// engineError is a failure as a backend reports the engine's answer.
func engineError(call, stderr string) error {
	return &launcher.RunError{Argv: []string{"fake", call}, ExitCode: 1, Stderr: stderr, Err: errors.New("exit status 1")}
}

// begin records call and says how it ends before the engine looks at it:
// a cancelled context or the injected failure. The lock is held on return.
func (f *Backend) begin(ctx context.Context, call string) error {
	if f.OnCall != nil {
		func() {
			// OnCall may panic, to play a launch killed at that call: the
			// caller's deferred unlock then finds the lock held, as it
			// does on return.
			defer func() {
				if r := recover(); r != nil {
					f.mu.Lock()
					panic(r)
				}
			}()
			f.OnCall(ctx, call)
		}()
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.FailAt != "" && call == f.FailAt {
		return engineError(call, "injected failure")
	}
	return nil
}

// unexpected fails the test: bottle made a call it must never make.
func (f *Backend) unexpected(format string, args ...any) error {
	f.t.Helper()
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fakebackend: unexpected call: %s", msg)
	return engineError("unexpected", msg)
}

// checkLabels fails the test for a resource bottle makes without the
// labels that enumeration and cleanup go by.
func (f *Backend) checkLabels(what string, labels map[string]string) {
	f.t.Helper()
	for _, k := range []string{launcher.LabelManaged, launcher.LabelOwner, launcher.LabelName, launcher.LabelRole} {
		if labels[k] == "" {
			f.t.Errorf("fakebackend: %s has no %s label: %v", what, k, labels)
		}
	}
}

// sameBottle reports whether a and b are labelled as one bottle of one
// owner: what a launch's own listing would have shown it.
func sameBottle(a, b map[string]string) bool {
	return a[launcher.LabelManaged] == "true" && b[launcher.LabelManaged] == "true" &&
		a[launcher.LabelOwner] == b[launcher.LabelOwner] && a[launcher.LabelName] == b[launcher.LabelName]
}

// Name implements launcher.Backend.
func (f *Backend) Name() string { return "fake" }

// Check implements launcher.Backend.
func (f *Backend) Check(ctx context.Context) error {
	defer f.mu.Unlock()
	return f.begin(ctx, "Check")
}

// ImageExists implements launcher.Backend.
func (f *Backend) ImageExists(ctx context.Context, tag string) (bool, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ImageExists "+tag); err != nil {
		return false, err
	}
	return f.images[tag], nil
}

// ImageID implements launcher.Backend: "sha256:" and the tag
// (SetImageID sets another).
func (f *Backend) ImageID(ctx context.Context, ref string) (string, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ImageID "+ref); err != nil {
		return "", err
	}
	if !f.images[ref] {
		return "", nil
	}
	if id, ok := f.imageIDs[ref]; ok {
		return id, nil
	}
	return "sha256:" + ref, nil
}

// ImageUser implements launcher.ImageUserer: "" unless SetImageUser
// gave the image one.
func (f *Backend) ImageUser(ctx context.Context, ref string) (string, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ImageUser "+ref); err != nil {
		return "", err
	}
	if !f.images[ref] {
		return "", engineError("image inspect", "Error: No such image: "+ref)
	}
	return f.imageUsers[ref], nil
}

// SetImageUser makes image ref (which must exist) say it runs as user.
func (f *Backend) SetImageUser(ref, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.imageUsers == nil {
		f.imageUsers = map[string]string{}
	}
	f.imageUsers[ref] = user
}

// SetImageID makes image ref exist with that ID: a base image pulled or
// rebuilt again under its name.
func (f *Backend) SetImageID(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = true
	if f.imageIDs == nil {
		f.imageIDs = map[string]string{}
	}
	f.imageIDs[ref] = id
}

// Build implements launcher.Backend.
func (f *Backend) Build(ctx context.Context, b launcher.BuildSpec) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Build "+b.Tag); err != nil {
		return err
	}
	if f.images[b.Tag] && !b.NoCache {
		return f.unexpected("Build %s: the image is there (an unchanged input is never rebuilt, but with --rebuild)", b.Tag)
	}
	df, err := os.ReadFile(b.Dockerfile)
	if err != nil {
		return engineError("build", "failed to read dockerfile: "+err.Error())
	}
	// A COPY of a file the context does not have fails, as the build would.
	for _, line := range strings.Split(string(df), "\n") {
		if w := strings.Fields(line); len(w) >= 3 && w[0] == "COPY" && !strings.HasPrefix(w[1], "--") {
			if _, err := os.Stat(filepath.Join(b.Context, w[1])); err != nil {
				return engineError("build", "COPY "+w[1]+": not found in the build context")
			}
		}
	}
	if f.dockerfiles == nil {
		f.dockerfiles = map[string][]byte{}
	}
	f.dockerfiles[b.Tag] = df
	if b.Labels[launcher.LabelManaged] != "true" {
		f.t.Errorf("fakebackend: image %s is built without %s", b.Tag, launcher.LabelManaged)
	}
	f.builds = append(f.builds, b)
	f.images[b.Tag] = true
	return nil
}

// AddImage puts an image on the engine, as if the user had built or
// pulled it.
func (f *Backend) AddImage(tag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[tag] = true
}

// NetworkCreate implements launcher.Backend, with the backends' contract:
// a network of the name that exists is taken only when n.SameLaunch says
// this launch made it.
func (f *Backend) NetworkCreate(ctx context.Context, n launcher.NetworkSpec) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "NetworkCreate "+n.Name); err != nil {
		return err
	}
	f.checkLabels("network "+n.Name, n.Labels)
	if old, ok := f.nets[n.Name]; ok {
		switch {
		case n.SameLaunch(f.info(old)):
			return nil
		case sameBottle(old.spec.Labels, n.Labels):
			return f.unexpected("NetworkCreate %s: this bottle has that network already (its listing shows it)", n.Name)
		}
		return engineError("network create", "network "+n.Name+" already exists, and bottle does not adopt a network it did not create")
	}
	f.creates = append(f.creates, n)
	f.addNetwork(n)
	return nil
}

func (f *Backend) addNetwork(n launcher.NetworkSpec) {
	f.nextSubnet++
	n.Labels = maps.Clone(n.Labels)
	f.nets[n.Name] = &network{spec: n, subnet: f.nextSubnet, nextHost: 2}
}

// AddNetwork puts a network on the engine as another program made it: a
// stranger's when it has no bottle labels, a half-made bottle's when it
// has them.
func (f *Backend) AddNetwork(n launcher.NetworkSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addNetwork(n)
}

func (f *Backend) info(n *network) launcher.NetworkInfo {
	sub := fmt.Sprintf("10.%d.0", n.subnet)
	internal := n.spec.Internal
	return launcher.NetworkInfo{Name: n.spec.Name, Subnet: sub + ".0/24", Gateway: sub + ".1", Internal: internal,
		Isolated: internal && !f.NotIsolated, Labels: maps.Clone(n.spec.Labels)}
}

// gateways are the gateways of the networks the engine holds.
func (f *Backend) gateways() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, n := range f.nets {
		out[f.info(n).Gateway] = true
	}
	return out
}

// NetworkInspect implements launcher.Backend.
func (f *Backend) NetworkInspect(ctx context.Context, name string) (launcher.NetworkInfo, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "NetworkInspect "+name); err != nil {
		return launcher.NetworkInfo{}, err
	}
	n, ok := f.nets[name]
	if !ok {
		return launcher.NetworkInfo{}, engineError("network inspect", "Error: No such network: "+name)
	}
	return f.info(n), nil
}

// NetworkRemove implements launcher.Backend.
func (f *Backend) NetworkRemove(ctx context.Context, name string) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "NetworkRemove "+name); err != nil {
		return err
	}
	n, ok := f.nets[name]
	switch {
	case !ok:
		return f.unexpected("NetworkRemove %s: there is no such network (bottle removes only what it listed or made)", name)
	case n.spec.Labels[launcher.LabelManaged] != "true":
		return f.unexpected("NetworkRemove %s: the network is not labelled as bottle's", name)
	}
	for _, c := range f.sortedContainers() {
		if _, on := c.addrs[name]; on {
			return engineError("network rm", "Error response from daemon: error while removing network: network "+name+" has active endpoints ("+c.spec.Name+")")
		}
	}
	delete(f.nets, name)
	return nil
}

// Run implements launcher.Backend.
func (f *Backend) Run(ctx context.Context, r launcher.RunSpec) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Run "+r.Name); err != nil {
		return err
	}
	f.checkLabels("container "+r.Name, r.Labels)
	if old, ok := f.containers[r.Name]; ok {
		if sameBottle(old.spec.Labels, r.Labels) {
			return f.unexpected("Run %s: this bottle has that container already (its listing shows it)", r.Name)
		}
		return engineError("run", `Error response from daemon: Conflict. The container name "/`+r.Name+`" is already in use`)
	}
	if !f.images[r.Image] {
		return engineError("run", "Error: No such image: "+r.Image)
	}
	for _, m := range r.Mounts {
		if _, err := os.Stat(m.Source); err != nil {
			return engineError("run", "invalid mount config: bind source path does not exist: "+m.Source)
		}
	}
	c := &container{spec: r, addrs: map[string]string{}}
	if r.NetworkOf != "" {
		other, ok := f.containers[r.NetworkOf]
		if !ok {
			return engineError("run", "Error response from daemon: No such container: "+r.NetworkOf)
		}
		c.addrs = other.addrs // one network namespace
	} else {
		for _, n := range r.Networks {
			if _, ok := f.nets[n]; !ok {
				return engineError("run", "Error response from daemon: network "+n+" not found")
			}
		}
		for _, name := range r.Networks {
			n := f.nets[name]
			c.addrs[name] = fmt.Sprintf("10.%d.0.%d", n.subnet, n.nextHost)
			n.nextHost++
		}
	}
	f.runs = append(f.runs, r)
	f.containers[r.Name] = c
	return nil
}

// AddContainer puts a running container on the engine as another program
// made it (on no network): a stranger's when it has no bottle labels.
func (f *Backend) AddContainer(r launcher.RunSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[r.Name] = &container{spec: r, addrs: map[string]string{}}
}

// Inspect implements launcher.Backend.
func (f *Backend) Inspect(ctx context.Context, name string) (launcher.ContainerInfo, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Inspect "+name); err != nil {
		return launcher.ContainerInfo{}, err
	}
	c, ok := f.containers[name]
	if !ok {
		return launcher.ContainerInfo{}, engineError("inspect", "Error: No such container: "+name)
	}
	return launcher.ContainerInfo{Name: name, Running: true, State: "running", Image: c.spec.Image,
		Networks: maps.Clone(c.addrs), Labels: maps.Clone(c.spec.Labels)}, nil
}

// probeBatch plays `bottle-sidecar probe --timeout D batch JSON`: each
// probe is answered by Probe (its argv: the kind, then its args), and the
// results are printed as the real batch prints them.
func (f *Backend) probeBatch(ctx context.Context, e launcher.ExecSpec) error {
	var specs []contract.ProbeSpec
	if err := json.Unmarshal([]byte(e.Argv[5]), &specs); err != nil {
		return f.unexpected("a probe batch that is not JSON: %v", err)
	}
	probe := f.Probe
	if probe == nil {
		probe = GoodProbes
	}
	results := make([]contract.ProbeResult, len(specs))
	for i, p := range specs {
		argv := append([]string{p.Kind}, p.Args...)
		if f.OnProbe != nil {
			f.OnProbe(argv)
		}
		if p.Kind == "http" && !strings.HasSuffix(p.Args[0], "/healthz") && p.Proxy == "" {
			return f.unexpected("probe %q goes around the proxy: a refusal would prove nothing", argv)
		}
		code := probe(argv)
		results[i] = contract.ProbeResult{Code: code, Msg: contract.ProbeWord(code)}
	}
	if err := ctx.Err(); err != nil {
		// Cancelled while the probes ran: the engine's exec is killed.
		return err
	}
	if e.Stdout != nil {
		out, _ := json.Marshal(results)
		fmt.Fprintf(e.Stdout, "%s\n", out)
	}
	return nil
}

// Exec implements launcher.Backend. It knows the self-test's probes, the
// provisioning script, and bottle-probe supervise and signal of a few
// programs (command.go); any other command fails the test.
func (f *Backend) Exec(ctx context.Context, name string, e launcher.ExecSpec) error {
	err := f.begin(ctx, "Exec "+name+": "+strings.Join(e.Argv, " "))
	_, exists := f.containers[name]
	f.execs = append(f.execs, Exec{Container: name, Spec: e})
	f.mu.Unlock()
	switch {
	case err != nil:
		return err
	case !exists:
		return f.unexpected("Exec in %s: there is no such container", name)
	case len(e.Argv) == 6 && e.Argv[1] == "probe" && e.Argv[4] == "batch":
		return f.probeBatch(ctx, e)
	case len(e.Argv) > 1 && e.Argv[1] == "probe":
		return f.unexpected("Exec in %s of %q: the self-test runs its probes in one batch", name, e.Argv)
	case len(e.Argv) > 2 && e.Argv[0] == contract.AgentProbe && e.Argv[1] == "supervise":
		return f.supervise(ctx, name, e)
	case len(e.Argv) > 2 && e.Argv[0] == contract.AgentProbe && e.Argv[1] == "signal":
		return f.signal(name, e)
	case e.Detach:
		return f.unexpected("Exec -d in %s of %q: bottle detaches only bottle-probe supervise", name, e.Argv)
	case len(e.Argv) >= 4 && e.Argv[0] == "sh" && e.Argv[1] == "-c" && strings.HasPrefix(e.Argv[2], "# bottle: "):
		return f.agentScript(name, e)
	case len(e.Argv) == 3 && e.Argv[0] == "sh" && e.Argv[1] == "-c" && strings.Contains(e.Argv[2], "update-ca-certificates"):
		if e.Stdout != nil {
			u := f.AgentUser
			if u == "" {
				u = "agent" // the image has an agent user
			}
			io.WriteString(e.Stdout, u+"\n")
		}
		return nil
	}
	if out, code, long, known := program(e.Argv); known && !long {
		if e.Stdout != nil {
			io.WriteString(e.Stdout, out)
		}
		if code != 0 {
			return exitError(e.Argv, code)
		}
		return nil
	}
	return f.unexpected("Exec in %s: a command the fake does not know: %q", name, e.Argv)
}

// CopyIn implements launcher.Backend.
func (f *Backend) CopyIn(ctx context.Context, name, src, dst string) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CopyIn "+dst); err != nil {
		return err
	}
	if _, ok := f.containers[name]; !ok {
		return f.unexpected("CopyIn into %s: there is no such container", name)
	}
	if _, err := os.Stat(strings.TrimSuffix(src, "/.")); err != nil {
		return engineError("cp", "lstat "+src+": no such file or directory")
	}
	f.copies = append(f.copies, Copy{Container: name, Src: src, Dst: dst, Seq: len(f.execs)})
	if f.owners == nil {
		f.owners = map[string]string{}
	}
	if dir, ok := strings.CutSuffix(src, "/."); ok {
		// What the engine copies in is root's.
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if rel, rerr := filepath.Rel(dir, p); err == nil && rerr == nil && rel != "." {
				f.owners[name+":"+path.Join(dst, filepath.ToSlash(rel))] = "root"
			}
			return nil
		})
	} else {
		f.owners[name+":"+dst] = "root"
	}
	// The copy really lands in the container's file system, for CopyOut
	// and the tests to find.
	to := filepath.Join(f.rootLocked(name), filepath.FromSlash(dst))
	if dir, ok := strings.CutSuffix(src, "/."); ok {
		return copyTree(dir, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// CopyOut implements launcher.Backend as Docker's does: the container's
// directory as a tar stream, extracted by workspace.Extract.
func (f *Backend) CopyOut(ctx context.Context, name, src, dst string, limit workspace.Limit) error {
	err := f.begin(ctx, "CopyOut "+name+":"+src)
	c, ok := f.containers[name]
	from := ""
	if ok {
		from = filepath.Join(f.rootLocked(name), filepath.FromSlash(src))
	}
	f.mu.Unlock()
	switch {
	case err != nil:
		return err
	case !ok:
		return f.unexpected("CopyOut of %s: there is no such container", name)
	case c.spec.Labels[launcher.LabelManaged] != "true":
		return f.unexpected("CopyOut of %s: the container is not labelled as bottle's", name)
	}
	if _, err := os.Lstat(from); err != nil {
		return engineError("cp", "Error: Could not find the file "+src+" in container "+name)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(workspace.Archive(pw, from, path.Base(src))) }()
	err = workspace.Extract(pr, dst, path.Base(src), limit)
	pr.Close()
	return err
}

// Root is the directory that holds container name's file system: what
// CopyIn put there, for a test to change as the agent would.
func (f *Backend) Root(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rootLocked(name)
}

func (f *Backend) rootLocked(name string) string {
	if f.roots == nil {
		f.roots = map[string]string{}
	}
	if f.roots[name] == "" {
		f.roots[name] = f.t.TempDir()
	}
	return f.roots[name]
}

// copyTree is fstree.Copy, its errors said as fakebackend's.
func copyTree(src, dst string) error {
	if err := fstree.Copy(src, dst); err != nil {
		return fmt.Errorf("fakebackend: %w", err)
	}
	return nil
}

// Logs implements launcher.Backend: a container's log is "log of NAME".
func (f *Backend) Logs(ctx context.Context, name string, _ bool, out io.Writer) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Logs "+name); err != nil {
		return err
	}
	if _, ok := f.containers[name]; !ok {
		return f.unexpected("Logs of %s: there is no such container", name)
	}
	_, err := io.WriteString(out, "log of "+name+"\n")
	return err
}

// Remove implements launcher.Backend.
func (f *Backend) Remove(ctx context.Context, name string) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Remove "+name); err != nil {
		return err
	}
	c, ok := f.containers[name]
	switch {
	case !ok:
		return f.unexpected("Remove %s: there is no such container (bottle removes only what it listed or made)", name)
	case c.spec.Labels[launcher.LabelManaged] != "true":
		return f.unexpected("Remove %s: the container is not labelled as bottle's", name)
	}
	delete(f.containers, name)
	// What ran in it ends with it, killed: a detached command writes no
	// status, an attached one's exec ends.
	for k, p := range f.procs {
		if p.container == name {
			delete(f.procs, k)
			p.detached = false
			p.ended <- 128 + signals["KILL"]
			close(p.done)
		}
	}
	if root := f.roots[name]; root != "" {
		delete(f.roots, name)
		os.RemoveAll(root) // the container's file system goes with it
	}
	return nil
}

// List implements launcher.Backend: containers, then networks, each by
// name.
func (f *Backend) List(ctx context.Context, labels map[string]string) ([]launcher.Resource, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx, "List"); err != nil {
		return nil, err
	}
	match := func(l map[string]string) bool {
		for k, v := range labels {
			if l[k] != v {
				return false
			}
		}
		return true
	}
	var out []launcher.Resource
	for _, c := range f.sortedContainers() {
		if match(c.spec.Labels) {
			out = append(out, launcher.Resource{Kind: "container", Name: c.spec.Name, State: "running", Labels: maps.Clone(c.spec.Labels)})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.nets)) {
		if l := f.nets[name].spec.Labels; match(l) {
			out = append(out, launcher.Resource{Kind: "network", Name: name, Labels: maps.Clone(l)})
		}
	}
	return out, nil
}

func (f *Backend) sortedContainers() []*container {
	var out []*container
	for _, name := range slices.Sorted(maps.Keys(f.containers)) {
		out = append(out, f.containers[name])
	}
	return out
}

// State is what the engine holds, one resource a line, sorted:
// "container NAME ROLE" and "network NAME ROLE", with "-" for a resource
// that is not bottle's.
func (f *Backend) State() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	role := func(l map[string]string) string {
		if l[launcher.LabelManaged] != "true" {
			return "-"
		}
		return l[launcher.LabelRole]
	}
	var lines []string
	for _, c := range f.sortedContainers() {
		lines = append(lines, "container "+c.spec.Name+" "+role(c.spec.Labels))
	}
	for _, name := range slices.Sorted(maps.Keys(f.nets)) {
		lines = append(lines, "network "+name+" "+role(f.nets[name].spec.Labels))
	}
	return strings.Join(lines, "\n")
}

// Container returns the spec of a container the engine holds.
func (f *Backend) Container(name string) (launcher.RunSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		return launcher.RunSpec{}, false
	}
	return c.spec, true
}

// Network returns the spec of a network the engine holds.
func (f *Backend) Network(name string) (launcher.NetworkSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nets[name]
	if !ok {
		return launcher.NetworkSpec{}, false
	}
	return n.spec, true
}

// Calls lists every call, in order: "Run NAME", "Exec NAME: ARGV", ….
func (f *Backend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Execs lists every command run in a container, in order.
func (f *Backend) Execs() []Exec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.execs)
}

// Copies lists every copy into a container, in order.
func (f *Backend) Copies() []Copy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.copies)
}

// Runs lists the spec of every container started, in order, removed ones
// included.
func (f *Backend) Runs() []launcher.RunSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.runs)
}

// Creates lists the spec of every network created, in order.
func (f *Backend) Creates() []launcher.NetworkSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.creates)
}

// Builds lists every image build, in order.
func (f *Backend) Builds() []launcher.BuildSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.builds)
}
