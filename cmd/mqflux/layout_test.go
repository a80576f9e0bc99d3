package main

import (
	"strings"
	"testing"
)

const (
	legacyKeys = "http:\n  legacy:\n    keys:\n      - {key_hash: \"$2a$10$3nzLYFocuvSxSrAHQdUnUOI5HyhqQxR7dTHxhJ0AEFJxSk9FeIlbC\", device: \"*\"}\n"
	siteLayout = "mapping:\n  topics:\n    - {template: \"site/{device}/{measurement}\"}\n  status_template: \"site/{device}/status\"\n"
)

// check-config refuses a layout the legacy API or a device agent cannot
// publish in, and accepts one they can.
func TestCheckConfigLayout(t *testing.T) {
	siteAgent := "device:\n  id: pi-1\n  topic: site/{device}/{measurement}\n  status_topic: site/{device}/status\n  sensors: [{kind: cpu_temp}]\n"
	defaultAgent := "device:\n  id: pi-1\n  sensors: [{kind: cpu_temp}]\n"
	cases := []struct {
		name, server, agent string
		want                []string // nil: ok
	}{
		{"another layout", legacyKeys + siteLayout, siteAgent, nil},
		{"default layout, default agent", legacyKeys, defaultAgent, nil},
		{"legacy API without a buildable template", legacyKeys + "mapping:\n  topics:\n    - {template: \"farm/{site}/{measurement}\"}\n", "",
			[]string{"mapping.topics", "legacy HTTP API", "no template in mapping.topics gives device"}},
		{"no keys, no legacy readings to place", "mapping:\n  topics:\n    - {template: \"farm/{site}/{measurement}\"}\n", "", nil},
		{"agent on the old layout", legacyKeys + siteLayout, defaultAgent,
			[]string{"device.topic", `"devices/{device}/sensors/{measurement}"`, "match no template", "device.status_topic", "devices/pi-1/status"}},
		{"agent presence where the server reads readings", legacyKeys + siteLayout, "device:\n  id: pi-1\n  topic: site/{device}/{measurement}\n  status_topic: site/{device}/presence\n",
			[]string{"device.status_topic", "site/pi-1/presence", "does not match mapping.status_template"}},
		{"agent forwarding logs the server does not map", legacyKeys + "mapping:\n  logs_template: \"\"\n", "device:\n  id: pi-1\n  logs: {journal: {enabled: true}}\n",
			[]string{"device.logs.topic", "devices/pi-1/logs", "not taken by mapping.logs_template"}},
		{"agent logs where the server reads readings", legacyKeys + "mapping:\n  topics:\n    - {template: \"devices/{device}/{measurement}\"}\n",
			"device:\n  id: pi-1\n  topic: devices/{device}/{measurement}\n  logs: {files: [{path: /var/log/syslog}]}\n",
			[]string{"device.logs.topic", "not taken by mapping.logs_template"}},
		{"agent forwarding logs, default layout", legacyKeys, "device:\n  id: pi-1\n  logs: {journal: {enabled: true}}\n", nil},
		{"server without logs, agent without logs", legacyKeys + "mapping:\n  logs_template: \"\"\n", defaultAgent, nil},
		{"server without presence", legacyKeys + "mapping:\n  status_template: \"\"\n", defaultAgent,
			[]string{"device.status_topic", "does not match mapping.status_template"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"check-config", "-config", writeConfig(t, tc.server)}
			if tc.agent != "" {
				args = append(args, "-device", writeConfig(t, tc.agent))
			}
			out, _, err := runProgram(t, "", nil, args...)
			if tc.want == nil {
				if err != nil || out != "ok\n" {
					t.Fatalf("check-config = %q, %v; want ok", out, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("check-config accepted:\n%s\n%s", tc.server, tc.agent)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	// The shipped example agent fits the shipped server configuration.
	out, _, err := runProgram(t, "", nil, "check-config", "-config", "../../config.yaml", "-device", "../../deploy/device.example.yaml")
	if err != nil || out != "ok\n" {
		t.Fatalf("shipped config.yaml with deploy/device.example.yaml: %q %v", out, err)
	}
}
