package dump

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A dump to a real S3-compatible server (SeaweedFS): the files, read
// back through S3 and by DuckDB, hold InfluxDB's count of the day, match
// the manifest's sha256, and a rerun replaces the day exactly.
func TestDumpToS3(t *testing.T) {
	weed := testenv.StartSeaweed(t, "dumps")
	for _, kv := range weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 300)
	day, _ := ParseDay("2026-12-05", berlin(t))
	target, err := ParseTarget(weed.URL("daily/site-a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := Run(ctx, Options{Source: from(db, 50), Target: target, Version: "test"}, day)
	if err != nil {
		t.Fatal(err)
	}
	b, err := target.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	local := t.TempDir()
	for _, f := range m.Files {
		data, err := b.ReadAll(ctx, "daily/site-a/"+f.Key)
		if err != nil {
			t.Fatalf("read back %s: %v", f.Key, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: sha256 differs from the manifest", f.Key)
		}
		path := filepath.Join(local, f.Measurement+".parquet")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := influxCount(t, db, f.Measurement, day)
		if got := duckCount(t, path); got != want || f.Rows != want {
			t.Errorf("%s: DuckDB %d rows, manifest %d, InfluxDB count(*) %d", f.Measurement, got, f.Rows, want)
		}
	}
	for _, key := range []string{"daily/site-a/2026-12-05/manifest.json", "daily/site-a/index.json", "daily/site-a/index.html"} {
		if ok, err := b.Exists(ctx, key); !ok || err != nil {
			t.Errorf("%s missing: %v", key, err)
		}
	}

	// A rerun of one measurement leaves that file and the manifest only.
	if _, err := Run(ctx, Options{Source: from(db, 0), Target: target, Measurements: []string{"board"}}, day); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, "daily/site-a/2026-12-05/temperature.parquet"); ok {
		t.Error("the rerun left temperature.parquet, which its manifest does not list")
	}
	if ok, _ := b.Exists(ctx, "daily/site-a/2026-12-05/board.parquet"); !ok {
		t.Error("the rerun's board.parquet is missing")
	}
}

// A store that refuses the credentials fails the dump with its reason;
// no manifest is written.
func TestDumpToS3RefusedBucket(t *testing.T) {
	weed := testenv.StartSeaweed(t, "dumps")
	for _, kv := range weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 5)
	day, _ := ParseDay("2026-12-05", berlin(t))
	target, _ := ParseTarget(strings.Replace(weed.URL("x"), "s3://dumps/", "s3://no-such-bucket/", 1))
	_, err := Run(context.Background(), Options{Source: from(db, 0), Target: target}, day)
	if err == nil {
		t.Fatal("a dump into a bucket that does not exist succeeded")
	}
	t.Logf("refused as expected: %v", err)
}
