package natsinput

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is the nats input's keys: the `bridge.nats` section of `mqflux
// bridge` (with `bridge.input: nats`), and an inputs entry {kind: nats}.
type Config struct {
	// URLs are the cluster's client URLs; the client fails over among
	// them and learns the rest of the cluster from the one it reaches.
	URLs []string `yaml:"urls"`
	// User and PasswordFile, or Creds (a .creds file: JWT and NKey), log
	// in; all empty for a server without authorization.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	Creds        string `yaml:"creds"`
	// Stream holds the readings, created with Subjects, Replicas,
	// MaxBytes and MaxAge when missing and checked when present. $MQTT_msgs
	// is nats-server's own store of MQTT QoS 1 messages (subjects
	// $MQTT.msgs.devices.>): created as nats-server would, with these
	// bounds, when no MQTT client has had the server create it yet.
	Stream   string   `yaml:"stream"`
	Subjects []string `yaml:"subjects"`
	Replicas int      `yaml:"replicas"`
	// Consumer is the durable pull consumer every instance shares: NATS
	// hands each message to one of them.
	Consumer string `yaml:"consumer"`
	// Batch is how many messages one fetch asks for; they are spooled
	// with one write.
	Batch int `yaml:"batch"`
	// AckWait is how long NATS waits for an acknowledgement before it
	// hands the message out again.
	AckWait  time.Duration   `yaml:"ack_wait"`
	MaxBytes configfile.Size `yaml:"max_bytes"`
	MaxAge   time.Duration   `yaml:"max_age"`
	// NakDelay is how long a message the spool refused (full) waits
	// before NATS hands it out again.
	NakDelay time.Duration `yaml:"nak_delay"`
	// Lease is how long the instance that alerts for all (`mqflux
	// bridge`) holds the lease without renewing it; another takes over
	// within twice this after it is gone. 0: no shared alerting.
	Lease time.Duration `yaml:"lease"`
	// LeaseBucket holds the lease, FleetBucket the alert state and
	// registry every instance serves; both are created with Replicas.
	LeaseBucket string `yaml:"lease_bucket"`
	FleetBucket string `yaml:"fleet_bucket"`
	// Instance names this instance in the lease; the host name and
	// process id when empty.
	Instance string `yaml:"instance"`
}

// Defaults of Config.
const (
	DefaultStream   = mqttStream
	DefaultConsumer = "mqflux"
	DefaultReplicas = 3
	DefaultBatch    = 1000
	DefaultAckWait  = 30 * time.Second
	DefaultMaxBytes = 1 << 30
	DefaultMaxAge   = 7 * 24 * time.Hour
	DefaultNakDelay = 2 * time.Second
	DefaultLease    = 15 * time.Second
	DefaultLeaseKV  = "mqflux_leases"
	DefaultFleetKV  = "mqflux_fleet"
)

// DefaultConfig takes every device's readings from nats-server's own
// replicated store of MQTT QoS 1 messages, $MQTT_msgs: a PUBACK of a node
// means the reading is there (TestPubackMeansInStream), which a stream of
// our own on devices.> does not give. The URLs have no default.
func DefaultConfig() Config {
	return Config{
		Stream:   DefaultStream,
		Subjects: []string{mqttStreamPrefix + "devices.>"},
		Replicas: DefaultReplicas,
		Consumer: DefaultConsumer,
		Batch:    DefaultBatch,
		AckWait:  DefaultAckWait,
		MaxBytes: DefaultMaxBytes,
		MaxAge:   DefaultMaxAge,
		NakDelay: DefaultNakDelay,

		Lease:       DefaultLease,
		LeaseBucket: DefaultLeaseKV,
		FleetBucket: DefaultFleetKV,
	}
}

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	if len(c.URLs) == 0 {
		v.Add("urls", "at least one NATS server, e.g. nats://nats-1:4222")
	}
	for i, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			v.Add(fmt.Sprintf("urls[%d]", i), "%q is not a NATS URL (nats://host:4222 or tls://host:4222)", s)
		}
	}
	if c.Creds != "" && (c.User != "" || c.PasswordFile != "") {
		v.Add("creds", "set either creds or user and password_file, not both")
	}
	if (c.User == "") != (c.PasswordFile == "") && c.Creds == "" {
		v.Add("password_file", "user and password_file go together")
	}
	if (!configfile.IsName(c.Stream) || strings.Contains(c.Stream, ".")) && c.Stream != mqttStream {
		v.Add("stream", "%q is not a stream name (letters, digits, '-', '_')", c.Stream)
	}
	if len(c.Subjects) == 0 {
		v.Add("subjects", "at least one subject, e.g. devices.>")
	}
	for i, s := range c.Subjects {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			v.Add(fmt.Sprintf("subjects[%d]", i), "%q is not a NATS subject", s)
		}
	}
	v.Between("replicas", c.Replicas, 1, 5)
	if !configfile.IsName(c.Consumer) || strings.Contains(c.Consumer, ".") {
		v.Add("consumer", "%q is not a consumer name (letters, digits, '-', '_')", c.Consumer)
	}
	v.Between("batch", c.Batch, 1, 100_000)
	v.DurationBetween("ack_wait", c.AckWait, time.Second, time.Hour)
	v.AtLeast("max_bytes", c.MaxBytes, 1<<20)
	v.DurationBetween("max_age", c.MaxAge, time.Minute, 100*365*24*time.Hour)
	v.DurationBetween("nak_delay", c.NakDelay, 10*time.Millisecond, time.Hour)
	if c.Lease != 0 {
		v.DurationBetween("lease", c.Lease, time.Second, 10*time.Minute)
	}
	for _, kb := range [][2]string{{"lease_bucket", c.LeaseBucket}, {"fleet_bucket", c.FleetBucket}} {
		key, b := kb[0], kb[1]
		if !configfile.IsName(b) || strings.Contains(b, ".") {
			v.Add(key, "%q is not a bucket name (letters, digits, '-', '_')", b)
		}
	}
	if c.LeaseBucket == c.FleetBucket {
		v.Add("fleet_bucket", "%q is the lease_bucket too: the lease's TTL would expire the state", c.FleetBucket)
	}
	if c.Instance != "" && !configfile.IsName(c.Instance) {
		v.Add("instance", "%q is not a name (letters, digits, '-', '_')", c.Instance)
	}
}
