package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// This file does, for the dashboard's InfluxQL, what Grafana's InfluxDB data
// source does before and after it sends a query: it expands the template
// variables and the time range, turns the answer into data frames, and
// applies the panel's transformations. Only the forms the dashboard uses are
// understood; anything else fails the test, so a new form cannot slip by
// untested.

// frame is one Grafana data frame: a table, or one time series.
type frame struct {
	name   string           // a time series' display name (the target's alias)
	fields []string         // column names, in order
	rows   []map[string]any // by column name; times are int64 nanoseconds
}

// grafana is the dashboard as seen by one viewer: the chosen device ("" =
// All), every other variable on All, and the time range ending at now.
type grafana struct {
	influx *testenv.Influx
	device string
	from   time.Time
	to     time.Time
	all    map[string][]string // each variable's values, as its query found them
}

// regexEscape is Grafana's escaping of a value for the :regex format; it
// also escapes "/", which would end an InfluxQL regular expression.
func regexEscape(s string) string {
	return regexp.MustCompile(`[\\^$*+?.()|{}\[\]/]`).ReplaceAllString(s, `\$0`)
}

// regexValue is ${name:regex}: the escaped value, several values as a group,
// All as allValue when the variable has one.
func (g *grafana) regexValue(t *testing.T, v variable) string {
	t.Helper()
	vals := g.all[v.Name]
	if v.Name == "device" {
		if g.device != "" {
			return regexEscape(g.device)
		}
		if v.AllValue != "" {
			return v.AllValue
		}
	}
	if vals == nil {
		t.Fatalf("variable %s is used before its values are known", v.Name)
	}
	esc := make([]string, len(vals))
	for i, s := range vals {
		esc[i] = regexEscape(s)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// interpolate expands variables and the time range as Grafana does for a
// raw InfluxQL query.
func (g *grafana) interpolate(t *testing.T, d dashboard, q string) string {
	t.Helper()
	pairs := []string{
		"$timeFilter", fmt.Sprintf("time >= %dms and time <= %dms", g.from.UnixMilli(), g.to.UnixMilli()),
		"$__interval", "10s",
	}
	for _, v := range d.Templating.List {
		if strings.Contains(q, "${"+v.Name+":regex}") {
			pairs = append(pairs, "${"+v.Name+":regex}", g.regexValue(t, v))
		}
	}
	out := strings.NewReplacer(pairs...).Replace(q)
	if m := regexp.MustCompile(`\$\{|\$[a-zA-Z_]`).FindString(out); m != "" {
		t.Fatalf("query still holds %q after interpolation:\n%s", m, out)
	}
	return out
}

// variableValues is what Grafana offers for a query variable: the first
// column of each row (the value column of SHOW TAG VALUES), without
// duplicates, sorted, kept when the variable's regex matches.
func variableValues(t *testing.T, v variable, series []testenv.Series) []string {
	t.Helper()
	keep := jsRegexFilter(t, v.Regex)
	seen := map[string]bool{}
	var out []string
	for _, s := range series {
		col := 0
		if len(s.Columns) == 2 && s.Columns[0] == "key" && s.Columns[1] == "value" {
			col = 1
		}
		for _, row := range s.Values {
			val := fmt.Sprint(row[col])
			if !seen[val] && keep(val) {
				seen[val] = true
				out = append(out, val)
			}
		}
	}
	sort.Strings(out)
	return out
}

// jsRegexFilter understands the one JavaScript form the dashboard uses,
// /^(?!(a|b)$)/ (every value but a and b), which Go's regexp lacks.
func jsRegexFilter(t *testing.T, re string) func(string) bool {
	t.Helper()
	if re == "" {
		return func(string) bool { return true }
	}
	inner, ok := strings.CutPrefix(re, "/^(?!(")
	if inner, ok = strings.CutSuffix(inner, ")$)/"); !ok {
		t.Fatalf("variable regex %q: only /^(?!(a|b)$)/ is understood here", re)
	}
	excluded := map[string]bool{}
	for _, name := range strings.Split(inner, "|") {
		excluded[name] = true
	}
	return func(s string) bool { return !excluded[s] }
}

// resolveVariables runs every variable's query in order, each seeing the
// ones before it on All, as Grafana does when the dashboard loads.
func (g *grafana) resolveVariables(t *testing.T, d dashboard) {
	t.Helper()
	g.all = map[string][]string{}
	for _, v := range d.Templating.List {
		series := g.influx.Query(t, g.interpolate(t, d, v.Query))
		g.all[v.Name] = variableValues(t, v, series)
	}
}

// frames turns an InfluxQL answer into frames: table keeps one frame with
// the tags as columns; time_series gives a frame per series and column.
func frames(t *testing.T, tg target, series []testenv.Series) []frame {
	t.Helper()
	switch tg.ResultFormat {
	case "table":
		return []frame{tableFrame(t, series)}
	case "time_series":
		var out []frame
		for _, s := range series {
			for c, col := range s.Columns[1:] {
				f := frame{name: alias(tg.Alias, s, col), fields: []string{"Time", "Value"}}
				for _, row := range s.Values {
					f.rows = append(f.rows, map[string]any{"Time": nanos(t, row[0]), "Value": row[c+1]})
				}
				out = append(out, f)
			}
		}
		return out
	}
	t.Fatalf("target %s: resultFormat %q", tg.RefID, tg.ResultFormat)
	return nil
}

func tableFrame(t *testing.T, series []testenv.Series) frame {
	t.Helper()
	var f frame
	has := map[string]bool{}
	add := func(name string) {
		if !has[name] {
			has[name] = true
			f.fields = append(f.fields, name)
		}
	}
	for _, s := range series {
		// Grafana names the time column Time; SHOW queries have none.
		cols := append([]string(nil), s.Columns...)
		if len(cols) > 0 && cols[0] == "time" {
			cols[0] = "Time"
		}
		tags := make([]string, 0, len(s.Tags))
		for k := range s.Tags {
			tags = append(tags, k)
		}
		sort.Strings(tags)
		for i, c := range cols {
			add(c)
			if i == 0 && c == "Time" {
				for _, k := range tags {
					add(k)
				}
			}
		}
		for _, vals := range s.Values {
			row := map[string]any{}
			for k, v := range s.Tags {
				row[k] = v
			}
			for i, c := range cols {
				row[c] = vals[i]
				if c == "Time" {
					row[c] = nanos(t, vals[i])
				}
			}
			f.rows = append(f.rows, row)
		}
	}
	return f
}

// alias expands the InfluxQL alias patterns the dashboard uses.
func alias(pattern string, s testenv.Series, col string) string {
	if pattern == "" {
		return s.Name + "." + col
	}
	r := []string{"$measurement", s.Name, "$col", col}
	for k, v := range s.Tags {
		r = append(r, "$tag_"+k, v)
	}
	return strings.NewReplacer(r...).Replace(pattern)
}

func nanos(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("time %v is %T, not a number (epoch=ns)", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return i
}

// number reads an InfluxDB number; nil (no value) is reported as !ok.
func number(t *testing.T, v any) (float64, bool) {
	t.Helper()
	switch n := v.(type) {
	case nil:
		return 0, false
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			t.Fatalf("number %v: %v", v, err)
		}
		return f, true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	t.Fatalf("%v is %T, not a number", v, v)
	return 0, false
}

// run sends every target of q, then applies the transformations.
func (g *grafana) run(t *testing.T, d dashboard, q influxQuery) []frame {
	t.Helper()
	var out []frame
	for _, tg := range q.targets {
		series := g.influx.Query(t, g.interpolate(t, d, tg.Query))
		if strings.HasPrefix(q.name, "variable ") {
			tg.ResultFormat = "table" // SHOW answers are tables
		}
		out = append(out, frames(t, tg, series)...)
	}
	for _, tr := range q.transformations {
		out = transform(t, tr, out)
	}
	return out
}
