// Package fakert is a stateful fake container runtime for bottle's CLI
// tests: one program that acts as `docker` or as Apple's `container`
// depending on the name it is run by, and as `fakert` (the tests' handle
// on it). It interprets the argv bottle's backends send, in each CLI's
// dialect (launcher/docker and launcher/macoscontainer; Apple's JSON shapes
// and messages as in e2e/containerdouble), keeps networks, containers,
// images and labels as state in a directory, answers the self-test's
// probes as a sound bottle would, and fails loudly — exit 99 and a message
// — on any command or flag it does not know, so that a new argv is a
// failing test and never a silent success.
//
// It is test code: nothing but tests imports it. Under testscript it runs
// as a program (Main, with the Config from the environment); in-process
// tests use it as a launcher.Runner.
//
// To teach it a new engine command: add a case to the dialect's switch
// (docker.go or container.go) with the flags it takes (a flagSpec), do to
// the State what the engine would, print what the engine prints, and fail
// as the engine fails (the backends classify those messages).
package fakert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/launcher"
)

// ExitUnknown is the exit status for a command, flag or program the fake
// does not know.
const ExitUnknown = 99

// Config says where the fake keeps its state and how it misbehaves.
type Config struct {
	// Dir holds state.json, argv.log (one line per engine call) and the
	// lock. Required.
	Dir string
	// Fail names a call to fail as the engine would (exit 1 with a
	// message): the call's key, or a prefix of it at a word boundary, e.g.
	// "network create" or "create bottle-demo-agent". A key is the
	// command's words and the object it acts on, without flags: "build
	// TAG", "network create NAME", "create NAME" / "run NAME", "exec NAME",
	// "cp NAME", "rm NAME", "ps" … (each dialect's step calls).
	Fail string
	// Probe overrides the self-test's answers: "MATCH=CODE;…", where MATCH
	// is a substring of the probe's "KIND ARGS" (e.g. "tcp=0" lets every TCP
	// probe connect: a leak; "/healthz=4" makes the proxy not answer).
	Probe string
	// Down names an engine that does not answer: "docker" or "container".
	Down string
	// Subnets makes `docker network ls -q` answer (FAKERT_SUBNETS=1):
	// the launcher then chooses the internal subnet and the sidecar's
	// address itself (--subnet, --ip). Without it the lookup fails, and
	// the launch lets the engine choose, as the scripts' addresses expect.
	Subnets bool
	// AgentUser is what the provisioning script prints ("agent" when
	// empty): the agent image's user.
	AgentUser string
	// Names are replaced by their keys in what `fakert argv` and `fakert
	// state` print ("$WORK" for the script's work directory), so that
	// expected output holds no path or hash of one run.
	Names map[string]string
}

// FromEnv reads the Config from FAKERT_DIR, FAKERT_FAIL, FAKERT_PROBE,
// FAKERT_DOWN and FAKERT_AGENT_USER; $WORK (testscript's) and $OWNER (the
// owner label of the script's state directory) become Names.
func FromEnv(getenv func(string) string) Config {
	cfg := Config{Dir: getenv("FAKERT_DIR"), Fail: getenv("FAKERT_FAIL"), Probe: getenv("FAKERT_PROBE"),
		Down: getenv("FAKERT_DOWN"), AgentUser: getenv("FAKERT_AGENT_USER"), Subnets: getenv("FAKERT_SUBNETS") == "1", Names: map[string]string{}}
	for _, k := range []string{"WORK", "OWNER"} {
		if v := getenv(k); v != "" {
			cfg.Names["$"+k] = v
		}
	}
	return cfg
}

