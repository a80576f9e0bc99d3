package pgwriter

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/configfile"
)

// Validate checks the URL's shape and every key without connecting.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"password and options", func(c *Config) {
			c.URL = "postgresql://u:p%40ss@db.example:6432/tele?sslmode=require&application_name=x"
		}, ""},
		{"empty url", func(c *Config) { c.URL = "" }, "url: required"},
		{"http url", func(c *Config) { c.URL = "http://127.0.0.1:5432/telemetry" }, "scheme must be postgres"},
		{"no database", func(c *Config) { c.URL = "postgres://u@127.0.0.1:5432" }, "no database"},
		{"bad port", func(c *Config) { c.URL = "postgres://u:secret@127.0.0.1:99999/x" }, "url:"},
		{"bad sslmode", func(c *Config) { c.URL = "postgres://u:secret@h/x?sslmode=maybe" }, "sslmode"},
		{"empty schema", func(c *Config) { c.Schema = " " }, "schema: must not be empty"},
		{"long schema", func(c *Config) { c.Schema = strings.Repeat("s", 64) }, "at most 63"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch_size"},
		{"compress after", func(c *Config) { c.Timescale.CompressAfter = "soon" }, "timescale.compress_after"},
		{"compress after days", func(c *Config) { c.Timescale.CompressAfter = "7d" }, ""},
		{"compress after short", func(c *Config) { c.Timescale.CompressAfter = "5m" }, "at least 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			var v configfile.Validator
			c.Validate(&v)
			err := v.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Errorf("Validate shows the password: %v", err)
			}
		})
	}
}

// The package registers kind postgres; its Config is fed and described
// (host, database, schema; never the password) from its keys.
func TestRegisteredKind(t *testing.T) {
	k, ok := output.Lookup(Kind)
	if !ok {
		t.Fatalf("kind %s not registered", Kind)
	}
	c := k.DefaultConfig()
	cfg, ok := c.(*Config)
	if !ok || cfg.URL != DefaultURL || cfg.Schema != DefaultSchema {
		t.Fatalf("DefaultConfig = %#v, want *Config holding DefaultConfig", c)
	}
	cfg.URL, cfg.Schema, cfg.BatchSize = "postgres://writer:s3cret@db.example:6432/tele?sslmode=require", "iot", 10
	d := output.Describe(c)
	if d.Target != "postgres://db.example:6432/tele" || d.Details["schema"] != "iot" || d.Details["database"] != "tele" ||
		d.Details["host"] != "db.example:6432" || d.Details["user"] != "writer" {
		t.Errorf("Describe = %+v", d)
	}
	if strings.Contains(d.Target, "s3cret") {
		t.Error("Describe shows the password")
	}
	for _, v := range d.Details {
		if strings.Contains(v, "s3cret") {
			t.Error("Describe shows the password")
		}
	}
	if f := output.FeedOf(c); f.BatchSize != 10 || f.DrainTimeout != DefaultDrainTimeout || f.Concurrency != 2 {
		t.Errorf("Feed = %+v", f)
	}
	w, err := k.New("pg", c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.(*Writer); !ok {
		t.Errorf("New built %T, want *Writer", w)
	}
	_ = w.(io.Closer).Close()
}
