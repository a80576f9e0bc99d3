// SPDX-License-Identifier: MIT

package mqtt

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// mqflux patch: a client's read buffer is the small one while its reads
// fit in it, the large one after a read that filled the small one, and the
// small one again after a read that would have fitted in it.
func TestReadBufferFollowsWhatTheClientSends(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	cl := newClient(server, &ops{options: &Options{ClientNetReadBufferSize: 4096, Capabilities: NewDefaultServerCapabilities()}})

	sends := []struct {
		name  string
		bytes int
		size  int // the buffer the bytes were read into
	}{
		{"a reading", 100, smallReadBuffer},
		{"a burst fills the small buffer", 2000, smallReadBuffer},
		{"the next read gets the large one", 3000, 4096},
		{"a reading again, still in the large one", 100, 4096},
		{"then the small one", 100, smallReadBuffer},
	}
	for _, s := range sends {
		t.Run(s.name, func(t *testing.T) {
			sent := bytes.Repeat([]byte{'x'}, s.bytes)
			go func() { _, _ = client.Write(sent) }()
			require.NoError(t, cl.waitForData())
			require.Equal(t, s.size, cl.Net.bconn.Size(), "buffer size")
			got := make([]byte, s.bytes)
			_, err := io.ReadFull(cl.Net.bconn, got)
			require.NoError(t, err)
			require.Equal(t, sent, got)
		})
	}
}
