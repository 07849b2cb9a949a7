// Command switchhook is an IP-PBX whose call events reach other systems as
// signed webhooks. See "switchhook --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchhook/switchhook/internal/cli"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New(version, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
