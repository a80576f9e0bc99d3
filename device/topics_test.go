package device

import (
	"strings"
	"testing"
)

func TestTopics(t *testing.T) {
	cases := []struct {
		name                     string
		yaml                     string
		reading, status, wantErr string
	}{
		{"defaults", "device: {id: pi-1, sensors: [{kind: cpu_temp}]}\n",
			"devices/pi-1/sensors/cpu_temperature", "devices/pi-1/status", ""},
		{"another layout", "device: {id: pi-1, topic: 'site/{device}/{measurement}', status_topic: 'site/{device}/status', sensors: [{kind: cpu_temp}]}\n",
			"site/pi-1/cpu_temperature", "site/pi-1/status", ""},
		{"bad syntax", "device: {id: pi-1, topic: 'site/{device', sensors: [{kind: cpu_temp}]}\n",
			"", "", `device.topic: "site/{device": level 2`},
		{"reading without a measurement", "device: {id: pi-1, topic: 'site/{device}', sensors: [{kind: cpu_temp}]}\n",
			"", "", `device.topic: "site/{device}" must be built from {device} and {measurement} alone`},
		{"reading with a wildcard", "device: {id: pi-1, topic: 'site/+/{device}/{measurement}', sensors: [{kind: cpu_temp}]}\n",
			"", "", `device.topic: "site/+/{device}/{measurement}" must be built`},
		{"status with a measurement", "device: {id: pi-1, status_topic: 's/{device}/{measurement}', sensors: [{kind: cpu_temp}]}\n",
			"", "", `device.status_topic: "s/{device}/{measurement}" must be built from {device} alone`},
		{"status without the device", "device: {id: pi-1, status_topic: 'status', sensors: [{kind: cpu_temp}]}\n",
			"", "", `device.status_topic: "status" must be built from {device} alone`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadString(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tp, err := cfg.topics()
			if err != nil {
				t.Fatal(err)
			}
			reading, err := tp.reading(cfg.Sensors[0].Measurement)
			if err != nil || reading != tc.reading || tp.status != tc.status {
				t.Fatalf("reading %q (%v), status %q; want %q, %q", reading, err, tp.status, tc.reading, tc.status)
			}
		})
	}
}
