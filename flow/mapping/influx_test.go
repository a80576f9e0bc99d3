package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestInfluxDBStoresWhatMappingWrites writes the awkward cases — escaping,
// backslashes, Unicode, float formatting, integer types, the time bounds —
// to a real InfluxDB and reads them back: what InfluxDB stores must be what
// the reading said.
func TestInfluxDBStoresWhatMappingWrites(t *testing.T) {
	base := startInfluxd(t)
	m := mustNew(t, testConfig())
	rx := receivedAt().UnixNano()
	type want struct {
		meas   string
		tags   map[string]string
		fields map[string]any // float64, int64, string, bool
		types  map[string]string
		ts     int64
	}
	cases := []struct {
		topic, payload string
		want           want
	}{
		{"devices/a=b,c d/sensors/room temp,x", `{"a b,c=d": 1, "x\\y": "p\\q\"r", "ü": "é😀\ttab", "tags": {"k\\v": "w\\x y"}}`,
			want{"room temp,x", map[string]string{"device": "a=b,c d", `k\v`: `w\x y`},
				map[string]any{"a b,c=d": 1.0, `x\y`: `p\q"r`, "ü": "é😀\ttab"},
				map[string]string{"a b,c=d": "float", `x\y`: "string", "ü": "string"}, rx}},
		{`devices/C:\data/sensors/floats`, `{"big": 1e21, "neg": -0, "tiny": 1e-300, "ok": true, "int": 21, "time": "2026-11-23T18:00:00.123456789Z"}`,
			want{"floats", map[string]string{"device": `C:\data`},
				map[string]any{"big": 1e21, "neg": 0.0, "tiny": 1e-300, "ok": true, "int": 21.0},
				map[string]string{"big": "float", "neg": "float", "tiny": "float", "ok": "boolean", "int": "float"}, 1795456800123456789}},
		{"devices/pi-1/line", `cpu,ta\=g=x\,y usage=5i,idle=1.5,msg="say \"hi\"" 1700000000`,
			want{"cpu", map[string]string{"device": "pi-1", "site": "lab", "ta=g": "x,y"},
				map[string]any{"usage": int64(5), "idle": 1.5, "msg": `say "hi"`},
				map[string]string{"usage": "integer", "idle": "float", "msg": "string"}, 1700000000000000000}},
		{"devices/pi-1/status", "offline", want{StatusMeasurement, map[string]string{"device": "pi-1"},
			map[string]any{"online": false, "state": "offline"}, map[string]string{"online": "boolean", "state": "string"}, rx}},
		{"devices/pi-1/sensors/lo", `{"v": 1, "time": "1677-09-21T00:12:43.145224194Z"}`,
			want{"lo", map[string]string{"device": "pi-1"}, map[string]any{"v": 1.0}, map[string]string{"v": "float"}, -9223372036854775806}},
		{"devices/pi-1/sensors/hi", `{"v": 1, "time": "2262-04-11T23:47:16.854775806Z"}`,
			want{"hi", map[string]string{"device": "pi-1"}, map[string]any{"v": 1.0}, map[string]string{"v": "float"}, 9223372036854775806}},
	}
	var body []byte
	for _, tc := range cases {
		var err error
		if body, err = m.Append(body, tc.topic, []byte(tc.payload), receivedAt()); err != nil {
			t.Fatalf("%s %s: %v", tc.topic, tc.payload, err)
		}
	}
	influxPost(t, base+"/write?db=mq&precision=ns", body, http.StatusNoContent)

	got := influxSelect(t, base)
	types := influxFieldTypes(t, base)
	for _, tc := range cases {
		w := tc.want
		key := seriesKey(w.meas, w.tags)
		row, ok := got[key]
		if !ok {
			t.Errorf("series %s not stored; stored: %v", key, keys(got))
			continue
		}
		if row.ts != w.ts {
			t.Errorf("%s: time %d, want %d", key, row.ts, w.ts)
		}
		for f, v := range w.fields {
			if !sameValue(row.fields[f], v) {
				t.Errorf("%s: field %q = %#v, want %#v", key, f, row.fields[f], v)
			}
			if types[w.meas][f] != w.types[f] {
				t.Errorf("%s: field %q has type %q, want %q", key, f, types[w.meas][f], w.types[f])
			}
		}
	}
}

