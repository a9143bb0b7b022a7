package nats

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/siltdb/silt/ingest/stream"
)

// subjectDeadLetter publishes dead messages to a subject that a JetStream
// stream captures (the publish waits for the stream's acknowledgement).
type subjectDeadLetter struct {
	js      jetstream.JetStream
	subject string
}

func (d *subjectDeadLetter) Send(msgs []stream.DeadMessage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range msgs {
		msg := nats.NewMsg(d.subject)
		msg.Data = m.Value
		for k, v := range m.Header {
			msg.Header.Set(k, v)
		}
		msg.Header.Set("Silt-Source", m.Source)
		msg.Header.Set("Silt-Sequence", fmt.Sprint(m.Offset))
		msg.Header.Set("Silt-Code", m.Code)
		msg.Header.Set("Silt-Reason", m.Reason)
		if _, err := d.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("publish dead letter to %s: %w", d.subject, err)
		}
	}
	return nil
}

func (d *subjectDeadLetter) Close() error { return nil }
