package launcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/images"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
)

// Paths inside the agent.
const (
	agentCABundle = "/etc/ssl/certs/ca-certificates.crt"
	agentProbe    = "/usr/local/bin/bottle-probe"
	workspaceDir  = "/workspace"
)

// Spec is what the user asked for.
type Spec struct {
	Name          string
	Allowlist     string   // path of the allowlist to start from
	Image         string   // agent image to use as is
	Dockerfile    string   // or a Dockerfile to build it from; neither: the default agent image
	AgentBase     string   // BASE_IMAGE for the default agent image ("" keeps its default)
	Workspace     string   // directory copied into /workspace
	Env           []string // K=V for the agent
	EgressNetwork string   // existing network to use as the egress side (not created or removed)
	UpstreamDNS   string   // resolvers the sidecar uses (HOST:PORT[,…])
	UpstreamCA    string   // extra roots for upstream TLS
	SidecarBinary string   // static bottle-sidecar to use; "" finds one
	Limits        Limits   // for the agent (the sidecar has its own, SidecarLimits)
}

// SidecarLimits bound the sidecar: enough for thousands of connections, and
// a sidecar that leaks cannot take the host down with it.
var SidecarLimits = Limits{Memory: "512m", Pids: 256}

// sidecarSysctls turn off packet forwarding in the sidecar's network
// namespace: a second barrier, under the proxy's own peer check, against
// anything on one of its networks using it as a router to the other.
var sidecarSysctls = map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}

// ErrNoBottle is returned for a name that has neither metadata nor
// resources.
var ErrNoBottle = errors.New("no such bottle")

// Launcher makes and unmakes bottles on one backend.
type Launcher struct {
	Backend  Backend
	StateDir string    // $XDG_STATE_HOME/bottle
	Progress io.Writer // step-by-step progress (stderr)
	Verbose  bool      // show build output
	// Runner runs the host programs the launcher needs itself, not the
	// engine's: the go build of bottle-sidecar in a checkout. Nil:
	// ExecRunner.
	Runner Runner
}

// Bottle is the metadata of a launched bottle (bottle.json).
type Bottle struct {
	Name          string    `json:"name"`
	Backend       string    `json:"backend"`
	Created       time.Time `json:"created"`
	Sidecar       string    `json:"sidecar"`
	Agent         string    `json:"agent"`
	Internal      string    `json:"internal_network"`
	Egress        string    `json:"egress_network"`
	EgressOwned   bool      `json:"egress_owned"`
	SidecarIP     string    `json:"sidecar_ip"`
	SidecarEgress string    `json:"sidecar_egress_ip"`
	ProxyURL      string    `json:"proxy_url"`
	CAFingerprint string    `json:"ca_fingerprint"`
	AgentImage    string    `json:"agent_image"`
	SidecarImage  string    `json:"sidecar_image"`
	AgentUser     string    `json:"agent_user"`
	StateDir      string    `json:"state_dir"`
	Mode          string    `json:"mode"`             // the allowlist's mode at launch
	Stopped       time.Time `json:"stopped,omitzero"` // set by Stop; the bottle's logs stay in its state dir
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)

// ValidName checks a bottle name: it becomes part of container and network
// names on every backend (Apple's rules are the strictest: lower case).
func ValidName(n string) error {
	if !nameRE.MatchString(n) {
		return fmt.Errorf("bottle name %q: use 1-40 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", n)
	}
	return nil
}

// Dir is the state directory of bottle name. The name must be valid
// (ValidName): callers check it before the path is used.
func (l *Launcher) Dir(name string) string { return filepath.Join(l.StateDir, name) }

// agentFilesDir holds the files bind-mounted into the agent, and nothing
// else: Apple's container shares a single-file mount's whole directory into
// the VM, so no such directory may also hold the CA key.
func (l *Launcher) agentFilesDir(name string) string {
	return filepath.Join(l.Dir(name), contract.AgentFilesDir)
}

// ConfigDir holds what the sidecar reads: allowlist.yaml, ca.crt, ca.key.
func (l *Launcher) ConfigDir(name string) string {
	return filepath.Join(l.Dir(name), contract.ConfigDir)
}

