package dump

import (
	"testing"
	"time"
)

func TestDayBounds(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		date       string
		loc        *time.Location
		start, end string // UTC
	}{
		{"2026-12-05", time.UTC, "2026-12-05T00:00:00Z", "2026-12-06T00:00:00Z"},
		{"2026-12-05", loc, "2026-12-04T23:00:00Z", "2026-12-05T23:00:00Z"},
		{"2026-03-29", loc, "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"}, // 23 hours: summer time begins
		{"2026-10-25", loc, "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"}, // 25 hours: summer time ends
	}
	for _, tc := range tests {
		d, err := ParseDay(tc.date, tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Start.UTC().Format(time.RFC3339); got != tc.start {
			t.Errorf("%s in %s starts %s, want %s", tc.date, tc.loc, got, tc.start)
		}
		if got := d.End.UTC().Format(time.RFC3339); got != tc.end {
			t.Errorf("%s in %s ends %s, want %s", tc.date, tc.loc, got, tc.end)
		}
		if DayOf(d.Start, tc.loc).Date != tc.date || DayOf(d.End, tc.loc).Date == tc.date || DayOf(d.End.Add(-1), tc.loc).Date != tc.date {
			t.Errorf("%s: midnight belongs to the day it starts", tc.date)
		}
		if d.Next().Prev().Date != tc.date {
			t.Errorf("%s: Next().Prev() = %s", tc.date, d.Next().Prev().Date)
		}
	}
}

func TestParseDayRefuses(t *testing.T) {
	for _, s := range []string{"", "2026-13-01", "2026-02-30", "05.12.2026", "2026-12-5", "2026-12-05T00:00:00Z", "../etc"} {
		if _, err := ParseDay(s, time.UTC); err == nil {
			t.Errorf("ParseDay(%q) took it", s)
		}
	}
}

func TestDue(t *testing.T) {
	d, _ := ParseDay("2026-12-05", time.UTC)
	at, err := ParseAt("00:15")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Due(at).Format(time.RFC3339); got != "2026-12-06T00:15:00Z" {
		t.Errorf("due %s", got)
	}
	for _, bad := range []string{"", "24:00", "7", "00:60", "noon"} {
		if _, err := ParseAt(bad); err == nil {
			t.Errorf("ParseAt(%q) took it", bad)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, bucket, prefix string
		ok                 bool
	}{
		{"file:///srv/dumps", "file:///srv/dumps?create_dir=true&metadata=skip&no_tmp_dir=true", "", true},
		{"s3://bkt/daily/x?endpoint=http://127.0.0.1:9000&use_path_style=true", "s3://bkt?endpoint=http://127.0.0.1:9000&use_path_style=true", "daily/x/", true},
		{"s3://bkt", "s3://bkt", "", true},
		{"gs://bkt/a/", "gs://bkt", "a/", true},
		{"azblob://c/p", "azblob://c", "p/", true},
		{"s3:///nobucket", "", "", false},
		{"file://", "", "", false},
		{"http://example.com/x", "", "", false},
		{"/srv/dumps", "", "", false},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if tc.ok && (got.Bucket != tc.bucket || got.Prefix != tc.prefix) {
			t.Errorf("ParseTarget(%q) = %q %q, want %q %q", tc.in, got.Bucket, got.Prefix, tc.bucket, tc.prefix)
		}
	}
}
