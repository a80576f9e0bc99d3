// Package bench is the load tool behind `mqflux bench`: many simulated
// devices publish readings over MQTT 3.1.1 with packets written by hand
// (see package mqttwire), a fixed in-flight window per connection, and
// optionally a check that every acknowledged reading reached InfluxDB.
package bench

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
)

// Config is everything one run needs; Run fills it from flags.
type Config struct {
	Broker       string // host:port
	Devices      int
	Messages     int           // per device; 0 with Duration set
	Duration     time.Duration // publish for this long; 0 with Messages set
	Rate         float64       // readings per device per second, 0 = as fast as acks allow
	Inflight     int
	QoS          byte
	Payload      string // number, json or line
	Topic        string // template with {device} and {measurement}
	DevicePrefix string
	Measurement  string
	Username     string
	Password     string
	ConnectRate  float64 // connections per second over all devices, 0 = unlimited
	AckTimeout   time.Duration
	GiveUp       time.Duration
	KeepAlive    time.Duration
	ProbeEvery   time.Duration
	// ProbePoll is how often InfluxDB is asked which probes became
	// visible (100 ms when 0): the resolution of the latency figures.
	ProbePoll time.Duration
	// TimeStep is the least spacing of one device's timestamps (1 ns when
	// 0): a store that keeps milliseconds (VictoriaMetrics) merges two
	// readings of one series closer than that.
	TimeStep time.Duration

	InfluxURL string
	Bucket    string
	Token     string
	Timeout   time.Duration
	Settle    time.Duration

	PIDs     []NamedPID
	JSON     bool
	Progress time.Duration // 0 disables the live line
	Debug    bool          // log every failed connect and lost connection with its reason

	// Ledger, if set, records every acknowledged reading (for tests that
	// check storage reading by reading). No flag sets it.
	Ledger *Ledger
}

// NamedPID is a process to account for, from -pid name=pid.
type NamedPID struct {
	Name string
	PID  int
}

type pidFlag struct{ list *[]NamedPID }

func (p pidFlag) String() string {
	if p.list == nil {
		return ""
	}
	parts := make([]string, 0, len(*p.list))
	for _, np := range *p.list {
		parts = append(parts, fmt.Sprintf("%s=%d", np.Name, np.PID))
	}
	return strings.Join(parts, ",")
}

func (p pidFlag) Set(s string) error {
	name, num, ok := strings.Cut(s, "=")
	pid, err := strconv.Atoi(num)
	if !ok || name == "" || err != nil || pid <= 0 {
		return fmt.Errorf("%q is not name=pid (e.g. mqflux=1234)", s)
	}
	*p.list = append(*p.list, NamedPID{Name: name, PID: pid})
	return nil
}

