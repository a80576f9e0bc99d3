package ingest

import "time"

// BatchSink is a Sink that can also take the messages of one network read
// together and store them with one spool write. The broker uses it for
// connections whose acknowledgements it holds until the read is processed.
type BatchSink interface {
	Sink
	// Batch starts an empty batch.
	Batch() Batch
}

// Batch gathers messages; none is stored, and none may be acknowledged,
// before Commit returned nil.
type Batch interface {
	// Add maps one message into the batch. Its errors are Ingest's: a
	// *RejectError (the message was dead-lettered, acknowledge it),
	// ErrFull (the spool has no room for it: push back), or another
	// failure. A message that got an error is not in the batch.
	Add(topic string, payload []byte, received time.Time) error
	// Len is the number of messages added and not yet committed.
	Len() int
	// Commit stores every message added with one spool write and hands
	// them to the observers. The batch must not be used afterwards. On an
	// error none of them may be acknowledged.
	Commit() error
}
