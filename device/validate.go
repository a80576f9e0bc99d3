package device

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// validName keeps device ids and measurement names usable as one MQTT
// topic level and as InfluxDB tag and measurement names.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// kindKeys lists, for each sensor kind, the keys it uses besides kind and
// interval.
var kindKeys = map[string][]string{
	"bme280":   {"bus", "address", "prefix"},
	"bmp280":   {"bus", "address", "prefix"},
	"aht20":    {"bus", "prefix"},
	"ds18b20":  {"measurement", "serial", "w1_dir"},
	"cpu_temp": {"measurement", "path"},
	"disk":     {"measurement", "path"},
	"sim":      {"measurement", "seed", "base", "step", "amplitude", "period", "noise"},
}

var kinds = []string{"bme280", "bmp280", "aht20", "ds18b20", "cpu_temp", "disk", "sim"}

// Validate checks ranges and cross-key rules. Each problem names the key
// path, what is wrong and what is allowed.
func (c *Config) Validate() error {
	var v problems
	if !validName.MatchString(c.ID) {
		v.add("device.id", "%q is not a device id: use letters, digits, '-', '_', '.', 1 to 64 characters (it is a topic level)", c.ID)
	}
	c.validateBroker(&v)
	if !validName.MatchString(c.ClientID) && c.ClientID != "" {
		v.add("device.client_id", "%q: use letters, digits, '-', '_', '.'", c.ClientID)
	}
	if c.Password != "" && c.PasswordFile != "" {
		v.add("device.password_file", "set either password or password_file, not both")
	}
	v.durationBetween("device.keepalive", c.KeepAlive, 5*time.Second, time.Hour)
	v.between("device.max_inflight", c.MaxInflight, 1, 1000)
	v.durationBetween("device.max_reconnect_interval", c.MaxReconnectInterval, time.Second, time.Hour)
	v.durationBetween("device.summary_interval", c.SummaryInterval, time.Second, 24*time.Hour)
	if strings.TrimSpace(c.Queue.Dir) == "" {
		v.add("device.queue.dir", "must not be empty")
	}
	if c.Queue.MaxBytes < 64<<10 {
		v.add("device.queue.max_bytes", "%s is too small; at least 64KiB", c.Queue.MaxBytes)
	}
	v.oneOf("device.queue.fsync", c.Queue.Fsync, "always", "batch", "never")
	v.oneOf("device.log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("device.log.format", c.Log.Format, "text", "json")
	if len(c.Sensors) == 0 {
		v.add("device.sensors", "no sensors; add at least one, e.g. {kind: cpu_temp} or {kind: sim, measurement: temperature}")
	}
	seen := map[string]int{}
	for i := range c.Sensors {
		s := &c.Sensors[i]
		key := fmt.Sprintf("device.sensors[%d]", i)
		s.validate(&v, key)
		for _, m := range s.Measurements() {
			if j, dup := seen[m]; dup {
				v.add(key, "measurement %q is also published by device.sensors[%d]; set measurement or prefix to tell them apart", m, j)
				continue
			}
			seen[m] = i
		}
	}
	if len(v) > 0 {
		return configfile.Problems(v)
	}
	return nil
}

func (c *Config) validateBroker(v *problems) {
	u, err := url.Parse(c.Broker)
	switch {
	case c.Broker == "":
		v.add("device.broker", "required, e.g. tcp://192.168.1.10:1883")
	case err != nil:
		v.add("device.broker", "%v", err)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws" && u.Scheme != "wss":
		v.add("device.broker", "scheme must be tcp, ssl, ws or wss, got %q in %q", u.Scheme, c.Broker)
	case u.Host == "":
		v.add("device.broker", "no host in %q", c.Broker)
	}
	if (c.TLS.CAFile != "" || c.TLS.InsecureSkipVerify) && u != nil && u.Scheme != "ssl" && u.Scheme != "wss" {
		v.add("device.tls", "set, but device.broker %q is not ssl:// or wss://", c.Broker)
	}
}

func (s *Sensor) validate(v *problems, key string) {
	allowed, known := kindKeys[s.Kind]
	if !known {
		v.add(key+".kind", "%q is not a sensor kind; use one of %s", s.Kind, strings.Join(kinds, ", "))
		return
	}
	v.durationBetween(key+".interval", s.Interval, 100*time.Millisecond, 24*time.Hour)
	for _, k := range s.setKeys() {
		if !contains(allowed, k) {
			v.add(key+"."+k, "not used by kind %s; its keys are kind, interval, %s", s.Kind, strings.Join(allowed, ", "))
		}
	}
	if contains(allowed, "measurement") && !validName.MatchString(s.Measurement) {
		v.add(key+".measurement", "%q: use letters, digits, '-', '_', '.' (it is a topic level)", s.Measurement)
	}
	if s.Prefix != "" && !validName.MatchString(s.Prefix) {
		v.add(key+".prefix", "%q: use letters, digits, '-', '_', '.'", s.Prefix)
	}
	if (s.Kind == "bme280" || s.Kind == "bmp280") && s.Address != 0x76 && s.Address != 0x77 {
		v.add(key+".address", "%#x: a %s answers at 0x76 or 0x77 (set by its SDO pin)", s.Address, s.Kind)
	}
	if s.Kind == "ds18b20" && s.Serial != "" && !strings.HasPrefix(s.Serial, "28-") {
		v.add(key+".serial", "%q: a DS18B20 is listed as 28-<12 hex digits> under %s", s.Serial, s.W1Dir)
	}
	if s.Kind == "sim" && s.Period != nil && *s.Period <= 0 {
		v.add(key+".period", "%v: readings per cycle must be positive", *s.Period)
	}
}

// setKeys lists the kind-specific keys given a value, by yaml name.
func (s *Sensor) setKeys() []string {
	defaults := Sensor{Kind: s.Kind}
	defaults.fillDefaults()
	var out []string
	rv, dv, rt := reflect.ValueOf(*s), reflect.ValueOf(defaults), reflect.TypeOf(*s)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if name == "kind" || name == "interval" {
			continue
		}
		f := rv.Field(i)
		if f.IsZero() || reflect.DeepEqual(f.Interface(), dv.Field(i).Interface()) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// problems collects every problem of a config, so a user fixes them all
// in one pass.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(key, s string, allowed ...string) {
	if !contains(allowed, s) {
		p.add(key, "%q is not allowed; use one of %s", s, strings.Join(allowed, ", "))
	}
}

func (p *problems) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		p.add(key, "%d is out of range; allowed %d to %d", n, lo, hi)
	}
}

func (p *problems) durationBetween(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.add(key, "%s is out of range; allowed %s to %s", d, lo, hi)
	}
}
