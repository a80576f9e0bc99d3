package fieldtypes

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mqflux/mqflux/bridge/point"
)

// set builds one reading's points from "measurement field=kind ..." lines,
// kinds named as InfluxDB names them.
func set(t testing.TB, lines ...string) *point.Set {
	t.Helper()
	var s point.Set
	for _, l := range lines {
		words := strings.Fields(l)
		s.Begin(words[0], 0)
		for _, w := range words[1:] {
			k, name, _ := strings.Cut(w, "=")
			kind, ok := ParseKind(name)
			if !ok {
				t.Fatalf("kind %q", name)
			}
			s.Field(point.Field{Key: k, Kind: kind})
		}
	}
	return &s
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		readings [][]string // each reading's points, in order
		want     []string   // per reading: "" admitted, else the conflict's text
	}{
		{"first type wins", [][]string{{"t value=float"}, {"t value=float"}, {"t value=string"}},
			[]string{"", "", `field "value" of measurement "t" is float, this reading has string`}},
		{"measurements are apart", [][]string{{"t value=float"}, {"h value=string"}, {"h value=string"}},
			[]string{"", "", ""}},
		{"a refused reading teaches nothing", [][]string{{"t value=float"}, {"t value=integer note=string"}, {"t note=boolean"}},
			[]string{"", `is float, this reading has integer`, ""}},
		{"two points of one reading disagree", [][]string{{"t v=float", "t v=integer"}, {"t v=integer"}},
			[]string{`field "v" of measurement "t" is float, this reading has integer`, ""}},
		{"two points of one reading agree", [][]string{{"t v=float", "u v=string", "t v=float"}, {"u v=string"}},
			[]string{"", ""}},
		{"every field is checked", [][]string{{"t a=float b=boolean"}, {"t a=float b=string"}},
			[]string{"", `field "b" of measurement "t" is boolean, this reading has string`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(0)
			for i, r := range tc.readings {
				c := s.Check(set(t, r...))
				switch {
				case tc.want[i] == "" && c != nil:
					t.Fatalf("reading %d refused: %v", i, c)
				case tc.want[i] != "" && c == nil:
					t.Fatalf("reading %d admitted, want %q", i, tc.want[i])
				case c != nil && !strings.Contains(c.Error(), tc.want[i]):
					t.Fatalf("reading %d: %q, want %q", i, c.Error(), tc.want[i])
				}
			}
		})
	}
}

// A conflict keeps its names after the reading's buffers are reused.
func TestConflictOwnsItsNames(t *testing.T) {
	s := New(0)
	s.Learn("temp", "value", point.Float)
	pts := set(t, "temp value=string")
	c := s.Check(pts)
	if c == nil {
		t.Fatal("admitted")
	}
	pts.Reset()
	pts.Begin("xxxx", 0)
	pts.Field(point.Field{Key: "yyyyy"})
	if c.Measurement != "temp" || c.Field != "value" || c.Known != point.Float || c.Got != point.String {
		t.Fatalf("conflict %+v", c)
	}
}

func TestFullStoreLetsNewFieldsThrough(t *testing.T) {
	s := New(2)
	if c := s.Check(set(t, "t a=float b=float c=float")); c != nil {
		t.Fatal(c)
	}
	if s.Len() != 2 {
		t.Fatalf("%d pairs known, max 2", s.Len())
	}
	// Known fields are still checked; unknown ones pass and are counted.
	if c := s.Check(set(t, "t a=string")); c == nil {
		t.Fatal("a known field's conflict admitted when the store is full")
	}
	if c := s.Check(set(t, "t d=string")); c != nil {
		t.Fatal(c)
	}
	if s.Len() != 2 {
		t.Fatalf("%d pairs known, max 2", s.Len())
	}
	if got := counterValue(t, s); got != 2 { // c at first, then d
		t.Fatalf("unchecked counter %v, want 2", got)
	}
}

// Readings racing to bring a new field with two types: exactly one type
// wins, and every reading of the other is refused.
func TestConcurrentFirstTypeWins(t *testing.T) {
	s := New(0)
	kinds := []string{"float", "string"}
	admitted := make([]int, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := (g + i) % 2
				if s.Check(set(t, fmt.Sprintf("m f%d=%s", i%10, kinds[k]))) == nil {
					mu.Lock()
					admitted[k]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for f := 0; f < 10; f++ {
		k, ok := s.Kind("m", fmt.Sprintf("f%d", f))
		if !ok {
			t.Fatalf("f%d not learnt", f)
		}
		if c := s.Check(set(t, fmt.Sprintf("m f%d=%s", f, KindName(k)))); c != nil {
			t.Fatalf("the type learnt for f%d is refused: %v", f, c)
		}
	}
	// Each field had 80 readings of each type: the 80 of the winner pass.
	if admitted[0]+admitted[1] != 800 {
		t.Fatalf("admitted %v of 1600 readings, want 800: the winning type's", admitted)
	}
}

func TestKindNames(t *testing.T) {
	for _, name := range []string{"float", "integer", "unsigned", "boolean", "string"} {
		k, ok := ParseKind(name)
		if !ok || KindName(k) != name {
			t.Errorf("%s: parsed as %v (%v), named %s", name, k, ok, KindName(k))
		}
	}
	if _, ok := ParseKind("double"); ok {
		t.Error("double parsed")
	}
}
