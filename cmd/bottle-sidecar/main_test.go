package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStaticBuild builds the sidecar the way its image does (CGO_ENABLED=0)
// and checks the result needs no dynamic loader, so it runs FROM scratch.
func TestStaticBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bottle-sidecar")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("binary is dynamically linked (program header %v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("binary imports %v", libs)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "bottle-sidecar ") {
		t.Fatalf("version: %q %v", v, err)
	}
}

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"bogus"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "bogus"`) {
		t.Errorf("bogus: %d %q", code, errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "bottle-sidecar ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// TestProbeClassifiesAddrNotAvail: "cannot assign requested address" means
// no route only for IPv6 (no source address of that family); for IPv4 it
// means the ports ran out, which proves nothing about reachability.
func TestProbeClassifiesAddrNotAvail(t *testing.T) {
	err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}
	if got := classify(err, true); got != probeTimeout {
		t.Errorf("IPv6: %d", got)
	}
	if got := classify(err, false); got != probeError {
		t.Errorf("IPv4: %d (a process that used up the ports would pass a leak probe)", got)
	}
}

// TestProbeLinkLocalOnEveryInterface: a link-local address without a zone
// is tried on each interface, so the self-test can probe the host's
// link-local addresses from the agent's namespace.
func TestProbeLinkLocalOnEveryInterface(t *testing.T) {
	var ln net.Listener
	var addr netip.Addr
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := ifc.Addrs()
		for _, a := range as {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || !p.Addr().Is6() || !p.Addr().IsLinkLocalUnicast() {
				continue
			}
			if l, err := net.Listen("tcp6", net.JoinHostPort(p.Addr().String()+"%"+ifc.Name, "0")); err == nil {
				ln, addr = l, p.Addr()
			}
		}
	}
	if ln == nil {
		t.Skip("no interface with a usable IPv6 link-local address here")
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if code, msg := probeTCP(ctx, net.JoinHostPort(addr.String(), port)); code != probeOK {
		t.Errorf("link-local %s without a zone: %d %s", addr, code, msg)
	}
}

func TestMemLimit(t *testing.T) {
	for _, tc := range []struct {
		max  string
		want int64
	}{
		{"536870912\n", 268435456},
		{"max\n", defaultMemLimit},
		{"", defaultMemLimit},
		{"0", defaultMemLimit},
	} {
		if got := memLimit(tc.max); got != tc.want {
			t.Errorf("memLimit(%q) = %d, want %d", tc.max, got, tc.want)
		}
	}
}

// TestProbeTimeoutNeedsATry: a leak probe proves "unreachable" by timing
// out, so a probe whose time ran out before its connection was even
// tried (a batch scheduled late on a loaded machine) proves nothing: it
// is an error, never a timeout, even though a listener is there.
func TestProbeTimeoutNeedsATry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if code, msg := probeTCP(ctx, ln.Addr().String()); code == probeTimeout || code == probeOK {
		t.Errorf("probe with no time left: %d %s; want an error (not proven)", code, msg)
	}
}
