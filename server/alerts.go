package server

import (
	"errors"
	"path/filepath"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/broker"
)

// alertSource counts alert transitions among the spooled records.
const alertSource = "alert"

// openAlerts builds the device registry and its notifiers. Transitions
// are spooled through the pipeline, which is built after the observers
// it feeds: s.pipe is set before any reading (and so any transition)
// arrives.
func (s *Server) openAlerts() (*alert.Service, error) {
	return alert.Open(alert.Options{
		Config: s.cfg.Alerts,
		Dir:    filepath.Join(s.cfg.DataDir, "alerts"),
		Env:    notify.Env{Publisher: &s.publish},
		Record: func(lines []byte) error { return s.pipe.AppendLines(alertSource, lines) },
		Logger: s.log.With("component", "alerts"),
		// A device alerts.forget_after forgot leaves /v1/latest too.
		Forgotten: func(device string) { s.latest.Forget(device) },
	})
}

// brokerPublisher publishes through the broker once it is built; the
// mqtt notifier's sends wait in the outbox until then.
type brokerPublisher struct {
	broker *broker.Broker
}

func (p *brokerPublisher) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if p.broker == nil {
		return errors.New("broker not started")
	}
	return p.broker.Publish(topic, payload, retain, qos)
}

// alertTopics are the prefixes the mqtt notifiers publish under, which
// readers may subscribe to (mosquitto_sub -t 'alerts/#').
func alertTopics(c alert.Config) []string {
	var out []string
	for _, n := range c.Notify {
		out = append(out, notify.TopicPrefixes(n)...)
	}
	return out
}
