package pgwriter

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// stageTable is the temporary table a batch is copied into, named with
// its schema so that a measurement of the same name is never meant; ON
// COMMIT DROP keeps it to its transaction.
var stageTable = pgx.Identifier{"pg_temp", "mqflux_stage"}

// maxParams is how many parameters one statement may carry (the protocol
// counts them in 16 bits).
const maxParams = 65535

// rows are a batch of one table as columns and values.
type rows struct {
	cols   []string // time, the tags present, the fields present
	fields []string // the fields present
	values [][]any
}

// toRows lays pts out for t. Points of one series and microsecond are one
// row (ON CONFLICT DO UPDATE may not touch a row twice in one statement):
// their fields merge, the later point's value winning, as in InfluxDB.
func toRows(t *table, pts []*point) rows {
	var tags []string
	for _, k := range t.tags {
		for _, p := range pts {
			if _, ok := p.tags[k]; ok {
				tags = append(tags, k)
				break
			}
		}
	}
	seen := map[string]bool{}
	var fields []string
	for _, p := range pts {
		for k := range p.fields {
			if !seen[k] {
				seen[k] = true
				fields = append(fields, k)
			}
		}
	}
	sort.Strings(fields)
	r := rows{cols: append(append([]string{timeColumn}, tags...), fields...), fields: fields}
	byKey := map[string]int{}
	var key strings.Builder
	for _, p := range pts {
		key.Reset()
		fmt.Fprintf(&key, "%d", p.time.UnixMicro())
		for _, k := range t.tags {
			if v, ok := p.tags[k]; ok {
				fmt.Fprintf(&key, "\x00=%s", v)
			} else {
				key.WriteString("\x00!")
			}
		}
		i, dup := byKey[key.String()]
		if !dup {
			i = len(r.values)
			byKey[key.String()] = i
			row := make([]any, len(r.cols))
			row[0] = p.time
			for j, k := range tags {
				if v, ok := p.tags[k]; ok {
					row[1+j] = v
				}
			}
			r.values = append(r.values, row)
		}
		row := r.values[i]
		for j, k := range fields {
			if v, ok := p.fields[k]; ok {
				row[1+len(tags)+j] = v
			}
		}
	}
	return r
}

// upsert is the ON CONFLICT clause: the key, and each field taking the
// new value where the new row has one (a point that lacks a field leaves
// the stored value, as a point merging into an InfluxDB series does).
func upsert(t *table, fields []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, " ON CONFLICT (%s) ", quoteAll(append([]string{timeColumn}, t.tags...)))
	if len(fields) == 0 {
		b.WriteString("DO NOTHING")
		return b.String()
	}
	b.WriteString("DO UPDATE SET ")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = COALESCE(EXCLUDED.%s, cur.%s)", quote(f), quote(f), quote(f))
	}
	return b.String()
}

// insert stores pts in one transaction.
func (w *Writer) insert(ctx context.Context, t *table, name string, pts []*point) error {
	r := toRows(t, pts)
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if w.copy {
		err = copyInsert(ctx, tx, t, ident(w.cfg.Schema, name), r)
	} else {
		err = valuesInsert(ctx, tx, t, ident(w.cfg.Schema, name), r)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// copyInsert copies the rows into a temporary table shaped like the
// target, then moves them with one INSERT ... SELECT ... ON CONFLICT.
func copyInsert(ctx context.Context, tx pgx.Tx, t *table, target string, r rows) error {
	stage := stageTable.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s) ON COMMIT DROP", stage, target)); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, stageTable, r.cols, pgx.CopyFromRows(r.values)); err != nil {
		return err
	}
	cols := quoteAll(r.cols)
	_, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s AS cur (%s) SELECT %s FROM %s%s", target, cols, cols, stage, upsert(t, r.fields)))
	return err
}

// valuesInsert sends the rows as multi-row INSERT ... VALUES statements,
// as many rows each as the parameter limit allows.
func valuesInsert(ctx context.Context, tx pgx.Tx, t *table, target string, r rows) error {
	per := maxParams / len(r.cols)
	head := fmt.Sprintf("INSERT INTO %s AS cur (%s) VALUES ", target, quoteAll(r.cols))
	tail := upsert(t, r.fields)
	for start := 0; start < len(r.values); start += per {
		chunk := r.values[start:min(start+per, len(r.values))]
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, len(chunk)*len(r.cols))
		for i, row := range chunk {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("(")
			for j := range row {
				if j > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "$%d", len(args)+1)
				args = append(args, row[j])
			}
			b.WriteString(")")
		}
		b.WriteString(tail)
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// explain asks PostgreSQL what it says of a point that conflicts with its
// table: the point alone, each value typed as the reading brings it, in a
// transaction that is always rolled back. PostgreSQL refuses most such
// points (text into double precision); where it would convert the value
// (an integer into a double, a number into text), the writer refuses it
// anyway, since a column keeps its type, and says why in its own words.
// The error is a failure to retry.
func (w *Writer) explain(ctx context.Context, t *table, name string, p *point, why string) (string, error) {
	cols := []string{timeColumn}
	exprs := []string{"$1::timestamptz"}
	args := []any{p.time}
	add := func(col, typ string, v any) {
		cols = append(cols, col)
		args = append(args, v)
		exprs = append(exprs, fmt.Sprintf("$%d::%s", len(args), typ))
	}
	for _, k := range sortedKeys(p.tags) {
		add(k, typeText, p.tags[k])
	}
	for _, k := range sortedKeys(p.fields) {
		add(k, typeOf(p.fields[k]), p.fields[k])
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)",
		ident(w.cfg.Schema, name), quoteAll(cols), strings.Join(exprs, ", "))+" ON CONFLICT DO NOTHING", args...)
	if err == nil {
		return why + " (PostgreSQL would convert the value; mqflux keeps a column's type)", nil
	}
	if _, retry := classify(err); retry {
		return "", err
	}
	return why + ": PostgreSQL: " + err.Error(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
