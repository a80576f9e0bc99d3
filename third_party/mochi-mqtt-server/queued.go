// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import "github.com/mochi-mqtt/server/v2/packets"

// queuedPublish is a PUBLISH kept in flight for a client that is not
// connected, in the fields a PUBLISH uses (mqflux patch, compact-queue).
// A packets.Packet is 800 bytes, most of them a CONNECT's parameters and
// every property MQTT 5 has; a persistent session whose client is away
// holds up to a whole queue of them, each queued message a new 896-byte
// block the heap has to grow for. This is about a seventh of that; the
// full packet comes back (packet) when the client returns and the queue
// is sent again.
type queuedPublish struct {
	topic    string
	origin   string
	payload  []byte
	props    *packets.Properties // nil: none set
	created  int64
	expiry   int64
	fh       packets.FixedHeader
	mods     packets.Mods
	id       uint16
	version  byte
	reserved byte
}

// queueable says whether pk is a PUBLISH that a queuedPublish holds
// whole: none of a CONNECT's, a SUBSCRIBE's or an acknowledgement's
// fields set, which no PUBLISH has.
func queueable(pk *packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Publish &&
		len(pk.Filters) == 0 && len(pk.ReasonCodes) == 0 &&
		!pk.SessionPresent && pk.ReasonCode == 0 && !pk.Ignore &&
		connectEmpty(&pk.Connect)
}

// connectEmpty says whether c is the zero ConnectParams.
func connectEmpty(c *packets.ConnectParams) bool {
	return len(c.ProtocolName) == 0 && len(c.Password) == 0 && len(c.Username) == 0 &&
		len(c.WillPayload) == 0 && c.ClientIdentifier == "" && c.WillTopic == "" &&
		c.Keepalive == 0 && c.WillQos == 0 &&
		!c.PasswordFlag && !c.UsernameFlag && !c.WillFlag && !c.WillRetain && !c.Clean &&
		propertiesEmpty(&c.WillProperties)
}

// queue returns pk in its queued form; pk is queueable.
func queue(pk *packets.Packet) *queuedPublish {
	q := &queuedPublish{
		topic:    pk.TopicName,
		origin:   pk.Origin,
		payload:  pk.Payload,
		created:  pk.Created,
		expiry:   pk.Expiry,
		fh:       pk.FixedHeader,
		mods:     pk.Mods,
		id:       pk.PacketID,
		version:  pk.ProtocolVersion,
		reserved: pk.ReservedBit,
	}
	if !propertiesEmpty(&pk.Properties) {
		props := pk.Properties
		q.props = &props
	}
	return q
}

// packet returns the packet q holds, sharing its payload as a copy of a
// packets.Packet would.
func (q *queuedPublish) packet() packets.Packet {
	pk := packets.Packet{
		TopicName:       q.topic,
		Origin:          q.origin,
		Payload:         q.payload,
		Created:         q.created,
		Expiry:          q.expiry,
		FixedHeader:     q.fh,
		Mods:            q.mods,
		PacketID:        q.id,
		ProtocolVersion: q.version,
		ReservedBit:     q.reserved,
	}
	if q.props != nil {
		pk.Properties = *q.props
	}
	return pk
}

// propertiesEmpty says whether p is the zero Properties.
func propertiesEmpty(p *packets.Properties) bool {
	return len(p.CorrelationData) == 0 && len(p.SubscriptionIdentifier) == 0 &&
		len(p.AuthenticationData) == 0 && len(p.User) == 0 &&
		p.ContentType == "" && p.ResponseTopic == "" && p.AssignedClientID == "" &&
		p.AuthenticationMethod == "" && p.ResponseInfo == "" && p.ServerReference == "" &&
		p.ReasonString == "" &&
		p.MessageExpiryInterval == 0 && p.SessionExpiryInterval == 0 &&
		p.WillDelayInterval == 0 && p.MaximumPacketSize == 0 &&
		p.ServerKeepAlive == 0 && p.ReceiveMaximum == 0 && p.TopicAliasMaximum == 0 &&
		p.TopicAlias == 0 && p.PayloadFormat == 0 && p.RequestProblemInfo == 0 &&
		p.RequestResponseInfo == 0 && p.MaximumQos == 0 && p.RetainAvailable == 0 &&
		p.WildcardSubAvailable == 0 && p.SubIDAvailable == 0 && p.SharedSubAvailable == 0 &&
		!p.PayloadFormatFlag && !p.SessionExpiryIntervalFlag && !p.ServerKeepAliveFlag &&
		!p.RequestProblemInfoFlag && !p.TopicAliasFlag && !p.MaximumQosFlag &&
		!p.RetainAvailableFlag && !p.WildcardSubAvailableFlag && !p.SubIDAvailableFlag &&
		!p.SharedSubAvailableFlag && !p.ReceiveMaximumFlag
}
