// Command bottle-sidecar is the appliance that runs inside a bottle's sidecar:
// the egress proxy and DNS forwarder that enforce the bottle's allowlist. It is
// built static (CGO_ENABLED=0) so that its image can be FROM scratch.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

const usage = `usage: bottle-sidecar COMMAND [FLAGS]

Commands:
  run        run the egress proxy and DNS forwarder (bottle-sidecar run -h)
  probe      test a path from inside a bottle: tcp, http or dns (exit code says what happened)
  health     exit 0 when the proxy and the DNS forwarder both answer
  connect    relay stdin/stdout to HOST:PORT through the proxy (an ssh ProxyCommand)
  forward    relay a local port to HOST:PORT through the proxy (for database clients)
  idle       wait for SIGTERM (the self-test's probe container runs this)
  supervise  run a command in the agent, passing signals on and keeping its status (bottle-probe supervise -h)
  signal     send a signal to a supervised command (bottle-probe signal -h)
  version    print the version
  help       print this help
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "probe":
		return probeCmd(ctx, args[1:], stdout, stderr)
	case "health":
		return healthCmd(ctx, args[1:], stdout, stderr)
	case "connect":
		return connectCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "forward":
		return forwardCmd(ctx, args[1:], stdout, stderr)
	case "supervise":
		return superviseCmd(args[1:], os.Stdin, stdout, stderr)
	case "signal":
		return signalCmd(args[1:], stdout, stderr)
	case "idle":
		<-ctx.Done()
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "bottle-sidecar %s %s %s/%s\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "bottle-sidecar: unknown command %q\n%s", args[0], usage)
	return 2
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
