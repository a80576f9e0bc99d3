// Package deadletter keeps every reading that can never be stored, with the
// reason, in a JSON-lines file: one object per line, so a user can read it
// with jq and replay what is worth replaying. Nothing is dropped silently:
// a reading leaves the pipeline either in InfluxDB or here.
package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultMaxBytes is the rotation size used when Open is given 0: with the
// previous file kept, about 200MiB of dead letters at most sit on disk.
const DefaultMaxBytes = 100 << 20

// Entry is one rejected reading.
type Entry struct {
	Time   time.Time // when it was rejected
	Source string    // "mqtt", "http", "influx"
	// Device is who sent the reading, for the per-device quota; entries
	// without one (the output's refusals) count against no quota.
	Device  string
	Topic   string
	Reason  string // the RejectError reason or InfluxDB's message
	Detail  string
	Payload []byte // the original payload (or the line protocol InfluxDB rejected)
}

// line is the JSON form of an Entry. The payload is a string when it is
// valid UTF-8 (readable, and what a replay sends), base64 otherwise.
type line struct {
	Time          time.Time `json:"time"`
	Source        string    `json:"source"`
	Device        string    `json:"device,omitempty"`
	Topic         string    `json:"topic,omitempty"`
	Reason        string    `json:"reason"`
	Detail        string    `json:"detail,omitempty"`
	Payload       *string   `json:"payload,omitempty"`
	PayloadBase64 []byte    `json:"payload_base64,omitempty"`
}

func toLine(e Entry) line {
	l := line{Time: e.Time.UTC(), Source: e.Source, Device: e.Device, Topic: e.Topic, Reason: e.Reason, Detail: e.Detail}
	if utf8.Valid(e.Payload) {
		p := string(e.Payload)
		l.Payload = &p
	} else {
		l.PayloadBase64 = e.Payload
	}
	return l
}

// File is an open dead-letter file. It is safe for concurrent use.
type File struct {
	path     string
	maxBytes int64
	log      *slog.Logger

	noSync bool // written to the OS only, as the spool's durability "write"
	quota  quota

	mu     sync.Mutex
	f      *os.File
	size   int64
	buf    bytes.Buffer
	closed bool
	// fault is the error of the last write, nil once one succeeds: a full
	// disk passes, and the caller retries (see Add).
	fault error
	// torn: a failed write left a partial line that could not be cut off;
	// the next write ends it first.
	torn bool
	// reserved says the reserve is on disk (see reserve.go).
	reserved     bool
	reserveTried time.Time
}

// Open opens (creating it and its directory if needed) the dead-letter file
// at path. Once the file passes maxBytes (0: DefaultMaxBytes) it is renamed
// to <path>.1, replacing the previous one, and a new file is started. Each
// device may write a share of the file (WithDeviceQuota) before it rotates;
// its entries beyond that are dropped, counted and logged once, so one
// device cannot rotate away every other device's entries.
func Open(path string, maxBytes int64, logger *slog.Logger, opts ...Option) (*File, error) {
	if path == "" {
		return nil, errors.New("dead-letter open: path is empty")
	}
	if maxBytes < 0 {
		return nil, fmt.Errorf("dead-letter open %s: maxBytes %d is negative", path, maxBytes)
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("dead-letter open: %w", err)
	}
	d := &File{path: path, maxBytes: maxBytes, log: logger, quota: newQuota(maxBytes / DeviceShare)}
	for _, o := range opts {
		o(d)
	}
	if d.quota.limit <= 0 {
		d.quota.limit = maxBytes / DeviceShare
	}
	if err := d.open(); err != nil {
		return nil, err
	}
	d.keepReserve()
	return d, nil
}

// Option changes how Open sets up the file.
type Option func(*File)

// WithoutSync writes each entry to the operating system without an fsync,
// the guarantee the spool gives with durability "write": an entry survives
// the process crashing, not the machine losing power. Every entry is
// fsynced otherwise, which caps a flood of bad readings at what the disk
// can sync (about a thousand a second on a small SSD, far less on an SD
// card) and slows the connections sending them.
func WithoutSync() Option { return func(d *File) { d.noSync = true } }