// LogDir holds the egress audit and the logs dumped at stop.
func (l *Launcher) LogDir(name string) string { return filepath.Join(l.Dir(name), contract.LogDir) }

func (l *Launcher) step(n int, format string, args ...any) {
	if l.Progress != nil {
		fmt.Fprintf(l.Progress, "[%d/9] %s\n", n, fmt.Sprintf(format, args...))
	}
}

func (l *Launcher) note(format string, args ...any) {
	if l.Progress != nil {
		fmt.Fprintf(l.Progress, "      %s\n", fmt.Sprintf(format, args...))
	}
}

// labels are the labels of a resource of bottle name.
func (l *Launcher) labels(name, role string) map[string]string {
	m := l.ownLabels(name)
	m[LabelRole] = role
	return m
}

// ownLabels select every resource of bottle name, of this state directory.
func (l *Launcher) ownLabels(name string) map[string]string {
	m := l.mine()
	m[LabelName] = name
	return m
}

// mine selects every resource of this state directory's bottles. The owner
// label keeps two users (or two state directories) on one engine apart: one
// never lists, stops or cleans up the other's bottles.
func (l *Launcher) mine() map[string]string {
	return map[string]string{LabelManaged: "true", LabelOwner: Owner(l.StateDir)}
}

// Owner is the owner label of the bottles of state directory dir.
func Owner(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:])[:16]
}

