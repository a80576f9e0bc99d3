package loglimit

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// clock is a time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(maxKeys int) (*Limiter, *clock, *bytes.Buffer) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1_000_000, 0)}
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	return newLimiter(log, time.Minute, maxKeys, c.now), c, &buf
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name string
		run  func(l *Limiter, c *clock)
		want []string
	}{
		{"first line of a key only, count when the window ends", func(l *Limiter, c *clock) {
			for range 1000 {
				l.Warn("a", "denied", "client_id", "a")
			}
			c.t = c.t.Add(time.Minute)
			l.sweep(c.t, false)
		}, []string{
			`level=WARN msg=denied client_id=a`,
			`level=WARN msg=denied client_id=a suppressed=999 suppressed_within=1m0s`,
		}},
		{"keys are apart", func(l *Limiter, c *clock) {
			l.Warn("a", "denied", "client_id", "a")
			l.Warn("b", "denied", "client_id", "b")
			l.Warn("a", "denied", "client_id", "a")
		}, []string{
			`level=WARN msg=denied client_id=a`,
			`level=WARN msg=denied client_id=b`,
		}},
		{"a key's next window reports the last one, then writes", func(l *Limiter, c *clock) {
			l.Warn("a", "denied", "n", 1)
			l.Warn("a", "denied", "n", 2)
			c.t = c.t.Add(61 * time.Second)
			l.Warn("a", "denied", "n", 3)
		}, []string{
			`level=WARN msg=denied n=1`,
			`level=WARN msg=denied n=1 suppressed=1 suppressed_within=1m0s`,
			`level=WARN msg=denied n=3`,
		}},
		{"an ended window is reported by the next line of any key", func(l *Limiter, c *clock) {
			l.Warn("a", "denied", "k", "a")
			l.Warn("a", "denied", "k", "a")
			c.t = c.t.Add(time.Minute)
			l.Warn("b", "denied", "k", "b")
		}, []string{
			`level=WARN msg=denied k=a`,
			`level=WARN msg=denied k=a suppressed=1 suppressed_within=1m0s`,
			`level=WARN msg=denied k=b`,
		}},
		{"a window without more lines reports nothing", func(l *Limiter, c *clock) {
			l.Warn("a", "denied")
			c.t = c.t.Add(time.Hour)
			l.sweep(c.t, false)
			l.Warn("a", "denied")
		}, []string{
			`level=WARN msg=denied`,
			`level=WARN msg=denied`,
		}},
		{"new keys beyond the maximum share one", func(l *Limiter, c *clock) {
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				l.Warn(k, "denied", "k", k)
			}
			l.Close()
		}, []string{
			`level=WARN msg=denied k=a`,
			`level=WARN msg=denied k=b`,
			`level=WARN msg=denied k=c log_limited="too many sources at once: the lines of further ones are counted under this one until its window ends"`,
			`level=WARN msg="log lines of many sources not written" k=c suppressed=2 suppressed_within=1m0s`,
		}},
		{"close reports what is held back", func(l *Limiter, c *clock) {
			l.Log(slog.LevelInfo, "a", "refused")
			l.Log(slog.LevelInfo, "a", "refused")
			l.Close()
		}, []string{
			`level=INFO msg=refused`,
			`level=INFO msg=refused suppressed=1 suppressed_within=1m0s`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, buf := newTest(2)
			tt.run(l, c)
			got := lines(buf)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNewAndClose(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Warn("a", "denied")
	l.Warn("a", "denied")
	l.Close()
	if got := lines(&buf); len(got) != 2 || !strings.Contains(got[1], "suppressed=1") {
		t.Fatalf("log:\n%s\nwant the line and its count", buf.String())
	}
}
