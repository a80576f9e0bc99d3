package pgwriter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/testenv"
)

// A batch becomes rows of one table per measurement, each field in its
// type, each tag a text column with device first; the same batch again,
// and a point repeated inside a batch, store nothing twice.
func TestWriteStoresRowsOnce(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	batch := records(
		fmt.Sprintf(`climate,device=pi-1,room=attic t=21.5,n=3i,ok=true,fw="1.2" %d`, t0),
		fmt.Sprintf(`climate,device=pi-2,room=attic t=19.25,n=4i,ok=false,fw="1.3" %d`, t0),
		fmt.Sprintf(`climate,device=pi-1,room=attic t=22,n=5i,ok=true,fw="1.2" %d`, t0+1000),
		fmt.Sprintf(`climate,device=pi-1,room=attic t=22,n=5i,ok=true,fw="1.2" %d`, t0+1000), // a resend in the batch
		fmt.Sprintf(`board,device=pi-1 uptime=86400u %d`, t0),
	)
	for round := 0; round < 2; round++ {
		if rej := write(t, w, batch); len(rej) != 0 {
			t.Fatalf("round %d rejected %v", round, rej)
		}
	}
	if got, want := columns(t, pg, "climate"),
		"time timestamp with time zone, device text, room text, fw text, n bigint, ok boolean, t double precision"; got != want {
		t.Errorf("climate columns:\n got %s\nwant %s", got, want)
	}
	if got, want := columns(t, pg, "board"), "time timestamp with time zone, device text, uptime bigint"; got != want {
		t.Errorf("board columns: got %s, want %s", got, want)
	}
	rows := pg.Query(t, `SELECT device, room, t, n, ok, fw, (extract(epoch FROM time)*1e6)::bigint FROM climate ORDER BY time, device`)
	want := []string{
		fmt.Sprintf("[pi-1 attic 21.5 3 true 1.2 %d]", t0/1000),
		fmt.Sprintf("[pi-2 attic 19.25 4 false 1.3 %d]", t0/1000),
		fmt.Sprintf("[pi-1 attic 22 5 true 1.2 %d]", t0/1000+1),
	}
	if len(rows) != len(want) {
		t.Fatalf("climate holds %d rows, want %d: %v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		if got := fmt.Sprint(r); got != want[i] {
			t.Errorf("row %d = %s, want %s", i, got, want[i])
		}
	}
	if !w.Up() {
		t.Error("Up() = false after stored writes")
	}
}

// A new field becomes a column, a new tag a column and part of the key
// (rebuilt NULLS NOT DISTINCT): points without the tag stay one series,
// points that differ only in it are two rows, and a resend of either is
// stored once.
func TestNewTagsAndFieldsBecomeColumns(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	write(t, w, records(fmt.Sprintf(`m,device=d value=1 %d`, t0)))
	first := keys(t, pg, "m")
	batch := records(
		fmt.Sprintf(`m,device=d value=2,extra=7i %d`, t0+1000),
		fmt.Sprintf(`m,device=d,site=north value=3 %d`, t0+1000),
		fmt.Sprintf(`m,device=d,site=south value=4 %d`, t0+1000),
	)
	for round := 0; round < 2; round++ {
		if rej := write(t, w, batch); len(rej) != 0 {
			t.Fatalf("rejected %v", rej)
		}
	}
	write(t, w, records(fmt.Sprintf(`m,device=d value=1 %d`, t0))) // the first point, resent
	if got, want := columns(t, pg, "m"), "time timestamp with time zone, device text, value double precision, site text, extra bigint"; got != want {
		t.Errorf("columns:\n got %s\nwant %s", got, want)
	}
	k := keys(t, pg, "m")
	if len(k) != 1 || !strings.Contains(k[0], "(\"time\", device, site) NULLS NOT DISTINCT") || len(first) != 1 || first[0] == k[0] {
		t.Errorf("key before %v, after %v: want one key over (time, device, site) NULLS NOT DISTINCT replacing the first", first, k)
	}
	if n := count(t, pg, "m"); n != 4 {
		t.Errorf("m holds %d rows, want 4: %v", n, pg.Query(t, "SELECT * FROM m ORDER BY time"))
	}
}

