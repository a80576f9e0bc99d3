// Package loglimit keeps a log readable when a client can make the server
// write a line per packet: of the lines of one key (a client and a reason,
// an address and a reason), the first in each window is written, the rest
// are counted and reported in one line once the window has ended.
package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Window and MaxKeys are the defaults of New.
const (
	Window  = time.Minute
	MaxKeys = 1024
)

// overflowKey holds the lines of new keys while MaxKeys are being counted:
// an attacker inventing keys gets one line per window for all of them.
const overflowKey = "\x00overflow"

// Limiter writes the first line of each key per window to a logger. Its
// zero value is not usable; make one with New. It has no goroutine: what a
// window held back is reported by the next line logged after it ended (of
// any key), or by Close.
type Limiter struct {
	log     *slog.Logger
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	keys      map[string]*entry
	nextSweep time.Time
}

// entry is one key's window: when it ends, and what it held back.
type entry struct {
	until      time.Time
	suppressed int
	level      slog.Level
	msg        string
	args       []any
}

// New makes a limiter writing to log with Window and MaxKeys.
func New(log *slog.Logger) *Limiter { return newLimiter(log, Window, MaxKeys, time.Now) }

func newLimiter(log *slog.Logger, window time.Duration, maxKeys int, now func() time.Time) *Limiter {
	return &Limiter{log: log, window: window, maxKeys: maxKeys, now: now, keys: map[string]*entry{}}
}

// Close writes the counts the limiter holds back. The limiter stays
// usable.
func (l *Limiter) Close() { l.sweep(l.now(), true) }

// Warn is Log at slog.LevelWarn.
func (l *Limiter) Warn(key, msg string, args ...any) { l.Log(slog.LevelWarn, key, msg, args...) }

// Log writes msg with args unless a line of key was written less than a
// window ago; then it only counts it.
func (l *Limiter) Log(level slog.Level, key, msg string, args ...any) {
	now := l.now()
	if l.sweepDue(now) {
		l.sweep(now, false)
	}
	l.mu.Lock()
	e, ok := l.keys[key]
	if !ok && len(l.keys) >= l.maxKeys {
		key = overflowKey
		e, ok = l.keys[key]
	}
	if ok && now.Before(e.until) {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	var ended entry
	if ok {
		ended = *e
	}
	l.keys[key] = &entry{until: now.Add(l.window), level: level, msg: msg, args: args}
	l.mu.Unlock()

	l.report(key, ended)
	if key == overflowKey {
		args = append(args, "log_limited", "too many sources at once: the lines of further ones are counted under this one until its window ends")
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// sweepDue reports whether a window has passed since the last sweep.
func (l *Limiter) sweepDue(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.nextSweep) {
		return false
	}
	l.nextSweep = now.Add(l.window)
	return true
}

// sweep reports and forgets the keys whose window ended by now, or all
// of them.
func (l *Limiter) sweep(now time.Time, all bool) {
	var ended []entry
	var keys []string
	l.mu.Lock()
	for k, e := range l.keys {
		if all || !now.Before(e.until) {
			ended = append(ended, *e)
			keys = append(keys, k)
			delete(l.keys, k)
		}
	}
	l.mu.Unlock()
	for i, e := range ended {
		l.report(keys[i], e)
	}
}

// report writes how many lines a window held back, with the first line's
// message and attributes, if it held back any.
func (l *Limiter) report(key string, e entry) {
	if e.suppressed == 0 {
		return
	}
	msg := e.msg
	if key == overflowKey {
		msg = "log lines of many sources not written"
	}
	args := append(e.args[:len(e.args):len(e.args)], "suppressed", e.suppressed, "suppressed_within", l.window.String())
	l.log.Log(context.Background(), e.level, msg, args...)
}
