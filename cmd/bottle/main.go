// Command bottle runs AI coding agents in bottles: containers whose only way
// to the network is a sidecar that enforces an allowlist.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/root"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// version is stamped at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Main(ctx, cmdutil.New(cmdutil.System(), cmdutil.Build{Version: version}), os.Args[1:])
	stop() // deferred calls do not run after os.Exit
	os.Exit(code)
}
