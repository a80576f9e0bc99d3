package all

import (
	// Kind mqtt: a subscriber to an external MQTT broker.
	_ "github.com/mqflux/mqflux/flow/subscriber"
)
