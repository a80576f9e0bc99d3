package segment

import "fmt"

// Durability says what is forced to the storage device when.
type Durability int

const (
	// Write: a record is handed to the operating system with one write(2)
	// and never fsynced by Append; it survives a crash of the process, not
	// of the machine.
	Write Durability = iota
	// Interval: like Write, but the owner calls Sync on a timer, so a power
	// cut loses at most one interval and the storage sees few flushes.
	Interval
	// Fsync: Append returns only after an fsync covering the record;
	// concurrent appends share one fsync (group commit).
	Fsync
)

func (d Durability) String() string {
	switch d {
	case Write:
		return "write"
	case Interval:
		return "interval"
	case Fsync:
		return "fsync"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// syncs says whether anything (cursor, directory) is ever fsynced.
func (d Durability) syncs() bool { return d != Write }
