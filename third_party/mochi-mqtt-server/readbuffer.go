package mqtt

import "bufio"

// mqflux patch: a client's read buffer is small (smallReadBuffer) while
// what it sends fits in one, and ClientNetReadBufferSize while it sends
// more. A device that publishes one reading every few seconds never needs
// more than a few hundred bytes at once, and with 10,000 of them a
// 4 KiB buffer each was 40 MiB; a client that streams publishes fills its
// buffer at each read, and gets the large one, so that one read (and one
// coalesced answer) still covers many packets.

// smallReadBuffer is the read buffer of a client whose reads fit in it.
const smallReadBuffer = 512

// minReadBuffer is bufio's smallest buffer: a smaller size gets this one.
const minReadBuffer = 16

// waitForData returns once the client has sent something to read. Before
// the read, while nothing is buffered, the buffer is resized: to the
// large size after a read that filled the small one, back to the small
// size after a read that would have fitted in it.
func (cl *Client) waitForData() error {
	b := cl.Net.bconn
	if b.Buffered() > 0 {
		_, err := b.Peek(1)
		return err
	}
	if want := max(cl.readBufferSize(), minReadBuffer); b.Size() != want {
		b = bufio.NewReaderSize(cl.Net.Conn, want)
		cl.Net.bconn = b
	}
	if _, err := b.Peek(1); err != nil {
		return err
	}
	switch n := b.Buffered(); {
	case n == b.Size():
		cl.Net.largeReads = true
	case n <= smallReadBuffer:
		cl.Net.largeReads = false
	}
	return nil
}

// readBufferSize is the size of the client's next read buffer.
func (cl *Client) readBufferSize() int {
	large := cl.ops.options.ClientNetReadBufferSize
	if cl.Net.largeReads || large <= smallReadBuffer {
		return large
	}
	return smallReadBuffer
}