type storedRow struct {
	ts     int64
	fields map[string]any
}

// influxSelect reads every point back, keyed by measurement and tags.
func influxSelect(t *testing.T, base string) map[string]storedRow {
	var resp struct {
		Results []struct {
			Series []struct {
				Name    string            `json:"name"`
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	influxQuery(t, base, "SELECT * FROM /.*/ GROUP BY *", &resp)
	out := map[string]storedRow{}
	for _, r := range resp.Results {
		for _, s := range r.Series {
			tags := map[string]string{}
			for k, v := range s.Tags {
				if v != "" { // GROUP BY * lists every tag key of the database
					tags[k] = v
				}
			}
			for _, vals := range s.Values {
				row := storedRow{fields: map[string]any{}}
				for i, c := range s.Columns {
					if c == "time" {
						row.ts, _ = vals[i].(json.Number).Int64()
					} else if vals[i] != nil {
						row.fields[c] = vals[i]
					}
				}
				out[seriesKey(s.Name, tags)] = row
			}
		}
	}
	return out
}

// influxFieldTypes returns measurement → field → InfluxDB type.
func influxFieldTypes(t *testing.T, base string) map[string]map[string]string {
	var resp struct {
		Results []struct {
			Series []struct {
				Name   string     `json:"name"`
				Values [][]string `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	influxQuery(t, base, "SHOW FIELD KEYS", &resp)
	out := map[string]map[string]string{}
	for _, r := range resp.Results {
		for _, s := range r.Series {
			out[s.Name] = map[string]string{}
			for _, v := range s.Values {
				out[s.Name][v[0]] = v[1]
			}
		}
	}
	return out
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case float64:
		n, ok := got.(json.Number)
		f, err := strconv.ParseFloat(string(n), 64)
		return ok && err == nil && f == w
	case int64:
		n, ok := got.(json.Number)
		i, err := n.Int64()
		return ok && err == nil && i == w
	}
	return got == want
}

func seriesKey(meas string, tags map[string]string) string {
	ks := keys(tags)
	var b strings.Builder
	b.WriteString(strconv.Quote(meas))
	for _, k := range ks {
		fmt.Fprintf(&b, " %q=%q", k, tags[k])
	}
	return b.String()
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func influxQuery(t *testing.T, base, q string, into any) {
	t.Helper()
	resp, err := http.Get(base + "/query?db=mq&epoch=ns&q=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(into); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("query %q: status %d, %v", q, resp.StatusCode, err)
	}
}

func influxPost(t *testing.T, u string, body []byte, want int) {
	t.Helper()
	resp, err := http.Post(u, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg bytes.Buffer
	_, _ = msg.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: status %d (%s), want %d; body:\n%s", u, resp.StatusCode, msg.String(), want, body)
	}
}

// findInfluxd looks where the project's tests look: MQFLUX_INFLUXD, then
// <module root>/bin/influxd, then $PATH.
func findInfluxd(t *testing.T) string {
	if p := os.Getenv("MQFLUX_INFLUXD"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if p := filepath.Join(dir, "bin", "influxd"); fileExists(p) {
					return p
				}
				break
			}
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	msg := "influxd not found: set MQFLUX_INFLUXD, or run `GOBIN=$PWD/bin go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// startInfluxd runs a private InfluxDB 1.8 with its own dirs and ports and
// returns its base URL with database mq created.
func startInfluxd(t *testing.T) string {
	bin := findInfluxd(t)
	dir := t.TempDir()
	httpAddr, rpcAddr := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = %q
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcAddr, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr)
	confPath := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "influxd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, "run", "-config", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://" + httpAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("influxd exited: %v\n%s", err, readLog())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("influxd did not answer /ping within a minute:\n%s", readLog())
		}
	}
	influxPost(t, base+"/query?q="+url.QueryEscape("CREATE DATABASE mq"), nil, http.StatusOK)
	return base
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