// open opens the file for appending. A crash mid-write can leave a partial
// last line; it is ended with a newline so the next entry stays readable.
func (d *File) open() error {
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dead-letter open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter open: %w", err)
	}
	d.f, d.size = f, fi.Size()
	if d.size == 0 {
		return nil
	}
	last := make([]byte, 1)
	r, err := os.Open(d.path)
	if err == nil {
		_, err = r.ReadAt(last, d.size-1)
		r.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter open %s: %w", d.path, err)
	}
	if last[0] != '\n' {
		d.log.Warn("dead-letter file ends with a partial line; ending it", "file", d.path, "offset", d.size)
		if err := d.write([]byte("\n")); err != nil {
			f.Close()
			return err
		}
	}
	return nil
}

// Add appends e as one JSON line and fsyncs it before returning. A zero
// e.Time is set to now. An entry over its device's quota is dropped and
// Add returns ErrOverQuota. Any other error means the entry is not in the
// file (a partial line is cut off): the caller keeps the reading and tries
// again later (a publisher is pushed back, an output's batch is not
// acked), and Fault reports the failure until a write succeeds.
func (d *File) Add(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l := toLine(e)

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("dead-letter add to %s: file is closed", d.path)
	}
	d.buf.Reset()
	enc := json.NewEncoder(&d.buf)
	enc.SetEscapeHTML(false) // keep < > & readable for people and jq
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("dead-letter add to %s: encode: %w", d.path, err)
	}
	// The quota is checked before rotating, so a device over its share
	// cannot be the one that pushes everyone's entries out of the file.
	n, k := int64(d.buf.Len()), d.quota.key(&e)
	if !d.quota.fits(k, n) {
		d.drop(k, &e)
		return ErrOverQuota
	}
	if d.f == nil {
		if err := d.open(); err != nil { // a rotation could not start the new file
			d.fault = err
			return err
		}
	}
	if d.size > 0 && d.size+n > d.maxBytes {
		if err := d.rotate(); err != nil {
			d.fault = err
			return err
		}
	}
	err := d.write(d.buf.Bytes())
	if err != nil && d.useReserve(err) {
		err = d.write(d.buf.Bytes())
	}
	if err != nil {
		return err
	}
	d.quota.add(k, n)
	d.keepReserve()
	return nil
}

// Fault is the error of the last failed write ("" once a write succeeds
// again), for the server's health.
func (d *File) Fault() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == nil {
		return ""
	}
	return d.fault.Error()
}

// drop counts an entry over quota and logs the device's first. mu held.
func (d *File) drop(k string, e *Entry) {
	d.quota.dropped.WithLabelValues("quota").Inc()
	if d.quota.first(k) {
		d.log.Warn("dead-letter quota reached: further entries of this device are dropped until the file rotates",
			"file", d.path, "source", e.Source, "device", e.Device, "quota_bytes", d.quota.limit,
			"metric", "mqflux_dead_letters_dropped_total")
	}
}

// write appends p in one write and fsyncs. A failed write is cut off, so a
// partial line never glues itself to the next entry; if it cannot be cut
// off, the next write ends it first. mu held.
func (d *File) write(p []byte) error {
	if d.torn {
		p = append([]byte{'\n'}, p...)
	}
	n, err := d.f.Write(p)
	if err == nil {
		if !d.noSync {
			err = d.f.Sync()
		}
		d.size += int64(n)
		d.torn = false
	} else if n > 0 {
		if terr := d.f.Truncate(d.size); terr != nil {
			d.log.Error("dead-letter: cannot cut off a partial line", "file", d.path, "offset", d.size, "err", terr)
			d.size += int64(n)
			d.torn = true
		}
	}
	if err != nil {
		d.fault = fmt.Errorf("dead-letter add to %s: %w", d.path, err)
		return d.fault
	}
	d.fault = nil
	return nil
}

// rotate renames the full file to <path>.1 and starts a new one. A failed
// rename changes nothing; when the new file cannot be created, the next
// Add tries again. mu held.
func (d *File) rotate() error {
	old := d.path + ".1"
	if err := os.Rename(d.path, old); err != nil {
		return fmt.Errorf("dead-letter rotate %s: %w", d.path, err)
	}
	d.log.Info("dead-letter file rotated", "file", d.path, "rotated_to", old, "bytes", d.size, "max_bytes", d.maxBytes)
	d.quota.reset()
	if err := d.f.Close(); err != nil {
		d.log.Warn("dead-letter: close rotated file", "file", old, "err", err)
	}
	d.f, d.size, d.torn = nil, 0, false
	if err := d.open(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(d.path))
}

// Close closes the file; Add fails afterwards.
func (d *File) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.f == nil {
		return nil
	}
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("dead-letter close %s: %w", d.path, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dead-letter: sync directory %s: %w", dir, err)
	}
	return nil
}
