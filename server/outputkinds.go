package server

// The output kinds `mqflux serve` and `mqflux bridge` offer. Each package
// registers its kind from its init (output.Register); linking it here is
// all the server needs of a new kind.
import (
	_ "github.com/mqflux/mqflux/flow/influxwriter" // kind influxdb
	_ "github.com/mqflux/mqflux/flow/pgwriter"     // kind postgres
)
