package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"

	pebbledb "github.com/cockroachdb/pebble"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
)

// The session store never stops the server. Pebble treats a failed write
// of its log or manifest as fatal (it calls its logger's Fatalf, which by
// default exits the process), and a full disk is the common cause: the
// spool filling data_dir would take the broker, and every device's
// readings, down with it. So the store gives pebble a logger whose Fatalf
// stops only the failing call, and from the first failure on the store
// degrades: sessions live in memory only (what the store held stays on
// disk, read at the next start), writes to pebble are skipped, and
// /healthz names the reason. Readings never depend on it: they are in the
// spool before their PUBACK. A start that cannot open pebble read-write
// opens it read-only (stored sessions come back; nothing new is kept), or,
// if even that fails, runs with no stored sessions at all.

// A write is skipped, not tried, while the file system holding the store
// has less than minRoom bytes free: pebble's log write would fail for room
// and take the store down until the next start. Once there is room again
// (the spool deleted what it delivered, the operator freed some), writes
// go on.
const minRoom = 1 << 20

// roomFor says whether the file system holding dir has minRoom bytes free;
// an error of statfs itself lets the write try.
func roomFor(dir string) (free int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, true
	}
	free = int64(st.Bavail) * int64(st.Bsize)
	return free, free >= minRoom
}

// errNotPersisted is what a write skipped in degraded mode returns.
var errNotPersisted = errors.New("session store degraded: not persisted")

// pebbleFatal carries a pebble fatal error from Fatalf to the protect that
// runs the call.
type pebbleFatal struct{ err error }

// storeFault is why the session store is degraded; empty while it is not.
type storeFault struct {
	reason atomic.Pointer[string]
	// full is set while writes are skipped for want of room (see minRoom);
	// unlike reason it clears itself.
	full atomic.Bool
	// broken is set once pebble called Fatalf: its commit pipeline may
	// hold locks it never releases, so it is neither written nor closed.
	broken atomic.Bool
}

func (f *storeFault) String() string {
	if r := f.reason.Load(); r != nil {
		return *r
	}
	if f.full.Load() {
		return "no space left on device: not persisted until there is room again"
	}
	return ""
}

// setFull records whether writes are skipped for want of room, logging
// each change once.
func (f *storeFault) setFull(log *slog.Logger, full bool, free int64) {
	if f.full.Swap(full) == full {
		return
	}
	if full {
		log.Error("session store: file system nearly full; MQTT sessions are not persisted until there is room again",
			"free_bytes", free, "min_free_bytes", minRoom)
	} else {
		log.Info("session store: room again; persisting MQTT sessions", "free_bytes", free)
	}
}

// degrade records the first reason (later failures follow from it) and
// logs it loudly once.
func (f *storeFault) degrade(log *slog.Logger, why string, err error) {
	reason := fmt.Sprintf("%s: %v", why, err)
	if f.reason.CompareAndSwap(nil, &reason) {
		log.Error("SESSION STORE DEGRADED: MQTT sessions, subscriptions and queued messages are kept in memory only until the next start; readings are not affected",
			"reason", reason)
	}
}

// protect runs fn, turning a pebble Fatalf inside it into an error.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	return fn()
}

// protected says whether the calling goroutine runs inside protect.
func protected() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		fr, more := frames.Next()
		if strings.HasSuffix(fr.Function, "/broker.protect") {
			return true
		}
		if !more {
			return false
		}
	}
}

// pebbleLogger is pebble's logger: its messages go to the server's log,
// and its Fatalf degrades the store instead of exiting.
type pebbleLogger struct {
	log   *slog.Logger
	fault *storeFault
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info("session store: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("session store: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf stops the failing operation: a call made through protect gets the
// error back; a background goroutine of pebble (a flush, a compaction)
// ends, and the store, degraded, no longer writes to pebble.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf("pebble: "+format, args...)
	l.fault.broken.Store(true)
	l.fault.degrade(l.log, "pebble failed", err)
	if protected() {
		panic(pebbleFatal{err})
	}
	runtime.Goexit()
}

// withLogger returns a copy of the hook's options with pebble's logger
// set, read-only if asked.
func withLogger(config any, l pebbleLogger, readOnly bool) any {
	o, ok := config.(*pebble.Options)
	if !ok || o == nil {
		return config
	}
	c := *o
	po := pebbledb.Options{}
	if o.Options != nil {
		po = *o.Options
	}
	po.Logger = l
	po.ReadOnly = readOnly
	c.Options = &po
	return &c
}
