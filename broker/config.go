package broker

import (
	"fmt"
	"math"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// Config is the `broker:` section of the server's configuration: the
// listeners, the users and the limits of the embedded broker.
type Config struct {
	TCP       string `yaml:"tcp"`
	TLS       TLS    `yaml:"tls"`
	Websocket string `yaml:"websocket"`
	Users     []User `yaml:"users"`
	// MessageExpiry bounds how long retained and queued messages live;
	// 0 keeps them until they are delivered or replaced.
	MessageExpiry time.Duration `yaml:"message_expiry"`
	// MaxInflight bounds a session's unacknowledged QoS 1 and 2 messages,
	// its client connected or not. 1024 by default: a subscriber that
	// reads acknowledges long before that many are out, and one that
	// stopped reading (its socket buffers hold tens of thousands of
	// messages on a fast link) holds at most that many copies, which the
	// collector scans while devices publish; past it its deliveries are
	// dropped (inflight_full). Not smaller (Mosquitto's 20, or 128): mochi
	// drops what does not fit in the window where Mosquitto queues it, and
	// a reading mosquitto_sub received 1.8 to 3.4 times fewer readings of
	// a burst with 128 (BENCHMARKS.md, "Subscribers that stop reading").
	MaxInflight int `yaml:"max_inflight"`
	// InitialInflight is a connected client's window at first: it grows by
	// one with each delivery the client acknowledges, up to max_inflight
	// (slow start, as TCP's congestion window: it doubles with each round
	// trip of a client that reads). A subscriber that never acknowledges
	// anything (a laptop asleep with its connection open) so costs 256
	// deliveries instead of 1024; eight of them had cost the publishers'
	// run in which they filled their windows a quarter of its rate
	// (BENCHMARKS.md, "Subscribers that stop reading"). Not smaller: what
	// does not fit in the window is dropped, and a mosquitto_sub that
	// connected just before a burst of 2,000 readings at 32,000/s lost 266
	// of them with 64 and 283 with 128, none with 256. A session that
	// returns with queued messages starts that many above it.
	InitialInflight int `yaml:"initial_inflight"`
	// MaxQueued is how many packets may wait to be written to one connected
	// client (deliveries to a subscriber); past it mochi drops them and
	// counts them in $SYS/broker/messages/dropped. The queue takes memory
	// only while packets wait in it (8 bytes a slot); upstream mochi
	// allocated all of it for every connection at accept, which made 8192
	// slots 640 MiB for 10,000 devices that only publish (BENCHMARKS.md,
	// "10,000 devices"). 1024 lets a reader of devices/# fall 1024 readings
	// behind (a 20 ms pause at 50,000 readings per second) before anything
	// is dropped.
	MaxQueued int `yaml:"max_queued"`
	// MaxOfflineQueue is how many messages a persistent session queues
	// while its client is away; past it newer messages are dropped for that
	// session and counted. At most max_inflight, which bounds a session's
	// unacknowledged messages whether or not its client is there.
	//
	// 1000 by default: a tailing subscriber of a few devices (one reading
	// every 10 s each) finds hours of what it missed; one of devices/# on
	// a busy broker finds a fraction of a second whatever the bound, and
	// the readings themselves are in InfluxDB. Every queued message is
	// copied, stored in pebble and collected, while devices publish: with
	// three such sessions, 5000 each cost ingest a fifth of its rate
	// (BENCHMARKS.md, "Offline subscriber sessions").
	MaxOfflineQueue int             `yaml:"max_offline_queue"`
	MaxPacketSize   configfile.Size `yaml:"max_packet_size"`
	MaxClients      int             `yaml:"max_clients"`
	SessionExpiry   time.Duration   `yaml:"session_expiry"`
	// ConnectTimeout closes a connection that has not sent its CONNECT
	// this long after it was accepted: until then it holds a descriptor
	// and proves nothing, and enough of them stop every new client.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxKeepalive is the longest keep-alive a client may ask for. A
	// client asking for none (0) or a longer one is given this one in the
	// CONNACK (MQTT 5 Server Keep Alive; a 3.1.1 client is not told), and
	// like every client is disconnected after 1.5 times its keep-alive
	// without a packet: a connection whose peer vanished without a FIN
	// would otherwise hold its session, its client id and its memory
	// forever.
	MaxKeepalive time.Duration `yaml:"max_keepalive"`
	// MaxRetainedPerUser and MaxRetainedBytes bound the retained messages
	// (held in memory and loaded at each start): topics retained by one
	// user, and bytes retained in all. Past them a retained publish is
	// refused (retained.go); deleting, replacing one's own topic and a
	// device's own presence always fit.
	MaxRetainedPerUser int             `yaml:"max_retained_per_user"`
	MaxRetainedBytes   configfile.Size `yaml:"max_retained_bytes"`
	// WriteTimeout disconnects a client whose socket stays unwritable this
	// long (a subscriber whose laptop sleeps with the connection open):
	// until then what it does not read waits in its queue (max_queued) and
	// further deliveries to it are dropped; then its will is sent as for
	// any lost client.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// Runners is how many goroutines decode and handle the clients'
	// packets (the ingest hook and the spool append run there). They never
	// wait for the network, only for the CPU, locks and the disk.
	Runners int `yaml:"runners"`
	// Tarpit holds the connections of an address in login backoff before
	// refusing them (tarpit.go).
	Tarpit TarpitConfig `yaml:"tarpit"`
}

// TarpitConfig bounds the tarpit. A connection from an address whose
// failed logins put it in backoff is held for what is left of the backoff,
// at most MaxHold, then refused without a password check; past PerAddress
// held connections of one address (IPv6: one /64) or MaxHeld in all, one
// is closed at once. MaxHold 0 answers such connections at once.
type TarpitConfig struct {
	MaxHold    time.Duration `yaml:"max_hold"`
	PerAddress int           `yaml:"per_address"`
	MaxHeld    int           `yaml:"max_held"`
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

// The roles a user may have; allowed says what each may publish and
// subscribe to.
const (
	RoleDevice  = "device"
	RoleGateway = "gateway"
	RoleReader  = "reader"
	RoleAdmin   = "admin"
)

// DefaultConfig is a plain-TCP broker on loopback with no users, sized for
// tens of thousands of devices.
func DefaultConfig() Config {
	return Config{
		TCP:             "127.0.0.1:1883",
		MaxInflight:     1024,
		InitialInflight: 256,
		MaxQueued:       1024,
		MaxOfflineQueue: 1000,
		MaxPacketSize:   256 << 10,
		MaxClients:      20000,
		SessionExpiry:   7 * 24 * time.Hour,
		ConnectTimeout:  10 * time.Second,
		MaxKeepalive:    5 * time.Minute,

		MaxRetainedPerUser: 1000,
		MaxRetainedBytes:   64 << 20,
		WriteTimeout:       30 * time.Second,
		Runners:            64,
		Tarpit:             TarpitConfig{MaxHold: 10 * time.Second, PerAddress: 4, MaxHeld: 1024},
	}
}

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	v.Address("tcp", c.TCP, true)
	v.Address("tls.address", c.TLS.Address, true)
	v.Address("websocket", c.Websocket, true)
	if c.TCP == "" && c.TLS.Address == "" && c.Websocket == "" {
		v.Add("", "every listener is disabled; set at least one of tcp, tls.address, websocket")
	}
	if c.TLS.Address != "" && (c.TLS.Cert == "" || c.TLS.Key == "") {
		v.Add("tls", "address is set, so cert and key (PEM file paths) are required")
	}
	if c.MessageExpiry < 0 {
		v.Add("message_expiry", "must be 0 (never) or positive, got %s", c.MessageExpiry)
	}
	v.Between("max_inflight", c.MaxInflight, 1, 65535)
	v.Between("initial_inflight", c.InitialInflight, 1, 65535)
	if c.InitialInflight > c.MaxInflight && c.MaxInflight >= 1 {
		v.Add("initial_inflight", "at most max_inflight (%d), got %d", c.MaxInflight, c.InitialInflight)
	}
	v.Between("max_queued", c.MaxQueued, 1, 10_000_000)
	v.Between("max_offline_queue", c.MaxOfflineQueue, 1, 65535)
	if c.MaxOfflineQueue > c.MaxInflight && c.MaxInflight >= 1 {
		v.Add("max_offline_queue", "at most max_inflight (%d), which bounds a session's queue anyway, got %d", c.MaxInflight, c.MaxOfflineQueue)
	}
	v.AtLeast("max_packet_size", c.MaxPacketSize, 1<<10)
	if c.MaxPacketSize > 256<<20 {
		v.Add("max_packet_size", "at most 256MiB (the MQTT limit), got %s", c.MaxPacketSize)
	}
	v.Between("max_clients", c.MaxClients, 1, 10_000_000)
	v.DurationBetween("connect_timeout", c.ConnectTimeout, time.Second, time.Hour)
	v.DurationBetween("max_keepalive", c.MaxKeepalive, time.Second, math.MaxUint16*time.Second)
	if c.MaxKeepalive%time.Second != 0 {
		v.Add("max_keepalive", "whole seconds (MQTT counts keep-alive in seconds), got %s", c.MaxKeepalive)
	}
	v.Between("max_retained_per_user", c.MaxRetainedPerUser, 1, 10_000_000)
	v.AtLeast("max_retained_bytes", c.MaxRetainedBytes, 1<<10)
	v.DurationBetween("write_timeout", c.WriteTimeout, time.Second, time.Hour)
	v.Between("runners", c.Runners, 1, 4096)
	v.DurationBetween("tarpit.max_hold", c.Tarpit.MaxHold, 0, time.Minute)
	v.Between("tarpit.per_address", c.Tarpit.PerAddress, 1, 1024)
	v.Between("tarpit.max_held", c.Tarpit.MaxHeld, 1, 1_000_000)
	c.validateUsers(v)
}

func (c *Config) validateUsers(v *configfile.Validator) {
	seen := map[string]int{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		if !configfile.IsName(u.Name) {
			v.Add(key+".name", "%q is not a user name: use letters, digits, '-', '_', '.', 1 to 64 characters", u.Name)
		}
		if j, dup := seen[u.Name]; dup {
			v.Add(key+".name", "%q is also %s", u.Name, v.Key(fmt.Sprintf("users[%d]", j)))
		}
		seen[u.Name] = i
		if err := passwd.ValidHash(u.PasswordHash); err != nil {
			v.Add(key+".password_hash", "%v", err)
		}
		v.OneOf(key+".role", u.Role, RoleDevice, RoleGateway, RoleReader, RoleAdmin)
	}
}
