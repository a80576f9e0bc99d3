package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/pgwriter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// Grafana cannot run here, so the PostgreSQL variant of the dashboard
// (grafana-postgres/) is tested as the InfluxDB one is: every variable and
// panel query, with Grafana's macros and variables expanded as Grafana
// expands them for a PostgreSQL data source, runs against a real
// PostgreSQL whose tables the postgres output wrote from known readings.
func TestPostgresDashboardQueries(t *testing.T) {
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name       string     `json:"name"`
				Query      string     `json:"query"`
				Datasource datasource `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string     `json:"title"`
			Datasource datasource `json:"datasource"`
			Targets    []struct {
				RawSQL     string     `json:"rawSql"`
				Format     string     `json:"format"`
				Datasource datasource `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(deployPath(t, "grafana-postgres/dashboards/mqflux-postgres.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var ds struct {
		Datasources []struct {
			UID, Type string
		} `yaml:"datasources"`
	}
	parseYAML(t, deployPath(t, "grafana-postgres/datasources/postgres.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID != "mqflux-postgres" {
		t.Fatalf("data sources %+v, want mqflux-postgres", ds.Datasources)
	}

	pg := testenv.StartPostgres(t)
	cfg := pgwriter.DefaultConfig()
	cfg.URL = pg.URL()
	w, err := pgwriter.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now().Add(-time.Hour)
	var recs [][]byte
	for i := 0; i < 6; i++ {
		ts := now.Add(time.Duration(i) * time.Minute).UnixNano()
		recs = append(recs,
			fmt.Appendf(nil, "temperature,device=pi-%d value=%d,raw=%di %d\n", i%2, 20+i, i, ts),
			fmt.Appendf(nil, "device_status,device=pi-%d online=%v,state=\"x\" %d\n", i%2, i%3 != 0, ts))
	}
	recs = append(recs, fmt.Appendf(nil, "device_status,device=pi-9 online=true,state=\"online\" %d\n", now.UnixNano()))
	if rej, err := w.Write(context.Background(), recs); err != nil || len(rej) != 0 {
		t.Fatalf("write: %v %v", err, rej)
	}

	from, to := now.Add(-time.Minute).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)
	expand := func(sql string) string {
		return strings.NewReplacer(
			`$__timeGroupAlias("time", $__interval)`, `floor(extract(epoch from "time")/60)*60 AS "time"`,
			`$__timeFilter("time")`, fmt.Sprintf(`"time" BETWEEN '%s' AND '%s'`, from, to),
			"$measurement", "temperature",
			"$field", "value",
			"($device)", "('pi-0','pi-1')",
		).Replace(sql)
	}
	column := func(sql string) []string {
		var out []string
		for _, r := range pg.Query(t, expand(sql)) {
			out = append(out, fmt.Sprint(r[0]))
		}
		return out
	}
	want := map[string]string{
		"measurement": "[temperature]", // device_status is mqflux's own
		"field":       "[raw value]",
		"device":      "[pi-0 pi-1]",
	}
	for _, v := range d.Templating.List {
		if v.Datasource.UID != "mqflux-postgres" {
			t.Errorf("variable %s uses data source %q", v.Name, v.Datasource.UID)
		}
		if got := fmt.Sprint(column(v.Query)); got != want[v.Name] {
			t.Errorf("variable %s = %s, want %s", v.Name, got, want[v.Name])
		}
	}
	rowsWant := map[string]int{
		"${measurement}.${field} by device":         6, // one per minute
		"Last reading of ${measurement} per device": 2,
		"Presence over time":                        6,
	}
	if len(d.Panels) != len(rowsWant) {
		t.Errorf("%d panels, want %d", len(d.Panels), len(rowsWant))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "mqflux-postgres" || !strings.Contains(tg.RawSQL, "$") && p.Title != "" && tg.Format == "" {
				t.Errorf("panel %q target uses %q, format %q", p.Title, tg.Datasource.UID, tg.Format)
			}
			rows := pg.Query(t, expand(tg.RawSQL))
			if len(rows) != rowsWant[p.Title] {
				t.Errorf("panel %q: %d rows, want %d: %v", p.Title, len(rows), rowsWant[p.Title], rows)
			}
		}
	}
}
