// Command fakenet is the simulated internet of bottle's end-to-end tests: on
// the egress side of a bottle it answers DNS for a test zone with its own
// address, and serves HTTPS for every name in that zone with certificates
// from a test root; it also serves ssh (with --ssh-listen), a protocol
// where the server speaks first, and git over HTTPS behind a password
// (--git-password; pushes too). It records every DNS question and every
// web request, so tests can prove that a refused name never reached it,
// and which credentials an origin was sent; GET /__git-refs says what its
// repositories hold. It also fakes the model APIs of Anthropic, OpenAI and
// Google (e2e/fakeapi), and with --also answers DNS for their real
// domains too, so a real agent CLI in a bottle reaches them by their real
// names, inside the test's own network. Test code only; never shipped.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/e2e/fakeapi"
)

type recorder struct {
	mu    sync.Mutex
	names []string
}

func (r *recorder) add(n string) {
	r.mu.Lock()
	r.names = append(r.names, n)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.names...)
}

func main() {
	zone := flag.String("zone", "sim.test", "DNS zone answered with this host's address")
	ipFlag := flag.String("ip", "", "address to answer with (default: this host's first non-loopback IPv4)")
	rootDir := flag.String("root", "/root-ca", "directory with ca.crt and ca.key of the test root")
	gitRoot := flag.String("git-root", "", "serve these git repositories over smart HTTP at /git/ (needs git-http-backend)")
	otherIP := flag.String("other-ip", "", "address other.ZONE resolves to")
	sshListen := flag.String("ssh-listen", "", "serve ssh here (exec requests run with sh; needs the image on the test base)")
	greetListen := flag.String("greet-listen", ":3306", "serve a protocol where the server speaks first here")
	gitUser := flag.String("git-user", "x-access-token", "the user /private-git/ wants in Basic auth")
	gitPassword := flag.String("git-password", "", "serve --git-root at /private-git/ too, to clients that send --git-user and this password (POST /__git-password changes it)")
	var also alsoFlag
	flag.Var(&also, "also", "more DNS zones answered with this host's address, comma-separated, repeatable (the real API domains the fake model APIs stand in for)")
	flag.Parse()

	ip := net.ParseIP(*ipFlag)
	if ip == nil {
		ip = firstIPv4()
	}
	root, err := ca.Load(*rootDir)
	if err != nil {
		log.Fatalf("fakenet: %v", err)
	}
	leaves := ca.NewLeafCache(root, 0)
	rec := &recorder{}
	raw := &recorder{} // the questions exactly as they came: name (case kept), class, opcode
	zs := newZones(*zone, also)

	dns.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 {
			q := r.Question[0]
			name := strings.ToLower(q.Name)
			rec.add(strings.TrimSuffix(name, "."))
			raw.add(fmt.Sprintf("%s %s %s", q.Name, dns.ClassToString[q.Qclass], dns.OpcodeToString[r.Opcode]))
			if rel, ok := zs.match(name); ok {
				answer := ip
				// Names of the test zone that lead where an allowed name
				// must never take the proxy (DNS rebinding, cloud metadata).
				switch rel {
				case "loop":
					answer = net.IPv4(127, 0, 0, 1)
				case "meta":
					answer = net.IPv4(169, 254, 169, 254)
				case "priv":
					answer = net.IPv4(10, 0, 0, 1)
				case "other":
					if o := net.ParseIP(*otherIP); o != nil {
						answer = o
					}
				}
				if q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: answer})
				}
			} else {
				m.Rcode = dns.RcodeNameError
			}
		}
		w.WriteMsg(m)
	})
	for _, n := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: ":53", Net: n}
		go func() { log.Fatal(srv.ListenAndServe()) }()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s %s %s\n", r.Host, r.Method, r.URL.Path)
	})
	fakeapi.Register(mux)
	requests := &requestLog{}
	mux.Handle("/__requests", requests)
	mux.HandleFunc("/echo", echo)
	registerModel(mux)
	mux.HandleFunc("/__dns", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(rec.list())
	})
	mux.HandleFunc("/__dnsraw", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(raw.list())
	})
	var conns atomic.Int64
	mux.HandleFunc("/__conns", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, conns.Load())
	})
	countConns := func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond)
		}
	})
	if *gitRoot != "" {
		backend := "/usr/lib/git-core/git-http-backend"
		mux.Handle("/git/", &cgi.Handler{
			Path: backend,
			Root: "/git",
			Env:  []string{"GIT_PROJECT_ROOT=" + *gitRoot, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=agent"},
		})
		mux.HandleFunc("/__git-refs", gitRefs(*gitRoot))
		if *gitPassword != "" {
			private := newPrivateGit(*gitRoot, *gitUser, *gitPassword)
			mux.Handle("/private-git/", private)
			mux.HandleFunc("/__git-password", private.setPassword)
		}
	}
	handler := requests.wrap(mux)
	tlsSrv := &http.Server{Addr: ":443", Handler: handler, ConnState: countConns, TLSConfig: &tls.Config{
		GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			n := chi.ServerName
			if n == "" {
				n = ip.String()
			}
			return leaves.Get(n)
		},
	}}
	if *sshListen != "" {
		go serveSSH(*sshListen)
	}
	if *greetListen != "" {
		go serveGreeter(*greetListen)
	}
	go func() {
		log.Fatal((&http.Server{Addr: ":80", Handler: handler, ConnState: countConns}).ListenAndServe())
	}()
	log.Printf("fakenet: zone %s -> %s", *zone, ip)
	log.Fatal(tlsSrv.ListenAndServeTLS("", ""))
}

func firstIPv4() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.To4()
		}
	}
	fmt.Fprintln(os.Stderr, "fakenet: no IPv4 address")
	os.Exit(1)
	return nil
}