// Launch runs the launch sequence. Any failure tears down what this call
// made and returns the error; a bottle that leaks never reaches the user.
func (l *Launcher) Launch(ctx context.Context, s Spec) (b *Bottle, err error) {
	if err := ValidName(s.Name); err != nil {
		return nil, err
	}
	if err := CheckEnv(s.Env); err != nil {
		return nil, fmt.Errorf("-e: %w", err)
	}
	b = &Bottle{
		Name: s.Name, Backend: l.Backend.Name(), Created: time.Now().UTC(),
		Sidecar: "bottle-" + s.Name + "-sidecar", Agent: "bottle-" + s.Name + "-agent",
		Internal: "bottle-" + s.Name + "-internal", Egress: "bottle-" + s.Name + "-egress", EgressOwned: true,
		StateDir: l.Dir(s.Name),
	}
	if s.EgressNetwork != "" {
		b.Egress, b.EgressOwned = s.EgressNetwork, false
	}
	if s.Workspace != "" {
		if err := l.checkWorkspace(s.Workspace); err != nil {
			return nil, err
		}
	}
	existing, err := l.Backend.List(ctx, l.ownLabels(s.Name))
	if err != nil {
		// Without the list, a later failure could not tell this launch's
		// resources from an earlier bottle's.
		return nil, fmt.Errorf("listing bottle %s's resources: %w", s.Name, err)
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("bottle %q already exists (%d resources); stop it first: bottle stop %s", s.Name, len(existing), s.Name)
	}
	made := false // whether this launch made anything the engine holds
	defer func() {
		if err != nil && made {
			l.note("launch failed; tearing down what was made")
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			l.teardown(tctx, b.Name, false)
		}
	}()

	// 1. The backend.
	if err := l.Backend.Check(ctx); err != nil {
		return b, err
	}
	l.step(1, "backend: %s", l.Backend.Name())

	// 2. State dir, CA and the live allowlist.
	cfg := l.ConfigDir(s.Name)
	for _, d := range []string{l.LogDir(s.Name), cfg, l.agentFilesDir(s.Name)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return b, err
		}
	}
	// The bottle keeps its CA across launches (agents may have pinned it);
	// one that exists but does not load is an error to fix, never replaced.
	authority, err := ca.Load(cfg)
	if errors.Is(err, os.ErrNotExist) {
		if authority, err = ca.New(s.Name, 0); err == nil {
			err = authority.Save(cfg)
		}
	}
	if err != nil {
		return b, fmt.Errorf("the bottle's CA in %s: %w", cfg, err)
	}
	b.CAFingerprint = authority.Fingerprint()
	policy, err := os.ReadFile(s.Allowlist)
	if err != nil {
		return b, fmt.Errorf("allowlist: %w (pass --allowlist FILE, or create one with 'bottle allow add HOST')", err)
	}
	pol, err := allowlist.Parse(s.Allowlist, policy)
	if err != nil {
		return b, fmt.Errorf("invalid allowlist:\n%w", err)
	}
	b.Mode = pol.Mode().String()
	if err := atomicfile.Write(filepath.Join(cfg, contract.AllowlistFile), policy); err != nil {
		return b, err
	}
	if s.UpstreamCA != "" {
		data, err := os.ReadFile(s.UpstreamCA)
		if err != nil {
			return b, fmt.Errorf("--upstream-ca: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(cfg, contract.UpstreamCAFile), data); err != nil {
			return b, err
		}
	}
	l.step(2, "state: %s (CA sha256 %s…)", b.StateDir, b.CAFingerprint[:23])
	l.note("policy %s: %d allow and %d deny rules, mode %s", termsafe.Line(s.Allowlist), len(pol.Allow()), len(pol.DenyRules()), pol.Mode())
	if pol.Mode() == allowlist.Report {
		l.note("mode: report — nothing is blocked; what enforce would deny is let through and logged as would-deny")
	}

	// 3. Images, tagged by content: an unchanged input is not rebuilt.
	sidecarBin, err := l.sidecarBinary(ctx, s.SidecarBinary)
	if err != nil {
		return b, err
	}
	if b.SidecarImage, err = l.sidecarImage(ctx, sidecarBin); err != nil {
		return b, err
	}
	if b.AgentImage, err = l.agentImage(ctx, s); err != nil {
		return b, err
	}
	l.step(3, "images: sidecar %s, agent %s", b.SidecarImage, termsafe.Line(b.AgentImage))

	// 4. Networks: internal (no route out, no host address) and egress. A
	// network this launch did not create is never used as the internal one:
	// the launch id tells the backend which one it did (NetworkSpec.SameLaunch).
	launchID := randomToken()
	netLabels := func(role string) map[string]string {
		m := l.labels(s.Name, role)
		m[LabelLaunch] = launchID
		return m
	}
	if err := l.Backend.NetworkCreate(ctx, NetworkSpec{Name: b.Internal, Internal: true, Labels: netLabels("internal")}); err != nil {
		return b, err // nothing made yet: a network of that name that exists is not ours to remove
	}
	made = true
	if b.EgressOwned {
		if err := l.Backend.NetworkCreate(ctx, NetworkSpec{Name: b.Egress, Labels: netLabels("egress")}); err != nil {
			return b, err
		}
	}
	internal, err := l.Backend.NetworkInspect(ctx, b.Internal)
	if err != nil {
		return b, err
	}
	if !internal.Internal || !internal.Isolated || internal.Labels[LabelName] != s.Name || internal.Labels[LabelManaged] != "true" {
		return b, fmt.Errorf("network %s is not the isolated internal network bottle asked for (internal %v, isolated %v, labels %v); refusing to put the agent on it",
			b.Internal, internal.Internal, internal.Isolated, internal.Labels)
	}
	egress, err := l.Backend.NetworkInspect(ctx, b.Egress)
	if err != nil {
		return b, fmt.Errorf("egress network %s: %w", b.Egress, err)
	}
	l.step(4, "networks: %s %s (internal), %s %s (egress)", b.Internal, internal.Subnet, b.Egress, egress.Subnet)

	// 5. The sidecar: egress first (default route), then internal.
	if err := l.chownForSidecar(s.Name); err != nil {
		return b, err
	}
	run := contract.DefaultRunOptions()
	run.InternalCIDR, run.UpstreamDNS, run.Bottle = internal.Subnet, s.UpstreamDNS, s.Name
	run.AuditLog = path.Join(contract.SidecarStateDir, contract.AuditFile)
	run.StatusFile = path.Join(contract.SidecarStateDir, contract.StatusFile)
	err = l.Backend.Run(ctx, RunSpec{
		Name: b.Sidecar, Image: b.SidecarImage, Networks: []string{b.Egress, b.Internal},
		Labels: l.labels(s.Name, "sidecar"), User: sidecarUser(), Limits: SidecarLimits, Sysctls: sidecarSysctls,
		Mounts: []Mount{{Source: cfg, Target: contract.SidecarConfigDir, ReadOnly: true}, {Source: l.LogDir(s.Name), Target: contract.SidecarStateDir}},
		Cmd:    run.Args(),
	})
	if err != nil {
		return b, err
	}
	sc, err := l.Backend.Inspect(ctx, b.Sidecar)
	if err != nil {
		return b, err
	}
	b.SidecarIP, b.SidecarEgress = sc.Networks[b.Internal], sc.Networks[b.Egress]
	if b.SidecarIP == "" {
		return b, fmt.Errorf("the sidecar has no address on %s", b.Internal)
	}
	b.ProxyURL = fmt.Sprintf("http://%s:%d", b.SidecarIP, contract.ProxyPort)
	l.step(5, "sidecar %s: internal %s, egress %s", b.Sidecar, b.SidecarIP, b.SidecarEgress)

	// 6. The agent, on the internal network only. Nothing from its image
	// runs before the self-test has judged the network: its main process is
	// bottle's own static binary (mounted read-only, as bottle-probe),
	// idling unprivileged, and no image healthcheck runs.
	files := l.agentFilesDir(s.Name)
	resolv := filepath.Join(files, "resolv.conf")
	// Docker's embedded resolver does not forward from an internal network
	// on every engine, so the agent asks the sidecar directly.
	if err := os.WriteFile(resolv, []byte("nameserver "+b.SidecarIP+"\noptions ndots:0\n"), 0o644); err != nil {
		return b, err
	}
	probeCopy := filepath.Join(files, "bottle-probe")
	if err := copyFile(sidecarBin, probeCopy, 0o755); err != nil {
		return b, err
	}
	env := append(proxyEnv(b.ProxyURL), s.Env...)
	err = l.Backend.Run(ctx, RunSpec{
		Name: b.Agent, Image: b.AgentImage, Networks: []string{b.Internal}, DNS: []string{b.SidecarIP},
		CapDrop: []string{"NET_ADMIN", "NET_RAW"}, Env: env, Labels: l.labels(s.Name, "agent"), Limits: s.Limits,
		Mounts: []Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true},
			{Source: probeCopy, Target: agentProbe, ReadOnly: true}},
		Entrypoint: []string{agentProbe, "idle"}, Workdir: "/", User: nobody, Sysctls: agentSysctls,
	})
	if err != nil {
		return b, err
	}
	l.step(6, "agent %s on %s only (NET_ADMIN and NET_RAW dropped)", b.Agent, b.Internal)

	// 7. Self-test, fail closed, from a container of bottle's own image in
	// the agent's network: nothing the agent image controls takes part.
	if err := l.SelfTest(ctx, b, internal, egress, pol); err != nil {
		return b, err
	}
	l.step(7, "self-test passed: the proxy and DNS answer and enforce; no way around the sidecar")

	// 8. Provision: the CA into the trust store, the probe, the workspace.
	if err := l.provision(ctx, b, s); err != nil {
		return b, err
	}
	l.step(8, "provisioned: bottle CA trusted, workspace in %s as user %s", workspaceDir, b.AgentUser)

	if err := l.save(b); err != nil {
		return b, err
	}
	l.step(9, "ready")
	return b, nil
}

