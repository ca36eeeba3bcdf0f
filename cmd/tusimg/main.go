// Command tusimg is a resumable image upload server: tus 1.0 uploads through
// an embedded tusd, image checks, a content-addressed store and a fast read
// handler. Run "tusimg serve --help" for options.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tusimg:", err)
		stop()
		os.Exit(exitCode(err))
	}
}
