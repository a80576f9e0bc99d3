package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
)

// TestLedgerHoldsExactlyTheAckedReadings: the broker acknowledges two of
// four readings, drops the connection, then acknowledges the resends. The
// ledger must hold each reading once, with the value and time of its
// payload, and only after its PUBACK.
func TestLedgerHoldsExactlyTheAckedReadings(t *testing.T) {
	ledger := NewLedger()
	sent := map[int64]int64{} // value -> time, as the payloads said
	record := func(pubs []mqttwire.Publish) error {
		for _, p := range pubs {
			var v struct {
				Value int64  `json:"value"`
				Time  string `json:"time"`
			}
			if err := json.Unmarshal(p.Payload, &v); err != nil {
				return fmt.Errorf("payload %q: %w", p.Payload, err)
			}
			ts, err := time.Parse(time.RFC3339Nano, v.Time)
			if err != nil {
				return err
			}
			sent[v.Value] = ts.UnixNano()
		}
		return nil
	}
	addr := scriptedBroker(t,
		func(conn net.Conn, r *mqttwire.Reader) error {
			if _, err := expectConnect(r); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			pubs, err := readPublishes(r, 4)
			if err != nil {
				return err
			}
			if err := record(pubs); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendPuback(mqttwire.AppendPuback(nil, pubs[0].PacketID), pubs[1].PacketID))
			// Let the client take both PUBACKs before dropping it.
			for deadline := time.Now().Add(30 * time.Second); ledger.Len() < 2; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					return fmt.Errorf("ledger has %d readings 30s after 2 PUBACKs", ledger.Len())
				}
			}
			return nil // closing the connection leaves two readings unacknowledged
		},
		func(conn net.Conn, r *mqttwire.Reader) error {
			if _, err := expectConnect(r); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			again, err := readPublishes(r, 2)
			if err != nil {
				return err
			}
			for _, p := range again {
				conn.Write(mqttwire.AppendPuback(nil, p.PacketID))
			}
			_, _ = r.Next() // DISCONNECT
			return nil
		},
	)
	cfg, err := parseFlags([]string{"-broker", addr, "-devices", "1", "-messages", "4", "-inflight", "8",
		"-device-prefix", "dev-", "-connect-rate", "0", "-measurement", "m1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Ledger = ledger
	rep, err := Load(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Acked != 4 || rep.Resent != 2 {
		t.Fatalf("report %+v: want acked 4, resent 2", rep)
	}
	got := ledger.Readings()
	if len(got) != 4 {
		t.Fatalf("ledger holds %d readings, want 4: %+v", len(got), got)
	}
	for i, r := range got {
		if r.Value != int64(i) || r.Device != "dev-0" || r.Measurement != "m1" || r.Time != sent[r.Value] || r.Time == 0 {
			t.Errorf("ledger reading %d = %+v, want value %d of dev-0 in m1 at %d", i, r, i, sent[int64(i)])
		}
	}
}
