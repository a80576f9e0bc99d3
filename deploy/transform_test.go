package deploy

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
)

// transform applies one Grafana transformation, in the options the
// dashboard uses. Field names follow Grafana: an aggregated field is named
// "<field> (<calculation>)".
func transform(t *testing.T, tr transformation, in []frame) []frame {
	t.Helper()
	switch tr.ID {
	case "merge":
		return []frame{merge(in)}
	case "groupBy":
		var o struct {
			Fields map[string]struct {
				Operation    string   `json:"operation"`
				Aggregations []string `json:"aggregations"`
			} `json:"fields"`
		}
		decode(t, tr, &o)
		var out []frame
		for _, f := range in {
			var keys []string
			aggs := map[string][]string{}
			for _, name := range f.fields {
				switch c := o.Fields[name]; c.Operation {
				case "groupby":
					keys = append(keys, name)
				case "aggregate":
					aggs[name] = c.Aggregations
				}
			}
			out = append(out, groupBy(t, f, keys, aggs))
		}
		return out
	case "filterByValue":
		var o struct {
			Type, Match string
			Filters     []struct {
				FieldName string `json:"fieldName"`
				Config    struct {
					ID      string `json:"id"`
					Options struct {
						Value float64 `json:"value"`
					} `json:"options"`
				} `json:"config"`
			} `json:"filters"`
		}
		decode(t, tr, &o)
		if o.Type != "include" || o.Match != "all" || len(o.Filters) != 1 || o.Filters[0].Config.ID != "equal" {
			t.Fatalf("filterByValue %s: only one include/all/equal filter is understood here", tr.Options)
		}
		flt := o.Filters[0]
		for i, f := range in {
			kept := f.rows[:0:0]
			for _, r := range f.rows {
				if v, ok := number(t, r[flt.FieldName]); ok && v == flt.Config.Options.Value {
					kept = append(kept, r)
				}
			}
			in[i].rows = kept
		}
		return in
	case "sortBy":
		var o struct {
			Sort []struct {
				Field string `json:"field"`
				Desc  bool   `json:"desc"`
			} `json:"sort"`
		}
		decode(t, tr, &o)
		if len(o.Sort) != 1 {
			t.Fatalf("sortBy %s: one field", tr.Options)
		}
		for _, f := range in {
			by := o.Sort[0]
			sort.SliceStable(f.rows, func(i, j int) bool {
				a, _ := number(t, f.rows[i][by.Field])
				b, _ := number(t, f.rows[j][by.Field])
				return (a < b) != by.Desc && a != b
			})
		}
		return in
	case "organize":
		var o struct {
			RenameByName map[string]string `json:"renameByName"`
		}
		decode(t, tr, &o)
		for i, f := range in {
			for j, name := range f.fields {
				if to, ok := o.RenameByName[name]; ok {
					in[i].fields[j] = to
					for _, r := range f.rows {
						r[to] = r[name]
						delete(r, name)
					}
				}
			}
		}
		return in
	}
	t.Fatalf("transformation %q is not understood here", tr.ID)
	return nil
}

func decode(t *testing.T, tr transformation, dst any) {
	t.Helper()
	if err := json.Unmarshal(tr.Options, dst); err != nil {
		t.Fatalf("transformation %s options %s: %v", tr.ID, tr.Options, err)
	}
}

// merge puts the rows of every frame in one table with the union of their
// fields. Grafana also folds together rows equal in every shared field; the
// dashboard's targets never give such rows (their times differ), and the
// checks of groupBy would catch a doubled row.
func merge(in []frame) frame {
	var out frame
	has := map[string]bool{}
	for _, f := range in {
		for _, name := range f.fields {
			if !has[name] {
				has[name] = true
				out.fields = append(out.fields, name)
			}
		}
		out.rows = append(out.rows, f.rows...)
	}
	return out
}

// groupBy makes one row per distinct value of the key fields, in the order
// they first appear, with each aggregated field reduced: max and sum skip
// empty values, sum of nothing is 0, max of nothing is empty.
func groupBy(t *testing.T, f frame, keys []string, aggs map[string][]string) frame {
	t.Helper()
	out := frame{fields: append([]string(nil), keys...)}
	for _, name := range f.fields {
		for _, a := range aggs[name] {
			out.fields = append(out.fields, fmt.Sprintf("%s (%s)", name, a))
		}
	}
	index := map[string]int{}
	var groups [][]map[string]any
	for _, r := range f.rows {
		k := fmt.Sprint(keyOf(r, keys))
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	for _, g := range groups {
		row := map[string]any{}
		for _, k := range keys {
			row[k] = g[0][k]
		}
		for name, as := range aggs {
			for _, a := range as {
				row[fmt.Sprintf("%s (%s)", name, a)] = reduce(t, a, g, name)
			}
		}
		out.rows = append(out.rows, row)
	}
	return out
}

func keyOf(r map[string]any, keys []string) []any {
	k := make([]any, len(keys))
	for i, name := range keys {
		k[i] = r[name]
	}
	return k
}

func reduce(t *testing.T, calc string, rows []map[string]any, field string) any {
	t.Helper()
	var sum, max float64
	var maxValue any // as found, so a nanosecond time stays exact
	for _, r := range rows {
		v, ok := number(t, r[field])
		if !ok {
			continue
		}
		sum += v
		if maxValue == nil || v > max {
			max, maxValue = v, r[field]
		}
	}
	switch calc {
	case "sum":
		return sum
	case "max":
		return maxValue
	}
	t.Fatalf("calculation %q is not understood here", calc)
	return nil
}
