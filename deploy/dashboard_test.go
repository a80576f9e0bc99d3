package deploy

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// The data source uids of grafana/datasources/mqflux.yaml.
const (
	influxUID = "mqflux-influxdb"
	promUID   = "mqflux-prometheus"
)

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
	// Annotations are drawn over every time series panel.
	Annotations struct {
		List []struct {
			Name       string     `json:"name"`
			Datasource datasource `json:"datasource"`
			Target     struct {
				Query string `json:"query"`
			} `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Query      string     `json:"query"`
			AllValue   string     `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Repeat     string     `json:"repeat"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Datasource datasource `json:"datasource"`
		Query      string     `json:"query"` // Flux
		Expr       string     `json:"expr"`  // PromQL
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	path := deployPath(t, "grafana/dashboards/mqflux.json")
	// Fields this test does not name are Grafana's business.
	var d dashboard
	if err := json.Unmarshal(readFile(t, path), &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", path, err)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// fluxQuery is one Flux query of the dashboard: a panel's target or a
// template variable's query.
type fluxQuery struct {
	name, query string
}

func (d dashboard) fluxQueries() []fluxQuery {
	var out []fluxQuery
	for _, v := range d.Templating.List {
		if v.Type == "query" && v.Datasource.UID == influxUID {
			out = append(out, fluxQuery{"variable " + v.Name, v.Query})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Datasource.UID == influxUID {
			out = append(out, fluxQuery{"annotation " + a.Name, a.Target.Query})
		}
	}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			if tg.Datasource.UID == influxUID {
				out = append(out, fluxQuery{p.Title, tg.Query})
			}
		}
	}
	return out
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "mqflux" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["bucket"] || !vars["device"] {
		t.Fatalf("template variables %v: want bucket and device", vars)
	}
	ids := map[int]string{}
	refs := regexp.MustCompile(`\$\{([a-zA-Z_]+)(:[a-z]+)?\}|\$([a-zA-Z_]+)`)
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource.UID != influxUID && p.Datasource.UID != promUID {
			t.Errorf("panel %q: data source %+v is not one of the provisioned ones", p.Title, p.Datasource)
		}
		if p.Repeat != "" && !vars[p.Repeat] {
			t.Errorf("panel %q repeats over unknown variable %q", p.Title, p.Repeat)
		}
		for _, tg := range p.Targets {
			q := tg.Query + tg.Expr
			if q == "" || tg.Datasource.UID != p.Datasource.UID {
				t.Errorf("panel %q target %s: empty, or on another data source", p.Title, tg.RefID)
			}
			for _, m := range refs.FindAllStringSubmatch(q, -1) {
				name := m[1] + m[3]
				if !vars[name] && !strings.HasPrefix(name, "__") {
					t.Errorf("panel %q uses unknown variable $%s", p.Title, name)
				}
			}
		}
	}
}

// substitute does what Grafana does before sending a Flux query: template
// variables and the time range. device "" stands for "All" (allValue .*).
func substitute(t *testing.T, q, device string) string {
	t.Helper()
	re := ".*"
	if device != "" {
		re = regexp.QuoteMeta(device)
	}
	r := strings.NewReplacer(
		"${bucket}", "telemetry/autogen",
		"${device:regex}", re,
		"${device}", device,
		"v.timeRangeStart", "-1h",
		"v.timeRangeStop", "now()",
		"v.windowPeriod", "10s",
	)
	out := r.Replace(q)
	if strings.Contains(q, "${device}") && device == "" {
		t.Fatalf("query uses ${device} (one device), so its test case must name one:\n%s", q)
	}
	if m := regexp.MustCompile(`\$\{|\$__|\bv\.[a-zA-Z]`).FindString(out); m != "" {
		t.Fatalf("query still holds %q after substitution:\n%s", m, out)
	}
	return out
}

// parseFluxCSV turns InfluxDB's annotated CSV into rows keyed by column.
func parseFluxCSV(t *testing.T, body string) []map[string]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("flux CSV: %v\n%s", err, body)
	}
	var rows []map[string]string
	var header []string
	for _, rec := range recs {
		switch {
		case len(rec) == 0 || (len(rec) == 1 && rec[0] == ""):
			header = nil
		case strings.HasPrefix(rec[0], "#"):
			header = nil
		case header == nil:
			header = rec
			if len(rec) > 1 && rec[1] == "error" {
				t.Fatalf("flux error: %s", body)
			}
		default:
			row := map[string]string{}
			for i, h := range header {
				if i < len(rec) && h != "" {
					row[h] = rec[i]
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// column returns the values of one column, sorted.
func column(rows []map[string]string, col string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[col])
	}
	sort.Strings(out)
	return out
}

// byDevice maps device to the value of col, failing on a device seen twice.
func byDevice(t *testing.T, rows []map[string]string, col string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range rows {
		if _, dup := m[r["device"]]; dup {
			t.Errorf("device %q appears twice: %v", r["device"], rows)
		}
		m[r["device"]] = r[col]
	}
	return m
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// Known readings, written relative to now:
//
//	pi-1: reporting, online; temperature and humidity in the last minutes
//	pi-2: silent (last reading 15 min ago), went offline 14 min ago
//	pi-3: reporting, online
//	pi-5: online, no readings yet
//	logger-7: a legacy HTTP logger (no status), silent for 6 min
//
// and the alert transitions mqflux wrote for them: pi-2 went silent and
// offline; pi-1 was too hot and recovered.
func readings(now time.Time) string {
	at := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	return strings.Join([]string{
		fmt.Sprintf("temperature,device=pi-1 value=21.5 %d", at(3*time.Minute)),
		fmt.Sprintf("temperature,device=pi-1 value=22.25 %d", at(2*time.Minute)),
		fmt.Sprintf("humidity,device=pi-1 value=40 %d", at(3*time.Minute)),
		fmt.Sprintf("humidity,device=pi-1 value=41.5 %d", at(time.Minute)),
		fmt.Sprintf("temperature,device=pi-2 value=19 %d", at(20*time.Minute)),
		fmt.Sprintf("temperature,device=pi-2 value=18.5 %d", at(15*time.Minute)),
		fmt.Sprintf("humidity,device=pi-3 value=55 %d", at(40*time.Second)),
		fmt.Sprintf("temperature,device=logger-7 value=30 %d", at(6*time.Minute)),
		fmt.Sprintf(`device_status,device=pi-1 online=true,state="online" %d`, at(10*time.Minute)),
		fmt.Sprintf(`device_status,device=pi-2 online=true,state="online" %d`, at(30*time.Minute)),
		fmt.Sprintf(`device_status,device=pi-2 online=false,state="offline" %d`, at(14*time.Minute)),
		fmt.Sprintf(`device_status,device=pi-3 online=true,state="online" %d`, at(5*time.Minute)),
		fmt.Sprintf(`device_status,device=pi-5 online=true,state="online" %d`, at(50*time.Minute)),
		fmt.Sprintf(`alerts,device=pi-1,rule=hot state="firing",value=31,message="too hot" %d`, at(9*time.Minute)),
		fmt.Sprintf(`alerts,device=pi-1,rule=hot state="resolved",value=25,message="fine again" %d`, at(8*time.Minute)),
		fmt.Sprintf(`alerts,device=pi-2,rule=offline state="firing",message="went offline" %d`, at(14*time.Minute)),
		fmt.Sprintf(`alerts,device=pi-2,rule=silent state="firing",message="no reading" %d`, at(5*time.Minute)),
	}, "\n")
}

// fluxCases says what each Flux query of the dashboard must return on the
// readings above. Every query needs at least one case, so a new panel
// cannot go untested.
var fluxCases = []struct {
	name   string // panel title, or "variable <name>"
	device string // "" = All
	check  func(t *testing.T, rows []map[string]string)
}{
	{"variable bucket", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "buckets", column(rows, "_value"), []string{"telemetry/autogen"})
	}},
	{"variable device", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "devices", column(rows, "_value"), []string{"logger-7", "pi-1", "pi-2", "pi-3", "pi-5"})
	}},
	{"Online", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "online count", column(rows, "_value"), []string{"3"})
	}},
	{"Online", "pi-2", func(t *testing.T, rows []map[string]string) {
		equal(t, "online count of pi-2", len(rows), 0) // no table: Grafana shows noValue 0
	}},
	{"Offline", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "offline count", column(rows, "_value"), []string{"1"})
	}},
	{"Silent (no reading for 5 min)", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "silent count", column(rows, "device"), []string{"2"})
	}},
	{"Last reading per device", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "state by device", byDevice(t, rows, "state"),
			map[string]string{"logger-7": "silent", "pi-1": "reporting", "pi-2": "silent", "pi-3": "reporting"})
		s, err := strconv.Atoi(byDevice(t, rows, "silent_for_s")["pi-2"])
		if err != nil || s < 15*60 || s > 3600 {
			t.Errorf("pi-2 silent_for_s = %d (%v), want 15 minutes or a little more", s, err)
		}
		if rows[0]["device"] != "pi-2" {
			t.Errorf("the longest silent device should come first: %v", rows)
		}
	}},
	{"Presence (last status message)", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "state by device", byDevice(t, rows, "state"),
			map[string]string{"pi-1": "online", "pi-2": "offline", "pi-3": "online", "pi-5": "online"})
	}},
	{"Presence (last status message)", "pi-2", func(t *testing.T, rows []map[string]string) {
		equal(t, "state of pi-2", byDevice(t, rows, "state"), map[string]string{"pi-2": "offline"})
	}},
	{"Presence over time", "", func(t *testing.T, rows []map[string]string) {
		got := map[string][]string{}
		for _, r := range rows { // tables come sorted by time within a device
			got[r["device"]] = append(got[r["device"]], r["_value"])
		}
		equal(t, "status messages by device", got, map[string][]string{
			"pi-1": {"online"}, "pi-2": {"online", "offline"}, "pi-3": {"online"}, "pi-5": {"online"}})
	}},
	{"annotation Alerts", "", func(t *testing.T, rows []map[string]string) {
		equal(t, "annotation texts", column(rows, "text"), []string{
			"pi-1 hot firing: too hot", "pi-1 hot resolved: fine again", "pi-2 offline firing: went offline", "pi-2 silent firing: no reading"})
		if len(rows) == 4 && rows[0]["text"] != "pi-2 offline firing: went offline" {
			t.Errorf("annotations not in time order: %v", rows)
		}
	}},
	{"annotation Alerts", "pi-1", func(t *testing.T, rows []map[string]string) {
		equal(t, "annotations of pi-1", column(rows, "rule"), []string{"hot", "hot"})
	}},
	{"Readings of ${device}", "pi-1", func(t *testing.T, rows []map[string]string) {
		got := map[string][]string{}
		for _, r := range rows {
			if r["device"] != "pi-1" {
				t.Errorf("row of another device: %v", r)
			}
			got[r["_measurement"]+"."+r["_field"]] = append(got[r["_measurement"]+"."+r["_field"]], r["_value"])
		}
		equal(t, "values by series", got, map[string][]string{
			"humidity.value": {"40", "41.5"}, "temperature.value": {"21.5", "22.25"}})
	}},
}

// TestDashboardFluxQueries runs every Flux query of the dashboard, template
// variables substituted as Grafana does, on a real InfluxDB 1.8 with Flux.
func TestDashboardFluxQueries(t *testing.T) {
	t.Parallel()
	queries := loadDashboard(t).fluxQueries()
	covered := map[string]bool{}
	for _, c := range fluxCases {
		covered[c.name] = true
	}
	byName := map[string]string{}
	for _, q := range queries {
		if !covered[q.name] {
			t.Errorf("Flux query %q has no case in fluxCases", q.name)
		}
		byName[q.name] = q.query
	}
	if t.Failed() {
		return
	}

	influx := testenv.StartInflux(t)
	influx.WriteLines(t, readings(time.Now()))
	for _, c := range fluxCases {
		t.Run(c.name+"/"+c.device, func(t *testing.T) {
			q, ok := byName[c.name]
			if !ok {
				t.Fatalf("no Flux query named %q in the dashboard", c.name)
			}
			rows := parseFluxCSV(t, influx.Flux(t, substitute(t, q, c.device)))
			c.check(t, rows)
			if t.Failed() {
				t.Logf("query:\n%s\nrows: %v", substitute(t, q, c.device), rows)
			}
		})
	}
}

// TestDashboardPromQLMetricsExist: every metric a Prometheus panel uses is
// registered somewhere in mqflux's Go sources.
func TestDashboardPromQLMetricsExist(t *testing.T) {
	known := goMetricNames(t)
	metric := regexp.MustCompile(`\bmqflux_[a-z0-9_]+`)
	used := 0
	for _, p := range loadDashboard(t).allPanels() {
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				used++
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q uses metric %s, which no Go source defines", p.Title, name)
				}
			}
		}
	}
	if used < 5 {
		t.Errorf("only %d metric references in the health panels", used)
	}
}

// goMetricNames collects the quoted "mqflux_..." strings of the module's
// non-test Go files.
func goMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	root := testenv.ModuleRoot(t)
	quoted := regexp.MustCompile(`"(mqflux_[a-z0-9_]+)"`)
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "var" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in the Go sources: %v", len(names), names)
	}
	return names
}
