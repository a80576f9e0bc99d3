package deadletter

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One device flooding large entries uses its share and no more: the other
// devices' entries, and the output's, stay in the file; the drops are
// counted, and logged once for the device.
func TestDeviceQuotaKeepsOthersEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	var log bytes.Buffer
	d, err := Open(path, 64<<10, slog.New(slog.NewTextHandler(&log, nil)), WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	early := []Entry{
		{Source: "mqtt", Device: "quiet", Topic: "devices/quiet/sensors/t", Reason: "bad_json", Payload: []byte("{")},
		{Source: "http", Device: "logger", Topic: "devices/logger/sensors/t", Reason: "bad_body", Payload: []byte("x")},
		{Source: "influx", Reason: "influx_rejected", Payload: []byte("m v=1")},
	}
	for _, e := range early {
		if err := d.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	big := []byte(strings.Repeat("x", 1000))
	var written, dropped int
	for range 1000 { // 1 MB, sixteen times the file
		switch err := d.Add(Entry{Source: "mqtt", Device: "loud", Topic: "devices/loud/sensors/t", Reason: "payload_too_large", Payload: big}); {
		case err == nil:
			written++
		case errors.Is(err, ErrOverQuota):
			dropped++
		default:
			t.Fatal(err)
		}
	}
	got := readAll(t, path)
	for _, want := range early {
		found := false
		for _, e := range got {
			found = found || (e.Source == want.Source && e.Device == want.Device && string(e.Payload) == string(want.Payload))
		}
		if !found {
			t.Errorf("the %s entry of %q is gone after the flood", want.Source, want.Device)
		}
	}
	if written == 0 || written*1100 > (64<<10)/DeviceShare+1100 {
		t.Errorf("the loud device wrote %d entries of 1000 bytes, want its share of %d bytes", written, (64<<10)/DeviceShare)
	}
	if n := testutil.ToFloat64(d.quota.dropped.WithLabelValues("quota")); int(n) != dropped || dropped != 1000-written {
		t.Errorf("metric counts %v drops, Add refused %d of %d", n, dropped, 1000-written)
	}
	if n := strings.Count(log.String(), "dead-letter quota reached"); n != 1 {
		t.Errorf("the drops were logged %d times, want once:\n%s", n, log.String())
	}
}

// Rotation starts a fresh share: the device's older entries are in .1.
func TestDeviceQuotaResetsOnRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	d, err := Open(path, 64<<10, nil, WithoutSync(), WithDeviceQuota(2<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := Entry{Source: "mqtt", Device: "loud", Reason: "r", Payload: []byte(strings.Repeat("x", 1000))}
	if err := d.Add(e); err != nil {
		t.Fatal(err)
	}
	for d.Add(e) == nil {
	}
	// Other devices fill the file until it rotates.
	for i := 0; !exists(path + ".1"); i++ {
		other := e
		other.Device = fmt.Sprint("other-", i)
		if err := d.Add(other); err != nil && !errors.Is(err, ErrOverQuota) {
			t.Fatal(err)
		}
	}
	if err := d.Add(e); err != nil {
		t.Errorf("after rotation the device's share is still used up: %v", err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
