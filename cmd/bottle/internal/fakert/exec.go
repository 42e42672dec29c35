package fakert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/term"

	"bottle.dev/bottle/internal/contract"
)

// fakeID is a stable engine ID for name.
func fakeID(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

// exec runs a program in a container: the self-test's probes, the
// provisioning script, and a few programs a test may exec in the agent.
// Anything else fails loudly.
func (c *call) exec(args []string) int {
	p, err := parse(args, execFlags, true)
	if err != nil || len(p.pos) < 2 {
		return c.unknown("want exec [-d] [-i] [-t] [-u USER] [-w DIR] [-e K=V]... NAME ARGV... (%v)", err)
	}
	name, argv := p.pos[0], p.pos[1:]
	if code, failed := c.step("exec " + name); failed {
		return code
	}
	ct, ok := c.st.Containers[name]
	switch {
	case !ok && c.bin == "docker":
		return c.fail("Error: No such container: %s", name)
	case !ok:
		return c.fail("Error: container not found: %s", name)
	case ct.State != "running" && c.bin == "docker":
		return c.fail("Error response from daemon: Container %s is not running", fakeID(name))
	case ct.State != "running":
		return c.fail("Error: container %s is not running", name)
	}
	if p.set["-t"] {
		f, isFile := c.in.(*os.File)
		if !isFile || !term.IsTerminal(int(f.Fd())) {
			// What docker says when asked for a terminal it cannot have.
			return c.fail("the input device is not a TTY")
		}
	}
	if argv[0] == contract.AgentProbe {
		return c.agentProbe(ct, p.last("-u"), p.set["-d"], argv)
	}
	if p.set["-d"] {
		return c.unknown("a detached exec not under %s supervise", contract.AgentProbe)
	}
	if len(argv) > 1 && argv[1] == "probe" {
		return c.probe(ct, argv)
	}
	return c.program(ct, p.last("-u"), argv)
}

// probe answers `/bottle-sidecar probe --timeout 1s KIND ARGS` as a sound
// bottle does, unless Config.Probe says otherwise: the proxy answers, a name
// outside the allowlist is blocked by DNS and by the proxy, and TCP to
// anything else (gateways, the host, the sidecar's egress side) times out.
func (c *call) probe(ct *Container, argv []string) int {
	if !strings.HasPrefix(ct.Image, "bottle-sidecar:") || argv[0] != "/bottle-sidecar" {
		return c.unknown("probe in %s (image %s): only bottle's sidecar image has /bottle-sidecar", ct.Name, ct.Image)
	}
	if len(argv) != 6 || argv[2] != "--timeout" || argv[4] != "batch" {
		return c.unknown("want /bottle-sidecar probe --timeout D batch JSON (the self-test runs its probes in one batch)")
	}
	var specs []contract.ProbeSpec
	if err := json.Unmarshal([]byte(argv[5]), &specs); err != nil {
		return c.unknown("a probe batch that is not JSON: %v", err)
	}
	results := make([]contract.ProbeResult, len(specs))
	for i, p := range specs {
		if len(p.Args) == 0 {
			return c.unknown("probe %d of the batch has no args", i)
		}
		code, ok := c.probeOne(p.Kind, p.Args)
		if !ok {
			return c.unknown("probe kind %q", p.Kind)
		}
		results[i] = contract.ProbeResult{Code: code, Msg: contract.ProbeWord(code) + ": " + p.Kind + " " + strings.Join(p.Args, " ")}
	}
	out, _ := json.Marshal(results)
	fmt.Fprintf(c.out, "%s\n", out)
	return 0
}

// probeOne is what one probe of a batch finds, by Config.Probe (matched
// against "KIND ARGS") or as a sound bottle would.
func (c *call) probeOne(kind string, args []string) (int, bool) {
	argv := append([]string{"", "", "", "", kind}, args...)
	what := strings.Join(argv[4:], " ")
	code := contract.ProbeTimeout
	switch {
	case kind == "http" && strings.HasSuffix(argv[5], "/healthz"):
		code = contract.ProbeOK
	case kind == "http":
		code = contract.ProbeBlocked
	case kind == "dns" && strings.HasPrefix(argv[5], "bottle-self-test-"):
		code = contract.ProbeBlocked
	case kind == "dns":
		code = contract.ProbeOK
	case kind == "tcp":
	default:
		return 0, false
	}
	for _, o := range strings.Split(c.cfg.Probe, ";") {
		match, v, ok := strings.Cut(o, "=")
		if n, err := strconv.Atoi(v); ok && err == nil && strings.Contains(what, match) {
			code = n
			break
		}
	}
	return code, true
}

// program runs one of the few programs the fake's containers have.
func (c *call) program(ct *Container, user string, argv []string) int {
	switch {
	case argv[0] == "sh" && len(argv) == 3 && argv[1] == "-c" && strings.Contains(argv[2], "update-ca-certificates"):
		// The launcher's provisioning: as root, after the CA was copied in.
		if user != "0" {
			return c.unknown("provisioning as user %q, not 0", user)
		}
		if !slices.Contains(ct.Copied, "/usr/local/share/ca-certificates/bottle-ca.crt") {
			return c.fail("grep: /usr/local/share/ca-certificates/bottle-ca.crt: No such file or directory")
		}
		// mkdir -p /workspace, as the script does.
		if err := os.MkdirAll(filepath.Join(c.root(ct.Name), "workspace"), 0o755); err != nil {
			return c.fail("mkdir: %v", err)
		}
		u := c.cfg.AgentUser
		if u == "" {
			u = "agent"
		}
		fmt.Fprintln(c.out, u)
		return 0
	case argv[0] == "sh" && len(argv) == 3 && argv[1] == "-c" && strings.Contains(argv[2], "exec bash -l || exec sh -l"):
		fmt.Fprintf(c.out, "fakert: a login shell in %s as %s\n", ct.Name, user)
		return 0
	case argv[0] == "sh" && len(argv) == 3 && argv[1] == "-c" && strings.HasPrefix(argv[2], "exit "):
		n, err := strconv.Atoi(strings.TrimPrefix(argv[2], "exit "))
		if err != nil {
			break
		}
		return n
	case argv[0] == "true" && len(argv) == 1:
		return 0
	case argv[0] == "false" && len(argv) == 1:
		return 1
	case argv[0] == "echo":
		fmt.Fprintln(c.out, strings.Join(argv[1:], " "))
		return 0
	case argv[0] == "cat" && len(argv) == 1:
		io.Copy(c.out, c.in)
		return 0
	}
	return c.unknown("%s has no program the fake knows for %q", ct.Name, argv)
}

// copyIn is `cp SRC NAME:DST`: the source must exist; it lands in the
// container's file system, which remembers the destination. `cp NAME:SRC
// …` is a copy out (copyOut).
func (c *call) copyIn(args []string) int {
	if len(args) != 2 {
		return c.unknown("want cp SRC NAME:DST")
	}
	if strings.Contains(args[0], ":") {
		return c.copyOut(args)
	}
	name, dst, ok := strings.Cut(args[1], ":")
	if !ok {
		return c.unknown("the fake copies into containers only (SRC NAME:DST)")
	}
	if code, failed := c.step("cp " + name); failed {
		return code
	}
	ct, found := c.st.Containers[name]
	if !found {
		if c.bin == "docker" {
			return c.fail("Error: No such container:path: %s", args[1])
		}
		return c.fail("Error: container not found: %s", name)
	}
	if src := strings.TrimSuffix(args[0], "/."); !exists(src) {
		return c.fail("lstat %s: no such file or directory", src)
	}
	if err := c.place(name, args[0], dst); err != nil {
		return c.fail("Error: %v", err)
	}
	ct.Copied = append(ct.Copied, dst)
	c.dirty = true
	if c.bin == "container" {
		fmt.Fprintln(c.out, dst)
	}
	return 0
}

// logs prints a container's log (set with `fakert log`). -f prints what
// there is and ends: the fake's containers write nothing more.
func (c *call) logs(args []string) int {
	p, err := parse(args, flagSpec{"-f": false}, false)
	if err != nil || len(p.pos) != 1 {
		return c.unknown("want logs [-f] NAME (%v)", err)
	}
	if code, failed := c.step("logs " + p.pos[0]); failed {
		return code
	}
	ct, ok := c.st.Containers[p.pos[0]]
	switch {
	case !ok && c.bin == "docker":
		return c.fail("Error: No such container: %s", p.pos[0])
	case !ok:
		return c.fail("Error: container not found: %s", p.pos[0])
	}
	io.WriteString(c.out, ct.Log)
	return 0
}
