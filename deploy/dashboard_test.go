package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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
			Target     target     `json:"target"`
			TextColumn string     `json:"textColumn"`
			TagsColumn string     `json:"tagsColumn"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Datasource datasource `json:"datasource"`
	Query      string     `json:"query"`
	AllValue   string     `json:"allValue"`
	IncludeAll bool       `json:"includeAll"`
	Regex      string     `json:"regex"` // a JavaScript regular expression, /.../
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID        string     `json:"refId"`
	Datasource   datasource `json:"datasource"`
	Query        string     `json:"query"` // InfluxQL
	RawQuery     bool       `json:"rawQuery"`
	ResultFormat string     `json:"resultFormat"` // time_series or table
	Alias        string     `json:"alias"`
	Expr         string     `json:"expr"` // PromQL
}

type transformation struct {
	ID      string          `json:"id"`
	Options json.RawMessage `json:"options"`
}

type panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Repeat          string           `json:"repeat"`
	Datasource      datasource       `json:"datasource"`
	Targets         []target         `json:"targets"`
	Transformations []transformation `json:"transformations"`
	Panels          []panel          `json:"panels"` // a collapsed row's
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

// influxQuery is what Grafana asks InfluxDB for one thing of the dashboard
// (a template variable, the annotation, a panel) and what it does with the
// answers: a panel's targets together, then its transformations.
type influxQuery struct {
	name            string
	targets         []target
	transformations []transformation
}

func (d dashboard) influxQueries() []influxQuery {
	var out []influxQuery
	for _, v := range d.Templating.List {
		if v.Type == "query" && v.Datasource.UID == influxUID {
			out = append(out, influxQuery{name: "variable " + v.Name, targets: []target{{RefID: "A", Query: v.Query}}})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Datasource.UID == influxUID {
			out = append(out, influxQuery{name: "annotation " + a.Name, targets: []target{a.Target}})
		}
	}
	for _, p := range d.allPanels() {
		q := influxQuery{name: p.Title, transformations: p.Transformations}
		for _, tg := range p.Targets {
			if tg.Datasource.UID == influxUID {
				q.targets = append(q.targets, tg)
			}
		}
		if len(q.targets) > 0 {
			out = append(out, q)
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
	if !vars["device"] || !vars["measurement"] || !vars["field"] {
		t.Fatalf("template variables %v: want device, measurement and field", vars)
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
			// InfluxQL, which InfluxDB 1.x, 2.x and 3.x all answer: no Flux.
			if tg.Datasource.UID == influxUID && (!tg.RawQuery || tg.ResultFormat == "" || strings.Contains(q, "|>")) {
				t.Errorf("panel %q target %s: want a raw InfluxQL query with a resultFormat", p.Title, tg.RefID)
			}
			for _, m := range refs.FindAllStringSubmatch(q, -1) {
				name := m[1] + m[3]
				if !vars[name] && !strings.HasPrefix(name, "__") && name != "timeFilter" {
					t.Errorf("panel %q uses unknown variable $%s", p.Title, name)
				}
			}
		}
	}
}

// rowsOf is every row of every frame; most checks read one table.
func rowsOf(fs []frame) []map[string]any {
	var out []map[string]any
	for _, f := range fs {
		out = append(out, f.rows...)
	}
	return out
}

// valuesFrame holds the values a variable offers, as column "value".
func valuesFrame(vals []string) frame {
	f := frame{fields: []string{"value"}}
	for _, v := range vals {
		f.rows = append(f.rows, map[string]any{"value": v})
	}
	return f
}

// column returns the values of one column, as text, sorted.
func column(rows []map[string]any, col string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[col]))
	}
	sort.Strings(out)
	return out
}

// byDevice maps device to the value of col, failing on a device seen twice.
func byDevice(t *testing.T, rows []map[string]any, col string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range rows {
		d := fmt.Sprint(r["device"])
		if _, dup := m[d]; dup {
			t.Errorf("device %q appears twice: %v", d, rows)
		}
		m[d] = fmt.Sprint(r[col])
	}
	return m
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// ago is the time the readings below were written at, d before now.
type ago func(d time.Duration) int64

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
func readings(at ago) string {
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

// influxCases says what each InfluxQL query of the dashboard must give on
// the readings above, after Grafana's transformations. Every query needs at
// least one case, so a new panel cannot go untested.
var influxCases = []struct {
	name   string // panel title, "variable <name>" or "annotation <name>"
	device string // "" = All
	check  func(t *testing.T, at ago, fs []frame)
}{
	{"variable device", "", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "devices", column(rowsOf(fs), "value"), []string{"logger-7", "pi-1", "pi-2", "pi-3", "pi-5"})
	}},
	{"variable measurement", "", func(t *testing.T, _ ago, fs []frame) {
		// mqflux's own measurements hold no readings.
		equal(t, "measurements", column(rowsOf(fs), "value"), []string{"humidity", "temperature"})
	}},
	{"variable field", "", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "fields of humidity and temperature", column(rowsOf(fs), "value"), []string{"value"})
	}},
	{"Online", "", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "online count", column(rowsOf(fs), "Value"), []string{"3"})
	}},
	{"Online", "pi-2", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "online count of pi-2", len(rowsOf(fs)), 0) // no series: Grafana shows noValue 0
	}},
	{"Offline", "", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "offline count", column(rowsOf(fs), "Value"), []string{"1"})
	}},
	{"Silent (no reading for 5 min)", "", func(t *testing.T, _ ago, fs []frame) {
		// The stat counts the device values left (reduceOptions count).
		equal(t, "silent devices", column(rowsOf(fs), "device"), []string{"logger-7", "pi-2"})
	}},
	{"Silent (no reading for 5 min)", "pi-1", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "silent devices among pi-1", len(rowsOf(fs)), 0)
	}},
	{"Last reading per device", "", func(t *testing.T, at ago, fs []frame) {
		rows := rowsOf(fs)
		state := map[string]string{}
		for d, n := range byDevice(t, rows, "state") {
			state[d] = map[bool]string{true: "silent", false: "reporting"}[n == "0"]
		}
		equal(t, "state by device", state,
			map[string]string{"logger-7": "silent", "pi-1": "reporting", "pi-2": "silent", "pi-3": "reporting"})
		equal(t, "last reading by device", byDevice(t, rows, "last reading"), map[string]string{
			"logger-7": fmt.Sprint(at(6 * time.Minute)), "pi-1": fmt.Sprint(at(time.Minute)),
			"pi-2": fmt.Sprint(at(15 * time.Minute)), "pi-3": fmt.Sprint(at(40 * time.Second))})
		if len(rows) > 0 && rows[0]["device"] != "pi-2" {
			t.Errorf("the longest silent device should come first: %v", rows)
		}
	}},
	{"Presence (last status message)", "", func(t *testing.T, at ago, fs []frame) {
		rows := rowsOf(fs)
		equal(t, "state by device", byDevice(t, rows, "state"),
			map[string]string{"pi-1": "online", "pi-2": "offline", "pi-3": "online", "pi-5": "online"})
		equal(t, "since, pi-2", byDevice(t, rows, "Time")["pi-2"], at(14*time.Minute))
	}},
	{"Presence (last status message)", "pi-2", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "state of pi-2", byDevice(t, rowsOf(fs), "state"), map[string]string{"pi-2": "offline"})
	}},
	{"Presence over time", "", func(t *testing.T, _ ago, fs []frame) {
		got := map[string][]string{}
		for _, f := range fs { // a series per device, in time order
			for _, r := range f.rows {
				got[f.name] = append(got[f.name], fmt.Sprint(r["Value"]))
			}
		}
		equal(t, "status messages by device", got, map[string][]string{
			"pi-1": {"online"}, "pi-2": {"online", "offline"}, "pi-3": {"online"}, "pi-5": {"online"}})
	}},
	{"annotation Alerts", "", func(t *testing.T, _ ago, fs []frame) {
		var texts []string
		for _, r := range rowsOf(fs) { // in time order: the text column, then the tag columns
			texts = append(texts, fmt.Sprintf("%v %v %v: %v", r["device"], r["rule"], r["state"], r["message"]))
		}
		equal(t, "annotations", texts, []string{"pi-2 offline firing: went offline",
			"pi-1 hot firing: too hot", "pi-1 hot resolved: fine again", "pi-2 silent firing: no reading"})
	}},
	{"annotation Alerts", "pi-1", func(t *testing.T, _ ago, fs []frame) {
		equal(t, "annotations of pi-1", column(rowsOf(fs), "rule"), []string{"hot", "hot"})
	}},
	{"Readings of ${device}", "pi-1", func(t *testing.T, _ ago, fs []frame) {
		got := map[string][]string{}
		for _, f := range fs {
			for _, r := range f.rows {
				got[f.name] = append(got[f.name], fmt.Sprint(r["Value"]))
			}
		}
		equal(t, "values by series", got, map[string][]string{
			"humidity mean_value": {"40", "41.5"}, "temperature mean_value": {"21.5", "22.25"}})
	}},
}

// TestDashboardInfluxQLQueries runs every InfluxQL query of the dashboard,
// template variables and time range expanded and transformations applied
// as Grafana does, on a real InfluxDB 1.8 without Flux.
func TestDashboardInfluxQLQueries(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	queries := d.influxQueries()
	covered := map[string]bool{}
	for _, c := range influxCases {
		covered[c.name] = true
	}
	byName := map[string]influxQuery{}
	for _, q := range queries {
		if !covered[q.name] {
			t.Errorf("InfluxQL query %q has no case in influxCases", q.name)
		}
		byName[q.name] = q
	}
	if t.Failed() {
		return
	}

	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	now := time.Now()
	at := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	influx.WriteLines(t, readings(at))
	for _, c := range influxCases {
		t.Run(c.name+"/"+c.device, func(t *testing.T) {
			q, ok := byName[c.name]
			if !ok {
				t.Fatalf("no InfluxQL query named %q in the dashboard", c.name)
			}
			g := &grafana{influx: influx, device: c.device, from: now.Add(-time.Hour), to: now}
			g.resolveVariables(t, d)
			fs := g.run(t, d, q)
			if v, ok := strings.CutPrefix(c.name, "variable "); ok {
				fs = []frame{valuesFrame(g.all[v])}
			}
			c.check(t, at, fs)
			if t.Failed() {
				for _, tg := range q.targets {
					t.Logf("query %s:\n%s", tg.RefID, g.interpolate(t, d, tg.Query))
				}
				t.Logf("frames: %+v", fs)
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
