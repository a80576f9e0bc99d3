package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // -timezone works on machines without a zone database

	"golang.org/x/term"

	"github.com/mqflux/mqflux/flow/dump"
)

// stringList is a flag given once per value.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runDump writes one day of readings from the first output to blob
// storage as Parquet, with a manifest, and updates the index.
func runDump(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dump", stderr)
	path := fs.String("config", "", "configuration file: the first output is read (default: built-in defaults)")
	date := fs.String("date", "", "the day to dump, YYYY-MM-DD (default: yesterday in -timezone)")
	to := fs.String("to", "", "blob storage URL: file:///dir, s3://bucket/prefix?region=&endpoint=&use_path_style=true,\ngs://bucket/prefix, azblob://container/prefix (default: dumps.to of the configuration)")
	tz := fs.String("timezone", "", "time zone of the day (default: dumps.timezone of the configuration, UTC)")
	var measurements stringList
	fs.Var(&measurements, "measurement", "dump only this measurement (repeat for more; default: dumps.measurements, or all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	d := cfg.Dumps
	if *to != "" {
		d.To = *to
	}
	if *tz != "" {
		d.Timezone = *tz
	}
	if len(measurements) > 0 {
		d.Measurements = measurements
	}
	if d.To == "" {
		return fmt.Errorf("no -to (nor dumps.to in the configuration): %w", errUsage)
	}
	loc, err := time.LoadLocation(d.Timezone)
	if err != nil {
		return fmt.Errorf("-timezone %q: %w", d.Timezone, err)
	}
	day := dump.DayOf(time.Now(), loc).Prev()
	if *date != "" {
		if day, err = dump.ParseDay(*date, loc); err != nil {
			return fmt.Errorf("-date: %w", err)
		}
	}
	target, err := dump.ParseTarget(d.To)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	primary := cfg.Primary()
	src, ok := dump.SourceOf(primary.Config)
	if !ok {
		return fmt.Errorf("the first output (%s, kind %s) answers neither InfluxQL nor SQL; dumps read from it", primary.Name, primary.Kind)
	}
	bar := newProgressBar(stderr)
	start := time.Now()
	m, err := dump.Run(ctx, dump.Options{Source: src, Target: target, Measurements: d.Measurements,
		Version: version, Progress: bar.update}, day)
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dumped %s (%s): %d files, %d rows, %d bytes to %s in %.1fs\n",
		m.Date, m.Timezone, len(m.Files), m.Rows(), m.Bytes(), target.Shown, time.Since(start).Seconds())
	return nil
}

// progressBar draws the dump's progress on a terminal, and nothing
// elsewhere (the summary line says it all in a log).
type progressBar struct {
	w    io.Writer
	on   bool
	last time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	return &progressBar{w: w, on: ok && term.IsTerminal(int(f.Fd()))}
}

func (b *progressBar) update(p dump.Progress) {
	if !b.on || (!p.Done && time.Since(b.last) < 100*time.Millisecond) {
		return
	}
	b.last = time.Now()
	const width = 30
	done := p.Index - 1
	if p.Done {
		done = p.Index
	}
	fill := width * done / max(p.Total, 1)
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d %-24.24s %12d rows\x1b[K", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		done, p.Total, p.Measurement, p.Rows)
}

func (b *progressBar) finish() {
	if b.on {
		fmt.Fprintln(b.w)
	}
}
