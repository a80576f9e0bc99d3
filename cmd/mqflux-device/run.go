package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/mqflux/mqflux/device"
)

// errUsage is returned after the usage text was already printed.
var errUsage = errors.New("usage")

const usage = `mqflux-device reads sensors and publishes them to an MQTT broker.

Usage:
  mqflux-device -config device.yaml            run the agent
  mqflux-device check-config -config FILE      print the problems of a config, or "ok"
  mqflux-device version                        print the build

Every key can be overridden by MQFLUX_ + its path (MQFLUX_DEVICE_ID, MQFLUX_DEVICE_BROKER).

Flags:
`

// run is the whole program but for signal handling, so tests start it
// in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "mqflux-device %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "run", "check-config":
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("mqflux-device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "device.yaml", "configuration file (YAML, top-level key device:)")
	printUsage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // printed below, to stdout when asked for
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return nil
		}
		printUsage(stderr)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return errUsage
	}
	cfg, warnings, err := device.Load(*configPath, os.Environ())
	if cmd == "check-config" {
		return checkConfig(stdout, warnings, err)
	}
	if err != nil {
		return fmt.Errorf("config %s:\n%w", *configPath, err)
	}
	log := newLogger(stderr, cfg.Log)
	for _, w := range warnings {
		log.Warn(w)
	}
	return device.Run(ctx, cfg, log)
}

func checkConfig(stdout io.Writer, warnings []string, err error) error {
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if err != nil {
		fmt.Fprintln(stdout, err)
		return errors.New("the config has problems")
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func newLogger(w io.Writer, c device.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
