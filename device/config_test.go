package device

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadString(t *testing.T, yaml string, env ...string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(path, env)
	return cfg, err
}

func TestLoadFillsDefaults(t *testing.T) {
	cfg, err := loadString(t, `device:
  id: pi-kitchen
  sensors:
    - {kind: bme280}
    - {kind: aht20, prefix: box_}
    - {kind: sim, measurement: temperature2, seed: 1, noise: 0}
    - {kind: cpu_temp, interval: 60s}
    - {kind: disk, path: /, interval: 300s}
    - {kind: ds18b20, serial: 28-0316a2795aff, measurement: water}
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "mqflux-device-pi-kitchen" || cfg.MaxInflight != 16 || cfg.Queue.MaxBytes != 64<<20 || cfg.Queue.Fsync != "batch" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	s := cfg.Sensors
	if s[0].Bus != "1" || s[0].Address != 0x76 || s[0].Interval != time.Minute {
		t.Errorf("bme280 defaults: %+v", s[0])
	}
	if *s[2].Base != 20 || *s[2].Noise != 0 || *s[2].Period != 60 {
		t.Errorf("sim defaults: base %v noise %v period %v", *s[2].Base, *s[2].Noise, *s[2].Period)
	}
	if s[3].Path != "/sys/class/thermal/thermal_zone0/temp" || s[3].Measurement != "cpu_temperature" {
		t.Errorf("cpu_temp defaults: %+v", s[3])
	}
	if got := strings.Join(s[1].Measurements(), ","); got != "box_temperature,box_humidity" {
		t.Errorf("aht20 measurements: %s", got)
	}
	if l := cfg.Logs; l.Enabled() || l.Queue.Dir != "./var/device-queue.logs" || l.MaxPerSecond != 20 || l.MaxLine != 2<<10 ||
		l.Journal.Priority != "warning" || l.Topic != "devices/{device}/logs" {
		t.Errorf("logs defaults: %+v", l)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	cfg, err := loadString(t, "device: {id: a, sensors: [{kind: cpu_temp}]}\n",
		"MQFLUX_DEVICE_ID=pi-garage", "MQFLUX_DEVICE_QUEUE_MAX_BYTES=2MiB")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "pi-garage" || cfg.Queue.MaxBytes != 2<<20 || cfg.ClientID != "mqflux-device-pi-garage" {
		t.Fatalf("overrides not applied: id %q max_bytes %v client %q", cfg.ID, cfg.Queue.MaxBytes, cfg.ClientID)
	}
}

func TestConfigProblems(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"misspelt key", "device:\n  id: a\n  brokr: x\n",
			[]string{"device.yaml:3:3: device.brokr: unknown key"}},
		{"wrong type", "device:\n  id: a\n  max_inflight: many\n",
			[]string{"device.yaml:3:17: device.max_inflight: want a whole number"}},
		{"bad id and broker", "device:\n  id: 'pi kitchen'\n  broker: http://x\n  sensors: [{kind: cpu_temp}]\n",
			[]string{`device.id: "pi kitchen" is not a device id`, `device.broker: scheme must be tcp, ssl, ws or wss, got "http"`}},
		{"no sensors", "device: {id: a}\n", []string{"device.sensors: no sensors"}},
		{"unknown kind", "device: {id: a, sensors: [{kind: dht22}]}\n",
			[]string{`device.sensors[0].kind: "dht22" is not a sensor kind; use one of bme280, bmp280, aht20`}},
		{"key of another kind", "device: {id: a, sensors: [{kind: sim, bus: '1'}]}\n",
			[]string{"device.sensors[0].bus: not used by kind sim"}},
		{"bad address", "device: {id: a, sensors: [{kind: bme280, address: 0x40}]}\n",
			[]string{"device.sensors[0].address: 0x40: a bme280 answers at 0x76 or 0x77"}},
		{"interval too short", "device: {id: a, sensors: [{kind: sim, interval: 1ms}]}\n",
			[]string{"device.sensors[0].interval: 1ms is out of range; allowed 100ms to 24h0m0s"}},
		{"same measurement twice", "device: {id: a, sensors: [{kind: bme280}, {kind: ds18b20}]}\n",
			[]string{`device.sensors[1]: measurement "temperature" is also published by device.sensors[0]`}},
		{"fsync and size", "device: {id: a, queue: {fsync: sometimes, max_bytes: 1KiB}, sensors: [{kind: cpu_temp}]}\n",
			[]string{`device.queue.fsync: "sometimes" is not allowed; use one of always, batch, never`, "device.queue.max_bytes: 1KiB is too small"}},
		{"both passwords", "device: {id: a, password: x, password_file: /y, sensors: [{kind: cpu_temp}]}\n",
			[]string{"device.password_file: set either password or password_file, not both"}},
		{"logs", `device: {id: a, queue: {dir: /q}, sensors: [{kind: cpu_temp}], logs: {journal: {enabled: true, priority: loud, units: ["a b"]},
  files: [{path: rel.log}, {path: /x.log, unit: "a b", level: fine}, {path: /x.log}], max_line: 64KiB, max_per_second: 0, queue: {dir: /q}, topic: "logs/{measurement}"}}`,
			[]string{`device.logs.journal.priority: "loud": use one of emerg, alert`, `device.logs.journal.units: entry 0 "a b"`,
				`device.logs.files[0].path: "rel.log": want an absolute path`, `device.logs.files[1].unit: "a b"`,
				`device.logs.files[1].level: "fine" is not allowed`, `device.logs.files[2].path: "/x.log" is followed twice`,
				`device.logs.max_line: 64KiB: want 64B to 4KiB`, "device.logs.max_per_second: 0 is out of range",
				`device.logs.queue.dir: "/q" is the readings' queue`, `device.logs.topic: "logs/{measurement}" must be built from {device} alone`}},
		{"tls without ssl", "device: {id: a, tls: {insecure_skip_verify: true}, sensors: [{kind: cpu_temp}]}\n",
			[]string{`device.tls: set, but device.broker "tcp://127.0.0.1:1883" is not ssl:// or wss://`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, tc.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	topic, body, err := decodeRecord(encodeRecord("devices/a/sensors/t", []byte(`{"value":1}`)))
	if err != nil || topic != "devices/a/sensors/t" || string(body) != `{"value":1}` {
		t.Fatalf("got %q %q %v", topic, body, err)
	}
	for _, bad := range []string{"", "no newline", "\nbody"} {
		if _, _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
		}
	}
}

// The shipped example must show every key with its default.
func TestExampleConfigShowsTheDefaults(t *testing.T) {
	cfg, _, err := Load("../deploy/device.example.yaml", nil)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := Default()
	want.ID, want.Username = "pi-kitchen", "demo-device"
	want.fillDefaults()
	got := cfg
	got.Sensors, want.Sensors = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("example config differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
	for _, s := range cfg.Sensors {
		d := Sensor{Kind: s.Kind, Interval: s.Interval}
		d.fillDefaults()
		if !reflect.DeepEqual(s, d) {
			t.Errorf("example %s entry %+v differs from its defaults %+v", s.Kind, s, d)
		}
	}
}

// Every key of device: is shown in the shipped example, so a new key is
// documented where users look.
func TestExampleConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../deploy/device.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeOf(Config{})
	for i := range rt.NumField() {
		key, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if !strings.Contains(string(data), "\n  "+key+":") {
			t.Errorf("deploy/device.example.yaml does not show device.%s", key)
		}
	}
}
