package main

import (
	"context"
	"errors"
	"io"
)

// runBridge is `mqflux bridge`: the pipeline fed by an external broker.
func runBridge(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("mqflux bridge: not built yet")
}
