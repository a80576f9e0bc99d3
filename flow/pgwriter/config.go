package pgwriter

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/configfile"
)

// Defaults of Config.
const (
	DefaultURL    = "postgres://mqflux@127.0.0.1:5432/telemetry?sslmode=disable"
	DefaultSchema = "public"
	// DefaultTimeout bounds one transaction (a batch of one table), DDL
	// included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBackoff is short so that writes resume within seconds of
	// PostgreSQL coming back.
	DefaultMaxBackoff   = 5 * time.Second
	DefaultDrainTimeout = 10 * time.Second
)

// maxIdentifier is the longest identifier PostgreSQL keeps (NAMEDATALEN-1
// bytes); a longer one is silently truncated, so two names sharing their
// first 63 bytes would land in one table or column.
const maxIdentifier = 63

// Config is an outputs: entry of kind postgres, beside name, kind,
// required and max_lag.
type Config struct {
	// URL is a libpq connection URL: postgres://user:password@host:port/db?sslmode=...
	// Every libpq parameter pgx knows is accepted (sslmode, connect_timeout,
	// application_name, ...); PGPASSWORD and ~/.pgpass fill in a password
	// the URL leaves out.
	URL string `yaml:"url"`
	// Schema holds the tables, one per measurement; it must exist.
	Schema        string        `yaml:"schema"`
	BatchSize     int           `yaml:"batch_size"`     // records per write
	FlushInterval time.Duration `yaml:"flush_interval"` // write a partial batch after this long
	Concurrency   int           `yaml:"concurrency"`    // writes in flight (each one connection)
	Timeout       time.Duration `yaml:"timeout"`        // per transaction
	MaxBackoff    time.Duration `yaml:"max_backoff"`    // longest wait between retries while PostgreSQL is down
	DrainTimeout  time.Duration `yaml:"drain_timeout"`  // a stopping server keeps writing the spool this long
	Timescale     Timescale     `yaml:"timescale"`
}

// Timescale is what the writer does where the database has the
// timescaledb extension: every table it creates becomes a hypertable.
type Timescale struct {
	// CompressAfter, when set, enables compression (segmented by device)
	// on each new hypertable and adds a policy compressing chunks older
	// than this: a Go duration or a number of days ("168h", "7d").
	CompressAfter string `yaml:"compress_after"`
}

// DefaultConfig writes to PostgreSQL on this machine.
func DefaultConfig() Config {
	return Config{
		URL:           DefaultURL,
		Schema:        DefaultSchema,
		BatchSize:     output.DefaultBatchSize,
		FlushInterval: output.DefaultFlushInterval,
		Concurrency:   output.DefaultConcurrency,
		Timeout:       DefaultTimeout,
		MaxBackoff:    DefaultMaxBackoff,
		DrainTimeout:  DefaultDrainTimeout,
	}
}

// Validate reports every problem of c to v. It parses the URL as pgx
// would, without connecting (mqflux check-config runs it).
func (c *Config) Validate(v *configfile.Validator) {
	if problem := checkURL(c.URL); problem != "" {
		v.Add("url", "%s", problem)
	}
	switch {
	case strings.TrimSpace(c.Schema) == "":
		v.Add("schema", "must not be empty, e.g. %s", DefaultSchema)
	case len(c.Schema) > maxIdentifier:
		v.Add("schema", "%q is %d bytes; PostgreSQL keeps at most %d", c.Schema, len(c.Schema), maxIdentifier)
	case strings.ContainsRune(c.Schema, 0):
		v.Add("schema", "must not hold a NUL byte")
	}
	v.Between("batch_size", c.BatchSize, 1, 100_000)
	v.DurationBetween("flush_interval", c.FlushInterval, 10*time.Millisecond, time.Minute)
	v.Between("concurrency", c.Concurrency, 1, 64)
	v.DurationBetween("timeout", c.Timeout, 100*time.Millisecond, 10*time.Minute)
	v.DurationBetween("max_backoff", c.MaxBackoff, 100*time.Millisecond, 10*time.Minute)
	v.DurationBetween("drain_timeout", c.DrainTimeout, 0, time.Hour)
	if _, err := c.Timescale.compressAfter(); err != nil {
		v.Add("timescale.compress_after", "%v", err)
	}
}

// checkURL is what is wrong with a connection URL, or "".
func checkURL(s string) string {
	if s == "" {
		return "required, e.g. " + DefaultURL
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("not a URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Sprintf("scheme must be postgres or postgresql, got %q (e.g. %s)", u.Scheme, DefaultURL)
	}
	if strings.Trim(u.Path, "/") == "" {
		return "no database in the URL (postgres://user@host:5432/DATABASE)"
	}
	if _, err := pgconn.ParseConfig(s); err != nil {
		return redact(err.Error(), s)
	}
	return ""
}

// compressAfter is the compression policy's age, 0 when there is none.
func (t Timescale) compressAfter() (time.Duration, error) {
	s := strings.TrimSpace(t.CompressAfter)
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q: want a Go duration or a number of days, e.g. 168h or 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a Go duration or a number of days, e.g. 168h or 7d", s)
		}
	}
	if d < time.Hour {
		return 0, fmt.Errorf("%q: at least 1h (a policy compresses whole chunks)", s)
	}
	return d, nil
}

// Feed is how the pipeline feeds the writer.
func (c *Config) Feed() output.Feed {
	return output.Feed{BatchSize: c.BatchSize, FlushInterval: c.FlushInterval, Concurrency: c.Concurrency,
		MaxBackoff: c.MaxBackoff, DrainTimeout: c.DrainTimeout}
}

// Describe is what the health views show: host, database and schema,
// never the password.
func (c *Config) Describe() output.Description {
	d := output.Description{Details: map[string]string{"schema": c.Schema}}
	u, err := url.Parse(c.URL)
	if err != nil {
		return d
	}
	db := strings.TrimPrefix(u.Path, "/")
	d.Target = "postgres://" + u.Host + "/" + db
	d.Details["host"], d.Details["database"] = u.Host, db
	if u.User != nil && u.User.Username() != "" {
		d.Details["user"] = u.User.Username()
	}
	return d
}

// redact removes the password of url from msg (pgx quotes the URL it
// could not parse in some of its errors).
func redact(msg, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return msg
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}