// A field arriving with another type than its column is refused with
// PostgreSQL's words and the rest of the batch is stored; a value
// PostgreSQL would convert is refused too, in mqflux's words.
func TestTypeConflictRejected(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	write(t, w, records(fmt.Sprintf(`temp,device=d value=1 %d`, t0)))
	var lines []string
	for i := 1; i <= 8; i++ {
		lines = append(lines, fmt.Sprintf(`temp,device=d value=%d.5 %d`, i, t0+int64(i)*1000))
	}
	lines[3] = fmt.Sprintf(`temp,device=d value="hot" %d`, t0+4000)
	lines[5] = fmt.Sprintf(`temp,device=d value=7i %d`, t0+6000)
	lines[7] = fmt.Sprintf(`temp,device=d value="cold" %d`, t0+8000)
	rej := write(t, w, records(lines...))
	if len(rej) != 3 || rej[0].Index != 3 || rej[1].Index != 5 || rej[2].Index != 7 || rej[2].Reason != rej[0].Reason {
		t.Fatalf("rejected %+v, want records 3, 5 and 7, 3 and 7 for the same reason", rej)
	}
	if r := rej[0].Reason; !strings.Contains(r, `column "value" is of type double precision but expression is of type text`) ||
		!strings.Contains(r, "SQLSTATE 42804") || !strings.Contains(r, `field "value" is double precision`) {
		t.Errorf("reason for a string into a double: %q, want PostgreSQL's words", r)
	}
	if r := rej[1].Reason; !strings.Contains(r, "bigint") || !strings.Contains(r, "keeps a column's type") {
		t.Errorf("reason for an integer into a double: %q", r)
	}
	if n := count(t, pg, "temp"); n != 6 {
		t.Errorf("temp holds %d rows, want 6", n)
	}
}

// A refusal the writer cannot foresee (here an operator's CHECK
// constraint) is bisected down to the refused point, dead-lettered with
// PostgreSQL's words; the rest is stored.
func TestUnforeseenRefusalBisected(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	write(t, w, records(fmt.Sprintf(`level,device=d value=1 %d`, t0)))
	pg.Exec(t, `ALTER TABLE level ADD CONSTRAINT sane CHECK (value < 1000)`)
	var lines []string
	for i := 1; i <= 33; i++ {
		v := i
		if i == 20 {
			v = 5000
		}
		lines = append(lines, fmt.Sprintf(`level,device=d value=%d %d`, v, t0+int64(i)*1000))
	}
	rej := write(t, w, records(lines...))
	if len(rej) != 1 || rej[0].Index != 19 || !strings.Contains(rej[0].Reason, `violates check constraint "sane"`) {
		t.Fatalf("rejected %+v, want record 19 with PostgreSQL's words", rej)
	}
	if n := count(t, pg, "level"); n != 33 {
		t.Errorf("level holds %d rows, want 33", n)
	}
}

// Names are quoted, never spliced: quotes, semicolons and SQL in a
// measurement, tag or field name make tables and columns of exactly that
// name. A name longer than PostgreSQL's 63 bytes is refused (PostgreSQL
// would truncate it, and two such names would share a table), 63 bytes
// are taken.
func TestHostileNames(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	pg.Exec(t, `CREATE TABLE victim (n int)`)
	long63, long64 := strings.Repeat("m", 63), strings.Repeat("m", 64)
	longA, longB := strings.Repeat("x", 64)+"a", strings.Repeat("x", 64)+"b"
	batch := records(
		fmt.Sprintf(`x";\ DROP\ TABLE\ victim;\ --,device=d,ta"g=v'1 "f;ld"=1 %d`, t0),
		fmt.Sprintf(`quote',device=d,"tag"=v value=2 %d`, t0),
		fmt.Sprintf(`%s,device=d value=3 %d`, long63, t0),
		fmt.Sprintf(`%s,device=d value=4 %d`, long64, t0),
		fmt.Sprintf(`ok,device=d %s=5 %d`, longA, t0),
		fmt.Sprintf(`ok,device=d,%s=x value=6 %d`, longB, t0),
		fmt.Sprintf(`ok,device=d time=7 %d`, t0),
		fmt.Sprintf(`ok,device=d value="nul\x00byte" %d`, t0),
		fmt.Sprintf(`ökö\ m,device=d value=8 %d`, t0),
		fmt.Sprintf(`mqflux_stage,device=d value=9 %d`, t0), // the staging table's name
	)
	batch[7] = []byte(strings.Replace(string(batch[7]), `\x00`, "\x00", 1))
	rej := write(t, w, batch)
	want := map[int]string{
		3: "measurement name", 4: "field name", 5: "tag name", 6: "name of the time column", 7: "NUL byte",
	}
	if len(rej) != len(want) {
		t.Errorf("rejected %+v, want records 3 to 7", rej)
	}
	for _, r := range rej {
		if w, ok := want[r.Index]; !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("record %d rejected for %q, want %q", r.Index, r.Reason, w)
		}
		if r.Index == 3 && !strings.Contains(r.Reason, "at most 63") {
			t.Errorf("long name refused as %q, want the limit named", r.Reason)
		}
	}
	pg.Query(t, `SELECT n FROM victim`) // still there
	for table, cols := range map[string]string{
		`x"; DROP TABLE victim; --`: `time timestamp with time zone, device text, ta"g text, "f;ld" double precision`,
		`quote'`:                    `time timestamp with time zone, device text, "tag" text, value double precision`,
		long63:                      `time timestamp with time zone, device text, value double precision`,
		`ökö m`:                     `time timestamp with time zone, device text, value double precision`,
		`mqflux_stage`:              `time timestamp with time zone, device text, value double precision`,
	} {
		if got := columns(t, pg, table); got != cols {
			t.Errorf("table %q columns:\n got %s\nwant %s", table, got, cols)
		}
		if n := count(t, pg, table); n != 1 {
			t.Errorf("table %q holds %d rows, want 1", table, n)
		}
	}
	if rows := pg.Query(t, `SELECT 1 FROM information_schema.tables WHERE table_name = 'ok'`); len(rows) != 0 {
		t.Errorf("table ok exists, though every point of it was refused")
	}
}

