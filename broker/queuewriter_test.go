package broker

import (
	"sync"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Messages queued while the writer looks for work are neither lost nor
// read while they are being recorded: flush decided on an empty batch
// outside the lock, so under -race a put racing it was reported, and a
// batch that was not empty by then was written while puts went on
// adding to it (a concurrent map read and write).
func TestQueueWriterFlushRacesPut(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer func() { _ = s.Stop() }()
	cl := client("offline", false)
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			s.queue.put(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
				PacketID: uint16(i), TopicName: "devices/a/sensors/t", Payload: []byte("1")})
		}
	}()
	for i := 0; i < n; i++ {
		s.queue.flush()
	}
	wg.Wait()
	s.queue.flush()
	msgs, err := s.storedInflight()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages stored, want %d", len(msgs), n)
	}
}
