// Command mqflux-device is the agent that runs on each Raspberry Pi: it
// reads sensors, queues every reading on disk and publishes it to the MQTT
// broker of `mqflux serve`. See device/README.md for setting up a Pi.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs // a second signal: stop waiting for the broker
		fmt.Fprintln(os.Stderr, "mqflux-device: second signal, exiting now")
		os.Exit(1)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "mqflux-device:", err)
		}
		os.Exit(1)
	}
}
