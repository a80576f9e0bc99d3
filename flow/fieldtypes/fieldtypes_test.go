package fieldtypes

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mqflux/mqflux/flow/point"
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

// confirmed builds a Relearn answer from "measurement field=kind" words.
func confirmed(t testing.TB, words ...string) []Field {
	t.Helper()
	var out []Field
	for _, w := range words {
		m, fk, _ := strings.Cut(w, " ")
		f, name, _ := strings.Cut(fk, "=")
		k, ok := ParseKind(name)
		if !ok {
			t.Fatalf("kind %q", name)
		}
		out = append(out, Field{Measurement: m, Field: f, Kind: k})
	}
	return out
}

// TestCheck: readings against a store the output taught (confirmed) and
// earlier readings taught (provisional).
func TestCheck(t *testing.T) {
	cases := []struct {
		name      string
		confirmed []string   // the output's answer before the readings
		readings  [][]string // each reading's points, in order
		want      []string   // per reading: "" admitted, else the conflict's text
	}{
		{"a confirmed type is enforced", []string{"t value=float"}, [][]string{{"t value=float"}, {"t value=string"}},
			[]string{"", `field "value" of measurement "t" is float, this reading has string`}},
		{"a provisional type is not", nil, [][]string{{"t value=float"}, {"t value=float"}, {"t value=string"}, {"t value=float"}},
			[]string{"", "", "", ""}},
		{"a reading cannot shut a field the output holds", []string{"t value=float"}, [][]string{{"t other=string"}, {"t value=float"}},
			[]string{"", ""}},
		{"measurements are apart", []string{"t value=float"}, [][]string{{"h value=string"}, {"h value=string"}},
			[]string{"", ""}},
		{"a refused reading teaches nothing", []string{"t value=float"}, [][]string{{"t value=integer note=string"}, {"t note=boolean"}},
			[]string{`is float, this reading has integer`, ""}},
		{"two points of one reading disagree", nil, [][]string{{"t v=float", "t v=integer"}, {"t v=integer"}},
			[]string{`field "v" of measurement "t" is float, this reading has integer`, ""}},
		{"two points of a known field disagree", []string{"t v=float"}, [][]string{{"t v=integer", "t v=float"}},
			[]string{`field "v" of measurement "t" is integer, this reading has float`}},
		{"two points of one reading agree", nil, [][]string{{"t v=float", "u v=string", "t v=float"}, {"u v=string"}},
			[]string{"", ""}},
		{"every field is checked", []string{"t a=float", "t b=boolean"}, [][]string{{"t a=float b=string"}},
			[]string{`field "b" of measurement "t" is boolean, this reading has string`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(0)
			s.Relearn(confirmed(t, tc.confirmed...))
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

// TestTransitions: how one field's type moves between unknown,
// provisional and confirmed, step by step: a reading (check), the output's
// answer to SHOW FIELD KEYS (relearn), a write the output accepted
// (confirm).
func TestTransitions(t *testing.T) {
	type step struct {
		op   string // "check", "relearn", "confirm"
		arg  string // check, confirm: "kind"; relearn: "kind", or "" for an answer without the field
		want string // after the step: "", "provisional KIND" or "confirmed KIND"
		// check: whether the reading is refused; relearn: whether the
		// field counts as corrected.
		flag bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a reading teaches a provisional type", []step{
			{"check", "float", "provisional float", false},
		}},
		{"the output confirms a provisional type", []step{
			{"check", "float", "provisional float", false},
			{"relearn", "float", "confirmed float", false},
			{"check", "string", "confirmed float", true},
		}},
		{"the output replaces a provisional type it contradicts", []step{
			{"check", "string", "provisional string", false},
			{"check", "float", "provisional string", false}, // admitted: the output decides
			{"relearn", "float", "confirmed float", true},
			{"check", "float", "confirmed float", false},
			{"check", "string", "confirmed float", true},
		}},
		{"a provisional type the output does not hold yet stays provisional", []step{
			{"check", "string", "provisional string", false},
			{"relearn", "", "provisional string", false},
			{"check", "float", "provisional string", false},
		}},
		{"a write the output accepted confirms", []step{
			{"check", "integer", "provisional integer", false},
			{"confirm", "integer", "confirmed integer", false},
			{"check", "float", "confirmed integer", true},
		}},
		{"a write the output accepted corrects", []step{
			{"check", "string", "provisional string", false},
			{"confirm", "float", "confirmed float", false},
			{"check", "string", "confirmed float", true},
		}},
		{"a confirmed type the output no longer holds is provisional again", []step{
			{"relearn", "float", "confirmed float", false},
			{"relearn", "", "provisional float", false},
			{"check", "string", "provisional float", false},
			{"relearn", "string", "confirmed string", true},
		}},
		{"the output changed a confirmed type", []step{
			{"relearn", "float", "confirmed float", false},
			{"relearn", "boolean", "confirmed boolean", true},
			{"check", "float", "confirmed boolean", true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(0)
			for i, st := range tc.steps {
				switch st.op {
				case "check":
					c := s.Check(set(t, "m f="+st.arg))
					if (c != nil) != st.flag {
						t.Fatalf("step %d: check %s: conflict %v, want refused %v", i, st.arg, c, st.flag)
					}
				case "relearn":
					answer := confirmed(t, "other x=float")
					if st.arg != "" {
						answer = append(answer, confirmed(t, "m f="+st.arg)...)
					}
					u := s.Relearn(answer)
					corrected := false
					for _, f := range u.Corrected {
						corrected = corrected || (f.Measurement == "m" && f.Field == "f")
					}
					if corrected != st.flag {
						t.Fatalf("step %d: relearn %q: corrected %v, want %v", i, st.arg, u.Corrected, st.flag)
					}
				case "confirm":
					k, _ := ParseKind(st.arg)
					s.Confirm("m", "f", k)
				}
				got := ""
				if k, conf, ok := s.State("m", "f"); ok {
					got = "provisional " + KindName(k)
					if conf {
						got = "confirmed " + KindName(k)
					}
				}
				if got != st.want {
					t.Fatalf("step %d (%s %s): %q, want %q", i, st.op, st.arg, got, st.want)
				}
			}
		})
	}
}

func TestRelearnCounts(t *testing.T) {
	s := New(0)
	s.Check(set(t, "m a=float b=string"))
	if p := s.Provisional(); p != 2 {
		t.Fatalf("%d provisional, want 2", p)
	}
	u := s.Relearn(confirmed(t, "m a=float", "m b=float", "m b=string", "n c=integer"))
	if len(u.Confirmed) != 3 || len(u.Corrected) != 1 || u.Corrected[0].Field != "b" || u.Demoted != 0 {
		t.Fatalf("update %+v, want a, b and c confirmed, b corrected (the first type named wins)", u)
	}
	if p := s.Provisional(); p != 0 {
		t.Fatalf("%d provisional, want 0", p)
	}
	if u := s.Relearn(confirmed(t, "m a=float", "m b=float", "n c=integer")); len(u.Confirmed)+len(u.Corrected)+u.Demoted != 0 {
		t.Fatalf("the same answer again changed %+v", u)
	}
	if u := s.Relearn(nil); u.Demoted != 3 || s.Provisional() != 3 {
		t.Fatalf("an empty answer: %+v, %d provisional; want all 3 demoted", u, s.Provisional())
	}
}

func TestParseConflict(t *testing.T) {
	c := newConflict(`we"ird m`, "va lue", point.String, point.Float)
	got, ok := ParseConflict(c.Error())
	if !ok || got != *c {
		t.Fatalf("ParseConflict(%q) = %+v, %v; want %+v", c.Error(), got, ok, *c)
	}
	for _, bad := range []string{"", "field", `field "v" of measurement "m" is float`, `field "v" of measurement "m" is real, this reading has float`, "no such device"} {
		if _, ok := ParseConflict(bad); ok {
			t.Errorf("ParseConflict(%q) parsed", bad)
		}
	}
}

// A conflict keeps its names after the reading's buffers are reused.
func TestConflictOwnsItsNames(t *testing.T) {
	s := New(0)
	s.Confirm("temp", "value", point.Float)
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
	s.Confirm("t", "a", point.Float)
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

// Readings racing to bring a new field with two types while the output
// confirms one: every reading is admitted until the output's answer, and
// after it exactly the output's type is.
func TestConcurrentProvisionalThenConfirmed(t *testing.T) {
	s := New(0)
	kinds := []string{"float", "string"}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if c := s.Check(set(t, fmt.Sprintf("m f%d=%s", i%10, kinds[(g+i)%2]))); c != nil {
					t.Errorf("refused with no confirmed type: %v", c)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s.Provisional() != 10 {
		t.Fatalf("%d provisional, want 10", s.Provisional())
	}
	var answer []Field
	for f := 0; f < 10; f++ {
		answer = append(answer, Field{Measurement: "m", Field: fmt.Sprintf("f%d", f), Kind: point.String})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Relearn(answer)
	}()
	for i := 0; i < 100; i++ {
		s.Check(set(t, fmt.Sprintf("m f%d=float", i%10)))
	}
	<-done
	for f := 0; f < 10; f++ {
		if c := s.Check(set(t, fmt.Sprintf("m f%d=float", f))); c == nil {
			t.Fatalf("f%d: float admitted after the output confirmed string", f)
		}
		if c := s.Check(set(t, fmt.Sprintf("m f%d=string", f))); c != nil {
			t.Fatalf("f%d: the output's type refused: %v", f, c)
		}
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
