package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/mqflux/mqflux/server"
)

// runBridge is `mqflux bridge`: the pipeline fed by an external broker.
func runBridge(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bridge", stderr)
	path := fs.String("config", "", "configuration file (the bridge: section names the broker)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if err := cfg.ValidateBridge(); err != nil {
		where := *path
		if where == "" {
			where = "configuration"
		}
		return fmt.Errorf("%s:\n%w", where, err)
	}
	log := newLogger(cfg.Log, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	b, err := server.NewBridge(cfg, log)
	if err != nil {
		return err
	}
	return b.Run(ctx, nil)
}
