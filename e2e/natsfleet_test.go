package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// hookLog is a webhook receiver in the test process: every notification
// it accepted, in order.
type hookLog struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookNote
}

type hookNote struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	Rule   string `json:"rule"`
	State  string `json:"state"`
}

func startHook(t *testing.T) *hookLog {
	t.Helper()
	h := &hookLog{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n hookNote
		if err := json.Unmarshal(b, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, n)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// of lists the IDs of the notifications about device's rule in state.
func (h *hookLog) of(device, rule, state string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.got {
		if n.Device == device && n.Rule == rule && n.State == state {
			out = append(out, n.ID)
		}
	}
	return out
}

func (h *hookLog) all() []hookNote {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookNote(nil), h.got...)
}

// devicePub is one device publishing over MQTT QoS 1 through a
// mosquitto_pub that reads its readings from stdin, one per line, on one
// connection.
type devicePub struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *testenv.SyncBuffer
	mu    sync.Mutex
	off   bool
}

func startDevicePub(t *testing.T, addr, name string) *devicePub {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	d := &devicePub{name: name, out: &testenv.SyncBuffer{}}
	d.cmd = exec.Command(testenv.RequireCommand(t, "mosquitto_pub"), "-h", host, "-p", port, "-i", name,
		"-t", "devices/"+name+"/sensors/temperature", "-q", "1", "-l")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	var err error
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	return d
}

// publish sends one reading unless the device was stopped.
func (d *devicePub) publish(v int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.off {
		fmt.Fprintf(d.stdin, "%d\n", v)
	}
}

// stop ends the device: it publishes nothing more.
func (d *devicePub) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.off {
		return
	}
	d.off = true
	d.stdin.Close()
	_ = d.cmd.Wait()
}

type fleetHealth struct {
	Fleet struct {
		Instance string `json:"instance"`
		Holder   string `json:"holder"`
		Leading  bool   `json:"leading"`
		Devices  int    `json:"devices"`
		Pending  int    `json:"pending"`
		Takeover string `json:"takeover"`
	} `json:"fleet"`
}

func (b *bridgeProc) fleet(t *testing.T) (fleetHealth, bool) {
	t.Helper()
	var h fleetHealth
	code, body, err := b.get("/healthz")
	if err != nil || code != http.StatusOK {
		return h, false
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz of %s: %v: %s", b.clientID, err, body)
	}
	return h, true
}

func (b *bridgeProc) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body, err := b.get(path)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s of %s: %d %v %s", path, b.clientID, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s of %s: %v: %s", path, b.clientID, err, body)
	}
}

