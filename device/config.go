// Package device is the agent that runs on each Raspberry Pi: it reads the
// configured sensors, puts every reading into an on-disk queue first, and
// publishes the queue to the MQTT broker with QoS 1, removing a reading only
// after the broker acknowledged it.
package device

import (
	"time"

	"github.com/mqflux/mqflux/device/hostlogs"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/topic"
)

// File is the device configuration file: everything sits under `device:`,
// so one file can sit next to the server's without its keys colliding.
type File struct {
	Device Config `yaml:"device"`
}

// Config is the agent's configuration. deploy/device.example.yaml shows
// every key with its default.
type Config struct {
	ID string `yaml:"id"`
	// Topic and StatusTopic are templates of the server's topic layout
	// (its mapping.topics and mapping.status_template), {device} being ID.
	Topic                string        `yaml:"topic"`
	StatusTopic          string        `yaml:"status_topic"`
	Broker               string        `yaml:"broker"`
	ClientID             string        `yaml:"client_id"` // "" means mqflux-device-{id}
	Username             string        `yaml:"username"`
	Password             string        `yaml:"password"`
	PasswordFile         string        `yaml:"password_file"`
	TLS                  TLS           `yaml:"tls"`
	KeepAlive            time.Duration `yaml:"keepalive"`
	MaxInflight          int           `yaml:"max_inflight"`
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	Queue                Queue         `yaml:"queue"`
	Sensors              []Sensor      `yaml:"sensors"`
	SummaryInterval      time.Duration `yaml:"summary_interval"`
	Log                  Log           `yaml:"log"`
	HomeAssistant        HomeAssistant `yaml:"home_assistant"`
	// Logs forwards the host's log lines (journald, files) on their own
	// topic through their own queue; nothing unless a source is set.
	Logs hostlogs.Config `yaml:"logs"`
}

// HomeAssistant is Home Assistant's MQTT discovery: each sensor's
// measurements announced as retained configs under Prefix.
type HomeAssistant struct {
	Discovery bool   `yaml:"discovery"`
	Prefix    string `yaml:"prefix"`
}

// TLS is used for ssl:// and wss:// brokers.
type TLS struct {
	CAFile             string `yaml:"ca_file"` // "" means the system roots
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Queue is the offline queue on the SD card.
type Queue struct {
	Dir      string          `yaml:"dir"`
	MaxBytes configfile.Size `yaml:"max_bytes"`
	Fsync    string          `yaml:"fsync"` // always | batch | never
}

// Log sets up the structured log on stderr (the journal under systemd).
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Sensor is one entry of `sensors:`. Which keys apply depends on kind;
// a key that does not apply is an error, so a typo is not silently
// ignored. Zero values take the kind's default.
type Sensor struct {
	Kind     string        `yaml:"kind"` // bme280 | bmp280 | aht20 | ds18b20 | cpu_temp | disk | sim
	Interval time.Duration `yaml:"interval"`
	// I2C sensors.
	Bus     string `yaml:"bus"`     // "1" is /dev/i2c-1, the header pins of every Pi since the B+
	Address uint16 `yaml:"address"` // bme280/bmp280: 0x76 or 0x77
	Prefix  string `yaml:"prefix"`  // before each measurement name of a multi-value sensor
	// Single-value sensors.
	Measurement string `yaml:"measurement"`
	Path        string `yaml:"path"`   // cpu_temp: the sysfs file; disk: any path on the file system
	Serial      string `yaml:"serial"` // ds18b20: 28-xxxxxxxxxxxx; "" means the only one present
	W1Dir       string `yaml:"w1_dir"` // ds18b20: where the kernel lists 1-wire devices
	// sim: value n = base + step·n + amplitude·sin(2πn/period) + noise·N(0,1).
	Seed      uint64   `yaml:"seed"`
	Base      *float64 `yaml:"base"`
	Step      *float64 `yaml:"step"`
	Amplitude *float64 `yaml:"amplitude"`
	Period    *float64 `yaml:"period"`
	Noise     *float64 `yaml:"noise"`
}

// DefaultMaxQueueBytes holds about three months of readings at five
// readings a minute: a reading takes about 100 bytes on disk (topic, JSON
// payload, 8 bytes of framing), a week of 5/minute is ~50k readings ≈ 5MiB.
// Long holidays with the router off are covered, and 64MiB is nothing on
// an 8GB SD card. Opening a full queue scans it once (a second or two on a
// Pi Zero).
const DefaultMaxQueueBytes = 64 << 20

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		Topic:                topic.DefaultReadings,
		StatusTopic:          topic.DefaultStatus,
		Broker:               "tcp://127.0.0.1:1883",
		KeepAlive:            30 * time.Second,
		MaxInflight:          16,
		MaxReconnectInterval: 2 * time.Minute,
		Queue:                Queue{Dir: "./var/device-queue", MaxBytes: DefaultMaxQueueBytes, Fsync: "batch"},
		SummaryInterval:      5 * time.Minute,
		Log:                  Log{Level: "info", Format: "text"},
		HomeAssistant:        HomeAssistant{Discovery: true, Prefix: "homeassistant"},
		Logs:                 hostlogs.Default(),
	}
}

