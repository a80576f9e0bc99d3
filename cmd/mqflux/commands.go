package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/server"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

var errUsage = errors.New("usage")

type program struct {
	stdin   io.Reader
	environ []string
}

type command struct {
	name, summary string
	run           func(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the broker, the pipeline to the outputs and the HTTP API", runServe},
		{"bridge", "run the pipeline to the outputs fed by an external MQTT broker", runBridge},
		{"bench", "load-test an MQTT broker and, with -influx, the whole pipeline", runBench},
		{"passwd", "print the bcrypt hash of a password read from stdin or a prompt", runPasswd},
		{"check-config", "check a configuration file and print its problems, or ok", runCheckConfig},
		{"nats-auth", "print a nats-server authorization block from the broker's users and roles", runNATSAuth},
		{"dump", "write one day of readings to blob storage as Parquet (file://, s3://, gs://, azblob://)", runDump},
		{"deadletter", "list the dead letters, or replay them through the current mapping", runDeadLetter},
		{"devices", "forget a device (and with -data its series) through the running server", runDevices},
		{"healthcheck", "exit 0 if a running server is ready (for container health checks)", runHealthcheck},
		{"version", "print the version and build", runVersion},
	}
}

func (p program) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(p, ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mqflux moves MQTT sensor readings into InfluxDB without losing one.")
	fmt.Fprintln(w, "\nUsage: mqflux <command> [flags]   (mqflux <command> -h for its flags)\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mqflux "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadConfig reads path (or only the defaults when path is "") and the
// environment, then validates.
func (p program) loadConfig(path string, stderr io.Writer) (server.Config, error) {
	cfg := server.DefaultConfig()
	var warnings []string
	var err error
	if path == "" {
		warnings, err = configfile.Load(nil, "(defaults)", &cfg, p.environ)
	} else {
		warnings, err = configfile.LoadFile(path, &cfg, p.environ)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "mqflux: warning:", w)
	}
	if err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		where := path
		if where == "" {
			where = "configuration"
		}
		return cfg, fmt.Errorf("%s:\n%w", where, err)
	}
	return cfg, nil
}

func newLogger(c server.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServe(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (default: built-in defaults)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (go tool pprof) to this file on SIGUSR1 (e.g. while\nthousands of clients are connected) and, if none was written, when the server stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *memProfile != "" {
		stop := startHeapProfile(*memProfile, log)
		defer stop()
	}
	return srv.Run(ctx, nil)
}

// startHeapProfile writes a heap profile to path on every SIGUSR1, and once
// more from the returned stop unless a signal already wrote one: memory is
// interesting while clients are connected, not after they left.
func startHeapProfile(path string, log *slog.Logger) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	var wrote atomic.Bool
	write := func() {
		runtime.GC() // the profile shows the heap as of the last GC
		f, err := os.Create(path)
		if err == nil {
			err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
		}
		if err != nil {
			log.Error("memprofile", "path", path, "err", err)
			return
		}
		wrote.Store(true)
		log.Info("heap profile written", "path", path)
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-sig:
				write()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-exited
		if !wrote.Load() {
			write()
		}
	}
}

// startCPUProfile profiles the process until the returned stop is called;
// the profile is how the hot path in BENCHMARKS.md was found.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func runBench(_ program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bench.Run(ctx, args, stdout, stderr)
}

func runCheckConfig(p program, _ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "config.yaml", "configuration file")
	key := fs.String("print", "", "print the value of one key (e.g. influx.url) instead of ok")
	agent := fs.String("device", "", "also check that a device agent's configuration (its device.topic and\ndevice.status_topic) publishes where this configuration's mapping reads")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if *agent != "" {
		m, err := mapping.New(cfg.Mapping)
		if err != nil {
			return err
		}
		if err := checkAgent(*agent, m); err != nil {
			return err
		}
	}
	if *key != "" {
		v, err := configfile.Lookup(&cfg, *key)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func runVersion(_ program, _ context.Context, _ []string, stdout, _ io.Writer) error {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "mqflux %s%s %s %s/%s\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func trimNewline(s string) string { return strings.TrimRight(s, "\r\n") }
