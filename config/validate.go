package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mqflux/mqflux/bridge/mapping"
	"github.com/mqflux/mqflux/passwd"
)

// Validate checks ranges and cross-key rules. Each problem names the key,
// what is wrong and what is allowed.
func (c *Server) Validate() error {
	var v validator
	v.nonEmpty("data_dir", c.DataDir)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	c.Broker.validate(&v)
	c.Influx.validate(&v)
	v.oneOf("spool.durability", c.Spool.Durability, "write", "fsync")
	v.atLeast("spool.max_bytes", int64(c.Spool.MaxBytes), 1<<20, "1MiB")
	v.atLeast("spool.segment_bytes", int64(c.Spool.SegmentBytes), 64<<10, "64KiB")
	if c.Spool.SegmentBytes > c.Spool.MaxBytes {
		v.add("spool.segment_bytes", "%s is larger than spool.max_bytes (%s)", c.Spool.SegmentBytes, c.Spool.MaxBytes)
	}
	v.atLeast("dead_letter.max_bytes", int64(c.DeadLetter.MaxBytes), 64<<10, "64KiB")
	c.HTTP.validate(&v)
	if _, err := mapping.New(c.Mapping); err != nil {
		v.problems = append(v.problems, err)
	}
	return v.err()
}

func (b *Broker) validate(v *validator) {
	v.address("broker.tcp", b.TCP, true)
	v.address("broker.tls.address", b.TLS.Address, true)
	v.address("broker.websocket", b.Websocket, true)
	if b.TCP == "" && b.TLS.Address == "" && b.Websocket == "" {
		v.add("broker", "every listener is disabled; set at least one of tcp, tls.address, websocket")
	}
	if b.TLS.Address != "" && (b.TLS.Cert == "" || b.TLS.Key == "") {
		v.add("broker.tls", "address is set, so cert and key (PEM file paths) are required")
	}
	if b.MessageExpiry < 0 {
		v.add("broker.message_expiry", "must be 0 (never) or positive, got %s", b.MessageExpiry)
	}
	v.between("broker.max_inflight", b.MaxInflight, 1, 65535)
	v.between("broker.max_queued", b.MaxQueued, 1, 10_000_000)
	v.atLeast("broker.max_packet_size", int64(b.MaxPacketSize), 1024, "1KiB")
	if b.MaxPacketSize > 256<<20 {
		v.add("broker.max_packet_size", "at most 256MiB (the MQTT limit), got %s", b.MaxPacketSize)
	}
	v.between("broker.max_clients", b.MaxClients, 1, 10_000_000)
	v.durationBetween("broker.connect_timeout", b.ConnectTimeout, time.Second, time.Hour)
	seen := map[string]int{}
	for i, u := range b.Users {
		key := fmt.Sprintf("broker.users[%d]", i)
		if !validName.MatchString(u.Name) {
			v.add(key+".name", "%q is not a user name: use letters, digits, '-', '_', '.', 1 to 64 characters", u.Name)
		}
		if j, dup := seen[u.Name]; dup {
			v.add(key+".name", "%q is also broker.users[%d]", u.Name, j)
		}
		seen[u.Name] = i
		if err := passwd.ValidHash(u.PasswordHash); err != nil {
			v.add(key+".password_hash", "%v", err)
		}
		v.oneOf(key+".role", u.Role, RoleDevice, RoleGateway, RoleReader, RoleAdmin)
	}
}

// validName keeps user and device names usable as MQTT topic levels and
// InfluxDB tag values without escaping surprises.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (in *Influx) validate(v *validator) {
	u, err := url.Parse(in.URL)
	switch {
	case in.URL == "":
		v.add("influx.url", "required, e.g. http://127.0.0.1:8086")
	case err != nil:
		v.add("influx.url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		v.add("influx.url", "scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		v.add("influx.url", "no host in %q", in.URL)
	}
	if in.Bucket == "" {
		v.add("influx.bucket", "required: a bucket name (InfluxDB 2/3) or database/retention-policy (InfluxDB 1.8)")
	}
	v.between("influx.batch_size", in.BatchSize, 1, 100_000)
	v.durationBetween("influx.flush_interval", in.FlushInterval, 10*time.Millisecond, time.Minute)
	v.between("influx.concurrency", in.Concurrency, 1, 64)
	v.durationBetween("influx.timeout", in.Timeout, 100*time.Millisecond, 10*time.Minute)
	v.durationBetween("influx.max_backoff", in.MaxBackoff, 100*time.Millisecond, 10*time.Minute)
	v.durationBetween("influx.drain_timeout", in.DrainTimeout, 0, time.Hour)
}

