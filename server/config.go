package server

import (
	"fmt"
	"time"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/dump"
	"github.com/mqflux/mqflux/flow/influxwriter"
	"github.com/mqflux/mqflux/flow/input"
	"github.com/mqflux/mqflux/flow/latest"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/shim"
	"github.com/mqflux/mqflux/flow/spool"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/topic"
)

// Config is the configuration of `mqflux serve` and `mqflux bridge`, read
// with configfile. Each section but log and http belongs to the package
// that uses it, with its defaults and its checks. config.yaml at the root
// of the repository shows every key with its default; keep the two in step
// (a test compares them).
type Config struct {
	DataDir string               `yaml:"data_dir"`
	Log     Log                  `yaml:"log"`
	Broker  broker.Config        `yaml:"broker"`
	Influx  influxwriter.Options `yaml:"influx"`
	// Outputs, when given, replaces Influx: every store readings go to.
	// Entries come from the file or as one YAML list in MQFLUX_OUTPUTS.
	Outputs    []Output          `yaml:"outputs"`
	Spool      spool.Config      `yaml:"spool"`
	DeadLetter deadletter.Config `yaml:"dead_letter"`
	HTTP       HTTP              `yaml:"http"`
	Alerts     alert.Config      `yaml:"alerts"`
	Bridge     BridgeConfig      `yaml:"bridge"`
	Mapping    mapping.Config    `yaml:"mapping"`
	// Inputs are further sources of readings, each built by its
	// registered kind (package input) beside the broker, the legacy API
	// and the subscriber of mqflux bridge.
	Inputs []input.Config `yaml:"inputs"`
	// Dumps writes each day's readings to blob storage as Parquet.
	Dumps dump.Config `yaml:"dumps"`
}

