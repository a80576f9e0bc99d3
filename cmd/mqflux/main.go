// Command mqflux is the server: the MQTT broker, the pipeline to the
// outputs and the legacy HTTP API, plus the tools around them. See `mqflux -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now takes the default action: exit at once
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mqflux:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run is the whole program with its inputs made explicit, so tests start
// it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return program{stdin: os.Stdin, environ: os.Environ()}.run(ctx, args, stdout, stderr)
}
