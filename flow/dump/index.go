package dump

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Index lists every dumped day under a prefix: index.json, and
// index.html for people, rebuilt from the days' manifests after each dump.
type Index struct {
	Updated time.Time  `json:"updated"`
	Days    []IndexDay `json:"days"` // newest first
}

// IndexDay is one day of the index.
type IndexDay struct {
	Date     string      `json:"date"`
	Manifest string      `json:"manifest"` // key relative to the prefix
	Rows     int64       `json:"rows"`
	Bytes    int64       `json:"bytes"`
	Files    []IndexFile `json:"files"`
}

// IndexFile is one file of a day.
type IndexFile struct {
	Measurement string `json:"measurement"`
	Key         string `json:"key"`
	Rows        int64  `json:"rows"`
	Bytes       int64  `json:"bytes"`
}

// days lists the day folders (YYYY-MM-DD/) under prefix.
func days(ctx context.Context, b *blob.Bucket, prefix string) ([]string, error) {
	var out []string
	it := b.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			sort.Sort(sort.Reverse(sort.StringSlice(out)))
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		date := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if _, err := time.Parse(DateLayout, date); obj.IsDir && err == nil {
			out = append(out, date)
		}
	}
}

// WriteIndex rebuilds index.json and index.html under prefix from the
// manifests there. A day folder without a manifest (a first run that
// failed half-way) is left out.
func WriteIndex(ctx context.Context, b *blob.Bucket, prefix string) (Index, error) {
	idx := Index{Updated: time.Now().UTC(), Days: []IndexDay{}}
	dates, err := days(ctx, b, prefix)
	if err != nil {
		return idx, err
	}
	for _, date := range dates {
		m, ok, err := readManifest(ctx, b, prefix+date+"/"+ManifestName)
		if err != nil {
			return idx, err
		}
		if !ok {
			continue
		}
		d := IndexDay{Date: date, Manifest: date + "/" + ManifestName, Rows: m.Rows(), Bytes: m.Bytes(), Files: []IndexFile{}}
		for _, f := range m.Files {
			d.Files = append(d.Files, IndexFile{Measurement: f.Measurement, Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
		}
		idx.Days = append(idx.Days, d)
	}
	if err := putJSON(ctx, b, prefix+"index.json", idx); err != nil {
		return idx, err
	}
	var html strings.Builder
	if err := indexPage.Execute(&html, idx); err != nil {
		return idx, fmt.Errorf("index.html: %w", err)
	}
	return idx, putBytes(ctx, b, prefix+"index.html", "text/html; charset=utf-8", []byte(html.String()))
}

// Prune deletes the day folders under prefix older than keepDays days
// before today (today's date, in the dump's zone); 0 keeps every day.
func Prune(ctx context.Context, b *blob.Bucket, prefix string, keepDays int, today Day) ([]string, error) {
	if keepDays <= 0 {
		return nil, nil
	}
	oldest := today
	for range keepDays {
		oldest = oldest.Prev()
	}
	dates, err := days(ctx, b, prefix)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, date := range dates {
		if date >= oldest.Date {
			continue
		}
		// The manifest first: a day half deleted is no longer listed.
		if err := b.Delete(ctx, prefix+date+"/"+ManifestName); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return gone, fmt.Errorf("delete %s: %w", date, err)
		}
		if _, err := deleteStale(ctx, b, prefix+date+"/", nil); err != nil {
			return gone, err
		}
		gone = append(gone, date)
	}
	return gone, nil
}

var indexPage = template.Must(template.New("index").Funcs(template.FuncMap{
	"mib": func(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mqflux daily dumps</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left}td.n{text-align:right}tr.day td{border-top:1px solid #999;font-weight:bold}</style>
</head><body>
<h1>mqflux daily dumps</h1>
<p>One Parquet file per measurement and day; each day's manifest.json lists its files with row counts and SHA-256. Machine-readable: <a href="index.json">index.json</a>. Updated {{.Updated.Format "2006-01-02 15:04:05 UTC"}}.</p>
<table>
<tr><th>day / file</th><th>rows</th><th>size</th></tr>
{{range .Days}}<tr class="day"><td><a href="{{.Manifest}}">{{.Date}}</a></td><td class="n">{{.Rows}}</td><td class="n">{{mib .Bytes}}</td></tr>
{{range .Files}}<tr><td><a href="{{.Key}}">{{.Key}}</a></td><td class="n">{{.Rows}}</td><td class="n">{{mib .Bytes}}</td></tr>
{{end}}{{else}}<tr><td colspan="3">no days yet</td></tr>
{{end}}</table>
</body></html>
`))