// nobody runs the agent's main process.
const nobody = "65534:65534"

// agentSysctls turn IPv6 off in the agent's network namespace (Docker): the
// internal network has no IPv6, and a link-local address would still reach
// the host's own link-local addresses on the bridge (engines from 26 keep
// one on every interface, moby#47062).
var agentSysctls = map[string]string{"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}

// copyFile copies src to dst (replacing it) with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	os.Remove(dst) // a running bottle's copy may be busy; a new inode is fine
	return os.WriteFile(dst, data, mode)
}

// checkWorkspace refuses a workspace that is, holds, or lies inside bottle's
// state directory: that would copy the CA keys of every bottle into an agent.
func (l *Launcher) checkWorkspace(ws string) error {
	abs, err := filepath.Abs(ws)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("workspace %s: %w", ws, err)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return fmt.Errorf("workspace %s is not a directory", ws)
	}
	state, err := filepath.Abs(l.StateDir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(state); err == nil {
		state = r
	}
	if within(real, state) || within(state, real) {
		return fmt.Errorf("workspace %s holds or is inside bottle's state directory %s, which has the CA keys of every bottle; choose a narrower workspace", ws, state)
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// proxyEnv points every common tool at the proxy and the CA bundle that
// includes the bottle CA.
func proxyEnv(proxyURL string) []string {
	env := []string{
		"HTTP_PROXY=" + proxyURL, "HTTPS_PROXY=" + proxyURL, "http_proxy=" + proxyURL, "https_proxy=" + proxyURL,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
	}
	for _, v := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
		"PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT"} {
		env = append(env, v+"="+agentCABundle)
	}
	return env
}

// sidecarUser is who the sidecar runs as: the unprivileged image user when
// bottle runs as root (the config is handed to that uid), else the invoking
// user, who owns the 0600 CA key.
func sidecarUser() string {
	if os.Geteuid() == 0 {
		return "65532:65532"
	}
	return fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
}

func (l *Launcher) chownForSidecar(name string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for _, dir := range []string{l.ConfigDir(name), l.LogDir(name)} {
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, 65532, 65532)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Launcher) provision(ctx context.Context, b *Bottle, s Spec) error {
	// The copies go in parallel, then one command sets everything up.
	copies := []struct{ src, dst string }{
		{filepath.Join(l.ConfigDir(b.Name), ca.CertFile), "/usr/local/share/ca-certificates/bottle-ca.crt"},
	}
	if s.Workspace != "" {
		copies = append(copies, struct{ src, dst string }{filepath.Clean(s.Workspace) + "/.", workspaceDir})
	}
	errs := make([]error, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Backend.CopyIn(ctx, b.Agent, c.src, c.dst); err != nil {
				errs[i] = fmt.Errorf("copying %s into the agent: %w", c.src, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// update-ca-certificates where the image has it; else append to the
	// bundle the CA variables point at. Then the workspace goes to the
	// agent user when the image has one.
	script := `set -e
mkdir -p /etc/ssl/certs ` + workspaceDir + `
if command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates >/dev/null 2>&1
else cat /usr/local/share/ca-certificates/bottle-ca.crt >> ` + agentCABundle + `; fi
grep -q "$(sed -n 2p /usr/local/share/ca-certificates/bottle-ca.crt)" ` + agentCABundle + `
if id -u agent >/dev/null 2>&1; then chown -R agent: ` + workspaceDir + `; echo agent; else echo root; fi`
	var out bytes.Buffer
	if err := l.Backend.Exec(ctx, b.Agent, ExecSpec{User: "0", Argv: []string{"sh", "-c", script}, Stdout: &out}); err != nil {
		return fmt.Errorf("installing the bottle CA in the agent (the image needs sh): %w", err)
	}
	// The image printed this, so it is taken only if it is one of the two
	// answers the script gives.
	switch u := strings.TrimSpace(out.String()); u {
	case "agent", "root":
		b.AgentUser = u
	default:
		return fmt.Errorf("provisioning the agent: unexpected answer %q from the image's shell", termsafe.Line(u))
	}
	return nil
}

// sidecarBinary finds a static bottle-sidecar: the one given, one beside the
// bottle executable, or one built from the checkout in the working directory.
func (l *Launcher) sidecarBinary(ctx context.Context, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "bottle-sidecar")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	root, err := findCheckout()
	if err != nil {
		return "", errors.New("no bottle-sidecar binary beside the bottle executable and no bottle source checkout here; put bottle-sidecar next to bottle")
	}
	out := filepath.Join(l.StateDir, ".build", "bottle-sidecar")
	l.note("building bottle-sidecar from %s", root)
	// Static: the sidecar image is FROM scratch, with no C library.
	build := Cmd{Argv: []string{"go", "build", "-trimpath", "-o", out, "./cmd/bottle-sidecar"}, Dir: root, Env: []string{"CGO_ENABLED=0"}}
	if err := OrExec(l.Runner).Run(ctx, build); err != nil {
		return "", fmt.Errorf("building bottle-sidecar in %s with CGO_ENABLED=0: %w", root, err)
	}
	return out, nil
}

func findCheckout() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(data), "module bottle.dev/bottle\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not in a checkout")
		}
		dir = parent
	}
}

