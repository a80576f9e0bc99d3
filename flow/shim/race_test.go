//go:build race

package shim_test

// streamLines is the length of the long /ingest stream test. The race
// detector makes every line cost about ten times more CPU, so under -race
// the stream is a tenth as long, and each line carries streamPad bytes of an
// ignored field so that the stream (about 40 MB) still outgrows the heap
// bound it is checked against. Without -race it is the full million.
const (
	streamLines = 100_000
	streamPad   = 320
)
