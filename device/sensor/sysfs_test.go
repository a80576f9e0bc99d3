package sensor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	w1Good   = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
	w1BadCRC = "72 01 4b 46 7f ff 0e 10 57 : crc=a1 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
)

func TestSysfsSensors(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string // relative to a temp root
		make    func(root string) Sensor
		want    map[string]float64
		wantErr string
	}{
		{"cpu_temp", map[string]string{"temp": "48312\n"},
			func(r string) Sensor { return NewCPUTemp(filepath.Join(r, "temp"), "cpu_temperature") },
			map[string]float64{"cpu_temperature": 48.312}, ""},
		{"cpu_temp below zero", map[string]string{"temp": "-5250\n"},
			func(r string) Sensor { return NewCPUTemp(filepath.Join(r, "temp"), "cpu_temperature") },
			map[string]float64{"cpu_temperature": -5.25}, ""},
		{"cpu_temp missing file", nil,
			func(r string) Sensor { return NewCPUTemp(filepath.Join(r, "temp"), "cpu_temperature") },
			nil, "cpu_temp: read open "},
		{"cpu_temp garbage", map[string]string{"temp": "hot\n"},
			func(r string) Sensor { return NewCPUTemp(filepath.Join(r, "temp"), "cpu_temperature") },
			nil, `temp: want an integer (millidegrees Celsius), got "hot"`},
		{"ds18b20 temperature file", map[string]string{"28-0316a2795aff/temperature": "21500\n"},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			map[string]float64{"temperature": 21.5}, ""},
		{"ds18b20 w1_slave", map[string]string{"28-0316a2795aff/w1_slave": w1Good},
			func(r string) Sensor { return NewDS18B20(r, "28-0316a2795aff", "water_temperature") },
			map[string]float64{"water_temperature": 23.125}, ""},
		{"ds18b20 CRC error", map[string]string{"28-0316a2795aff/w1_slave": w1BadCRC},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, "w1_slave: CRC check failed"},
		{"ds18b20 garbage", map[string]string{"28-0316a2795aff/w1_slave": "hello\n"},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, "w1_slave: want 2 lines, got 1"},
		{"ds18b20 garbage temperature file", map[string]string{"28-0316a2795aff/temperature": "x\n"},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, `want an integer (millidegrees Celsius), got "x"`},
		{"ds18b20 power-on value", map[string]string{"28-0316a2795aff/temperature": "85000\n"},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, "the power-on reset value"},
		{"ds18b20 none present", map[string]string{"w1_bus_master1/x": ""},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, "no 28-* device under"},
		{"ds18b20 named one missing", nil,
			func(r string) Sensor { return NewDS18B20(r, "28-000000000001", "temperature") },
			nil, "ds18b20@28-000000000001: not found under"},
		{"ds18b20 several, none chosen", map[string]string{"28-a/temperature": "1000", "28-b/temperature": "2000"},
			func(r string) Sensor { return NewDS18B20(r, "", "temperature") },
			nil, "2 sensors under"},
		{"ds18b20 several, one chosen", map[string]string{"28-a/temperature": "1000", "28-b/temperature": "2000"},
			func(r string) Sensor { return NewDS18B20(r, "28-b", "temperature") },
			map[string]float64{"temperature": 2}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tc.files {
				writeFile(t, filepath.Join(root, p), c)
			}
			got, err := tc.make(root).Read(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkReadings(t, got, tc.want)
		})
	}
}

func TestDiskOfARealPath(t *testing.T) {
	dir := t.TempDir()
	got, err := NewDisk(dir, "disk_used_percent").Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Measurement != "disk_used_percent" || got[0].Value < 0 || got[0].Value > 100 {
		t.Fatalf("disk readings %v; want one percentage", got)
	}
	_, err = NewDisk(filepath.Join(dir, "gone"), "disk_used_percent").Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk: statfs "+filepath.Join(dir, "gone")) {
		t.Fatalf("disk of a missing path: %v", err)
	}
}

func TestSimIsReproducible(t *testing.T) {
	p := SimParams{Measurement: "temperature", Seed: 7, Base: 20, Amplitude: 5, Period: 60, Noise: 0.5}
	a, b, c := NewSim(p), NewSim(p), NewSim(SimParams{Measurement: "temperature", Seed: 8, Base: 20, Amplitude: 5, Period: 60, Noise: 0.5})
	same, differs := true, false
	for range 100 {
		ra, _ := a.Read(context.Background())
		rb, _ := b.Read(context.Background())
		rc, _ := c.Read(context.Background())
		same = same && ra[0].Value == rb[0].Value
		differs = differs || ra[0].Value != rc[0].Value
		if ra[0].Value < 10 || ra[0].Value > 30 {
			t.Fatalf("value %v far outside base±amplitude", ra[0].Value)
		}
	}
	if !same || !differs {
		t.Fatalf("same seed gave the same values: %v; another seed gave others: %v", same, differs)
	}
	counter := NewSim(SimParams{Measurement: "n", Step: 1})
	for i := range 5 {
		r, _ := counter.Read(context.Background())
		if r[0].Value != float64(i) {
			t.Fatalf("counter reading %d = %v", i, r[0].Value)
		}
	}
}