func hashFiles(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (l *Launcher) sidecarImage(ctx context.Context, bin string) (string, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	tag := "bottle-sidecar:" + hashFiles(data, []byte(images.SidecarDockerfile))
	return tag, l.buildIfMissing(ctx, tag, map[string][]byte{"Dockerfile": []byte(images.SidecarDockerfile), "bottle-sidecar": data}, nil)
}

func (l *Launcher) agentImage(ctx context.Context, s Spec) (string, error) {
	if s.Image != "" {
		return s.Image, nil
	}
	df := images.AgentDockerfile()
	if s.Dockerfile != "" {
		var err error
		if df, err = os.ReadFile(s.Dockerfile); err != nil {
			return "", err
		}
	}
	args := map[string]string{}
	if s.AgentBase != "" {
		args["BASE_IMAGE"] = s.AgentBase
	}
	tag := "bottle-agent:" + hashFiles(df, []byte(s.AgentBase))
	return tag, l.buildIfMissing(ctx, tag, map[string][]byte{"Dockerfile": df}, args)
}

func (l *Launcher) buildIfMissing(ctx context.Context, tag string, files map[string][]byte, args map[string]string) error {
	if ok, err := l.Backend.ImageExists(ctx, tag); err != nil {
		return err
	} else if ok {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(l.StateDir, ".build"), 0o700); err != nil {
		return err
	}
	dir, err := images.WriteContext(filepath.Join(l.StateDir, ".build"), files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l.note("building %s", tag)
	var progress io.Writer
	if l.Verbose && l.Progress != nil {
		// A build runs the image's own commands: what they print is not
		// trusted with the terminal.
		progress = &termsafe.Writer{W: l.Progress}
	}
	return l.Backend.Build(ctx, BuildSpec{Tag: tag, Dockerfile: filepath.Join(dir, "Dockerfile"), Context: dir, Args: args,
		Labels: map[string]string{LabelManaged: "true"}, Progress: progress})
}

func (l *Launcher) save(b *Bottle) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(b.StateDir, contract.MetadataFile), append(data, '\n'))
}

