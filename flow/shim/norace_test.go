//go:build !race

package shim_test

// streamLines is the length of the long /ingest stream test (see
// race_test.go).
const (
	streamLines = 1_000_000
	streamPad   = 0
)
