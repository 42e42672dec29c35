package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/proxy"
)

// Files in the config dir.
const (
	allowlistFile  = "allowlist.yaml"
	upstreamCAFile = "upstream-ca.pem"
)

// drainTimeout bounds how long SIGTERM waits for requests and tunnels.
const drainTimeout = 10 * time.Second

type runOptions struct {
	configDir   string
	proxyListen string
	upstreamDNS string
	upstreamCA  string
	auditLog    string
	bottle      string
	verbose     bool
}

const runUsage = `usage: bottle-sidecar run --config-dir DIR --proxy-listen ADDR [flags]

Runs the bottle's egress proxy. DIR holds allowlist.yaml, ca.crt and ca.key
(mode 0600), and optionally upstream-ca.pem (extra roots for upstream TLS).

Flags:
`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o runOptions
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	fs.StringVar(&o.configDir, "config-dir", "/etc/bottle", "directory with allowlist.yaml, ca.crt, ca.key")
	fs.StringVar(&o.proxyListen, "proxy-listen", ":3128", "address the proxy listens on")
	fs.StringVar(&o.upstreamDNS, "upstream-dns", "", "resolver (HOST:PORT) for upstream names; default: the system resolver")
	fs.StringVar(&o.upstreamCA, "upstream-ca", "", "PEM file of extra roots trusted for upstream TLS")
	fs.StringVar(&o.auditLog, "audit-log", "", "append audit JSON lines to this file as well as stdout")
	fs.StringVar(&o.bottle, "bottle", "", "bottle name for audit lines and denial messages")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bottle-sidecar run: unexpected arguments %q\n", fs.Args())
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, closeAudit, err := o.load(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar: %v\n", err)
		return 2
	}
	defer closeAudit()
	cfg.Logger = log

	srv, err := proxy.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", o.proxyListen)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar: proxy: %v\n", err)
		return 1
	}
	log.Info("proxy listening", "addr", ln.Addr().String(), "bottle", o.bottle, "config_dir", o.configDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if err != nil {
			log.Error("proxy stopped", "err", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", drainTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	return 0
}

// load reads everything the proxy needs from the config dir and flags. Any
// problem is an error that names the file and the fix.
func (o *runOptions) load(stdout io.Writer) (proxy.Config, func(), error) {
	noop := func() {}
	pol, err := allowlist.Load(filepath.Join(o.configDir, allowlistFile))
	if err != nil {
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return proxy.Config{}, noop, fmt.Errorf("invalid allowlist:\n%w", err)
		}
		return proxy.Config{}, noop, err
	}
	authority, err := ca.Load(o.configDir)
	if err != nil {
		return proxy.Config{}, noop, err
	}
	var roots []*x509.Certificate
	for _, p := range []string{filepath.Join(o.configDir, upstreamCAFile), o.upstreamCA} {
		if p == "" {
			continue
		}
		certs, err := readPEMCerts(p)
		if errors.Is(err, fs.ErrNotExist) && p != o.upstreamCA {
			continue // the config dir's file is optional; --upstream-ca is not
		}
		if err != nil {
			return proxy.Config{}, noop, err
		}
		roots = append(roots, certs...)
	}
	sinks := []io.Writer{stdout}
	closeAudit := noop
	if o.auditLog != "" {
		f, err := os.OpenFile(o.auditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return proxy.Config{}, noop, fmt.Errorf("audit log: %w", err)
		}
		sinks = append(sinks, f)
		closeAudit = func() { f.Sync(); f.Close() }
	}
	cfg := proxy.Config{
		Bottle:     o.bottle,
		Policy:     pol,
		CA:         authority,
		Audit:      audit.New(sinks...),
		ExtraRoots: roots,
		AllowHTTP2: true,
	}
	if o.upstreamDNS != "" {
		if _, _, err := net.SplitHostPort(o.upstreamDNS); err != nil {
			closeAudit()
			return proxy.Config{}, noop, fmt.Errorf("--upstream-dns %q: want HOST:PORT, e.g. 10.0.0.2:53", o.upstreamDNS)
		}
		cfg.Resolver = proxy.UpstreamResolver(o.upstreamDNS)
	}
	return cfg, closeAudit, nil
}

func readPEMCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificates found", path)
	}
	return out, nil
}
