package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// keepAlive is an HTTP/1.1 connection kept open after its requests, as a
// browser or a scraper keeps one.
type keepAlive struct {
	conn net.Conn
	r    *bufio.Reader
}

// get sends GET path on the connection and reads the answer; an error
// means the server closed the connection or never answered.
func (k *keepAlive) get(path string) (int, string, error) {
	_ = k.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(k.conn, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	req, _ := http.NewRequest(http.MethodGet, path, nil)
	resp, err := http.ReadResponse(k.r, req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// openKeepAlives opens n connections to addr, each after one GET /healthz,
// from 32 goroutines; it returns those the server answered (and kept open)
// and how many it did not.
func openKeepAlives(addr string, n int) (open []*keepAlive, refused int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				var k *keepAlive
				if err == nil {
					k = &keepAlive{conn: c, r: bufio.NewReader(c)}
					if code, _, err := k.get("/healthz"); err != nil || code != http.StatusOK {
						_ = c.Close()
						k = nil
					}
				}
				mu.Lock()
				if k != nil {
					open = append(open, k)
				} else {
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return open, refused
}

// Idle keep-alive HTTP connections cannot take the descriptors the MQTT
// listener needs: with the server under `ulimit -n 256`, 300 of them (each
// after a GET /healthz) find HTTP's share full and are closed at accept,
// and a device's QoS 1 reading is still acknowledged and stored. /healthz,
// asked on one of the kept connections, says HTTP is refusing.
func TestIdleHTTPConnectionsLeaveMQTTServed(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Nofile: 256})

	open, refused := openKeepAlives(srv.HTTP, 300)
	defer func() {
		for _, k := range open {
			_ = k.conn.Close()
		}
	}()
	t.Logf("%d HTTP connections kept open, %d refused", len(open), refused)
	if len(open) == 0 {
		t.Fatal("no HTTP connection was served")
	}

	meas := measurementFor(t)
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/"+meas, "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub of a QoS 1 reading beside %d idle HTTP connections: %v\n%s", len(open), err, out)
	}
	waitStored(t, in, meas, 1, time.Minute)

	code, body, err := open[0].get("/healthz")
	if err != nil {
		t.Fatalf("GET /healthz on a kept connection: %v", err)
	}
	var h struct {
		Status string `json:"status"`
		HTTP   struct {
			Refusing       bool   `json:"refusing"`
			MaxConnections int    `json:"max_connections"`
			Reason         string `json:"reason"`
		} `json:"http"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz = %d %q: %v", code, body, err)
	}
	if !h.HTTP.Refusing || h.Status != "degraded" || h.HTTP.Reason == "" {
		t.Errorf("/healthz with every HTTP connection taken: %s; want status degraded, http.refusing true with a reason", body)
	}
	if h.HTTP.MaxConnections >= 256 {
		t.Errorf("http.max_connections in force is %d under a limit of 256 descriptors; want a share that leaves MQTT the rest", h.HTTP.MaxConnections)
	}
	_, page, err := open[0].get("/metrics")
	if err != nil {
		t.Fatalf("GET /metrics on a kept connection: %v", err)
	}
	if n := metricSum(t, page, "mqflux_http_connections_refused_total"); n < float64(refused) || n == 0 {
		t.Errorf("mqflux_http_connections_refused_total = %v, %d connections were refused", n, refused)
	}

	// Once the idle connections go, HTTP serves new ones again.
	for _, k := range open {
		_ = k.conn.Close()
	}
	open = nil
	waitFor(t, time.Minute, "HTTP accepting again", func() bool {
		c, err := net.DialTimeout("tcp", srv.HTTP, 5*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		k := &keepAlive{conn: c, r: bufio.NewReader(c)}
		code, body, err := k.get("/healthz")
		return err == nil && code == http.StatusOK && strings.Contains(body, `"refusing": false`)
	})
}
