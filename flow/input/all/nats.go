package all

import (
	// Kind nats: a JetStream stream of a NATS cluster.
	_ "github.com/mqflux/mqflux/flow/natsinput"
)