// Load reads a bottle's metadata. A name that is not valid is refused
// before any path is made of it.
func (l *Launcher) Load(name string) (*Bottle, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(l.Dir(name), contract.MetadataFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no bottle named %q (see bottle list): %w", name, ErrNoBottle)
		}
		return nil, err
	}
	var b Bottle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Dir(name), contract.MetadataFile), err)
	}
	if b.Name != name {
		return nil, fmt.Errorf("%s names bottle %q, not %q", filepath.Join(l.Dir(name), contract.MetadataFile), b.Name, name)
	}
	return &b, nil
}

// Stop saves the logs of a bottle's containers into its state dir and
// removes its containers and networks: only those that carry its labels.
// It reports whether there was anything to stop. A bottle that is already
// stopped is left as it is, saved logs included; a name with neither
// metadata nor resources is ErrNoBottle.
func (l *Launcher) Stop(ctx context.Context, name string) (bool, error) {
	b, err := l.Load(name)
	if err != nil && !errors.Is(err, ErrNoBottle) {
		return false, err
	}
	res, lerr := l.Backend.List(ctx, l.ownLabels(name))
	if lerr != nil {
		return false, lerr
	}
	if len(res) == 0 {
		if b == nil {
			return false, fmt.Errorf("no bottle named %q (see bottle list): %w", name, ErrNoBottle)
		}
		if b.Stopped.IsZero() {
			b.Stopped = time.Now().UTC()
			l.save(b)
		}
		return false, nil
	}
	if err := l.teardown(ctx, name, true); err != nil {
		return true, err
	}
	if b != nil {
		b.Stopped = time.Now().UTC()
		if err := l.save(b); err != nil {
			return true, err
		}
	}
	return true, nil
}