// parseFlags turns args into a Config; -h prints the flags to stderr and
// returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	var broker string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mqflux bench [flags]\n\n"+
			"Publishes readings from many simulated devices over MQTT 3.1.1 and reports\n"+
			"publish and ack rates; with -influx also what reached InfluxDB, and with -pid\n"+
			"the CPU and memory the pipeline spent. Exits non-zero if any reading failed\n"+
			"or was lost.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker `URL` (tcp://host:port)")
	fs.IntVar(&c.Devices, "devices", 100, "simulated devices, one MQTT connection each")
	fs.IntVar(&c.Messages, "messages", 0, "readings per device (default 1000 unless -duration is set)")
	fs.DurationVar(&c.Duration, "duration", 0, "publish for this long instead of a fixed -messages count")
	fs.Float64Var(&c.Rate, "rate", 0, "readings per device per second (0 = as fast as acks allow)")
	fs.IntVar(&c.Inflight, "inflight", 32, "unacknowledged QoS 1 readings allowed per connection (1-65535)")
	qos := fs.Int("qos", 1, "MQTT QoS of readings: 0 or 1")
	fs.StringVar(&c.Payload, "payload", "json", "payload format: number (bare value, the server stamps the time),\njson ({\"value\":N,\"time\":\"<RFC3339Nano>\"}) or line (line protocol, ns timestamp)")
	fs.StringVar(&c.Topic, "topic", "devices/{device}/sensors/{measurement}", "topic `template`; {device} and {measurement} are replaced")
	fs.StringVar(&c.DevicePrefix, "device-prefix", "bench-", "device names are this prefix plus a number from 0")
	fs.StringVar(&c.Measurement, "measurement", "", "measurement to write (default bench_<random run id>, unique per run so counts are exact)")
	fs.StringVar(&c.Username, "username", "", "MQTT user name (e.g. demo-gateway, a gateway-role user)")
	fs.StringVar(&c.Password, "password", "", "MQTT password")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 500, "new connections per second over all devices, reconnects included (0 = unlimited)")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", 10*time.Second, "reconnect and resend when a reading in flight has had no PUBACK for this long")
	fs.DurationVar(&c.GiveUp, "give-up", time.Minute, "a device that makes no progress (no CONNACK, no PUBACK) for this long stops; its unacked readings count as failed")
	fs.DurationVar(&c.KeepAlive, "keepalive", time.Minute, "MQTT keep alive")
	fs.DurationVar(&c.TimeStep, "time-step", 0, "least spacing of one device's payload timestamps (0: 1ns); 1ms keeps every reading apart in a store of milliseconds")
	fs.DurationVar(&c.ProbeEvery, "probe-every", 100*time.Millisecond, "with -influx: send one latency probe reading this often")
	fs.DurationVar(&c.ProbePoll, "probe-poll", 100*time.Millisecond, "with -influx: ask InfluxDB this often which probes are queryable (a latency is at most this late)")
	fs.StringVar(&c.InfluxURL, "influx", "", "InfluxDB `URL` (e.g. http://127.0.0.1:8086): check that acked readings were stored")
	fs.StringVar(&c.Bucket, "bucket", "telemetry/autogen", "InfluxDB database/retention-policy (or a v2 bucket mapped for InfluxQL)")
	fs.StringVar(&c.Token, "token", "", "InfluxDB token (InfluxDB 1.8: user:password)")
	fs.DurationVar(&c.Timeout, "timeout", time.Minute, "with -influx: longest wait after the last ack for readings to become stored")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "with -influx: stop waiting once the stored count has not grown for this long")
	fs.Var(pidFlag{&c.PIDs}, "pid", "`name=pid` of a process whose CPU seconds and peak RSS to report (repeatable)")
	fs.BoolVar(&c.JSON, "json", false, "print the final report as JSON")
	fs.DurationVar(&c.Progress, "progress", time.Second, "interval of the live progress line on stderr (0 = off)")
	fs.BoolVar(&c.Debug, "debug", false, "log on stderr why each connect failed and each connection was lost")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *qos != 0 && *qos != 1 {
		return c, fmt.Errorf("-qos %d: want 0 or 1", *qos)
	}
	c.QoS = byte(*qos)
	addr, err := brokerAddr(broker)
	if err != nil {
		return c, err
	}
	c.Broker = addr
	if c.Messages == 0 && c.Duration == 0 {
		c.Messages = 1000
	}
	if c.Measurement == "" {
		c.Measurement = "bench_" + runID()
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	check := func(bad bool, format string, a ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Devices < 1, "-devices %d: want at least 1", c.Devices)
	check(c.Messages < 0, "-messages %d: want 0 or more", c.Messages)
	check(c.Duration < 0, "-duration %s: want 0 or more", c.Duration)
	check(c.Messages > 0 && c.Duration > 0, "-messages and -duration: give one, not both")
	check(c.Rate < 0, "-rate %g: want 0 or more", c.Rate)
	check(c.Inflight < 1 || c.Inflight > 65535, "-inflight %d: want 1 to 65535", c.Inflight)
	check(c.Payload != "number" && c.Payload != "json" && c.Payload != "line", "-payload %q: want number, json or line", c.Payload)
	check(!strings.Contains(c.Topic, "{device}"), "-topic %q: needs {device}, or every device would publish to one topic", c.Topic)
	check(strings.ContainsAny(c.Topic, "+#"), "-topic %q: wildcards + and # are not allowed when publishing", c.Topic)
	check(!validName(c.Measurement), "-measurement %q: use letters, digits, _ and - only", c.Measurement)
	check(c.ConnectRate < 0, "-connect-rate %g: want 0 or more", c.ConnectRate)
	check(c.AckTimeout <= 0, "-ack-timeout %s: want more than 0", c.AckTimeout)
	check(c.GiveUp <= 0, "-give-up %s: want more than 0", c.GiveUp)
	check(c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second, "-keepalive %s: want 1s to 18h12m15s", c.KeepAlive)
	check(c.ProbeEvery <= 0, "-probe-every %s: want more than 0", c.ProbeEvery)
	check(c.ProbePoll < 0 || (c.ProbePoll > 0 && c.ProbePoll < 10*time.Millisecond), "-probe-poll %s: want 10ms or more", c.ProbePoll)
	if c.InfluxURL != "" {
		u, err := url.Parse(c.InfluxURL)
		check(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "", "-influx %q: want http://host:port", c.InfluxURL)
		db, _ := influx.Endpoint{Bucket: c.Bucket}.DBRP()
		check(db == "", "-bucket %q: want database/retention-policy", c.Bucket)
		check(c.Timeout <= 0, "-timeout %s: want more than 0", c.Timeout)
		check(c.Settle <= 0, "-settle %s: want more than 0", c.Settle)
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		ok := r == '_' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func brokerAddr(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "tcp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("-broker %q: %w", s, err)
	}
	if u.Scheme != "tcp" && u.Scheme != "mqtt" {
		return "", fmt.Errorf("-broker %q: scheme %q not supported, use tcp://host:port", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("-broker %q: no host", s)
	}
	port := u.Port()
	if port == "" {
		port = "1883"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
