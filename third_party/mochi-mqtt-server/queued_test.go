package mqtt

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (compact-queue): tests of the queued form of a PUBLISH kept
// for a client that is not connected.

func TestQueuedFormHoldsAPublishWhole(t *testing.T) {
	publish := func(qos byte) packets.Packet {
		return packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Remaining: 30},
			TopicName:       "devices/a/sensors/t",
			Payload:         []byte(`{"t":21.5}`),
			Origin:          "a",
			Created:         1700000000,
			PacketID:        7,
			ProtocolVersion: 4,
		}
	}
	v5 := publish(1)
	v5.ProtocolVersion = 5
	v5.Expiry = 1700000060
	v5.Properties = packets.Properties{
		MessageExpiryInterval:  60,
		ContentType:            "application/json",
		ResponseTopic:          "replies/a",
		CorrelationData:        []byte("c1"),
		SubscriptionIdentifier: []int{3, 9},
		User:                   []packets.UserProperty{{Key: "k", Val: "v"}},
		PayloadFormat:          1,
		PayloadFormatFlag:      true,
	}
	held := publish(2)
	held.Expiry = -1
	flags := publish(1)
	flags.FixedHeader.Retain, flags.FixedHeader.Dup = true, true
	flags.Mods.MaxSize, flags.ReservedBit = 1024, 1
	empty := publish(1)
	empty.Payload = nil
	aliased := v5
	aliased.TopicName = ""
	aliased.Properties = packets.Properties{TopicAlias: 4, TopicAliasFlag: true}

	for name, pk := range map[string]packets.Packet{
		"MQTT 3.1.1 QoS 1": publish(1), "MQTT 5 with properties": v5,
		"held for the send quota": held, "retained, sent before": flags,
		"no payload": empty, "by topic alias": aliased,
	} {
		t.Run(name, func(t *testing.T) {
			require.True(t, queueable(&pk))
			require.Equal(t, pk, queue(&pk).packet())
			if propertiesEmpty(&pk.Properties) {
				require.Nil(t, queue(&pk).props, "no properties kept for a packet with none")
			}
		})
	}
}

func TestOnlyAPublishIsQueueable(t *testing.T) {
	for name, pk := range map[string]packets.Packet{
		"PUBREL":       {FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 1},
		"with filters": {FixedHeader: packets.FixedHeader{Type: packets.Publish}, Filters: packets.Subscriptions{{Filter: "a"}}},
		"with a will":  {FixedHeader: packets.FixedHeader{Type: packets.Publish}, Connect: packets.ConnectParams{WillTopic: "w"}},
		"ignored":      {FixedHeader: packets.FixedHeader{Type: packets.Publish}, Ignore: true},
	} {
		require.False(t, queueable(&pk), name)
	}
}

// setOne sets field f of the struct v points to to a value that is not
// its zero.
func setOne(t *testing.T, f reflect.Value) {
	switch f.Kind() {
	case reflect.String:
		f.SetString("x")
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(1)
	case reflect.Slice:
		f.Set(reflect.MakeSlice(f.Type(), 1, 1))
	case reflect.Struct:
		setOne(t, f.Field(0))
	default:
		t.Fatalf("no test value for a field of kind %s", f.Kind())
	}
}

// The empty checks name every field one by one; a field added to the
// packet's structs and not to them would be lost from a queued message.
func TestEmptyChecksSeeEveryField(t *testing.T) {
	require.True(t, propertiesEmpty(&packets.Properties{}))
	require.True(t, connectEmpty(&packets.ConnectParams{}))
	for i := 0; i < reflect.TypeOf(packets.Properties{}).NumField(); i++ {
		var p packets.Properties
		setOne(t, reflect.ValueOf(&p).Elem().Field(i))
		require.False(t, propertiesEmpty(&p), "Properties.%s set", reflect.TypeOf(p).Field(i).Name)
	}
	for i := 0; i < reflect.TypeOf(packets.ConnectParams{}).NumField(); i++ {
		var c packets.ConnectParams
		setOne(t, reflect.ValueOf(&c).Elem().Field(i))
		require.False(t, connectEmpty(&c), "ConnectParams.%s set", reflect.TypeOf(c).Field(i).Name)
	}
}

// A delivery to a session whose client is away is kept in the queued
// form; one to a connected client as the packet it is written from. The
// queued ones come back whole, in order, when the session's client
// returns.
func TestAnAbsentSessionQueuesInTheCompactForm(t *testing.T) {
	s := quietServer(1024)
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	away := subscribedClient(t, s, "away", sub.Filter, sub.Qos)
	away.Properties.ProtocolVersion = 4
	away.Stop(errors.New("gone"))
	here := subscribedClient(t, s, "here", sub.Filter, sub.Qos)
	here.Properties.ProtocolVersion = 4

	for n := byte(1); n <= 3; n++ {
		pk := reading("devices/a/sensors/t", 1)
		pk.Payload = []byte{n}
		s.publishToSubscribers(pk)
	}
	for id, e := range away.State.Inflight.internal {
		require.Nil(t, e.pk, "entry %d of the absent client", id)
		require.NotNil(t, e.q, "entry %d of the absent client", id)
	}
	for id, e := range here.State.Inflight.internal {
		require.NotNil(t, e.pk, "entry %d of the connected client", id)
	}

	queued := away.State.Inflight.GetAll(false)
	require.Len(t, queued, 3)
	for n, pk := range queued {
		require.Equal(t, []byte{byte(n + 1)}, pk.Payload)
		require.Equal(t, "devices/a/sensors/t", pk.TopicName)
		require.Equal(t, packets.Publish, pk.FixedHeader.Type)
		require.EqualValues(t, 1, pk.FixedHeader.Qos)
		require.EqualValues(t, n+1, pk.PacketID)
		got, ok := away.State.Inflight.Get(pk.PacketID)
		require.True(t, ok)
		require.Equal(t, pk, got)
	}

	cl, r, w := newTestClient()
	defer func() { _ = w.Close(); _ = r.Close() }()
	cl.ID = "away"
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	cl.Properties.ProtocolVersion = 4
	cl.State.Inflight.ResetSendQuota(0)
	require.True(t, s.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{Clean: false}}, cl))
	s.Clients.Add(cl)
	wire := wireReader(t, r, 4)
	require.NoError(t, cl.ResendInflightMessages(true))
	var got []byte
	for _, pk := range written(t, s, cl, wire) {
		require.True(t, pk.FixedHeader.Dup, "sent again")
		got = append(got, pk.Payload...)
	}
	require.Equal(t, []byte{1, 2, 3}, got)
	for id, e := range cl.State.Inflight.internal {
		require.NotNil(t, e.pk, "entry %d is a packet again once sent", id)
	}
}

// BenchmarkQueueForAbsentSession measures a delivery queued for a session
// whose client is away; B/op is what the queue holds for each, with the
// packet and the entry.
func BenchmarkQueueForAbsentSession(b *testing.B) {
	s := quietServer(65000)
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	away := subscribedClient(b, s, "away", sub.Filter, sub.Qos)
	away.Properties.ProtocolVersion = 4
	away.State.Inflight.ResetSendQuota(0) // MQTT 3.1.1: no quota
	away.Stop(errors.New("gone"))
	pk := reading("devices/a/sensors/t", 1)
	pk.Payload = []byte(`{"temperature": 21.5, "humidity": 40.1}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if away.State.Inflight.Len() >= 60000 {
			b.StopTimer()
			away.State.Inflight = NewInflights()
			b.StartTimer()
		}
		if _, err := s.publishToClient(away, sub, pk); err != nil && err != errClientGone {
			b.Fatal(err)
		}
	}
}
