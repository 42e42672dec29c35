package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHostileImageOnLeakyNetwork: an agent image whose every tool lies
// cannot get a leaking bottle past the self-test. The network is a vmnet
// hostOnly network that leaks (the container double plays apple/container
// #1320/#2062: the host is on it), the kind of network the self-test exists
// for; the image's update-ca-certificates and sleep replace bottle-probe with
// a script that answers "timeout" to everything.
func TestHostileImageOnLeakyNetwork(t *testing.T) {
	t.Setenv("CONTAINER_DOUBLE_LEAKY_HOSTONLY", "1")
	w := newWorld(t, "macos-container")
	errs, code := w.tryLaunch("hostile-leaky", "--image", hostileAgentTag)
	if code == 0 || !strings.Contains(errs, "the bottle leaks, so it was torn down") || !strings.Contains(errs, "gateway") {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	if left := docker(t, "ps", "-aq", "--filter", "label=dev.bottle.name=hostile-leaky"); left != "" {
		t.Errorf("containers left after a refused launch: %s", left)
	}
	if strings.Contains(errs, "[8/9]") {
		t.Errorf("the agent was provisioned before the verdict:\n%s", errs)
	}
}

// TestHardening: what a careful user (and a hostile agent) finds on a real
// engine.
func TestHardening(t *testing.T) {
	w := newWorld(t, "docker")

	t.Run("hostile_image_runs_nothing_as_root_before_the_verdict", func(t *testing.T) {
		errs := w.launch("hostile", "--image", hostileAgentTag)
		if !strings.Contains(errs, "self-test passed") {
			t.Fatalf("launch:\n%s", errs)
		}
		// The image's sleep never ran: the agent's main process is bottle's
		// own binary, mounted read-only, idling unprivileged. Provisioning
		// (after the self-test) put the CA into the bundle itself, without
		// asking the image's update-ca-certificates (the image has no
		// update hooks), and bottle-probe is still bottle's own.
		out, _ := w.sh("hostile", `test -f /tmp/hostile-pid1-uid && echo "the image's sleep ran"; tr '\0' ' ' < /proc/1/cmdline; echo; stat -c %u /proc/1
test -f /tmp/hostile-ran && echo "the image's update-ca-certificates ran"
grep -q "$(sed -n 2p /usr/local/share/ca-certificates/bottle-ca.crt)" /etc/ssl/certs/ca-certificates.crt && echo provisioned
bottle-probe probe --timeout 2s tcp 127.0.0.1:9 >/dev/null; echo "probe exit $?"`)
		if out != "/usr/local/bin/bottle-probe idle \n65534\nprovisioned\nprobe exit 3\n" {
			t.Errorf("in the agent: %q", out)
		}
		if left := docker(t, "ps", "-aq", "--filter", "name=bottle-hostile-probe"); left != "" {
			t.Errorf("the probe container was left: %s", left)
		}
	})

	t.Run("no_terminal_in_scripts", func(t *testing.T) {
		w.launch("plain")
		null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		defer null.Close()
		cmd := exec.Command(filepath.Join(w.bin, "bottle"), "exec", "plain", "--", "sh", "-c", "echo hi; exit 3")
		cmd.Env, cmd.Dir = w.env(), filepath.Dir(w.policyAt)
		cmd.Stdin, cmd.Stdout = null, null
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || strings.Contains(errb.String(), "TTY") {
			t.Errorf("exec with /dev/null: %v %s", err, errb.String())
		}
	})

	t.Run("dns_forwards_only_plain_queries", func(t *testing.T) {
		// Allowed names, asked with bits the agent chose: a class, an
		// opcode, letter case. Only a plain lower-case IN QUERY may leave.
		out, _ := w.sh("plain", `dig +tries=1 +time=2 -c CH priv.sim.test TXT | grep -o 'status: [A-Z]*'
dig +tries=1 +time=2 +opcode=notify meta.sim.test | grep -o 'status: [A-Z]*'
dig +tries=1 +time=2 Loop.SIM.Test | grep -E -o 'status: [A-Z]*|Loop.SIM.Test'`)
		// (dig may print a status line more than once for one query.)
		if !strings.Contains(out, "status: REFUSED") || !strings.Contains(out, "status: NOTIMP") || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "Loop.SIM.Test") {
			t.Errorf("in the agent:\n%s", out)
		}
		resp, err := http.Get("http://" + w.simA + "/__dnsraw")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var seen []string
		json.NewDecoder(resp.Body).Decode(&seen)
		for _, q := range seen {
			if strings.Contains(q, "priv.sim.test") || strings.Contains(q, "meta.sim.test") || strings.Contains(q, "Loop") || !strings.HasSuffix(q, " IN QUERY") {
				t.Errorf("the upstream was asked %q", q)
			}
		}
		if !slices.Contains(seen, "loop.sim.test. IN QUERY") {
			t.Errorf("the plain query did not reach the upstream lower-cased: %q", seen)
		}
	})

	t.Run("limits_and_sysctls", func(t *testing.T) {
		w.launch("limited", "--memory", "1g", "--pids-limit", "512", "--cpus", "1.5")
		inspect := func(c, f string) string { return docker(t, "inspect", "--format", f, c) }
		if got := inspect("bottle-limited-sidecar", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{index .HostConfig.Sysctls \"net.ipv4.ip_forward\"}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"); got != "536870912 256 0 10m" {
			t.Errorf("sidecar: %s", got)
		}
		if got := inspect("bottle-limited-agent", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"); got != "1073741824 512 1500000000 10m" {
			t.Errorf("agent: %s", got)
		}
		// The sidecar's image has no shell: read its namespace from beside it.
		if out := docker(t, "run", "--rm", "--network", "container:bottle-limited-sidecar", baseImage,
			"cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"); out != "0\n0" {
			t.Errorf("the sidecar forwards packets: %q", out)
		}
		// No IPv6 in the agent: a link-local address would reach the
		// host's on the bridge.
		if out, _ := w.sh("limited", "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; ip -6 addr show scope link | grep -c inet6"); out != "1\n0\n" {
			t.Errorf("IPv6 in the agent: %q", out)
		}
	})

	t.Run("values_stay_off_command_lines_and_errors", func(t *testing.T) {
		t.Setenv("BOTTLE_E2E_SECRET", "s3cr3t-value-never-printed")
		errs, code := w.tryLaunch("secret", "-e", "BOTTLE_E2E_SECRET", "-e", "OTHER=another-s3cr3t", "--image", "bottle-e2e-no-such-image:none")
		if code == 0 || !strings.Contains(errs, "never pulls") || strings.Contains(errs, "s3cr3t") {
			t.Errorf("exit %d:\n%s", code, errs)
		}
		if !strings.Contains(errs, "the agent gets these variables from your environment: BOTTLE_E2E_SECRET") {
			t.Errorf("the imported variable is not named:\n%s", errs)
		}
	})

	t.Run("report_mode_launches_and_marks_would_deny", func(t *testing.T) {
		dir := t.TempDir()
		policy := "version: 1\nmode: report\nallow:\n  - host: ok.sim.test\n  - cidr: " + w.simA + "/32\n    ports: [80, 443]\n"
		p := filepath.Join(dir, "report.yaml")
		os.WriteFile(p, []byte(policy), 0o644)
		errs := w.launch("report", "--allowlist", p)
		if !strings.Contains(errs, "would-deny") || !strings.Contains(errs, "self-test passed") {
			t.Fatalf("launch:\n%s", errs)
		}
		out, code := w.sh("report", "curl -sS -m 5 https://blocked.sim.test/x")
		if code != 0 || !strings.Contains(out, "hello from blocked.sim.test") {
			t.Errorf("report mode should let it through: %d %s", code, out)
		}
		audit, _ := os.ReadFile(filepath.Join(w.state, "bottle", "report", "logs", "egress.jsonl"))
		if !strings.Contains(string(audit), `"host":"blocked.sim.test"`) || !strings.Contains(string(audit), `"decision":"would-deny"`) {
			t.Errorf("audit:\n%s", audit)
		}
		// The self-test's would-deny lines (what the launch checked for)
		// are marked as its own; the agent's are not.
		var marked []string
		for _, l := range strings.Split(string(audit), "\n") {
			if strings.Contains(l, `"selftest":true`) {
				marked = append(marked, l)
				if !strings.Contains(l, "bottle-self-test-") || !strings.Contains(l, `"decision":"would-deny"`) {
					t.Errorf("marked: %s", l)
				}
			}
		}
		if len(marked) < 2 || !strings.Contains(errs, "logged: the request for http://bottle-self-test-") {
			t.Errorf("marked lines %q; launch:\n%s", marked, errs)
		}
	})

	t.Run("stop_names", func(t *testing.T) {
		if _, errs, code := w.bottle("stop", "never-launched"); code != 1 || !strings.Contains(errs, `no bottle named "never-launched"`) {
			t.Errorf("unknown: %d %s", code, errs)
		}
		if _, errs, code := w.bottle("exec", "../../evil", "--", "id"); code != 2 || !strings.Contains(errs, "bottle name") {
			t.Errorf("bad name: %d %s", code, errs)
		}
		// A container merely named like a bottle's is not the bottle's.
		decoy := "bottle-decoyname-sidecar"
		docker(t, "create", "--name", decoy, baseImage, "true")
		t.Cleanup(func() { dockerErr("rm", "-f", decoy) })
		if _, errs, code := w.bottle("stop", "decoyname"); code != 1 {
			t.Errorf("stop of an unlabelled lookalike: %d %s", code, errs)
		}
		errs, code := w.tryLaunch("decoyname")
		if code == 0 {
			t.Errorf("launch over an existing container succeeded:\n%s", errs)
		}
		if _, err := dockerErr("inspect", decoy); err != nil {
			t.Errorf("the lookalike was removed: %v", err)
		}
	})

	t.Run("existing_network_is_not_adopted", func(t *testing.T) {
		// A plain internal bridge (host reachable) with bottle's name but
		// not made by this launch.
		n := "bottle-adopt-internal"
		docker(t, "network", "create", "--internal", n)
		t.Cleanup(func() { dockerErr("network", "rm", n) })
		errs, code := w.tryLaunch("adopt")
		if code == 0 || !strings.Contains(errs, "does not adopt") {
			t.Errorf("exit %d:\n%s", code, errs)
		}
		if _, err := dockerErr("network", "inspect", n); err != nil {
			t.Errorf("the existing network was removed: %v", err)
		}
	})
}

// TestAuditFloodIsBounded: an unprivileged agent flooding the sidecar with
// denied requests carrying long paths, and with refused DNS queries, cannot
// fill the host's disk: the audit and the sidecar's log stay small.
func TestAuditFloodIsBounded(t *testing.T) {
	w := newWorld(t, "docker")
	w.launch("flood")
	script := `import socket, threading, time, os, random
proxy = os.environ["HTTP_PROXY"].rsplit("/", 1)[-1].split(":")
addr = (proxy[0], int(proxy[1]))
path = "/" + "a" * 60000
stop = time.time() + 4
def http():
    while time.time() < stop:
        try:
            s = socket.create_connection(addr, timeout=2)
            for i in range(50):
                s.sendall(("GET http://blocked.sim.test%s%d HTTP/1.1\r\nHost: blocked.sim.test\r\n\r\n" % (path, random.random())).encode())
                s.recv(65536)
            s.close()
        except OSError:
            pass
def dns():
    ns = open("/etc/resolv.conf").read().split()[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    while time.time() < stop + 2:
        n += 1
        name = b"x%d" % n + b".blocked.sim.test"
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(bytes([len(l)]) + l for l in name.split(b".")) + b"\x00\x00\x01\x00\x01"
        s.sendto(q, (ns, 53))
ts = [threading.Thread(target=http) for _ in range(8)] + [threading.Thread(target=dns)]
[t.start() for t in ts]
[t.join() for t in ts]
print("flooded")
`
	out, code := w.sh("flood", "python3 - <<'EOF'\n"+script+"EOF\n")
	if code != 0 || !strings.Contains(out, "flooded") {
		t.Fatalf("flood: %d %s", code, out)
	}
	var total int64
	logs := filepath.Join(w.state, "bottle", "flood", "logs")
	entries, _ := os.ReadDir(logs)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "egress.jsonl") {
			st, _ := os.Stat(filepath.Join(logs, e.Name()))
			total += st.Size()
		}
	}
	logPath := docker(t, "inspect", "--format", "{{.LogPath}}", "bottle-flood-sidecar")
	if st, err := os.Stat(logPath); err == nil {
		total += st.Size()
	}
	t.Logf("audit and sidecar log after the flood: %d bytes", total)
	if total > 8<<20 {
		t.Errorf("the flood wrote %d bytes (audit %v)", total, entries)
	}
	if data, _ := os.ReadFile(filepath.Join(logs, "egress.jsonl")); !strings.Contains(string(data), `"kind":"suppressed"`) && !strings.Contains(string(data), `"repeated"`) {
		t.Errorf("no coalesced or suppressed line in the audit")
	}
}