// PostgreSQL down: Write fails (the pipeline retries), Up is false and the
// last error says why; once it is back the same batch is stored, once.
func TestOutageThenRecovery(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg, func(c *Config) { c.Timeout = 5 * time.Second })
	batch := records(fmt.Sprintf(`out,device=d value=1 %d`, t0))
	write(t, w, batch)
	pg.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.Write(ctx, records(fmt.Sprintf(`out,device=d value=2 %d`, t0+1000))); err == nil {
		t.Fatal("Write succeeded with PostgreSQL stopped")
	}
	if w.Up() {
		t.Error("Up() = true with PostgreSQL stopped")
	}
	msg, at := w.LastError()
	if msg == "" || at.IsZero() || strings.Contains(msg, pg.Password()) {
		t.Errorf("LastError = %q at %v: want a reason, without the password", msg, at)
	}
	if st := w.Stats(); st.Retries["network"]+st.Retries["busy"] == 0 {
		t.Errorf("Stats = %+v, want the failure counted", st)
	}
	pg.Start(t)
	// The pipeline offers a batch again until it is settled; a connection
	// of the pool from before the restart may fail the first attempt.
	retryWrite(t, w, records(fmt.Sprintf(`out,device=d value=2 %d`, t0+1000)))
	retryWrite(t, w, batch)
	if n := count(t, pg, "out"); n != 2 || !w.Up() {
		t.Errorf("out holds %d rows after recovery (up %v), want 2", n, w.Up())
	}
}

// Writers of several processes (here: several Writers with their own
// pools) add tags and fields to one table at once; each learns what the
// others did and nothing is lost. A new Writer on existing tables learns
// them from the catalog.
func TestConcurrentWritersAndRestart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	const writers, points = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		w := newWriter(t, pg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < points; j++ {
				line := fmt.Sprintf(`shared,device=d%d,tag%d=x f%d=%di,value=1 %d`, i, j%3, j%5, j, t0+int64(j)*1000)
				// Retried as the pipeline retries: a schema change of
				// another writer may cost an attempt (a deadlock or
				// lock timeout PostgreSQL breaks), never a reading.
				var rej []output.Rejected
				var err error
				for attempt := 0; attempt < 20; attempt++ {
					if rej, err = w.Write(context.Background(), records(line)); err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil || len(rej) != 0 {
					errs <- fmt.Errorf("writer %d point %d: %v %v", i, j, err, rej)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, pg, "shared"); n != writers*points {
		t.Errorf("shared holds %d rows, want %d", n, writers*points)
	}
	if k := keys(t, pg, "shared"); len(k) != 1 || !strings.Contains(k[0], `("time", device, tag0, tag1, tag2)`) &&
		!strings.Contains(k[0], "tag0") {
		t.Errorf("keys %v, want one over time, device and every tag", k)
	}
	fresh := newWriter(t, pg)
	write(t, fresh, records(fmt.Sprintf(`shared,device=d0,tag0=x f0=0i,value=1 %d`, t0)))
	if n := count(t, pg, "shared"); n != writers*points {
		t.Errorf("a new writer's resend made %d rows, want %d", n, writers*points)
	}
}