func (h *HTTP) validate(v *validator) {
	v.address("http.address", h.Address, true)
	v.durationBetween("http.read_header_timeout", h.ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	v.durationBetween("http.read_timeout", h.ReadTimeout, 100*time.Millisecond, 24*time.Hour)
	v.between("http.latest_max_series", h.LatestMaxSeries, 0, 100_000_000)
	seen := map[string]bool{}
	for i, p := range h.Legacy.Parameters {
		key := fmt.Sprintf("http.legacy.parameters[%d]", i)
		if !validParam.MatchString(p) {
			v.add(key, "%q is not a parameter name: lower-case letters, digits and '_', starting with a letter", p)
		}
		if seen[p] {
			v.add(key, "%q is listed twice", p)
		}
		seen[p] = true
	}
	for i, k := range h.Legacy.Keys {
		key := fmt.Sprintf("http.legacy.keys[%d]", i)
		if err := passwd.ValidHash(k.KeyHash); err != nil {
			v.add(key+".key_hash", "%v", err)
		}
		if k.Device != "*" && !validName.MatchString(k.Device) {
			v.add(key+".device", "%q: use \"*\" or a device name (letters, digits, '-', '_', '.')", k.Device)
		}
	}
	v.atLeast("http.legacy.max_body_bytes", int64(h.Legacy.MaxBodyBytes), 256, "256B")
	v.atLeast("http.legacy.max_line_bytes", int64(h.Legacy.MaxLineBytes), 256, "256B")
	if h.Legacy.MaxStreamBytes != 0 && h.Legacy.MaxStreamBytes < h.Legacy.MaxLineBytes {
		v.add("http.legacy.max_stream_bytes", "%s is smaller than max_line_bytes (%s); 0 means no limit", h.Legacy.MaxStreamBytes, h.Legacy.MaxLineBytes)
	}
}

var validParam = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidateBridge checks the keys `mqflux bridge` needs on top of Validate.
func (c *Server) ValidateBridge() error {
	var v validator
	u, err := url.Parse(c.Bridge.URL)
	switch {
	case c.Bridge.URL == "":
		v.add("bridge.url", "required for mqflux bridge, e.g. tcp://broker.example:1883")
	case err != nil:
		v.add("bridge.url", "%v", err)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "mqtt" && u.Scheme != "mqtts":
		v.add("bridge.url", "scheme must be tcp, ssl, ws or wss, got %q", u.Scheme)
	}
	if !validName.MatchString(c.Bridge.ClientID) {
		v.add("bridge.client_id", "%q: a fixed client id is required for the persistent session (letters, digits, '-', '_', '.')", c.Bridge.ClientID)
	}
	if len(c.Bridge.Filters) == 0 {
		v.add("bridge.filters", "at least one topic filter, e.g. devices/# or $share/mqflux/devices/#")
	}
	for i, f := range c.Bridge.Filters {
		if f == "" || strings.ContainsAny(f, "\x00") {
			v.add(fmt.Sprintf("bridge.filters[%d]", i), "%q is not a topic filter", f)
		}
	}
	v.durationBetween("bridge.keepalive", c.Bridge.KeepAlive, time.Second, time.Hour)
	v.durationBetween("bridge.max_reconnect_interval", c.Bridge.MaxReconnect, time.Second, time.Hour)
	return v.err()
}

type validator struct{ problems Problems }

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return v.problems
}

func (v *validator) nonEmpty(key, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(key, "must not be empty")
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(key, "%q is not allowed; use one of %s", s, strings.Join(allowed, ", "))
}

func (v *validator) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "%d is out of range; allowed %d to %d", n, lo, hi)
	}
}

func (v *validator) atLeast(key string, n, lo int64, loText string) {
	if n < lo {
		v.add(key, "%s is too small; at least %s", Size(n), loText)
	}
}

func (v *validator) durationBetween(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(key, "%s is out of range; allowed %s to %s", d, lo, hi)
	}
}

// address checks host:port; empty disables the listener when allowed.
func (v *validator) address(key, addr string, emptyOK bool) {
	if addr == "" {
		if !emptyOK {
			v.add(key, "required, e.g. 127.0.0.1:1883")
		}
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "%q is not host:port (e.g. 127.0.0.1:1883, :1883, [::1]:1883)", addr)
		return
	}
	_ = host // any host; IsLoopback judges it where that matters
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(key, "port %q is not a number from 0 to 65535", port)
	}
}

// IsLoopback reports whether a listener address accepts connections only
// from this machine. An empty host listens everywhere.
func IsLoopback(addr string) bool {
	if addr == "" {
		return true // disabled
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