// TestEgressNeighbour: a host on the egress side that routes the internal
// network through the sidecar (Linux accepts a packet for any of its
// addresses on any interface) can use neither the proxy nor the DNS, and the
// sidecar forwards nothing to the agent.
func TestEgressNeighbour(t *testing.T) {
	w := newWorld(t, "docker")
	w.launch("nb")
	internalIP := w.sidecarIP("nb")
	egressIP := docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \""+w.net+"\").IPAddress}}", "bottle-nb-sidecar")
	subnet := docker(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", "bottle-nb-internal")
	agentIP := docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \"bottle-nb-internal\").IPAddress}}", "bottle-nb-agent")
	docker(t, "exec", "-d", "-u", "agent", "bottle-nb-agent", "nc", "-lk", "8080")
	if out, _ := w.sh("nb", "for i in $(seq 50); do nc -z -w 1 127.0.0.1 8080 && echo up && break; sleep 0.1; done"); out != "up\n" {
		t.Fatalf("the agent's listener does not answer: %q", out)
	}
	script := fmt.Sprintf(`ip route add %s via %s || exit 9
curl -sS -m 3 -x http://%s:3128 http://ok.sim.test/ 2>&1; echo "proxy rc=$?"
dig +tries=1 +time=2 @%s ok.sim.test 2>&1 | grep -E 'status|timed out|no servers' ; echo "dns done"
nc -z -w 3 %s 8080 2>&1; echo "agent rc=$?"`, subnet, egressIP, internalIP, internalIP, agentIP)
	out := docker(t, "run", "--rm", "--network", w.net, "--cap-add", "NET_ADMIN", baseImage, "sh", "-c", script)
	t.Logf("neighbour:\n%s", out)
	if strings.Contains(out, "hello from") || strings.Contains(out, "proxy rc=0") {
		t.Errorf("the neighbour used the proxy:\n%s", out)
	}
	if strings.Contains(out, "status:") {
		t.Errorf("the neighbour got a DNS answer:\n%s", out)
	}
	if strings.Contains(out, "agent rc=0") {
		t.Errorf("the sidecar forwarded the neighbour to the agent:\n%s", out)
	}
	if !strings.Contains(out, "agent rc=") || strings.Contains(out, "exit 9") {
		t.Fatalf("the neighbour script did not run:\n%s", out)
	}
}
