package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// parseReading checks one "topic payload" line from mosquitto_sub -v and
// returns the device, measurement and value of the reading it carries.
func parseReading(t *testing.T, line, format string) (device, measurement string, value int64) {
	t.Helper()
	topic, payload, ok := strings.Cut(line, " ")
	parts := strings.Split(topic, "/")
	if !ok || len(parts) != 4 || parts[0] != "devices" || parts[2] != "sensors" {
		t.Fatalf("line %q: not devices/{device}/sensors/{measurement} and a payload", line)
	}
	device, measurement = parts[1], parts[3]
	var err error
	switch format {
	case "number":
		value, err = strconv.ParseInt(payload, 10, 64)
	case "json":
		var p struct {
			Value *int64 `json:"value"`
			Time  string `json:"time"`
		}
		if err = json.Unmarshal([]byte(payload), &p); err == nil {
			if p.Value == nil {
				err = fmt.Errorf("no value")
			} else if _, err = time.Parse(time.RFC3339Nano, p.Time); err == nil {
				value = *p.Value
			}
		}
	case "line":
		// measurement,device=D value=N TS
		f := strings.Fields(payload)
		want := measurement + ",device=" + device
		if len(f) != 3 || f[0] != want || !strings.HasPrefix(f[1], "value=") {
			err = fmt.Errorf("want %q value=N ts", want)
			break
		}
		if value, err = strconv.ParseInt(strings.TrimPrefix(f[1], "value="), 10, 64); err == nil {
			_, err = strconv.ParseInt(f[2], 10, 64)
		}
	}
	if err != nil {
		t.Fatalf("line %q: %s payload: %v", line, format, err)
	}
	return device, measurement, value
}

func runJSON(t *testing.T, args ...string) (Report, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), append(args, "-json", "-progress", "0"), &stdout, &stderr)
	var rep Report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("report is not JSON (%v); run error %v; stdout:\n%s\nstderr:\n%s", jerr, err, stdout.String(), stderr.String())
	}
	return rep, err
}

// TestRunMosquittoSubscriberSeesEveryReading publishes through a real
// mosquitto and checks that a real mosquitto_sub receives exactly the
// published readings: every device, every value, once.
func TestRunMosquittoSubscriberSeesEveryReading(t *testing.T) {
	broker := testenv.StartMosquitto(t, "")
	tests := []struct {
		payload string
		qos     string
	}{
		{"json", "1"},
		{"line", "1"},
		{"number", "0"},
	}
	const devices, messages = 5, 200
	for _, tt := range tests {
		t.Run(tt.payload+"/qos"+tt.qos, func(t *testing.T) {
			measurement := "bench_test_" + tt.payload
			sub := startSubscriber(t, broker.Addr, "devices/+/sensors/"+measurement)
			rep, err := runJSON(t, "-broker", "tcp://"+broker.Addr, "-devices", strconv.Itoa(devices),
				"-messages", strconv.Itoa(messages), "-inflight", "8", "-qos", tt.qos, "-payload", tt.payload,
				"-measurement", measurement)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			want := int64(devices * messages)
			if rep.Published != want || rep.Failed != 0 {
				t.Fatalf("published %d failed %d, want %d and 0", rep.Published, rep.Failed, want)
			}
			if tt.qos == "1" && rep.Acked != want {
				t.Fatalf("acked %d, want %d", rep.Acked, want)
			}
			var got []string
			waitFor(t, fmt.Sprintf("%d readings at mosquitto_sub", want), func() bool {
				got = got[:0]
				for _, l := range sub.Lines() {
					if strings.HasPrefix(l, "devices/") {
						got = append(got, l)
					}
				}
				return int64(len(got)) >= want
			})
			seen := make(map[int64]bool)
			for _, l := range got {
				device, m, v := parseReading(t, l, tt.payload)
				if m != measurement {
					t.Fatalf("line %q: measurement %q, want %q", l, m, measurement)
				}
				if wantDevice := fmt.Sprintf("bench-%d", v%devices); device != wantDevice {
					t.Fatalf("line %q: value %d belongs to %s", l, v, wantDevice)
				}
				if seen[v] {
					t.Fatalf("value %d received twice", v)
				}
				seen[v] = true
			}
			for v := range want {
				if !seen[v] {
					t.Fatalf("value %d never received (got %d readings)", v, len(got))
				}
			}
		})
	}
}

// TestRunSurvivesBrokerRestart stops mosquitto mid-run and starts it again
// on the same port: every reading must still be acknowledged.
func TestRunSurvivesBrokerRestart(t *testing.T) {
	broker := testenv.StartMosquitto(t, "")
	cfg, err := parseFlags([]string{"-broker", broker.Addr, "-devices", "4", "-messages", "150",
		"-rate", "50", "-inflight", "4", "-ack-timeout", "2s", "-give-up", "30s", "-connect-rate", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Load(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
		done <- result{rep, err}
	}()
	// 150 readings at 50/s take 3 s; restart the broker in the middle.
	time.Sleep(time.Second)
	broker.Kill()
	time.Sleep(300 * time.Millisecond)
	broker.Start(t)
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("run did not finish within 60s of the broker restart")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.rep
	if r.Acked != 600 || r.Failed != 0 || r.Err() != nil {
		t.Fatalf("acked %d failed %d (%v), want 600 and 0", r.Acked, r.Failed, r.Err())
	}
	if r.Reconnects == 0 {
		t.Fatalf("no reconnects recorded; the restart went unnoticed")
	}
}

func TestRunHelpAndBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"-h"}, io.Discard, &out); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, flag := range []string{"-broker", "-devices", "-messages", "-duration", "-rate", "-inflight", "-qos",
		"-payload", "-topic", "-device-prefix", "-username", "-password", "-connect-rate", "-influx", "-bucket",
		"-token", "-pid", "-json", "-timeout"} {
		if !strings.Contains(out.String(), "  "+flag+" ") && !strings.Contains(out.String(), "  "+flag+"\n") {
			t.Errorf("-h does not document %s", flag)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-qos", "2"}, "-qos 2: want 0 or 1"},
		{[]string{"-devices", "0"}, "-devices 0"},
		{[]string{"-messages", "5", "-duration", "1s"}, "give one, not both"},
		{[]string{"-payload", "xml"}, `-payload "xml"`},
		{[]string{"-topic", "devices/all/sensors/{measurement}"}, "needs {device}"},
		{[]string{"-topic", "devices/{device}/#"}, "wildcards"},
		{[]string{"-inflight", "70000"}, "-inflight 70000"},
		{[]string{"-broker", "ws://x:1"}, `scheme "ws" not supported`},
		{[]string{"-pid", "mqflux"}, "not name=pid"},
		{[]string{"-influx", "127.0.0.1:8086"}, "want http://host:port"},
		{[]string{"-measurement", "a b"}, "letters, digits"},
		{[]string{"-probe-poll", "1ms"}, "-probe-poll 1ms: want 10ms or more"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		err := Run(context.Background(), tt.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
