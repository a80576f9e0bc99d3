package subscriber

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is the `bridge:` section of the server's configuration: the
// external broker `mqflux bridge` subscribes to.
type Config struct {
	URL          string        `yaml:"url"`
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	Filters      []string      `yaml:"filters"`
	CAFile       string        `yaml:"ca_file"`
	KeepAlive    time.Duration `yaml:"keepalive"`
	MaxReconnect time.Duration `yaml:"max_reconnect_interval"`
}

// Defaults of Config, and of zero Options fields where New fills them in.
const (
	DefaultClientID     = "mqflux-bridge"
	DefaultKeepAlive    = 30 * time.Second
	DefaultMaxReconnect = 30 * time.Second
)

// DefaultConfig subscribes to every device's readings; the broker's URL
// has no default.
func DefaultConfig() Config {
	return Config{
		ClientID:     DefaultClientID,
		Filters:      []string{"devices/#"},
		KeepAlive:    DefaultKeepAlive,
		MaxReconnect: DefaultMaxReconnect,
	}
}

// Options are the Options of a subscriber with this configuration; the
// caller adds the sink and the logger.
func (c *Config) Options() Options {
	return Options{
		URL: c.URL, ClientID: c.ClientID, Username: c.Username, Password: c.Password,
		Filters: c.Filters, CAFile: c.CAFile, KeepAlive: c.KeepAlive, MaxReconnect: c.MaxReconnect,
	}
}

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		v.Add("url", "required for mqflux bridge, e.g. tcp://broker.example:1883")
	case err != nil:
		v.Add("url", "%v", err)
	case !knownScheme(u.Scheme):
		v.Add("url", "scheme must be tcp, ssl, ws or wss, got %q", u.Scheme)
	}
	if !configfile.IsName(c.ClientID) {
		v.Add("client_id", "%q: a fixed client id is required for the persistent session (letters, digits, '-', '_', '.')", c.ClientID)
	}
	if len(c.Filters) == 0 {
		v.Add("filters", "at least one topic filter, e.g. devices/# or $share/mqflux/devices/#")
	}
	for i, f := range c.Filters {
		if f == "" || strings.ContainsAny(f, "\x00") {
			v.Add(fmt.Sprintf("filters[%d]", i), "%q is not a topic filter", f)
		}
	}
	v.DurationBetween("keepalive", c.KeepAlive, time.Second, time.Hour)
	v.DurationBetween("max_reconnect_interval", c.MaxReconnect, time.Second, time.Hour)
}

func knownScheme(s string) bool {
	switch s {
	case "tcp", "ssl", "tls", "ws", "wss", "mqtt", "mqtts":
		return true
	}
	return false
}
