package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// need returns the path of an external program, failing the test in CI and
// skipping it elsewhere when the program is missing.
func need(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", path, err)
		}
		t.Skipf("%s not installed (%v); install it to run this test", path, err)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mosquitto is a Debian mosquitto broker on a loopback port, restartable on
// the same port.
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	bin := need(t, "/usr/sbin/mosquitto")
	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	// Unlimited queues: the subscriber in the tests must see every reading.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, bin: bin, conf: conf, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.log = &bytes.Buffer{}
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	waitFor(m.t, "mosquitto to listen on "+m.addr, func() bool {
		c, err := net.Dial("tcp", m.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
	m.cmd = nil
}

// subscriber is a mosquitto_sub -v -q 1 process collecting "topic payload" lines.
type subscriber struct {
	mu    sync.Mutex
	lines []string
}

func (s *subscriber) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func startSubscriber(t *testing.T, addr, filter string) *subscriber {
	t.Helper()
	bin := need(t, "/usr/bin/mosquitto_sub")
	pub := need(t, "/usr/bin/mosquitto_pub")
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-h", host, "-p", port, "-v", "-q", "1", "-t", filter, "-t", "ready/#")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto_sub: %v", err)
	}
	s := &subscriber{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); <-done })
	// The subscription is live once a marker published after it arrives.
	waitFor(t, "mosquitto_sub to subscribe", func() bool {
		if err := exec.Command(pub, "-h", host, "-p", port, "-t", "ready/x", "-m", "ready").Run(); err != nil {
			t.Logf("mosquitto_pub: %v", err)
		}
		for _, l := range s.snapshot() {
			if l == "ready/x ready" {
				return true
			}
		}
		return false
	})
	return s
}

// influxd is a real InfluxDB 1.8 server with its own directories and ports.
type influxd struct {
	url string
	db  string
}

func startInfluxd(t *testing.T) *influxd {
	t.Helper()
	bin := os.Getenv("INFLUXD")
	if bin == "" {
		bin = "/tmp/influxbin/influxd"
	}
	need(t, bin)
	dir := t.TempDir()
	httpPort, rpcPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[logging]
  level = "error"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "-config", confPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start influxd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("influxd log:\n%s", log.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitFor(t, "influxd to answer /ping", func() bool {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusNoContent
	})
	db := &influxd{url: base, db: "telemetry"}
	resp, err := http.PostForm(base+"/query", url.Values{"q": {"CREATE DATABASE telemetry"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("CREATE DATABASE: %s: %s", resp.Status, b)
	}
	return db
}

// write stores line protocol with ns timestamps.
func (db *influxd) write(t *testing.T, lines ...string) {
	t.Helper()
	if err := db.writeBody(context.Background(), strings.Join(lines, "\n")); err != nil {
		t.Fatal(err)
	}
}

func (db *influxd) writeBody(ctx context.Context, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, db.url+"/write?db="+db.db+"&precision=ns", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("write: %s: %s", resp.Status, b)
	}
	return nil
}