// Load reads the configuration file at path over the defaults, applies
// MQFLUX_DEVICE_* environment overrides, fills each sensor's defaults and
// validates. Warnings do not stop a start.
func Load(path string, environ []string) (Config, []string, error) {
	f := File{Device: Default()}
	warnings, err := configfile.LoadFile(path, &f, environ)
	if err != nil {
		return Config{}, warnings, err
	}
	f.Device.fillDefaults()
	return f.Device, warnings, f.Device.Validate()
}

func (c *Config) fillDefaults() {
	if c.ClientID == "" && c.ID != "" {
		c.ClientID = "mqflux-device-" + c.ID
	}
	for i := range c.Sensors {
		c.Sensors[i].fillDefaults()
	}
	if c.Logs.Queue.Dir == "" && c.Queue.Dir != "" {
		c.Logs.Queue.Dir = c.Queue.Dir + ".logs"
	}
}

// logsStatePath is where the log sources' positions are kept: beside the
// log queue, so the two move together.
func (c *Config) logsStatePath() string { return c.Logs.Queue.Dir + ".state.json" }

func (s *Sensor) fillDefaults() {
	if s.Interval == 0 {
		s.Interval = time.Minute
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	switch s.Kind {
	case "bme280", "bmp280":
		def(&s.Bus, "1")
		if s.Address == 0 {
			s.Address = 0x76
		}
	case "aht20":
		def(&s.Bus, "1")
	case "ds18b20":
		def(&s.Measurement, "temperature")
		def(&s.W1Dir, "/sys/bus/w1/devices")
	case "cpu_temp":
		def(&s.Measurement, "cpu_temperature")
		def(&s.Path, "/sys/class/thermal/thermal_zone0/temp")
	case "disk":
		def(&s.Measurement, "disk_used_percent")
		def(&s.Path, "/")
	case "sim":
		def(&s.Measurement, "sim")
		for _, d := range []struct {
			p **float64
			v float64
		}{{&s.Base, 20}, {&s.Step, 0}, {&s.Amplitude, 5}, {&s.Period, 60}, {&s.Noise, 0.5}} {
			if *d.p == nil {
				v := d.v
				*d.p = &v
			}
		}
	}
}

// Measurements lists what the sensor publishes, one topic each.
func (s *Sensor) Measurements() []string {
	switch s.Kind {
	case "bme280":
		return []string{s.Prefix + "temperature", s.Prefix + "humidity", s.Prefix + "pressure"}
	case "bmp280":
		return []string{s.Prefix + "temperature", s.Prefix + "pressure"}
	case "aht20":
		return []string{s.Prefix + "temperature", s.Prefix + "humidity"}
	}
	return []string{s.Measurement}
}