// Log sets up the structured log.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// HTTP serves health, metrics, the latest readings and the legacy POST API.
// Off loopback, /metrics and the /v1/ routes but openapi.json answer only the broker's
// reader and admin users (HTTP basic auth or a console session), and
// replaying dead letters and forgetting a device only an admin (routes.go names the role of each).
type HTTP struct {
	Address           string        `yaml:"address"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request; MaxConnections bounds the connections open at once
	// (lowered to a quarter of the descriptor limit, so that the MQTT
	// listeners keep the rest); more are closed at accept and counted.
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxConnections int           `yaml:"max_connections"`
	// LatestMaxSeries bounds the series (device and measurement) that
	// /v1/latest remembers; readings of further series are counted, not kept.
	LatestMaxSeries int `yaml:"latest_max_series"`
	// LatestMaxSeriesPerDevice bounds the series of any one device, so
	// that one device inventing measurement names cannot take them all.
	LatestMaxSeriesPerDevice int `yaml:"latest_max_series_per_device"`
	// MaxStreamClients bounds the /v1/stream clients connected at once;
	// each holds a goroutine, a buffer and a share of every reading.
	MaxStreamClients int         `yaml:"max_stream_clients"`
	Legacy           shim.Config `yaml:"legacy"`

	// AllowedHosts are further names the server answers to in the Host
	// header, beyond http.address's: a reverse proxy's public name, a DNS
	// name of the machine. Others get 421 (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// DefaultConfig is the configuration with nothing set: a broker on loopback
// and InfluxDB on this machine, ready for `make run`.
func DefaultConfig() Config {
	return Config{
		DataDir:    "./var",
		Log:        Log{Level: "info", Format: "text"},
		Broker:     broker.DefaultConfig(),
		Influx:     influxwriter.DefaultOptions(),
		Spool:      spool.DefaultConfig(),
		DeadLetter: deadletter.DefaultConfig(),
		HTTP: HTTP{
			Address:                  "127.0.0.1:8080",
			ReadHeaderTimeout:        10 * time.Second,
			ReadTimeout:              5 * time.Minute,
			IdleTimeout:              60 * time.Second,
			MaxConnections:           DefaultMaxConnections,
			LatestMaxSeries:          latest.DefaultMaxSeries,
			LatestMaxSeriesPerDevice: latest.DefaultMaxSeriesPerDevice,
			MaxStreamClients:         DefaultMaxStreamClients,
			Legacy:                   shim.DefaultConfig(),
		},
		Alerts:  alert.DefaultConfig(),
		Bridge:  DefaultBridgeConfig(),
		Mapping: mapping.DefaultConfig(),
		Inputs:  []input.Config{},
		Dumps:   dump.DefaultConfig(),
	}
}

// Validate checks what `mqflux serve` and `mqflux bridge` need: ranges and
// cross-key rules. Each problem names the key, what is wrong and what is
// allowed.
func (c *Config) Validate() error {
	var v configfile.Validator
	v.NonEmpty("data_dir", c.DataDir)
	v.OneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.OneOf("log.format", c.Log.Format, "text", "json")
	c.Broker.Validate(v.Section("broker"))
	c.validateOutputs(&v)
	c.Spool.Validate(v.Section("spool"))
	c.DeadLetter.Validate(v.Section("dead_letter"))
	c.HTTP.validate(v.Section("http"))
	c.Alerts.Validate(v.Section("alerts"))
	input.Validate(v.Section("inputs"), c.Inputs, brokerInputName, legacyInputName)
	c.Dumps.Validate(v.Section("dumps"))
	if m, err := mapping.New(c.Mapping); err != nil {
		v.Report(err) // its messages name the mapping.* keys already
	} else {
		c.validateLegacyTopics(&v, m)
		c.validateDeviceNames(&v, m)
	}
	return v.Err()
}

// validateDeviceNames refuses a device user named like a literal level of
// a template of the broker's layout (the mapping's and discovery's): with a {device}/... template beside devices/{device}/...,
// a device named devices could publish devices/pi-2/... and be stored as
// pi-2 (the broker's ACL refuses such topics too).
func (c *Config) validateDeviceNames(v *configfile.Validator, m *mapping.Mapper) {
users:
	for i, u := range c.Broker.Users {
		if u.Role != broker.RoleDevice {
			continue
		}
		for _, t := range brokerLayout(m) {
			for j, l := range t.Levels() {
				if l.Kind == topic.Literal && l.Text == u.Name {
					v.Add(fmt.Sprintf("broker.users[%d].name", i),
						"device %q is level %d of template %q; a device may not be named like a literal level of the topic layout", u.Name, j+1, t.String())
					continue users
				}
			}
		}
	}
}

// legacySampleDevice and legacySampleSensor stand for the device and sensor
// names a legacy request brings, which are known only then.
const (
	legacySampleDevice = "legacy-device"
	legacySampleSensor = "reading"
)

// validateLegacyTopics refuses a layout in which the legacy HTTP API, once
// it has keys to take readings with, cannot file a reading where the
// mapping reads it as one.
func (c *Config) validateLegacyTopics(v *configfile.Validator, m *mapping.Mapper) {
	if c.HTTP.Address == "" || len(c.HTTP.Legacy.Keys) == 0 {
		return
	}
	sensors := c.HTTP.Legacy.Parameters
	if len(sensors) == 0 {
		sensors = []string{legacySampleSensor} // POST /ingest names its own
	}
	for _, s := range sensors {
		if _, err := m.ReadingTopic(legacySampleDevice, s); err != nil {
			v.Add("mapping.topics", "the legacy HTTP API (http.legacy) has no topic for its readings: %v", err)
			return
		}
	}
}

func (h *HTTP) validate(v *configfile.Validator) {
	v.Address("address", h.Address, true)
	v.DurationBetween("read_header_timeout", h.ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	v.DurationBetween("read_timeout", h.ReadTimeout, 100*time.Millisecond, 24*time.Hour)
	v.DurationBetween("idle_timeout", h.IdleTimeout, 100*time.Millisecond, 24*time.Hour)
	v.Between("max_connections", h.MaxConnections, 1, 10_000_000)
	v.Between("latest_max_series", h.LatestMaxSeries, 0, 100_000_000)
	v.Between("latest_max_series_per_device", h.LatestMaxSeriesPerDevice, 1, 100_000_000)
	v.Between("max_stream_clients", h.MaxStreamClients, 0, 100_000)
	for i, name := range h.AllowedHosts {
		if !validHostName(name) {
			v.Add(fmt.Sprintf("allowed_hosts[%d]", i), "%q is not a host name or address: give the name alone, without scheme, port or path (e.g. mqflux.example.com, 192.168.1.20)", name)
		}
	}
	h.Legacy.Validate(v.Section("legacy"))
}

// ValidateBridge checks the keys `mqflux bridge` needs on top of Validate.
func (c *Config) ValidateBridge() error {
	var v configfile.Validator
	c.Bridge.Validate(v.Section("bridge"))
	return v.Err()
}
