// Command simnet is the simulated internet of bench/run's real workloads:
// one HTTPS server on :443 that serves every workload.Site of every
// scenario, routed by Host, over HTTP/2 and HTTP/1.1 (both offered by
// ALPN), with leaves minted from the run's test root for the name asked.
//
// bench/run starts it in a container of the bench base image on the
// egress network, with each Site's host as a network alias, so the
// engine's DNS resolves the names for the direct client and for the
// bottle's sidecar alike. It serves what the harness prepared on the host
// (mounted at --data; scenario KEY in --data/KEY).
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bottle.dev/bottle/bench/workload"
	"bottle.dev/bottle/ca"
)

func main() {
	root := flag.String("root", "/root-ca", "directory of the test root (ca.crt, ca.key)")
	data := flag.String("data", "/data", "what the harness prepared: one directory per scenario key")
	size := flag.String("size", "full", "quick or full (the sizes the harness prepared)")
	listen := flag.String("listen", ":443", "HTTPS address")
	hosts := flag.Bool("hosts", false, "print the sites' host names, one a line, and exit")
	flag.Parse()
	sz := workload.Full
	if *size == "quick" {
		sz = workload.Quick
	}
	if *hosts {
		for _, h := range Hosts() {
			fmt.Println(h)
		}
		return
	}
	sites, err := Sites(*data, sz)
	if err != nil {
		log.Fatalf("simnet: %v", err)
	}
	rc, err := ca.Load(*root)
	if err != nil {
		log.Fatalf("simnet: test root: %v", err)
	}
	srv := Server(sites, ca.NewLeafCache(rc, 0))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("simnet: %v", err)
	}
	log.Printf("simnet: serving %d sites on %s", len(sites), *listen)
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

// Sites is every scenario's sites, from data/KEY.
func Sites(data string, size workload.Size) ([]workload.Site, error) {
	var all []workload.Site
	for _, s := range workload.All() {
		if s.Sites == nil {
			continue
		}
		dir := filepath.Join(data, s.Key)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue // not prepared: the harness runs only some (--workload-keys)
		}
		ss, err := s.Sites(dir, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		all = append(all, ss...)
	}
	ss, err := streamSites(size)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return append(all, ss...), nil
}

// Hosts is every site's name, known without preparing anything: the
// harness gives each one to the container as a network alias. A scenario
// names its hosts in its allowlist fragment ("- host: NAME").
func Hosts() []string {
	var hs []string
	allows := []string{streamAllow()}
	for _, s := range workload.All() {
		allows = append(allows, s.Allow)
	}
	for _, a := range allows {
		for _, l := range strings.Split(a, "\n") {
			if h, ok := strings.CutPrefix(strings.TrimSpace(l), "- host: "); ok {
				hs = append(hs, strings.Trim(h, `"'`))
			}
		}
	}
	return hs
}

// Server routes by Host (the port and case dropped) and mints a leaf for
// the SNI name asked.
func Server(sites []workload.Site, leaves *ca.LeafCache) *http.Server {
	byHost := map[string]http.Handler{}
	for _, s := range sites {
		byHost[strings.ToLower(s.Host)] = s.Handler
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if s, ok := byHost[strings.ToLower(host)]; ok {
			s.ServeHTTP(w, r)
			return
		}
		http.Error(w, "simnet: no site "+host, http.StatusMisdirectedRequest)
	})
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(os.Stderr, "simnet: ", 0),
		TLSConfig: &tls.Config{
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
				n := chi.ServerName
				if n == "" {
					n, _, _ = net.SplitHostPort(chi.Conn.LocalAddr().String())
				}
				return leaves.Get(n)
			},
		},
	}
}
