// Command bottle runs AI coding agents in bottles: containers whose only way
// to the network is a sidecar that enforces an allowlist.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"bottle.dev/bottle/cmd/bottle/internal/cli"
)

// version is stamped at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.System(), cli.Build{Version: version})
	stop() // deferred calls do not run after os.Exit
	os.Exit(code)
}
