package server

import (
	"time"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/flow/point"
)

// fleetInput is an input that can share the device registry and alerting
// among the instances consuming one stream (the nats input: a lease in
// the cluster decides which instance alerts; all serve the views).
type fleetInput interface {
	Fleet(env alert.FleetEnv) (alert.Fleet, error)
}

// openFleet builds the shared alerting of `mqflux bridge` when its input
// offers it; nil otherwise (an mqtt bridge has no registry).
func (b *Bridge) openFleet() (alert.Fleet, error) {
	fi, ok := b.inputs.find(brokerInputName).(fleetInput)
	if !ok {
		return nil, nil
	}
	mapper := b.pipe.Mapper()
	return fi.Fleet(alert.FleetEnv{
		Options: alert.Options{
			Config: b.cfg.Alerts,
			Record: func(lines []byte) error { return b.pipe.AppendLines(alertSource, lines) },
			Logger: b.log.With("component", "alerts"),
		},
		Map: func(pts *point.Set, topic string, payload []byte, received time.Time) error {
			_, err := mapper.AppendPoints(nil, pts, topic, payload, received)
			return err
		},
		Wants: b.pipe.Wants,
	})
}
