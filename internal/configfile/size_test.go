package configfile

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  string
	}{
		{in: "65536", want: 65536},
		{in: "64KiB", want: 64 << 10},
		{in: " 512 MiB ", want: 512 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "10KB", want: 10_000},
		{in: "3MB", want: 3_000_000},
		{in: "1GB", want: 1_000_000_000},
		{in: "256B", want: 256},
		{in: "huge", err: "want a size"},
		{in: "-1", err: "want a size"},
		{in: "1.5GiB", err: "want a size"},
		{in: "99999999TiB", err: "too large"},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSize(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	for z, want := range map[Size]string{
		0: "0", 256: "256", 1 << 10: "1KiB", 64 << 20: "64MiB", 1 << 30: "1GiB", 1 << 40: "1TiB", 1000: "1000", 1536: "1536",
	} {
		if got := z.String(); got != want {
			t.Errorf("Size(%d) = %q, want %q", int64(z), got, want)
		}
		if back, err := ParseSize(want); err != nil || back != z {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", want, back, err, int64(z))
		}
	}
}
