// Package dump writes one day of readings from the first output to blob
// storage as Parquet, one file per measurement, with a manifest: `mqflux
// dump` does one day, the Scheduler in `mqflux serve` the previous day
// every day.
//
// A day is [00:00, next 00:00) in a time zone. The rows come from a
// Source: InfluxSource reads InfluxQL's /query with chunked=true, one
// chunk at a time; flow/pgwriter's reads its tables in SQL, a row at a
// time from the server. They are written into the store as they come, a
// row group at a time, so memory stays bounded however large the day,
// and a day has the same files, columns and types from either store.
//
// Readers never see half a file: each file is one upload that becomes
// visible only once complete (fileblob renames a finished temporary file;
// S3 shows an object after its single PUT or its completed multipart
// upload; GCS and Azure likewise). The data files are written first and
// the day's manifest.json last, so a manifest names only files that are
// whole; then the files of an earlier run of the day that this run did
// not write are deleted, so that a rerun replaces the day exactly. Last,
// index.json and index.html under the prefix list every day.
package dump

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"gocloud.dev/blob"
)

// Options says what to dump and where.
type Options struct {
	// Source is the store read from (the first output's: SourceOf).
	Source Source
	// Target is where the days go.
	Target Target
	// Measurements limits the dump; every measurement when empty.
	Measurements []string
	// Version is mqflux's version, written into each manifest.
	Version string
	// Progress, when set, hears of each measurement and of rows as they
	// are written.
	Progress func(Progress)
	Log      *slog.Logger
}

// Progress is where a dump stands.
type Progress struct {
	Measurement string
	Index       int // of the measurement, from 1
	Total       int // measurements
	Rows        int64
	Done        bool // the measurement is written
}

// Run dumps day into o.Target and updates the index. It returns the
// day's manifest.
func Run(ctx context.Context, o Options, day Day) (Manifest, error) {
	b, err := o.Target.Open(ctx)
	if err != nil {
		return Manifest{}, err
	}
	defer b.Close()
	m, err := dumpDay(ctx, b, o, day)
	if err != nil {
		return m, err
	}
	if _, err := WriteIndex(ctx, b, o.Target.Prefix); err != nil {
		return m, err
	}
	return m, nil
}

func dumpDay(ctx context.Context, b *blob.Bucket, o Options, day Day) (Manifest, error) {
	src := o.Source
	names := o.Measurements
	if len(names) == 0 {
		var err error
		if names, err = src.Measurements(ctx); err != nil {
			return Manifest{}, fmt.Errorf("list measurements: %w", err)
		}
	}
	m := Manifest{Date: day.Date, Timezone: day.Start.Location().String(), Start: day.Start, End: day.End,
		MQFluxVersion: o.Version, Files: []File{}}
	dir := o.Target.dayDir(day.Date)
	keep := map[string]bool{dir + ManifestName: true}
	for i, name := range names {
		p := Progress{Measurement: name, Index: i + 1, Total: len(names)}
		f, err := dumpMeasurement(ctx, b, src, o, day, name, dir, p)
		if err != nil {
			return m, fmt.Errorf("dump %s of %s: %w", name, day.Date, err)
		}
		if f.Rows > 0 {
			keep[o.Target.Prefix+f.Key] = true
			m.Files = append(m.Files, f)
		}
	}
	m.Created = time.Now().UTC()
	if err := putJSON(ctx, b, dir+ManifestName, m); err != nil {
		return m, err
	}
	gone, err := deleteStale(ctx, b, dir, keep)
	if err != nil {
		return m, err
	}
	if len(gone) > 0 && o.Log != nil {
		o.Log.Info("dump: removed files of an earlier run of the day", "date", day.Date, "files", gone)
	}
	return m, nil
}

// reportEvery is how many rows pass between two reports of progress.
const reportEvery = 4096

// dumpMeasurement streams one measurement's rows of day into its file.
// The upload begins with the first row: a measurement without rows that
// day has no file (and its earlier file, if any, goes as stale).
func dumpMeasurement(ctx context.Context, b *blob.Bucket, src Source, o Options, day Day, name, dir string, p Progress) (File, error) {
	// A '/' in a measurement's name would make a folder of it (or climb
	// out of the day's with "../").
	base := strings.ReplaceAll(name, "/", "%2F") + ".parquet"
	f := File{Measurement: name, Key: day.Date + "/" + base}
	sc, err := src.Schema(ctx, name)
	if err != nil || len(sc.Fields) == 0 {
		return f, err
	}
	var up *upload
	var tab *table
	failed := true
	defer func() {
		if failed && up != nil {
			up.abort()
		}
	}()
	report := func(done bool) {
		if o.Progress != nil {
			p.Rows, p.Done = f.Rows, done
			o.Progress(p)
		}
	}
	report(false)
	err = src.Rows(ctx, name, sc, day, func(row []parquet.Value) error {
		if tab == nil {
			if up, err = newUpload(ctx, b, dir+base, "application/vnd.apache.parquet"); err != nil {
				return err
			}
			if tab, err = newTable(up, sc, o.Version); err != nil {
				return err
			}
		}
		if err := tab.add(row); err != nil {
			return err
		}
		if tab.rows%reportEvery == 0 {
			f.Rows = tab.rows
			report(false)
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	if tab == nil {
		report(true)
		failed = false
		return f, nil
	}
	if err := tab.close(); err != nil {
		return f, err
	}
	failed = false
	if err := up.Close(); err != nil {
		return f, fmt.Errorf("write %s: %w", dir+base, err)
	}
	f.Rows, f.Bytes, f.SHA256, f.Columns = tab.rows, up.n, up.sha256(), tab.columns()
	report(true)
	return f, nil
}

// describe is a manifest's summary for logs.
func describe(m Manifest) []any {
	return []any{"date", m.Date, "files", len(m.Files), "rows", m.Rows(), "bytes", m.Bytes()}
}
