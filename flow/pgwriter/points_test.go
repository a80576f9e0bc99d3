package pgwriter

import (
	"strings"
	"testing"
	"time"
)

// Records become points with typed fields and microsecond times; what
// PostgreSQL cannot hold whole is refused with what and where.
func TestDecode(t *testing.T) {
	now := time.Unix(100, 0)
	pts, err := decode(7, []byte("m,device=d,b=x f=1.5,i=-2i,u=3u,ok=true,s=\"hi\" 1795456800123456789\nm,device=e f=2\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].rec != 7 || pts[0].table != "m" || pts[0].tags["b"] != "x" {
		t.Fatalf("points = %+v", pts)
	}
	f := pts[0].fields
	if f["f"] != 1.5 || f["i"] != int64(-2) || f["u"] != int64(3) || f["ok"] != true || f["s"] != "hi" {
		t.Errorf("fields = %#v", f)
	}
	if got := pts[0].time.UnixNano(); got != 1795456800123456000 {
		t.Errorf("time = %d, want truncated to the microsecond", got)
	}
	if !pts[1].time.Equal(now) {
		t.Errorf("time of a line without one = %v, want now", pts[1].time)
	}
	for _, tc := range []struct{ line, want string }{
		{"", "empty record"},
		{"m f=", "line 1"},
		{strings.Repeat("m", 64) + " f=1", "at most 63"},
		{"m " + strings.Repeat("f", 64) + "=1", "field name"},
		{"m,time=x f=1", "time column"},
		{"m,k=v k=1", "name of a tag"},
		{"m u=18446744073709551615u", "beyond bigint"},
		{"m s=\"a\x00b\"", "NUL byte"},
		{"m,t=\xff\xfe f=1", "utf-8"},
	} {
		if _, err := decode(0, []byte(tc.line+"\n"), now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode(%q) = %v, want %q", tc.line, err, tc.want)
		}
	}
}
