package config

import (
	"time"

	"github.com/mqflux/mqflux/bridge/mapping"
)

// Server is the configuration of `mqflux serve` and `mqflux bridge`.
// config.yaml at the root of the repository shows every key with its
// default; keep the two in step (a test compares them).
type Server struct {
	DataDir    string         `yaml:"data_dir"`
	Log        Log            `yaml:"log"`
	Broker     Broker         `yaml:"broker"`
	Influx     Influx         `yaml:"influx"`
	Spool      Spool          `yaml:"spool"`
	DeadLetter DeadLetter     `yaml:"dead_letter"`
	HTTP       HTTP           `yaml:"http"`
	Bridge     Bridge         `yaml:"bridge"`
	Mapping    mapping.Config `yaml:"mapping"`
}

// Log sets up the structured log.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Broker is the embedded MQTT broker.
type Broker struct {
	TCP       string `yaml:"tcp"`
	TLS       TLS    `yaml:"tls"`
	Websocket string `yaml:"websocket"`
	Users     []User `yaml:"users"`
	// MessageExpiry bounds how long retained and queued messages live;
	// 0 keeps them until they are delivered or replaced.
	MessageExpiry time.Duration `yaml:"message_expiry"`
	MaxInflight   int           `yaml:"max_inflight"`
	// MaxQueued is how many packets may wait to be written to one connected
	// client (deliveries to a subscriber); past it mochi drops them and
	// counts them in $SYS/broker/messages/dropped. mochi allocates this queue
	// for every connection when it is accepted, before it knows whether the
	// client will ever subscribe: 8 bytes per slot, so 8192 slots were 64 KiB
	// per connection and 640 MiB for 10,000 devices that only publish
	// (BENCHMARKS.md, "10,000 devices"). 1024 is 8 KiB per connection, and
	// still lets a reader of devices/# fall 1024 readings behind (a 20 ms
	// pause at 50,000 readings per second) before anything is dropped.
	MaxQueued     int           `yaml:"max_queued"`
	MaxPacketSize Size          `yaml:"max_packet_size"`
	MaxClients    int           `yaml:"max_clients"`
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// ConnectTimeout closes a connection that has not sent its CONNECT
	// this long after it was accepted: until then it holds a descriptor
	// and proves nothing, and enough of them stop every new client.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// TLS is a listener with a certificate.
type TLS struct {
	Address string `yaml:"address"`
	Cert    string `yaml:"cert"`
	Key     string `yaml:"key"`
}

// User may connect to the broker.
type User struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
	Role         string `yaml:"role"`
}

// The roles of DESIGN.md.
const (
	RoleDevice  = "device"
	RoleGateway = "gateway"
	RoleReader  = "reader"
	RoleAdmin   = "admin"
)

// Influx is where readings are stored, and how the writer batches them.
type Influx struct {
	URL           string        `yaml:"url"`
	Token         string        `yaml:"token"`
	Org           string        `yaml:"org"`
	Bucket        string        `yaml:"bucket"`
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	Concurrency   int           `yaml:"concurrency"`
	Gzip          bool          `yaml:"gzip"`
	Timeout       time.Duration `yaml:"timeout"`
	// MaxBackoff caps the wait between retries while InfluxDB is down or
	// overloaded: a longer cap spares a struggling server, a shorter one
	// resumes sooner once it is back.
	MaxBackoff   time.Duration `yaml:"max_backoff"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Spool is the on-disk queue between acknowledgement and storage.
type Spool struct {
	MaxBytes     Size   `yaml:"max_bytes"`
	SegmentBytes Size   `yaml:"segment_bytes"`
	Durability   string `yaml:"durability"` // write | fsync
}

// DeadLetter is the file of readings that can never be stored.
type DeadLetter struct {
	MaxBytes Size `yaml:"max_bytes"`
}

// HTTP serves health, metrics and the legacy POST API.
type HTTP struct {
	Address           string        `yaml:"address"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	// LatestMaxSeries bounds the series (device and measurement) that
	// /v1/latest remembers; readings of further series are counted, not kept.
	LatestMaxSeries int    `yaml:"latest_max_series"`
	Legacy          Legacy `yaml:"legacy"`
}

// Legacy is the original HTTP POST API kept for loggers in the field.
type Legacy struct {
	Parameters     []string `yaml:"parameters"`
	Keys           []Key    `yaml:"keys"`
	MaxBodyBytes   Size     `yaml:"max_body_bytes"`   // one /v1/log-* request
	MaxStreamBytes Size     `yaml:"max_stream_bytes"` // one /ingest stream, 0 = no limit
	MaxLineBytes   Size     `yaml:"max_line_bytes"`   // one /ingest line
}

// Key is an X-authorization key (/v1/log-*) or a basic-auth API key
// (/ingest), stored as a bcrypt hash, mapped to a device.
type Key struct {
	KeyHash string `yaml:"key_hash"`
	Device  string `yaml:"device"` // "*": the X-node-id header, or the /ingest basic-auth user
}

// Bridge is `mqflux bridge`: the same pipeline fed from an external broker.
type Bridge struct {
	URL          string        `yaml:"url"`
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	Filters      []string      `yaml:"filters"`
	CAFile       string        `yaml:"ca_file"`
	KeepAlive    time.Duration `yaml:"keepalive"`
	MaxReconnect time.Duration `yaml:"max_reconnect_interval"`
}

// Default is the configuration with nothing set: a broker on loopback and
// InfluxDB on this machine, ready for `make run`.
func Default() Server {
	return Server{
		DataDir: "./var",
		Log:     Log{Level: "info", Format: "text"},
		Broker: Broker{
			TCP:            "127.0.0.1:1883",
			MaxInflight:    65535,
			MaxQueued:      1024,
			MaxPacketSize:  256 << 10,
			MaxClients:     20000,
			SessionExpiry:  7 * 24 * time.Hour,
			ConnectTimeout: 10 * time.Second,
		},
		Influx: Influx{
			URL:           "http://127.0.0.1:8086",
			Bucket:        "telemetry/autogen",
			BatchSize:     5000,
			FlushInterval: time.Second,
			Concurrency:   2,
			Gzip:          true,
			Timeout:       10 * time.Second,
			MaxBackoff:    5 * time.Second,
			DrainTimeout:  10 * time.Second,
		},
		Spool: Spool{
			MaxBytes:     1 << 30,
			SegmentBytes: 64 << 20,
			Durability:   "write",
		},
		DeadLetter: DeadLetter{MaxBytes: 100 << 20},
		HTTP: HTTP{
			Address:           "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       5 * time.Minute,
			LatestMaxSeries:   100_000,
			Legacy: Legacy{
				Parameters:     []string{"temperature", "humidity", "pressure"},
				MaxBodyBytes:   64 << 10,
				MaxStreamBytes: 1 << 30,
				MaxLineBytes:   64 << 10,
			},
		},
		Mapping: mapping.DefaultConfig(),
		Bridge: Bridge{
			ClientID:     "mqflux-bridge",
			Filters:      []string{"devices/#"},
			KeepAlive:    30 * time.Second,
			MaxReconnect: 30 * time.Second,
		},
	}
}
