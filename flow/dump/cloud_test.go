package dump

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/testenv"
)

// setEnv sets each KEY=value for the test.
func setEnv(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// dumpAndReadBack dumps the day fillDay wrote into url and reads it back
// through the store: each file's sha256 is the manifest's, DuckDB counts
// InfluxDB's rows of the day in it, and index.json lists the day with
// its files.
func dumpAndReadBack(t *testing.T, db *testenv.Influx, url, prefix string) {
	t.Helper()
	day, _ := ParseDay("2026-12-05", berlin(t))
	target, err := ParseTarget(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := Run(ctx, Options{Source: from(db, 50), Target: target, Version: "test"}, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 {
		t.Fatalf("manifest lists %+v, want temperature and board", m.Files)
	}
	b, err := target.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	local := t.TempDir()
	for _, f := range m.Files {
		data, err := b.ReadAll(ctx, prefix+f.Key)
		if err != nil {
			t.Fatalf("read back %s: %v", f.Key, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("%s: %d bytes, sha256 %x; the manifest says %d, %s", f.Key, len(data), sum, f.Bytes, f.SHA256)
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
	var stored Manifest
	data, err := b.ReadAll(ctx, prefix+"2026-12-05/"+ManifestName)
	if err == nil {
		err = json.Unmarshal(data, &stored)
	}
	if err != nil || stored.Rows() != m.Rows() || len(stored.Files) != 2 || stored.Files[0].SHA256 != m.Files[0].SHA256 {
		t.Errorf("stored manifest %+v (%v), want %+v", stored, err, m)
	}
	var idx Index
	data, err = b.ReadAll(ctx, prefix+"index.json")
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil || len(idx.Days) != 1 || idx.Days[0].Date != "2026-12-05" || idx.Days[0].Rows != m.Rows() || len(idx.Days[0].Files) != 2 {
		t.Errorf("index.json: %+v (%v)", idx, err)
	}
	if ok, err := b.Exists(ctx, prefix+"index.html"); !ok || err != nil {
		t.Errorf("index.html missing: %v", err)
	}
}

// A dump to Azure Blob Storage, on Microsoft's emulator (Azurite) with
// its development account's shared key.
func TestDumpToAzurite(t *testing.T) {
	az := testenv.StartAzurite(t, "dumps")
	setEnv(t, az.Env())
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 300)
	dumpAndReadBack(t, db, az.URL("daily/site-a"), "daily/site-a/")
}

// A wrong key is refused by the emulator: the dump fails with its reason
// and writes no manifest. gocloud's azblob opener reads the key from the
// environment once per process, so the dump runs in a child process of
// this test binary (wrongKeyChild), with the wrong key in its
// environment.
func TestDumpToAzuriteWrongKey(t *testing.T) {
	if os.Getenv(wrongKeyURL) != "" {
		wrongKeyChild(t)
		return
	}
	az := testenv.StartAzurite(t, "dumps")
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 5)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDumpToAzuriteWrongKey$", "-test.v")
	cmd.Env = append(os.Environ(), az.Env()...)
	cmd.Env = append(cmd.Env, "AZURE_STORAGE_KEY="+strings.Repeat("A", len(testenv.AzuriteKey)-2)+"==",
		wrongKeyURL+"="+az.URL("x"), wrongKeySource+"="+db.URL+" "+db.Bucket())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused: ") || !strings.Contains(string(out), "AuthorizationFailure") {
		t.Fatalf("child says %s; want the emulator's refusal", out)
	}
	// The first upload was refused: nothing was written, the manifest
	// least of all.
	ctx := context.Background()
	setEnv(t, az.Env())
	target, _ := ParseTarget(az.URL("x"))
	b, err := target.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ok, err := b.Exists(ctx, "x/2026-12-05/"+ManifestName); ok || err != nil {
		t.Errorf("a refused dump left a manifest (%v)", err)
	}
}

const (
	wrongKeyURL    = "MQFLUX_TEST_WRONG_KEY_URL"
	wrongKeySource = "MQFLUX_TEST_WRONG_KEY_SOURCE" // InfluxDB's URL and bucket
)

// wrongKeyChild dumps to the URL its parent gave, with the key its
// parent set, and says how the store answered.
func wrongKeyChild(t *testing.T) {
	target, err := ParseTarget(os.Getenv(wrongKeyURL))
	if err != nil {
		t.Fatal(err)
	}
	u, bucket, _ := strings.Cut(os.Getenv(wrongKeySource), " ")
	day, _ := ParseDay("2026-12-05", berlin(t))
	src := InfluxSource(influx.Endpoint{URL: u, API: influx.V1, Bucket: bucket}, 0)
	_, err = Run(context.Background(), Options{Source: src, Target: target}, day)
	if err == nil {
		t.Fatal("a dump with a wrong key succeeded")
	}
	t.Logf("refused: %v", err)
}

// A dump to Google Cloud Storage, on fake-gcs-server through
// STORAGE_EMULATOR_HOST; and a bucket that does not exist fails it.
func TestDumpToGCS(t *testing.T) {
	gcs := testenv.StartFakeGCS(t, "dumps")
	setEnv(t, gcs.Env())
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 300)
	dumpAndReadBack(t, db, gcs.URL("daily/site-a"), "daily/site-a/")

	day, _ := ParseDay("2026-12-05", berlin(t))
	target, _ := ParseTarget("gs://no-such-bucket/x")
	if _, err := Run(context.Background(), Options{Source: from(db, 0), Target: target}, day); err == nil {
		t.Error("a dump into a bucket that does not exist succeeded")
	}
}