// Two `mqflux bridge` processes share a three-node NATS cluster's stream;
// devices publish over MQTT to every node. One bridge at a time holds the
// alerts lease and alerts for all devices, though each bridge stores only
// its share of the readings: a device going silent is one notification to
// a real webhook receiver, not one per bridge. The holder is killed with
// SIGKILL; the other takes the lease within twice the lease (measured),
// loads the saved state, and neither sends the first silence again nor
// misses the next: a second device going silent is again exactly one
// notification. The survivor's /v1/devices lists every device, its
// /v1/alerts both silences, its /v1/latest the devices' readings, and it
// serves the console.
func TestNATSFleetAlertsSurviveLeaderKill(t *testing.T) {
	const lease = 4 * time.Second
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	hook := startHook(t)
	bin := testenv.Build(t, "./cmd/mqflux")
	env := func(name string) []string {
		return []string{
			"MQFLUX_BRIDGE_NATS_LEASE=" + lease.String(),
			"MQFLUX_BRIDGE_NATS_INSTANCE=" + name,
			"MQFLUX_ALERTS_SILENT_AFTER=5s",
			"MQFLUX_ALERTS_CHECK_INTERVAL=100ms",
			"MQFLUX_ALERTS_RETRY_MAX=2s",
			fmt.Sprintf(`MQFLUX_ALERTS_NOTIFY=[{kind: webhook, url: "%s/hook"}]`, hook.srv.URL),
		}
	}
	// The first bridge takes the lease; the second starts while it holds
	// it, so which one leads is known.
	first := startNATSBridge(t, bin, cluster, influx, "fleet-1", true, env("fleet-1")...)
	waitFor(t, time.Minute, "fleet-1 alerting", func() bool { h, ok := first.fleet(t); return ok && h.Fleet.Leading })
	second := startNATSBridge(t, bin, cluster, influx, "fleet-2", true, env("fleet-2")...)
	waitFor(t, time.Minute, "fleet-2 following fleet-1", func() bool { h, ok := second.fleet(t); return ok && h.Fleet.Holder == "fleet-1" })
	if h, _ := second.fleet(t); h.Fleet.Leading {
		t.Fatalf("both bridges lead: %+v", h.Fleet)
	}

	// Four devices, spread over the nodes, publish every 300 ms.
	names := []string{"fleet-alive-1", "fleet-alive-2", "fleet-quiet-1", "fleet-quiet-2"}
	devs := map[string]*devicePub{}
	for i, n := range names {
		devs[n] = startDevicePub(t, cluster.Nodes[i%len(cluster.Nodes)].MQTTAddr, n)
	}
	stopTicks := make(chan struct{})
	var ticks sync.WaitGroup
	ticks.Add(1)
	go func() {
		defer ticks.Done()
		for v := 0; ; v++ {
			for _, d := range devs {
				d.publish(v)
			}
			select {
			case <-stopTicks:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stopTicks); ticks.Wait() }()
	// Each bridge stores a share; the registry of the leader has all.
	waitFor(t, time.Minute, "the registry holding every device, on the follower", func() bool {
		h, ok := second.fleet(t)
		return ok && h.Fleet.Devices == len(names)
	})

	// Malformed readings reach the holder's consumer too: refused by the
	// mapping (and dead-lettered by the bridge whose share they are), they
	// make no device of the registry and stop nothing.
	for _, bad := range []string{`{"value": `, `NaN`, `{"value": "x", "device": "spoof"}`} {
		if out, err := testenv.Pub(t, cluster.Nodes[1].MQTTAddr, testenv.Login{}, "devices/fleet-bad/sensors/temperature", bad, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %q: %v %s", bad, err, out)
		}
	}

	// One device goes silent: one notification, and the state that says
	// it was sent reaches the bucket.
	devs["fleet-quiet-1"].stop()
	waitFor(t, time.Minute, "the silence of fleet-quiet-1 notified", func() bool { return len(hook.of("fleet-quiet-1", "silent", "firing")) > 0 })
	// The follower's view shows the silence and nothing unsent: the save
	// after the receiver accepted it is in the bucket. (A holder killed
	// before that save leaves the notification to its successor, which
	// sends it again with the same id: README, "Beyond one machine".)
	waitFor(t, 30*time.Second, "the saved state with the silence and nothing left to send", func() bool {
		var a struct {
			Active []struct {
				Device string `json:"device"`
			} `json:"active"`
		}
		second.getJSON(t, "/v1/alerts", &a)
		h, ok := second.fleet(t)
		return ok && len(a.Active) == 1 && a.Active[0].Device == "fleet-quiet-1" && h.Fleet.Pending == 0
	})
	for _, b := range []*bridgeProc{first, second} {
		if n := b.metric(t, `mqflux_nats_messages_settled_total{result="spooled"}`); n == 0 {
			t.Errorf("%s stored no reading: the stream was not shared", b.clientID)
		}
	}

	// The holder dies.
	first.kill()
	killed := time.Now()
	var took time.Duration
	waitFor(t, 10*lease, "fleet-2 taking over the alerts", func() bool {
		h, ok := second.fleet(t)
		if ok && h.Fleet.Leading {
			took = time.Since(killed)
			return true
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
	h, _ := second.fleet(t)
	for _, l := range strings.Split(second.proc.Log.String(), "\n") {
		if strings.Contains(l, "lease") {
			t.Log(l)
		}
	}
	t.Logf("fleet-2 took over %v after fleet-1 was killed (lease %v); the lease went unrenewed %s by NATS's clock", took.Round(time.Millisecond), lease, h.Fleet.Takeover)
	if took > 2*lease {
		t.Errorf("takeover took %v, more than twice the lease %v", took, lease)
	}

	// A second device goes silent under the new holder.
	devs["fleet-quiet-2"].stop()
	waitFor(t, time.Minute, "the silence of fleet-quiet-2 notified", func() bool { return len(hook.of("fleet-quiet-2", "silent", "firing")) > 0 })
	// Anything sent twice would come within the retries' backoff; wait
	// one silent_after and the longest retry more.
	time.Sleep(7 * time.Second)
	if got := hook.of("fleet-quiet-1", "silent", "firing"); len(got) != 1 {
		t.Errorf("fleet-quiet-1 silent: %d notifications %v, want exactly one across the takeover", len(got), got)
	}
	if got := hook.of("fleet-quiet-2", "silent", "firing"); len(got) != 1 {
		t.Errorf("fleet-quiet-2 silent: %d notifications %v, want exactly one", len(got), got)
	}
	for _, n := range hook.all() {
		if strings.HasPrefix(n.Device, "fleet-alive-") {
			t.Errorf("a device that kept publishing was notified: %+v", n)
		}
	}

	var devices struct {
		Devices []struct {
			Device string   `json:"device"`
			State  string   `json:"state"`
			Firing []string `json:"firing"`
		} `json:"devices"`
	}
	second.getJSON(t, "/v1/devices", &devices)
	state := map[string]string{}
	for _, d := range devices.Devices {
		state[d.Device] = d.State
	}
	if st, ok := state["fleet-bad"]; ok {
		t.Errorf("/v1/devices of the survivor lists fleet-bad (%s), which sent only malformed readings", st)
	}
	want := map[string]string{"fleet-alive-1": "online", "fleet-alive-2": "online", "fleet-quiet-1": "silent", "fleet-quiet-2": "silent"}
	for n, st := range want {
		if state[n] != st {
			t.Errorf("/v1/devices of the survivor: %s is %q, want %q (all: %v)", n, state[n], st, state)
		}
	}
	var alerts struct {
		Active []struct {
			Device string `json:"device"`
			Rule   string `json:"rule"`
		} `json:"active"`
	}
	second.getJSON(t, "/v1/alerts", &alerts)
	if len(alerts.Active) != 2 {
		t.Errorf("/v1/alerts of the survivor: %+v, want the two silences", alerts.Active)
	}
	var latest struct {
		Readings []struct {
			Device string `json:"device"`
		} `json:"readings"`
	}
	second.getJSON(t, "/v1/latest?measurement=temperature", &latest)
	seen := map[string]bool{}
	for _, r := range latest.Readings {
		seen[r.Device] = true
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("/v1/latest of the survivor has no reading of %s", n)
		}
	}
	// The console's fleet view is served beside them.
	if code, body, err := second.get("/"); err != nil || code != http.StatusOK || !strings.Contains(body, `id="main"`) {
		t.Errorf("GET / of the survivor: %d %v %.200s", code, err, body)
	}
}
