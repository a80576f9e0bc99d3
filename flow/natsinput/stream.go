package natsinput

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// setup creates or checks the stream and the durable consumer.
//
// The stream is a work queue: a reading leaves it once an instance
// acknowledged it (it is spooled), so max_bytes bounds the readings not
// yet taken, not the history. It discards new messages when full rather
// than old ones, which would drop readings nobody stored; see README.md
// "Beyond one machine" for what an MQTT publisher then sees.
func (in *Input) setup(ctx context.Context, nc *nats.Conn) (jetstream.Consumer, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s, err := js.Stream(ctx, in.c.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		s, err = js.CreateStream(ctx, in.streamConfig())
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", in.c.Stream, err)
		}
		in.log.Info("created stream", "stream", in.c.Stream, "subjects", in.c.Subjects, "replicas", in.c.Replicas)
	case err != nil:
		return nil, fmt.Errorf("stream %s: %w", in.c.Stream, err)
	default:
		if err := in.checkStream(s.CachedInfo().Config); err != nil {
			return nil, err
		}
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        in.c.Consumer,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        in.c.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  max(16*in.c.Batch, 1000),
		FilterSubjects: in.c.Subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", in.c.Consumer, in.c.Stream, err)
	}
	return cons, nil
}

func (in *Input) streamConfig() jetstream.StreamConfig {
	if in.c.Stream == mqttStream {
		// nats-server's own QoS 1/2 store, as it would create it (it takes
		// an existing one as it is), with our bounds: a PUBACK means the
		// message is stored here, and a store it refuses when full closes
		// the publisher's connection without a PUBACK (push-back).
		return jetstream.StreamConfig{
			Name:      mqttStream,
			Subjects:  []string{mqttStreamPrefix + ">"},
			Replicas:  in.c.Replicas,
			Storage:   jetstream.FileStorage,
			Retention: jetstream.InterestPolicy,
			Discard:   jetstream.DiscardNew,
			MaxBytes:  int64(in.c.MaxBytes),
			MaxAge:    in.c.MaxAge,
		}
	}
	return jetstream.StreamConfig{
		Name:      in.c.Stream,
		Subjects:  in.c.Subjects,
		Replicas:  in.c.Replicas,
		Storage:   jetstream.FileStorage,
		Retention: jetstream.WorkQueuePolicy,
		Discard:   jetstream.DiscardNew,
		MaxBytes:  int64(in.c.MaxBytes),
		MaxAge:    in.c.MaxAge,
	}
}

// checkStream refuses a stream that would not hold what the consumer
// reads, and warns of settings that differ from the configuration (an
// operator may have changed them on purpose).
func (in *Input) checkStream(got jetstream.StreamConfig) error {
	for _, want := range in.c.Subjects {
		if in.c.Stream == mqttStream && strings.HasPrefix(want, mqttStreamPrefix) {
			continue // $MQTT.msgs.> holds it
		}
		if !slices.Contains(got.Subjects, want) {
			return fmt.Errorf("stream %s exists with subjects %v, without %q: add it (nats stream edit) or change the subjects key", in.c.Stream, got.Subjects, want)
		}
	}
	if got.MaxBytes <= 0 && got.MaxMsgs <= 0 {
		in.log.Warn("stream has no bound: it grows until the servers' JetStream storage is full", "stream", in.c.Stream)
	}
	if got.Discard != jetstream.DiscardNew {
		in.log.Warn("stream discards old messages when full: readings not yet stored are lost then; set discard new", "stream", in.c.Stream)
	}
	if got.Replicas != in.c.Replicas {
		in.log.Warn("stream has another replica count than configured", "stream", in.c.Stream, "replicas", got.Replicas, "configured", in.c.Replicas)
	}
	return nil
}
