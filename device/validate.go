package device

import (
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

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
	var root configfile.Validator
	v := root.Section("device")
	// Ids and measurement names are one MQTT topic level each, and InfluxDB
	// tag and measurement names.
	if !configfile.IsName(c.ID) {
		v.Add("id", "%q is not a device id: use letters, digits, '-', '_', '.', 1 to 64 characters (it is a topic level)", c.ID)
	}
	if configfile.IsName(c.ID) {
		if _, err := c.topics(); err != nil {
			v.Report(err) // it names device.topic or device.status_topic
		}
	}
	c.validateBroker(v)
	if !configfile.IsName(c.ClientID) && c.ClientID != "" {
		v.Add("client_id", "%q: use letters, digits, '-', '_', '.'", c.ClientID)
	}
	if c.Password != "" && c.PasswordFile != "" {
		v.Add("password_file", "set either password or password_file, not both")
	}
	v.DurationBetween("keepalive", c.KeepAlive, 5*time.Second, time.Hour)
	v.Between("max_inflight", c.MaxInflight, 1, 1000)
	v.DurationBetween("max_reconnect_interval", c.MaxReconnectInterval, time.Second, time.Hour)
	v.DurationBetween("summary_interval", c.SummaryInterval, time.Second, 24*time.Hour)
	if strings.TrimSpace(c.Queue.Dir) == "" {
		v.Add("queue.dir", "must not be empty")
	}
	v.AtLeast("queue.max_bytes", c.Queue.MaxBytes, 64<<10)
	v.OneOf("queue.fsync", c.Queue.Fsync, "always", "batch", "never")
	v.OneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.OneOf("log.format", c.Log.Format, "text", "json")
	if p := c.HomeAssistant.Prefix; c.HomeAssistant.Discovery && (p == "" || strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "$")) {
		v.Add("home_assistant.prefix", "%q is not a topic prefix (no +, #, leading $, not empty)", p)
	}
	if c.Logs.Enabled() {
		lv := v.Section("logs")
		c.Logs.Validate(lv)
		if filepath.Clean(c.Logs.Queue.Dir) == filepath.Clean(c.Queue.Dir) {
			lv.Add("queue.dir", "%q is the readings' queue; the log lines need a directory of their own", c.Logs.Queue.Dir)
		}
	}
	if len(c.Sensors) == 0 {
		v.Add("sensors", "no sensors; add at least one, e.g. {kind: cpu_temp} or {kind: sim, measurement: temperature}")
	}
	seen := map[string]int{}
	for i := range c.Sensors {
		s := &c.Sensors[i]
		key := fmt.Sprintf("sensors[%d]", i)
		s.validate(v, key)
		for _, m := range s.Measurements() {
			if j, dup := seen[m]; dup {
				v.Add(key, "measurement %q is also published by device.sensors[%d]; set measurement or prefix to tell them apart", m, j)
				continue
			}
			seen[m] = i
		}
	}
	return root.Err()
}

func (c *Config) validateBroker(v *configfile.Validator) {
	u, err := url.Parse(c.Broker)
	switch {
	case c.Broker == "":
		v.Add("broker", "required, e.g. tcp://192.168.1.10:1883")
	case err != nil:
		v.Add("broker", "%v", err)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws" && u.Scheme != "wss":
		v.Add("broker", "scheme must be tcp, ssl, ws or wss, got %q in %q", u.Scheme, c.Broker)
	case u.Host == "":
		v.Add("broker", "no host in %q", c.Broker)
	}
	if (c.TLS.CAFile != "" || c.TLS.InsecureSkipVerify) && u != nil && u.Scheme != "ssl" && u.Scheme != "wss" {
		v.Add("tls", "set, but device.broker %q is not ssl:// or wss://", c.Broker)
	}
}

func (s *Sensor) validate(v *configfile.Validator, key string) {
	allowed, known := kindKeys[s.Kind]
	if !known {
		v.Add(key+".kind", "%q is not a sensor kind; use one of %s", s.Kind, strings.Join(kinds, ", "))
		return
	}
	v.DurationBetween(key+".interval", s.Interval, 100*time.Millisecond, 24*time.Hour)
	for _, k := range s.setKeys() {
		if !contains(allowed, k) {
			v.Add(key+"."+k, "not used by kind %s; its keys are kind, interval, %s", s.Kind, strings.Join(allowed, ", "))
		}
	}
	if contains(allowed, "measurement") && !configfile.IsName(s.Measurement) {
		v.Add(key+".measurement", "%q: use letters, digits, '-', '_', '.' (it is a topic level)", s.Measurement)
	}
	if s.Prefix != "" && !configfile.IsName(s.Prefix) {
		v.Add(key+".prefix", "%q: use letters, digits, '-', '_', '.'", s.Prefix)
	}
	if (s.Kind == "bme280" || s.Kind == "bmp280") && s.Address != 0x76 && s.Address != 0x77 {
		v.Add(key+".address", "%#x: a %s answers at 0x76 or 0x77 (set by its SDO pin)", s.Address, s.Kind)
	}
	if s.Kind == "ds18b20" && s.Serial != "" && !strings.HasPrefix(s.Serial, "28-") {
		v.Add(key+".serial", "%q: a DS18B20 is listed as 28-<12 hex digits> under %s", s.Serial, s.W1Dir)
	}
	if s.Kind == "sim" && s.Period != nil && *s.Period <= 0 {
		v.Add(key+".period", "%v: readings per cycle must be positive", *s.Period)
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