// teardown removes the containers and networks that carry bottle name's
// labels, and nothing else: a container that merely has the name bottle
// would give it is not touched. With dumpLogs, the agent's and the
// sidecar's logs are saved first.
func (l *Launcher) teardown(ctx context.Context, name string, dumpLogs bool) error {
	res, err := l.Backend.List(ctx, l.ownLabels(name))
	if err != nil {
		return fmt.Errorf("listing bottle %s's resources (nothing was removed): %w", name, err)
	}
	var errs []error
	for _, r := range res {
		if r.Kind != "container" {
			continue
		}
		if role := r.Labels[LabelRole]; dumpLogs && (role == "agent" || role == "sidecar") {
			if err := os.MkdirAll(l.LogDir(name), 0o700); err == nil {
				if f, err := os.Create(filepath.Join(l.LogDir(name), role+".log")); err == nil {
					l.Backend.Logs(ctx, r.Name, false, f) // a container that never started has no logs
					f.Close()
				}
			}
		}
		if err := l.Backend.Remove(ctx, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range res {
		if r.Kind == "network" {
			if err := l.Backend.NetworkRemove(ctx, r.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Summary is one bottle as `bottle list` shows it.
type Summary struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"` // running, partial, stopped
	Containers []string `json:"containers"`
	Networks   []string `json:"networks"`
	ProxyURL   string   `json:"proxy_url,omitempty"`
}

// List groups labelled resources by bottle.
func (l *Launcher) List(ctx context.Context) ([]Summary, error) {
	res, err := l.Backend.List(ctx, l.mine())
	if err != nil {
		return nil, err
	}
	by := map[string]*Summary{}
	var order []string
	running := map[string]int{}
	for _, r := range res {
		n := r.Labels[LabelName]
		if n == "" {
			continue
		}
		s, ok := by[n]
		if !ok {
			s = &Summary{Name: n}
			by[n] = s
			order = append(order, n)
		}
		if r.Kind == "container" {
			s.Containers = append(s.Containers, r.Name)
			if role := r.Labels[LabelRole]; r.State == "running" && (role == "agent" || role == "sidecar") {
				running[n]++
			}
		} else {
			s.Networks = append(s.Networks, r.Name)
		}
	}
	var out []Summary
	for _, n := range order {
		s := by[n]
		switch {
		case running[n] == 2:
			s.Status = "running"
		default:
			s.Status = "partial"
		}
		if b, err := l.Load(n); err == nil {
			s.ProxyURL = b.ProxyURL
		}
		out = append(out, *s)
	}
	return out, nil
}

// Cleanup removes the resources of bottles that are not complete and
// running (half-made launches, orphans). It touches only labelled resources.
func (l *Launcher) Cleanup(ctx context.Context, dryRun bool, report io.Writer) error {
	sums, err := l.List(ctx)
	if err != nil {
		return err
	}
	n := 0
	var errs []error
	for _, s := range sums {
		if s.Status == "running" {
			continue
		}
		n++
		fmt.Fprintf(report, "%s: %s (containers %v, networks %v)\n", map[bool]string{true: "would remove", false: "removing"}[dryRun], termsafe.Line(s.Name), s.Containers, s.Networks)
		if !dryRun {
			// One that cannot be removed does not keep the others.
			if _, err := l.Stop(ctx, s.Name); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", termsafe.Line(s.Name), err))
			}
		}
	}
	if n == 0 {
		fmt.Fprintln(report, "nothing to clean up")
	}
	return errors.Join(errs...)
}

// hostAddrs lists this machine's addresses the agent could try (for the
// self-test): IPv4 and IPv6, link-local included (the probe tries those on
// every interface of the agent's namespace), but not loopback (that is the
// agent's own).
func hostAddrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range interfaceAddrs() {
		if !a.IsLoopback() && !a.IsMulticast() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
