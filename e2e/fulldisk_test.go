package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestFullDiskRecovers: data_dir on a 20 MiB file system, InfluxDB down.
// Publishers fill the disk (the spool's size bound is far larger) and are
// pushed back, with nothing acknowledged that was not written; /healthz
// says degraded with the reason. InfluxDB comes back, the spool drains,
// and the same process takes readings again: a drained segment is deleted
// even on a full disk. Then, with the server stopped, a file fills the
// disk: the server still starts (the session store degrades), pushes back
// until the file is deleted, and takes readings again; a reading the
// mapping refuses is pushed back while its dead letter cannot be written,
// and dead-lettered once when resent. The alert state's failed saves are
// named too, and retried. Every acknowledged reading ends in InfluxDB
// exactly once.
func TestFullDiskRecovers(t *testing.T) {
	disk := mountTmpfs(t, "20m")
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	in.Stop(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
		"MQFLUX_DATA_DIR=" + filepath.Join(disk, "data"),
	}})
	srv.DataDir = filepath.Join(disk, "data")

	// About 80 bytes of spool per reading: 300,000 readings are more than
	// 20 MiB can hold.
	const devices, messages = 20, 15000
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.AckTimeout = 2 * time.Second // resend soon after a withheld PUBACK
	l := startLoad(t, cfg)

	pushedBack := func() float64 { return metric(t, srv, "mqflux_readings_pushed_back_total", `source="mqtt"`) }
	waitFor(t, 3*time.Minute, "readings pushed back by the full disk", func() bool { return pushedBack() > 0 })
	waitFor(t, time.Minute, "/healthz degraded for the spool's full disk", func() bool {
		return hasFault(t, srv, "spool: no space left on device")
	})
	// The alert state (the device registry, saved every 10 s) cannot be
	// saved either, and says so.
	waitFor(t, time.Minute, "/healthz naming the alert state", func() bool {
		return hasFault(t, srv, "alert state: ")
	})
	if acked := cfg.Ledger.Len(); acked >= devices*messages {
		t.Fatalf("all %d readings acknowledged with a full disk", acked)
	}
	// An MQTT 5 publisher is told why (0x97, quota exceeded). A small
	// reading may still fit in the last page of the file system, and is
	// then acknowledged: it was written.
	raw := cfg.Measurement + "_raw"
	v5 := dialRaw(t, srv.MQTT, 5, "raw-v5", testenv.DemoGateway.User, testenv.DemoGateway.Password)
	for id := uint16(1); ; id++ {
		payload := fmt.Appendf(nil, `{"value": %d}`, id)
		code, err := v5.publish(t, id, "devices/raw-v5/sensors/"+raw, payload, false, 30*time.Second)
		if err != nil || (code != 0 && code != 0x97) {
			t.Fatalf("MQTT 5 publish onto a full disk: PUBACK reason %#x, %v; want 0x97", code, err)
		}
		if code == 0x97 {
			break
		}
		if id == 100 {
			t.Fatal("100 MQTT 5 publishes onto a full disk acknowledged, want 0x97")
		}
		time.Sleep(50 * time.Millisecond)
	}
	v5.conn.Close()
	ackedWhileFull := cfg.Ledger.Len()

	// InfluxDB back: the spool drains and the same process takes the rest.
	in.Start(t)
	rep := l.finish(t, 5*time.Minute)
	t.Logf("%d readings acknowledged before the disk was full; %d resent", ackedWhileFull, rep.Resent)
	waitStored(t, in, cfg.Measurement, devices*messages, 3*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	waitFor(t, time.Minute, "/healthz without a storage fault", func() bool { return len(faults(t, srv)) == 0 })
	if s := healthStatus(t, srv); s != "ok" {
		t.Errorf("/healthz after the spool drained: %s, want ok", s)
	}

	// A file fills the disk while the server is stopped: it must start. (A
	// restart first, so that the spool holds no drained segment whose
	// deletion at start would make room.)
	srv.Stop(t)
	srv.Start(t)
	srv.Stop(t)
	// The room the dead-letter file keeps in reserve for a full disk is
	// used up too, so that a dead letter cannot be written.
	if err := os.Remove(filepath.Join(srv.DataDir, ".dead-letter.jsonl.reserve")); err != nil {
		t.Fatalf("dead-letter reserve: %v", err)
	}
	filler := fillDisk(t, disk)
	srv.Start(t)
	t.Logf("faults after starting on a full disk: %q", faults(t, srv))
	if f := faults(t, srv); !containsPrefix(f, "sessions: ") {
		t.Errorf("/healthz faults after starting on a full disk: %q, want the session store's", f)
	}
	cfg2 := gatewayLoad(t, srv, 5, 2000)
	cfg2.DevicePrefix = "gw2-"
	cfg2.Measurement = cfg.Measurement + "_after_restart"
	cfg2.AckTimeout = 2 * time.Second
	l2 := startLoad(t, cfg2)
	waitFor(t, time.Minute, "/healthz degraded for the spool on the filled disk", func() bool {
		return hasFault(t, srv, "spool: no space left on device")
	})
	acked := cfg2.Ledger.Len()
	// A reading the mapping refuses is acknowledged only once its dead
	// letter is written: on the full disk it is pushed back instead.
	badTopic := "devices/raw-bad/sensors/" + raw
	bad := dialRaw(t, srv.MQTT, 5, "raw-bad", testenv.DemoGateway.User, testenv.DemoGateway.Password)
	if code, err := bad.publish(t, 7, badTopic, []byte("not a reading"), false, 30*time.Second); err != nil || code != 0x97 {
		t.Fatalf("MQTT 5 publish of a refused reading whose dead letter cannot be written: PUBACK reason %#x, %v; want 0x97", code, err)
	}
	bad.conn.Close()
	if !hasFault(t, srv, "dead-letter file: ") {
		t.Errorf("/healthz faults %q, want the dead-letter file's", faults(t, srv))
	}
	// The legacy HTTP API answers 503 (a small reading may still fit in a
	// page the spool holds, and is then stored: 200).
	for i := 0; ; i++ {
		code := postLegacy(t, srv, fmt.Sprintf(`{"temperature": %d.5}`, i))
		if code == http.StatusServiceUnavailable {
			break
		}
		if code != http.StatusOK || i == 100 {
			t.Fatalf("legacy POST onto a full disk: %d, want 503", code)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	l2.finish(t, 4*time.Minute)
	// Resent once there is room, it is acknowledged and dead-lettered once.
	bad = dialRaw(t, srv.MQTT, 5, "raw-bad", testenv.DemoGateway.User, testenv.DemoGateway.Password)
	if code, err := bad.publish(t, 7, badTopic, []byte("not a reading"), true, 30*time.Second); err != nil || code != 0 {
		t.Fatalf("resent refused reading: PUBACK reason %#x, %v; want 0 (dead-lettered)", code, err)
	}
	bad.conn.Close()
	n := 0
	for _, e := range deadLetters(t, srv) {
		if e.Topic == badTopic {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the refused reading is %d times in the dead-letter file, want once", n)
	}
	t.Logf("%d of %d readings acknowledged before the filler was deleted", acked, 5*2000)
	waitStored(t, in, cfg2.Measurement, 5*2000, 2*time.Minute)
	checkStored(t, in, cfg2.Measurement, cfg2.Ledger)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	waitFor(t, time.Minute, "no spool, dead-letter or alert state fault once the filler is gone", func() bool {
		f := faults(t, srv)
		return !containsPrefix(f, "spool: ") && !containsPrefix(f, "dead-letter file: ") && !containsPrefix(f, "alert state: ")
	})
	t.Logf("faults at the end: %q", faults(t, srv))
}

// mountTmpfs mounts a tmpfs of size on a new directory, unmounted when the
// test ends. It needs root: the test is skipped without it, and fails in
// CI.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.Missing(t, "a tmpfs mount (root)", "run the test as root: "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system has no room left,
// and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				if len(block) == 1 {
					return path
				}
				block = block[:len(block)/2]
				continue
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}

// postLegacy posts one reading to the legacy HTTP API and returns the status.
func postLegacy(t *testing.T, srv *testenv.Server, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-authorization", demoKey)
	req.Header.Set("X-node-id", "logger-full-disk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("legacy POST: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// faults is the "faults" list of /healthz.
func faults(t *testing.T, srv *testenv.Server) []string {
	t.Helper()
	code, body := srv.HTTPGet(t, "/healthz")
	var h struct {
		Faults []string `json:"faults"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 {
		t.Fatalf("GET /healthz = %d %q: %v", code, body, err)
	}
	return h.Faults
}

// hasFault says whether /healthz is degraded with fault among its faults.
func hasFault(t *testing.T, srv *testenv.Server, fault string) bool {
	return healthStatus(t, srv) == "degraded" && containsPrefix(faults(t, srv), fault)
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
