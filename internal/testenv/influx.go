package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// influxStartTimeout bounds how long influxd may take to answer /ping. It
// normally takes one or two seconds; the margin is for a loaded CI machine.
const influxStartTimeout = 60 * time.Second

// InfluxdPath finds the influxd binary: $MQFLUX_INFLUXD, <module root>/bin/influxd,
// then $PATH. A missing binary ends the test through Missing.
func InfluxdPath(t testing.TB) string {
	t.Helper()
	return binaryPath(t, "MQFLUX_INFLUXD", "influxd", "influxd (InfluxDB 1.8.10)",
		"run make tools, or set MQFLUX_INFLUXD to an influxd binary "+
			"(go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// InfluxOption changes how StartInflux configures the server.
type InfluxOption func(*influxSettings)

type influxSettings struct {
	user, password string
	maxBodySize    int
	noFlux         bool
}

// WithAuth turns authentication on and creates an admin user. Clients then
// use the token "user:password" (see Influx.Token).
func WithAuth(user, password string) InfluxOption {
	return func(s *influxSettings) { s.user, s.password = user, password }
}

// WithMaxBodySize sets [http] max-body-size in bytes: a larger write request
// is answered 413.
func WithMaxBodySize(n int) InfluxOption {
	return func(s *influxSettings) { s.maxBodySize = n }
}

// WithoutFlux turns the Flux query engine off. influxd spends about five
// CPU-seconds compiling Flux's standard library at every start (measured on
// the 2-core CI machine: /ping answers after ~5 s with Flux, ~0.1 s without),
// so tests that only write and use InfluxQL should ask for this.
func WithoutFlux() InfluxOption {
	return func(s *influxSettings) { s.noFlux = true }
}

// Influx is one running InfluxDB 1.8 server owned by a test.
type Influx struct {
	URL      string // http://127.0.0.1:port
	Database string // "telemetry", created with retention policy autogen
	User     string // admin user when started WithAuth, else ""
	Password string

	daemon
	dir    string // data, meta, wal, config and log live here
	config string
}

// StartInflux starts influxd with its own directories and ports, waits until
// it answers, creates the database "telemetry" and stops the server when the
// test ends.
func StartInflux(t testing.TB, opts ...InfluxOption) *Influx {
	t.Helper()
	var s influxSettings
	for _, o := range opts {
		o(&s)
	}
	i := &Influx{
		daemon:   daemon{name: "influxd", bin: InfluxdPath(t)},
		dir:      t.TempDir(),
		Database: "telemetry",
		User:     s.user,
		Password: s.password,
	}
	i.config = filepath.Join(i.dir, "influxd.conf")
	i.logPath = filepath.Join(i.dir, "influxd.log")
	t.Cleanup(func() { i.stop() })

	// A port picked by FreePorts can be taken before influxd binds it; a
	// fresh pair of ports is then the fix, so try a few times.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ports := FreePorts(t, 2)
		if err = i.writeConfig(s, ports[0], ports[1]); err != nil {
			t.Fatalf("influxd: %v", err)
		}
		if err = i.launch(); err == nil {
			break
		}
		i.stop()
	}
	if err != nil {
		t.Fatalf("influxd: %v\n--- %s ---\n%s", err, i.logPath, i.logTail())
	}
	i.setup(t)
	return i
}

func (i *Influx) writeConfig(s influxSettings, httpPort, rpcPort int) error {
	i.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	maxBody := s.maxBodySize
	if maxBody == 0 {
		maxBody = 25000000
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
  logging-enabled = false
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  auth-enabled = %t
  log-enabled = false
  flux-enabled = %t
  pprof-enabled = false
  max-body-size = %d
[logging]
  level = "warn"
  suppress-logo = true
`, rpcPort, filepath.Join(i.dir, "meta"), filepath.Join(i.dir, "data"), filepath.Join(i.dir, "wal"),
		httpPort, s.user != "", !s.noFlux, maxBody)
	if err := os.WriteFile(i.config, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("write config %s: %w", i.config, err)
	}
	return nil
}

// launch starts influxd and waits for /ping.
func (i *Influx) launch() error {
	return i.daemon.launch([]string{"run", "-config", i.config}, i.URL+"/ping", http.StatusNoContent, influxStartTimeout)
}

// setup creates the admin user (allowed without credentials while there are
// no users) and the database.
func (i *Influx) setup(t testing.TB) {
	t.Helper()
	if i.User != "" {
		q := fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES",
			quoteIdent(i.User), strings.ReplaceAll(i.Password, "'", `\'`))
		if _, err := i.TryQuery(context.Background(), q); err != nil {
			t.Fatalf("influxd: create admin user: %v", err)
		}
	}
	if _, err := i.TryQuery(context.Background(), "CREATE DATABASE "+quoteIdent(i.Database)); err != nil {
		t.Fatalf("influxd: create database: %v\n--- %s ---\n%s", err, i.logPath, i.logTail())
	}
}

// Stop sends SIGTERM and waits for influxd to exit. The data stays, so Start
// brings the same server back (outage tests).
func (i *Influx) Stop(t testing.TB) {
	t.Helper()
	if err := i.stop(); err != nil {
		t.Fatalf("influxd stop: %v\n--- %s ---\n%s", err, i.logPath, i.logTail())
	}
}

// Start runs influxd again on the same port and directories after Stop.
func (i *Influx) Start(t testing.TB) {
	t.Helper()
	if i.cmd != nil {
		t.Fatalf("influxd start: already running at %s", i.URL)
	}
	if err := i.launch(); err != nil {
		_ = i.stop()
		t.Fatalf("influxd restart: %v\n--- %s ---\n%s", err, i.logPath, i.logTail())
	}
}

// Bucket names the database and retention policy the way the v2 write API
// of InfluxDB 1.8 wants it.
func (i *Influx) Bucket() string { return i.Database + "/autogen" }

// Token is the v2 API token for InfluxDB 1.8: "user:password", or "" without
// auth.
func (i *Influx) Token() string {
	if i.User == "" {
		return ""
	}
	return i.User + ":" + i.Password
}

// LogPath is influxd's log file, for tests that want to show it.
func (i *Influx) LogPath() string { return i.logPath }

// logTail returns the end of influxd's log for failure messages.
func (i *Influx) logTail() string {
	b, err := os.ReadFile(i.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
