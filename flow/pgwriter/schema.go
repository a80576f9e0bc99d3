package pgwriter

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// table is what the writer knows of one measurement's table, learnt from
// the catalog (information_schema for the columns, pg_index for the key).
type table struct {
	exists bool
	cols   map[string]string // column -> information_schema data_type
	// tags are the key columns after time, in the key's order: the tag
	// columns. The key is the unique index mqflux_key_* over (time,
	// tags...) NULLS NOT DISTINCT that ON CONFLICT names.
	tags []string
	// index is the key's name, "" when the table has none yet.
	index string
}

func (t *table) isTag(col string) bool { return slices.Contains(t.tags, col) }

// learn reads a table's columns and key from the catalog.
func learn(ctx context.Context, q querier, schema, name string) (*table, error) {
	t := &table{cols: map[string]string{}}
	rows, err := q.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", ident(schema, name), err)
	}
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the columns of %s: %w", ident(schema, name), err)
		}
		t.cols[col] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", ident(schema, name), err)
	}
	t.exists = len(t.cols) > 0
	if !t.exists {
		return t, nil
	}
	rows, err = q.Query(ctx, `SELECT i.relname, array_agg(a.attname::text ORDER BY k.ord)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
		WHERE n.nspname = $1 AND c.relname = $2 AND x.indisunique AND i.relname LIKE 'mqflux\_key\_%'
		GROUP BY i.relname`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("read the key of %s: %w", ident(schema, name), err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx string
		var cols []string
		if err := rows.Scan(&idx, &cols); err != nil {
			return nil, fmt.Errorf("read the key of %s: %w", ident(schema, name), err)
		}
		// Only one mqflux key exists outside a migration's transaction;
		// should there be more, the widest is the newest.
		if len(cols) > 0 && cols[0] == timeColumn && len(cols)-1 >= len(t.tags) {
			t.index, t.tags = idx, cols[1:]
		}
	}
	return t, rows.Err()
}

// querier is what learn needs of a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// change is what a table lacks for a set of points: columns (with their
// types) and tags to add to the key.
type change struct {
	create  bool
	needKey bool // the table has no mqflux key yet
	newCols []column
	newTags []string // in the order they join the key
}

type column struct{ name, typ string }

func (c change) empty() bool {
	return !c.create && !c.needKey && len(c.newCols) == 0 && len(c.newTags) == 0
}

// plan is what t lacks to take pts. A new column takes the type of the
// first point that brings it; a point that then disagrees is a type
// conflict for later. Tags join the key with device first, then by name.
func plan(t *table, pts []*point) change {
	c := change{create: !t.exists, needKey: t.index == ""}
	seen := map[string]bool{}
	var tags []string
	for _, p := range pts {
		for k := range p.tags {
			if t.isTag(k) || seen[k] {
				continue
			}
			if typ, ok := t.cols[k]; ok && (typ != typeText || len(t.tags) > 0) {
				continue // a field column already: the point conflicts
			}
			seen[k] = true
			tags = append(tags, k)
		}
	}
	sortTags(tags)
	for _, k := range tags {
		c.newTags = append(c.newTags, k)
		if _, ok := t.cols[k]; !ok {
			c.newCols = append(c.newCols, column{k, typeText})
		}
	}
	var fields []column
	for _, p := range pts {
		for k, v := range p.fields {
			if _, ok := t.cols[k]; ok || seen[k] {
				continue
			}
			seen[k] = true
			fields = append(fields, column{k, typeOf(v)})
		}
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].name < fields[j].name })
	c.newCols = append(c.newCols, fields...)
	return c
}

// sortTags orders tag names as they join a key: device first, then by
// name.
func sortTags(tags []string) {
	sort.Slice(tags, func(i, j int) bool {
		if (tags[i] == "device") != (tags[j] == "device") {
			return tags[i] == "device"
		}
		return tags[i] < tags[j]
	})
}

// conflict says why p cannot go into t as it is, or "": a field whose
// column has another type, a tag whose column is a field's, a field
// whose column is a tag.
func conflict(t *table, p *point) string {
	for k := range p.tags {
		if !t.isTag(k) {
			return fmt.Sprintf("tag %q is a field column (%s) of table %s, not a tag", k, t.cols[k], quote(p.table))
		}
	}
	for k, v := range p.fields {
		if t.isTag(k) {
			return fmt.Sprintf("field %q is a tag column of table %s", k, quote(p.table))
		}
		if have, want := t.cols[k], typeOf(v); have != want {
			return fmt.Sprintf("field %q is %s in table %s, the reading brings %s", k, have, quote(p.table), want)
		}
	}
	return ""
}

// keyName is the unique index over (time, tags...) of table name: the
// same name for the same key in every writer, so that CREATE UNIQUE
// INDEX IF NOT EXISTS of two writers meet.
func keyName(name string, tags []string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	for _, t := range tags {
		h.Write([]byte{0})
		h.Write([]byte(t))
	}
	return fmt.Sprintf("mqflux_key_%016x", h.Sum64())
}

// ident is a schema-qualified name, quoted.
func ident(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }

// quote is one quoted identifier.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// quoteAll quotes and joins column names.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// literal is s as an SQL string literal (standard_conforming_strings, the
// default since PostgreSQL 9.1).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