// Main runs the program named by os.Args[0] ("docker", "container" or
// "fakert") and exits with its status.
func Main() {
	os.Exit(Run(context.Background(), FromEnv(os.Getenv), filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Run runs one call of program name ("docker", "container" or "fakert")
// and returns its exit status.
func Run(ctx context.Context, cfg Config, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if cfg.Dir == "" {
		fmt.Fprintln(stderr, "fakert: FAKERT_DIR is not set: the fake runtime has nowhere to keep its state")
		return ExitUnknown
	}
	s := store{dir: cfg.Dir}
	switch name {
	case "fakert":
		return s.tool(ctx, cfg, args, stdin, stdout, stderr)
	case "docker", "container":
	default:
		fmt.Fprintf(stderr, "fakert: run as %q; want docker, container or fakert\n", name)
		return ExitUnknown
	}
	// One call, one line: a word's line breaks are written as \n.
	if err := s.logCall(strings.ReplaceAll(shquote.Join(append([]string{name}, args...)), "\n", `\n`)); err != nil {
		fmt.Fprintf(stderr, "fakert: %v\n", err)
		return ExitUnknown
	}
	c := &call{cfg: cfg, bin: name, args: args, in: stdin, out: stdout, errw: stderr}
	code := 0
	err := s.locked(func(st *State) bool {
		c.st = st
		if name == "docker" {
			code = c.docker()
		} else {
			code = c.container()
		}
		return c.dirty
	})
	if err != nil {
		fmt.Fprintf(stderr, "fakert: state: %v\n", err)
		return ExitUnknown
	}
	if c.wait != nil && code == 0 {
		return s.waitFor(ctx, c.wait)
	}
	return code
}

// call is one engine call being interpreted.
type call struct {
	cfg   Config
	bin   string
	args  []string
	in    io.Reader
	out   io.Writer
	errw  io.Writer
	st    *State
	dirty bool     // the state changed
	wait  *waiting // an attached sleep to wait for, once the state is saved
}

// unknown fails loudly: bottle sent something the fake does not know.
func (c *call) unknown(format string, args ...any) int {
	fmt.Fprintf(c.errw, "fakert: %s %s: %s\n", c.bin, shquote.Join(c.args), fmt.Sprintf(format, args...))
	return ExitUnknown
}

// fail answers as the engine does when something goes wrong: its message
// on stderr, exit 1.
func (c *call) fail(format string, args ...any) int {
	fmt.Fprintf(c.errw, format+"\n", args...)
	return 1
}

// step reports whether the call with key is to fail (Config.Fail), and
// if so says so as the engine would.
func (c *call) step(key string) (int, bool) {
	f := c.cfg.Fail
	if f == "" || key != f && !strings.HasPrefix(key, f+" ") {
		return 0, false
	}
	if c.bin == "docker" {
		return c.fail("Error response from daemon: fakert: injected failure of %q", key), true
	}
	return c.fail("Error: fakert: injected failure of %q", key), true
}

// flagSpec lists a command's flags: true for one that takes a value.
type flagSpec map[string]bool

type parsed struct {
	vals map[string][]string // flags with values, in order
	set  map[string]bool     // flags without
	pos  []string            // positional arguments (with stop, the first and all after it)
}

func (p parsed) last(flag string) string {
	if v := p.vals[flag]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// parse reads args by spec. With stop, the first positional argument ends
// the flags (an image and its command, a container and its argv).
func parse(args []string, spec flagSpec, stop bool) (parsed, error) {
	p := parsed{vals: map[string][]string{}, set: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if stop {
				p.pos = append(p.pos, args[i:]...)
				return p, nil
			}
			p.pos = append(p.pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		takes, ok := spec[name]
		if !ok {
			return p, fmt.Errorf("unknown flag %s", name)
		}
		switch {
		case takes && hasVal:
			p.vals[name] = append(p.vals[name], val)
		case takes:
			if i+1 >= len(args) {
				return p, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			p.vals[name] = append(p.vals[name], args[i])
		case hasVal:
			return p, fmt.Errorf("flag %s takes no value", name)
		default:
			p.set[name] = true
		}
	}
	return p, nil
}

// labels reads K=V flag values.
func labels(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func hasLabels(l, want map[string]string) bool {
	for k, v := range want {
		if l[k] != v {
			return false
		}
	}
	return true
}

// newNetwork makes a network with the next free subnet.
func (c *call) newNetwork(name string, internal bool, options, lbls map[string]string) {
	n := c.st.NextSubnet
	c.st.NextSubnet++
	if len(options) == 0 {
		options = nil
	}
	c.st.Networks[name] = &Network{Name: name, Internal: internal, Options: options, Labels: lbls,
		Subnet: fmt.Sprintf("172.30.%d.0/24", n), Gateway: fmt.Sprintf("172.30.%d.1", n), NextHost: 2}
	c.dirty = true
}

// networkByID is the network whose ID (or its short form) is id.
func (c *call) networkByID(id string) *Network {
	for _, n := range c.st.Networks {
		if strings.HasPrefix(fakeID(n.Name), id) {
			return n
		}
	}
	return nil
}

// attachAt gives container ct address ip on network n, as docker's --ip:
// on a network whose subnet was asked for, an address in it no one has.
func (c *call) attachAt(ct *Container, n *Network, ip string) int {
	sub, _ := netip.ParsePrefix(n.Subnet)
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil || !sub.Contains(a):
		return c.fail("Error response from daemon: invalid IPv4 address: %s", ip)
	case slices.Contains(c.attachedIPs(n.Name), ip):
		return c.fail("Error response from daemon: Address already in use")
	}
	ct.Networks = append(ct.Networks, Attachment{Network: n.Name, IP: ip})
	c.dirty = true
	return 0
}

// attachedIPs are the addresses containers have on network name.
func (c *call) attachedIPs(name string) []string {
	var ips []string
	for _, ct := range c.st.Containers {
		for _, a := range ct.Networks {
			if a.Network == name {
				ips = append(ips, a.IP)
			}
		}
	}
	return ips
}

// attach gives container ct an address on network n.
func (c *call) attach(ct *Container, n *Network) {
	ip := strings.TrimSuffix(n.Subnet, "0/24") + strconv.Itoa(n.NextHost)
	n.NextHost++
	ct.Networks = append(ct.Networks, Attachment{Network: n.Name, IP: ip})
	c.dirty = true
}

// attached lists the containers on network name.
func (c *call) attached(name string) []string {
	var out []string
	for _, ct := range c.st.Containers {
		for _, a := range ct.Networks {
			if a.Network == name {
				out = append(out, ct.Name)
			}
		}
	}
	return out
}

// envNames reads the variable names of an env file (never the values).
func envNames(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("env file %s: line %q has no '='", path, line)
		}
		names = append(names, k)
	}
	return names, nil
}

// Runner is the fake as a launcher.Runner, for in-process tests: the same
// interpreter as the programs, without a process per call.
type Runner struct{ Config Config }

// Run implements launcher.Runner.
func (r Runner) Run(ctx context.Context, cmd launcher.Cmd) error {
	if len(cmd.Argv) == 0 {
		return errors.New("empty command")
	}
	if err := ctx.Err(); err != nil {
		// As exec.CommandContext: a cancelled context starts nothing.
		return err
	}
	var stderr bytes.Buffer
	errw := io.Writer(&stderr)
	if cmd.Stderr != nil {
		errw = io.MultiWriter(cmd.Stderr, &stderr)
	}
	stdout := cmd.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	stdin := cmd.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := Run(ctx, r.Config, filepath.Base(cmd.Argv[0]), cmd.Argv[1:], stdin, stdout, errw)
	if code == 0 {
		return nil
	}
	return &launcher.RunError{Argv: cmd.Argv, ExitCode: code, Stderr: stderr.String(), Err: fmt.Errorf("exit status %d", code)}
}
