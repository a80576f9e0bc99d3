package influxwriter

import (
	"net/url"
	"time"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/configfile"
)

// Defaults of Options, and of zero Config fields where New fills them in.
const (
	DefaultURL        = "http://127.0.0.1:8086"
	DefaultBucket     = "telemetry/autogen"
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff is short so that the writer resumes within seconds
	// of an outage ending rather than after up to half a minute.
	DefaultMaxBackoff   = 5 * time.Second
	DefaultDrainTimeout = 10 * time.Second
)

// Options is the `influx:` section of the server's configuration: where
// readings are stored, how they are batched into write requests, and how
// patiently.
type Options struct {
	// API is the write API: v1 (InfluxDB 1.x's /write, also
	// VictoriaMetrics), v2 (/api/v2/write: InfluxDB 2, and 1.8) or v3
	// (InfluxDB 3's /api/v3/write_lp).
	API           string        `yaml:"api"`
	URL           string        `yaml:"url"`
	Token         string        `yaml:"token"`
	Org           string        `yaml:"org"`
	Bucket        string        `yaml:"bucket"`
	BatchSize     int           `yaml:"batch_size"`     // records per write request
	FlushInterval time.Duration `yaml:"flush_interval"` // write a partial batch after this long
	Concurrency   int           `yaml:"concurrency"`    // write requests in flight
	Gzip          bool          `yaml:"gzip"`
	Timeout       time.Duration `yaml:"timeout"`
	// MaxBackoff caps the wait between retries while InfluxDB is down or
	// overloaded: a longer cap spares a struggling server, a shorter one
	// resumes sooner once it is back.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// DrainTimeout is how long a stopping server keeps writing what is
	// spooled; what is left stays on disk for the next start.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// DefaultOptions writes to InfluxDB on this machine.
func DefaultOptions() Options {
	return Options{
		API:           DefaultAPI,
		URL:           DefaultURL,
		Bucket:        DefaultBucket,
		BatchSize:     output.DefaultBatchSize,
		FlushInterval: output.DefaultFlushInterval,
		Concurrency:   output.DefaultConcurrency,
		Gzip:          true,
		Timeout:       DefaultTimeout,
		MaxBackoff:    DefaultMaxBackoff,
		DrainTimeout:  DefaultDrainTimeout,
	}
}

// Config is the writer's part of o.
func (o *Options) Config() Config {
	c := DefaultConfig(o.URL, o.Bucket)
	c.API, c.Token, c.Org = o.API, o.Token, o.Org
	c.Gzip, c.Timeout, c.MaxBackoff = o.Gzip, o.Timeout, o.MaxBackoff
	return c
}

// Validate reports every problem of o to v, keys relative to v's section.
func (o *Options) Validate(v *configfile.Validator) {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		v.Add("url", "required, e.g. %s", DefaultURL)
	case err != nil:
		v.Add("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		v.Add("url", "scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		v.Add("url", "no host in %q", o.URL)
	}
	api, ok := normalAPI(o.API)
	if !ok {
		v.OneOf("api", o.API, APIs()...)
	}
	if problem := checkBucket(api, o.Bucket); problem != "" {
		v.Add("bucket", "%s", problem)
	}
	v.Between("batch_size", o.BatchSize, 1, 100_000)
	v.DurationBetween("flush_interval", o.FlushInterval, 10*time.Millisecond, time.Minute)
	v.Between("concurrency", o.Concurrency, 1, 64)
	v.DurationBetween("timeout", o.Timeout, 100*time.Millisecond, 10*time.Minute)
	v.DurationBetween("max_backoff", o.MaxBackoff, 100*time.Millisecond, 10*time.Minute)
	v.DurationBetween("drain_timeout", o.DrainTimeout, 0, time.Hour)
}
