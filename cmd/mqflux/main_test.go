package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/passwd"
)

func runProgram(t *testing.T, stdin string, environ []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	p := program{stdin: strings.NewReader(stdin), environ: environ}
	err := p.run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every broken file is refused, and the message names the key (and the
// line, for what the YAML itself gets wrong).
func TestCheckConfigRejects(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"misspelt key", "broker:\n  tcpp: 127.0.0.1:1883\n", []string{":2:3:", "broker.tcpp", "unknown key", "tcp"}},
		{"misspelt top-level key", "infux:\n  url: http://x:8086\n", []string{":1:1:", "infux", "unknown key"}},
		{"not a number", "influx:\n  batch_size: lots\n", []string{":2:", "influx.batch_size", "whole number", `"lots"`}},
		{"not a duration", "influx:\n  flush_interval: 5\n", []string{":2:", "influx.flush_interval", "duration"}},
		{"not a size", "spool:\n  max_bytes: huge\n", []string{":2:", "spool.max_bytes", "size"}},
		{"bad durability", "spool:\n  durability: always\n", []string{"spool.durability", `"always"`, "write, fsync"}},
		{"batch too large", "influx:\n  batch_size: 1000000\n", []string{"influx.batch_size", "1000000", "1 to 100000"}},
		{"zero concurrency", "influx:\n  concurrency: 0\n", []string{"influx.concurrency", "1 to 64"}},
		{"bad listener address", "broker:\n  tcp: localhost\n", []string{"broker.tcp", "host:port"}},
		{"port out of range", "http:\n  address: 127.0.0.1:99999\n", []string{"http.address", "0 to 65535"}},
		{"no listener", "broker:\n  tcp: \"\"\n", []string{"broker", "every listener is disabled"}},
		{"tls without cert", "broker:\n  tls: {address: \":8883\"}\n", []string{"broker.tls", "cert and key"}},
		{"plain-text password", "broker:\n  users:\n    - {name: pi, password_hash: secret123, role: device}\n", []string{"broker.users[0].password_hash", "bcrypt", "mqflux passwd"}},
		{"unknown role", "broker:\n  users:\n    - {name: pi, password_hash: \"$2a$04$4sXw4Fvr8sYlH0bW8c2Bde3gDq0yIhdLJ0ZH8tI7S8rkFe4w9yH0y\", role: boss}\n", []string{"broker.users[0].role", `"boss"`, "device, gateway, reader, admin"}},
		{"bad influx url", "influx:\n  url: ftp://x\n", []string{"influx.url", "http or https"}},
		{"empty bucket", "influx:\n  bucket: \"\"\n", []string{"influx.bucket", "required"}},
		{"bad legacy parameter", "http:\n  legacy:\n    parameters: [Temperature]\n", []string{"http.legacy.parameters[0]", `"Temperature"`}},
		{"bad mapping template", "mapping:\n  topics:\n    - {template: \"devices/{device}/sensors/{device}\"}\n", []string{"mapping.topics[0]"}},
		{"bad time precision", "mapping:\n  time_precision: minutes\n", []string{"mapping.time_precision", "minutes"}},
		{"list where a mapping belongs", "broker: [1, 2]\n", []string{":1:", "broker", "mapping of keys"}},
		{"key given twice", "log:\n  level: info\n  level: debug\n", []string{":3:", "log.level", "twice"}},
		{"broken YAML", "broker:\n  tcp: [\n", []string{"config.yaml", "line"}},
		{"bad log level", "log:\n  level: loud\n", []string{"log.level", `"loud"`, "debug, info, warn, error"}},
		{"alert rule without a line", "alerts:\n  rules:\n    - {name: disk-full, measurement: disk_used_percent}\n", []string{"alerts.rules[0]", "neither above nor below"}},
		{"unknown notifier", "alerts:\n  notify:\n    - {kind: pager}\n", []string{"alerts.notify[0].kind", `"pager"`}},
		{"a key of another notifier kind", "alerts:\n  notify:\n    - kind: webhook\n      url: \"http://127.0.0.1:9000/hook\"\n      chat_id: \"42\"\n", []string{"config.yaml:5:7", "alerts.notify[0].chat_id", "unknown key", "timeout, token_file, url"}},
		{"unknown input kind", "inputs:\n  - {kind: kafka, url: \"kafka://127.0.0.1:9092\"}\n", []string{"config.yaml:2:12", "inputs[0].kind", `"kafka" is not a kind of input`, "mqtt", "nats"}},
		{"nats input with an mqtt key", "inputs:\n  - {kind: nats, url: \"nats://127.0.0.1:4222\"}\n", []string{"config.yaml:2:18", "inputs[0].url: unknown key", "urls"}},
		{"duplicate output names", outputsYAML("{name: influx, url: \"http://127.0.0.1:8086\"}", "{name: influx, url: \"http://127.0.0.1:8428\", api: v1}"),
			[]string{"outputs[1].name", `"influx" is also outputs[0]`}},
		{"no required output", outputsYAML("{name: influx, required: false}", "{name: vm, required: false, url: \"http://127.0.0.1:8428\", api: v1}"),
			[]string{"outputs:", "no output is required"}},
		{"max_lag on a required output", outputsYAML("{name: influx}", "{name: vm, max_lag: 64MiB, url: \"http://127.0.0.1:8428\", api: v1}"),
			[]string{"outputs[1].max_lag", "only an optional output"}},
		{"max_lag beyond the spool", outputsYAML("{name: influx}", "{name: vm, required: false, max_lag: 2GiB}"),
			[]string{"outputs[1].max_lag", "below spool.max_bytes"}},
		{"unknown output kind", outputsYAML("{name: influx}", "{name: pg, kind: mongodb}"),
			[]string{":3:22:", "outputs[1].kind", `"mongodb" is not an output kind`, "known kinds: influxdb, postgres"}},
		{"postgres url not a postgres URL", outputsYAML("{name: influx}", "{name: pg, kind: postgres, url: \"http://db:5432/telemetry\"}"),
			[]string{"outputs[1].url", "scheme must be postgres"}},
		{"postgres url without a database", outputsYAML("{name: influx}", "{name: pg, kind: postgres, url: \"postgres://u:secret@db:5432\"}"),
			[]string{"outputs[1].url", "no database"}},
		{"unknown api", outputsYAML("{name: influx}", "{name: vm, api: v4, required: false}"),
			[]string{"outputs[1].api", `"v4"`, "v1, v2, v3"}},
		{"bad url of the second output", outputsYAML("{name: influx}", "{name: vm, url: \"ftp://vm:8428\", required: false}"),
			[]string{"outputs[1].url", "http or https"}},
		{"bad output name", outputsYAML("{name: Influx DB}"), []string{"outputs[0].name", `"Influx DB"`}},
		{"misspelt output key", outputsYAML("{name: influx, urll: \"http://x:8086\"}"), []string{":2:", "outputs[0]", "urll", "unknown key"}},
		{"not a number in an output", outputsYAML("{name: influx, batch_size: lots}"), []string{"outputs[0]", "batch_size", "lots"}},
		{"influx beside outputs", "influx:\n  url: http://other:8086\n" + outputsYAML("{name: influx}"), []string{"influx: set beside outputs"}},
		{"misspelt alert key", "alerts:\n  rules:\n    - {name: x, measurement: m, abvoe: 1}\n", []string{"alerts.rules[0].abvoe", "unknown key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runProgram(t, "", nil, "check-config", "-config", writeConfig(t, tc.yaml))
			if err == nil {
				t.Fatalf("check-config accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckConfigShippedAndEnv(t *testing.T) {
	out, _, err := runProgram(t, "", nil, "check-config", "-config", "../../config.yaml")
	if err != nil || out != "ok\n" {
		t.Fatalf("shipped config.yaml: %q %v", out, err)
	}
	env := []string{"MQFLUX_INFLUX_URL=http://influx.example:8086", "MQFLUX_HTTP_LEGACY_PARAMETERS=[wind]", "MQFLUX_NOT_A_KEY=1"}
	out, errb, err := runProgram(t, "", env, "check-config", "-config", "../../config.yaml", "-print", "influx.url")
	if err != nil || out != "http://influx.example:8086\n" {
		t.Fatalf("-print influx.url with MQFLUX_INFLUX_URL: %q %v", out, err)
	}
	if !strings.Contains(errb, "MQFLUX_NOT_A_KEY names no configuration key") {
		t.Errorf("no warning for an unknown variable: %q", errb)
	}
	out, _, _ = runProgram(t, "", env, "check-config", "-config", "../../config.yaml", "-print", "http.legacy.parameters")
	if out != "[wind]\n" {
		t.Errorf("list override: %q", out)
	}
	_, _, err = runProgram(t, "", []string{"MQFLUX_INFLUX_BATCH_SIZE=many"}, "check-config", "-config", "../../config.yaml")
	if err == nil || !strings.Contains(err.Error(), "MQFLUX_INFLUX_BATCH_SIZE") {
		t.Errorf("bad environment value: %v", err)
	}
}

func TestPasswdHashesStdin(t *testing.T) {
	out, _, err := runProgram(t, "correct horse battery\n", nil, "passwd", "-cost", "4")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out)
	if !passwd.NewChecker().Check(hash, []byte("correct horse battery")) {
		t.Fatalf("hash %q does not check against the password", hash)
	}
	if _, _, err := runProgram(t, "short\n", nil, "passwd"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short password: %v", err)
	}
	if _, _, err := runProgram(t, "", nil, "passwd"); err == nil {
		t.Error("empty stdin accepted")
	}
}

func TestUsageAndVersion(t *testing.T) {
	_, errb, err := runProgram(t, "", nil, "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb, "serve") || !strings.Contains(errb, "passwd") {
		t.Errorf("-h: %v %q", err, errb)
	}
	if _, _, err := runProgram(t, "", nil, "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
	out, _, err := runProgram(t, "", nil, "version")
	if err != nil || !strings.HasPrefix(out, "mqflux dev") {
		t.Errorf("version: %q %v", out, err)
	}
	_, errb, err = runProgram(t, "", nil, "serve", "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb, "-config") {
		t.Errorf("serve -h: %v %q", err, errb)
	}
}

// The container image's HEALTHCHECK runs `mqflux healthcheck -url ...`.
func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"status": "ok"}`)
	}))
	defer ts.Close()
	if _, _, err := runProgram(t, "", nil, "healthcheck", "-url", ts.URL); err != nil {
		t.Errorf("ready server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, _, err := runProgram(t, "", nil, "healthcheck", "-url", ts.URL); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unready server: %v", err)
	}
	dockerfile, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), `"healthcheck", "-url"`) && !strings.Contains(string(dockerfile), "healthcheck -url") {
		t.Errorf("deploy/Dockerfile's HEALTHCHECK does not use mqflux healthcheck -url")
	}
}

// outputsYAML is an outputs: list of the given flow mappings.
func outputsYAML(entries ...string) string {
	var b strings.Builder
	b.WriteString("outputs:\n")
	for _, e := range entries {
		b.WriteString("  - " + e + "\n")
	}
	return b.String()
}
