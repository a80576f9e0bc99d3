// Package segment is the one on-disk log under the server's spool and the
// device's offline queue: append-only segment files of CRC-32C framed
// records, rolled at a size, read oldest first, with a persisted cursor
// (where the oldest unacknowledged record is) and one recovery story.
//
// Records live in segment files named 000000000001.seg, 000000000002.seg,
// ...; an id is never reused. Open recovers whatever it finds: a torn tail
// of the newest segment (what a crash mid-write leaves) is truncated and
// logged with its offset; damage anywhere else is moved to
// <segment>.corrupt, so no byte that may hold an acknowledged record is
// discarded, and logged too. Appends always go to a fresh segment after
// Open, so a repaired file is never written again.
//
// A write the file system refuses (a full disk) is cut back to the last
// whole record and leaves the segment usable; when the active segment is
// wholly acknowledged, it is deleted to make room (Shed) and the write
// tried again. Deleting a segment tells the owner (Options.Removed), so
// that it closes what it holds open of it and the room really comes back.
//
// A Log does no locking of its own: its owner guards every call with one
// mutex and hands that mutex to Open, so the group commit can release it
// while an fsync runs. The owner keeps its policy (batching, push-back,
// acknowledgement order) and tells the Log what was acknowledged.
//
// The package uses the standard library only: the device agent links it.
package segment
