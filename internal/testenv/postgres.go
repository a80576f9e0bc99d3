package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresMinVersion is the oldest PostgreSQL the postgres output needs
// (unique indexes NULLS NOT DISTINCT); .ci/run installs Debian's
// postgresql-15.
const PostgresMinVersion = 15

// postgresPassword is the superuser's password in every test server: the
// server asks for it (scram-sha-256), so that a test sees a URL with a
// secret in it, as an operator's.
const postgresPassword = "pg-test-secret"

// Postgres is one PostgreSQL server owned by a test: its own data
// directory and socket directory, a free port on 127.0.0.1, the database
// "telemetry". No system service is involved. As root (initdb refuses
// root) every server command runs as the user postgres through setpriv.
type Postgres struct {
	Port     int
	Database string // "telemetry"
	User     string // the superuser, "postgres"

	bin    string   // directory of initdb, pg_ctl
	asUser []string // command prefix running as the postgres user; nil when not root
	data   string
	sock   string
	log    string
}

// PostgresBinDir finds PostgreSQL's server programs: $MQFLUX_PG_BINDIR,
// then the newest /usr/lib/postgresql/<version>/bin of at least
// PostgresMinVersion (Debian's layout), then initdb on $PATH. A missing
// one ends the test through Missing.
func PostgresBinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("MQFLUX_PG_BINDIR"); d != "" {
		if !isExecutable(filepath.Join(d, "initdb")) {
			t.Fatalf("MQFLUX_PG_BINDIR=%s holds no initdb", d)
		}
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if pgVersion(d) >= PostgresMinVersion && isExecutable(filepath.Join(d, "initdb")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	Missing(t, fmt.Sprintf("PostgreSQL %d or newer (initdb, pg_ctl)", PostgresMinVersion),
		"apt-get install postgresql-15 (.ci/run does), or set MQFLUX_PG_BINDIR to its bin directory")
	return ""
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres initialises a cluster in the test's temporary directory,
// starts it, creates the database "telemetry" and stops the server when
// the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p := &Postgres{Database: "telemetry", User: "postgres", bin: PostgresBinDir(t)}
	root := t.TempDir()
	if os.Geteuid() == 0 {
		p.asUser = runAsPostgres(t, root)
	}
	// The socket's path must fit in 107 bytes; a test's temporary
	// directory under a long test name may not.
	sock, err := os.MkdirTemp("", "pgsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	p.sock = sock
	dir := filepath.Join(root, "pg")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pw, []byte(postgresPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p.asUser != nil {
		chownPostgres(t, dir, pw, sock)
	}
	p.data, p.log = filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	if out, err := p.command("initdb", "-D", p.data, "-U", p.User, "--pwfile="+pw,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = p.command("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").Run()
	})
	for attempt := 0; ; attempt++ {
		p.Port = FreePort(t)
		err := p.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("postgres: %v\n--- %s ---\n%s", err, p.log, fileTail(p.log))
		}
	}
	p.Exec(t, "CREATE DATABASE "+p.Database)
	return p
}

// runAsPostgres makes root's temporary directory reachable for the user
// postgres and returns the prefix that runs a command as that user.
func runAsPostgres(t testing.TB, root string) []string {
	t.Helper()
	if _, err := user.Lookup("postgres"); err != nil {
		Missing(t, "the user postgres (initdb refuses to run as root)", "apt-get install postgresql-15 creates it")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		Missing(t, "setpriv (to run PostgreSQL as postgres while the tests run as root)", "apt-get install util-linux")
	}
	// t.TempDir's directories are 0700; the server only needs to pass.
	for d := root; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(d) == os.TempDir() {
			break
		}
	}
	return []string{setpriv, "--reuid=postgres", "--regid=postgres", "--init-groups", "--"}
}

func chownPostgres(t testing.TB, paths ...string) {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, path := range paths {
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// command is one of PostgreSQL's programs, run as postgres when the test
// runs as root.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), p.asUser...), filepath.Join(p.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	return cmd
}

// start runs pg_ctl start and waits until the server takes connections.
// fsync is off: a test server's data need not survive a power cut, and
// the shared test machine's disk is slow.
func (p *Postgres) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=50", p.Port, p.sock)
	out, err := p.command("pg_ctl", "-D", p.data, "-l", p.log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop shuts the server down (fast: connections are closed) and waits;
// the data stays for Start.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := p.command("pg_ctl", "-D", p.data, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v: %s\n--- %s ---\n%s", err, out, p.log, fileTail(p.log))
	}
}

// Start runs the server again on the same port and data after Stop.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatalf("postgres restart: %v\n--- %s ---\n%s", err, p.log, fileTail(p.log))
	}
}

// URL is the connection URL of database db ("" for "telemetry") as the
// superuser, password included.
func (p *Postgres) URL() string { return p.URLOf(p.Database) }

// URLOf is URL for another database.
func (p *Postgres) URLOf(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(p.User, postgresPassword),
		Host: fmt.Sprintf("127.0.0.1:%d", p.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Password is the superuser's password, for tests that look for it where
// it must not be.
func (p *Postgres) Password() string { return postgresPassword }

// LogPath is the server's log file.
func (p *Postgres) LogPath() string { return p.log }

// Exec runs a statement in "postgres" when it is CREATE DATABASE, else in
// "telemetry"; an error fails the test.
func (p *Postgres) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	db := p.Database
	if strings.HasPrefix(sql, "CREATE DATABASE") {
		db = "postgres"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URLOf(db))
	if err != nil {
		t.Fatalf("postgres connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("postgres: %s: %v", sql, err)
	}
}

// Query runs a query in "telemetry" and returns its rows; an error fails
// the test.
func (p *Postgres) Query(t testing.TB, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := p.TryQuery(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("postgres: %s: %v", sql, err)
	}
	return rows
}

// TryQuery is Query for callers that poll, or run off the test's
// goroutine.
func (p *Postgres) TryQuery(ctx context.Context, sql string, args ...any) ([][]any, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// CPUSeconds is the CPU time the server has spent so far: the postmaster
// and every live backend (utime+stime from /proc/PID/stat), and the
// backends that have exited (the postmaster's cutime+cstime). For
// benchmarks: take it before and after a run.
func (p *Postgres) CPUSeconds(t testing.TB) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		t.Fatalf("postgres cpu: %v", err)
	}
	pm, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postgres cpu: postmaster.pid: %v", err)
	}
	const ticks = 100 // USER_HZ on Linux
	total := 0.0
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range procs {
		st, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// The fields after the command, which is in parentheses and may
		// hold spaces.
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		pid, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(filepath.Dir(path)), "/"))
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		last := 13 // utime, stime
		if pid == pm {
			last = 15 // and cutime, cstime
		}
		for _, s := range f[11:last] {
			n, _ := strconv.ParseFloat(s, 64)
			total += n / ticks
		}
	}
	return total
}
