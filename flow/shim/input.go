package shim

import (
	"context"

	"github.com/mqflux/mqflux/flow/input"
)

// Source names the legacy API's readings in metrics and dead letters, and
// the shim as an input.
const Source = "http"

// Name is the shim's name as an input.
func (s *Shim) Name() string { return Source }

// Start does nothing: the server's HTTP listener serves the shim's
// routes (Routes).
func (s *Shim) Start(context.Context) error { return nil }

// Stop does nothing: the HTTP server's shutdown lets the requests in
// progress finish (each answers only once its reading is spooled) and
// refuses new ones.
func (s *Shim) Stop() error { return nil }

var (
	_ input.Input     = (*Shim)(nil)
	_ input.Router    = (*Shim)(nil)
	_ input.Collector = (*Shim)(nil)
)
