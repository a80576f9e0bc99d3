package segment

import (
	"fmt"
	"os"
	"sync"
)

// Reader reads records from segment files, keeping the last file open. It
// belongs to one reader at a time (the owner serialises its readers), but
// Drop may be called from anywhere: a deleted segment's room comes back
// only once no descriptor holds it, so the owner drops it from every
// Reader when it is removed (Options.Removed), even from one that waits
// for new records.
type Reader struct {
	mu sync.Mutex // Drop against Read
	f  *os.File
	id uint64
}

// Close closes the file held open.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.close()
}

func (r *Reader) close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Drop closes the file if it belongs to segment id (being removed).
func (r *Reader) Drop(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil && r.id == id {
		r.close()
	}
}

// Chunk is a run of whole records read from one segment.
type Chunk struct {
	Records  [][]byte
	Consumed int64 // framed bytes of Records
	Payload  int
	Damage   Status // OK, or why reading stopped at Consumed
}

// Limits bound what one Read hands back.
type Limits struct {
	Records int // at most this many records
	Bytes   int // at most this many payload bytes, except...
	// First: the chunk starts a batch, so a lone record larger than Bytes
	// is returned alone rather than never.
	First bool
	// Avg is the usual payload size, to size the read; 0 means 256.
	Avg int64
}

// Read reads whole records of segment g from off (below end, the size
// visible to the caller) with one pread, within lim. Records point into a
// buffer of their own. A chunk with no records and Damage OK means the next
// record does not fit lim.
func (r *Reader) Read(g *Segment, off, end int64, lim Limits) (Chunk, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.file(g)
	if err != nil {
		return Chunk{}, err
	}
	avg := lim.Avg
	if avg <= 0 {
		avg = 256
	}
	avail := end - off
	// Enough for the limits with records of the usual size, and a little
	// slack; a shortfall only costs another pread.
	byBytes := int64(lim.Bytes) + int64(lim.Bytes)/4 + FrameHeader
	byRecs := int64(lim.Records) * (avg + FrameHeader)
	want := min(avail, byBytes, byRecs+byRecs/8+FrameHeader)
	for {
		buf := make([]byte, want)
		if _, err := f.ReadAt(buf, off); err != nil {
			return Chunk{}, fmt.Errorf("read %s at offset %d: %w", g.Path, off, err)
		}
		c, needed := parseChunk(buf, avail, lim)
		if needed > 0 && want < needed {
			want = needed // a lone record larger than the first read
			continue
		}
		return c, nil
	}
}

// parseChunk decodes the records of buf; needed is the size of the first
// record when buf holds only part of it.
func parseChunk(buf []byte, avail int64, lim Limits) (c Chunk, needed int64) {
	pos := 0
	for pos < len(buf) && len(c.Records) < lim.Records {
		rec, size, st := DecodeFrame(buf[pos:])
		if st == Short && int64(pos+size) <= avail {
			if len(c.Records) == 0 && lim.First {
				needed = int64(size)
			}
			break // whole on disk, only cut by our read
		}
		if st != OK {
			c.Damage = st
			if st == Short {
				c.Damage = BadLength // runs past the end of what was written
			}
			break
		}
		if c.Payload+len(rec) > lim.Bytes && (len(c.Records) > 0 || !lim.First) {
			break
		}
		c.Records = append(c.Records, rec)
		c.Payload += len(rec)
		pos += size
	}
	c.Consumed = int64(pos)
	return c, needed
}

func (r *Reader) file(g *Segment) (*os.File, error) {
	if r.f != nil && r.id == g.ID {
		return r.f, nil
	}
	r.close() // read-only: nothing to lose
	f, err := os.Open(g.Path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	r.f, r.id = f, g.ID
	return f, nil
}
