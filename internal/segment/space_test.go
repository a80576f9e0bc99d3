package segment

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// smallDisk stands in for a file system of capacity bytes: a write that
// would take the segment files past it writes what fits (a full disk
// leaves a prefix) and fails with ENOSPC.
type smallDisk struct {
	t        *testing.T
	dir      string
	capacity int64
	refused  int
}

func (d *smallDisk) writeAt(f *os.File, p []byte, off int64) (int, error) {
	var used int64
	names, _ := filepath.Glob(filepath.Join(d.dir, "*.seg"))
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil {
			used += fi.Size()
		}
	}
	fi, err := f.Stat()
	if err != nil {
		d.t.Fatal(err)
	}
	grow := max(off+int64(len(p))-fi.Size(), 0)
	if used+grow <= d.capacity {
		return f.WriteAt(p, off)
	}
	d.refused++
	room := max(d.capacity-used, 0)
	n, _ := f.WriteAt(p[:min(int64(len(p)), room)], off)
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

func TestWriteRefusedForSpaceIsCutOffAndRetried(t *testing.T) {
	for _, dur := range []Durability{Write, Fsync} {
		t.Run(dur.String(), func(t *testing.T) {
			dir := t.TempDir()
			o := openOwner(t, Options{Dir: dir, Durability: dur})
			disk := &smallDisk{t: t, dir: dir, capacity: 1 << 20}
			o.l.writeAt = disk.writeAt
			o.append(t, records(0, 10)...)
			disk.capacity = o.l.DiskBytes() + int64(FrameHeader+len(record(10)))/2

			o.mu.Lock()
			before := o.l.Active().Size
			_, _, err := o.l.WriteBatch(records(10, 3))
			after := o.l.Active().Size
			o.mu.Unlock()
			if !IsNoSpace(err) {
				t.Fatalf("WriteBatch on a full disk: %v, want ENOSPC", err)
			}
			if after != before {
				t.Fatalf("segment size %d after a refused write, want %d", after, before)
			}
			if fi, err := os.Stat(o.l.Active().Path); err != nil || fi.Size() != before {
				t.Fatalf("segment file after a refused write: %v %v, want the torn prefix cut to %d bytes", fi.Size(), err, before)
			}
			// Room again: the same segment takes the records.
			disk.capacity = 1 << 20
			o.append(t, records(10, 3)...)
			wantRecords(t, o.drain(t), 0, 13)
			if err := o.close(); err != nil {
				t.Fatal(err)
			}
			// Nothing torn is left behind: every record reads back whole
			// (the owner saved no cursor, so all of them come back).
			o2 := openOwner(t, Options{Dir: dir, Durability: dur})
			wantRecords(t, o2.drain(t), 0, 13)
		})
	}
}

// A log that fills the disk with records that are then all acknowledged
// must give that room back by itself: its only segment is the active one,
// which no Remove reaches until it is sealed.
func TestDrainedActiveSegmentIsDeletedWhenTheDiskIsFull(t *testing.T) {
	dir := t.TempDir()
	o := openOwner(t, Options{Dir: dir})
	disk := &smallDisk{t: t, dir: dir, capacity: 4 << 10}
	o.l.writeAt = disk.writeAt
	n := 0
	for ; ; n++ {
		o.mu.Lock()
		_, _, err := o.l.Write(record(n))
		o.mu.Unlock()
		if IsNoSpace(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("the disk took no record")
	}
	full := o.l.Active()
	wantRecords(t, o.drain(t), 0, n)
	o.mu.Lock()
	_, _, err := o.l.Write(record(n))
	o.mu.Unlock()
	if err != nil {
		t.Fatalf("Write after every record was acked: %v (the drained segment still fills the disk)", err)
	}
	if _, err := os.Stat(full.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("drained segment %s still on disk: %v", full.Path, err)
	}
	wantRecords(t, o.drain(t), n, 1)
}
