package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadableDenials: inside a real bottle, real clients that reach a
// refused HTTPS host print why and how to allow it, for the proxy answers
// the CONNECT and gives the readable 403 inside TLS: curl prints the page,
// git prints it as remote: lines (it shows a text/plain error body), and
// Node's fetch (through undici's ProxyAgent, as Node's fetch takes no
// proxy from the environment before Node 24) reads it, trusting the
// bottle CA through NODE_EXTRA_CA_CERTS. Nothing reaches the refused
// host, and the audit has the CONNECT as the denial and each request.
func TestReadableDenials(t *testing.T) {
	w := newWorld(t, "docker")
	w.launch("e2e-deny")
	audit := func() string {
		b, _ := os.ReadFile(filepath.Join(w.state, "bottle", "e2e-deny", "logs", "egress.jsonl"))
		return string(b)
	}
	// blocked.sim.test would resolve to fakenet A, which serves the
	// allowed hosts too (nothing else talks to it during this test).
	before := w.conns(w.simA)
	reason := "reason: no rule allows GET blocked.sim.test:443/"
	allow := "bottle allow add blocked.sim.test --bottle e2e-deny"

	t.Run("curl", func(t *testing.T) {
		out, code := w.sh("e2e-deny", "curl -sS -m 10 -w '%{http_code}\\n' https://blocked.sim.test/page")
		for _, want := range []string{"bottle: blocked GET blocked.sim.test:443/page", reason, "cause: no-rule", allow, "403\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("curl output lacks %q (exit %d):\n%s", want, code, out)
			}
		}
		out, _ = w.sh("e2e-deny", "curl -sS -m 10 -H 'Accept: application/json' -D - https://blocked.sim.test/api")
		for _, want := range []string{"x-bottle-denied: no-rule", `"error":"blocked"`, `"host":"blocked.sim.test"`, `"allow_command":"` + allow + `"`} {
			if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
				t.Errorf("JSON answer lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("git", func(t *testing.T) {
		out, code := w.sh("e2e-deny", "cd /tmp && git clone https://blocked.sim.test/acme/x.git 2>&1")
		for _, want := range []string{"remote: " + reason, "remote: cause: no-rule", "remote:   bottle allow add blocked.sim.test --path '/acme/x.git/**' --method GET --method POST --bottle e2e-deny"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("git clone (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
	})
	t.Run("node_fetch", func(t *testing.T) {
		js := `const u = require("undici"); u.setGlobalDispatcher(new u.ProxyAgent(process.env.HTTPS_PROXY));
fetch("https://blocked.sim.test/").then(r => r.text().then(b => console.log(r.status, r.headers.get("x-bottle-denied") + "\n" + b))).catch(e => { console.error(e); process.exit(1); });`
		out, code := w.sh("e2e-deny", "node -e '"+js+"'")
		for _, want := range []string{"403 no-rule", reason, allow} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("node fetch (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
	})
	t.Run("never_reached_and_audited", func(t *testing.T) {
		if n := w.conns(w.simA) - before - 1; n != 0 { // less the count's own query
			t.Errorf("the refused host's address got %d connections", n)
		}
		if q := fakenetQueries(t, w.simA); strings.Contains(q, "blocked.sim.test") {
			t.Errorf("the refused name was looked up upstream:\n%s", q)
		}
		a := audit()
		for _, want := range []string{
			`"kind":"connect","client"`,
			`"method":"CONNECT","host":"blocked.sim.test","port":443,"decision":"deny"`,
			`"method":"GET","scheme":"https","host":"blocked.sim.test","port":443,"path":"/page","decision":"deny"`,
		} {
			if !strings.Contains(a, want) {
				t.Errorf("audit lacks %s:\n%s", want, grepLines(a, "blocked.sim.test"))
			}
		}
	})
}
