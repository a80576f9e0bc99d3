package server

import (
	"github.com/mqflux/mqflux/flow/input"
	"github.com/mqflux/mqflux/flow/natsinput"
	"github.com/mqflux/mqflux/flow/subscriber"
	"github.com/mqflux/mqflux/internal/configfile"
)

// BridgeConfig is the bridge: section: which input `mqflux bridge` reads
// and its keys. Input mqtt (the default) subscribes to an external
// broker with the section's own keys; input nats consumes a JetStream
// stream with the keys under nats:.
type BridgeConfig struct {
	Input             string           `yaml:"input"`
	subscriber.Config `yaml:",inline"` //nolint:revive // the mqtt keys stay where they always were
	NATS              natsinput.Config `yaml:"nats"`
}

// Bridge inputs.
const (
	BridgeInputMQTT = subscriber.Kind
	BridgeInputNATS = natsinput.Kind
)

// DefaultBridgeConfig subscribes to an external MQTT broker.
func DefaultBridgeConfig() BridgeConfig {
	return BridgeConfig{Input: BridgeInputMQTT, Config: subscriber.DefaultConfig(), NATS: natsinput.DefaultConfig()}
}

// Validate checks the keys of the chosen input only.
func (c *BridgeConfig) Validate(v *configfile.Validator) {
	v.OneOf("input", c.Input, BridgeInputMQTT, BridgeInputNATS)
	switch c.Input {
	case BridgeInputMQTT:
		c.Config.Validate(v)
	case BridgeInputNATS:
		c.NATS.Validate(v.Section("nats"))
	}
}

// inputConfig is the bridge's input as an inputs entry of its kind.
func (c *BridgeConfig) inputConfig(name string) input.Config {
	if c.Input == BridgeInputNATS {
		n := c.NATS
		return input.Config{Kind: natsinput.Kind, Name: name, Settings: &n}
	}
	s := c.Config
	return input.Config{Kind: subscriber.Kind, Name: name, Settings: &s}
}

// state is what /healthz says of the bridge's source.
func (c *BridgeConfig) state(connected bool) brokerState {
	if c.Input == BridgeInputNATS {
		return brokerState{Input: c.Input, URLs: c.NATS.URLs, Stream: c.NATS.Stream, Consumer: c.NATS.Consumer, Filters: c.NATS.Subjects, Connected: connected}
	}
	return brokerState{Input: c.Input, URL: c.URL, ClientID: c.ClientID, Filters: c.Filters, Connected: connected}
}
