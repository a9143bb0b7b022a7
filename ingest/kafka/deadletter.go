package kafka

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/ingest/stream"
)

// topicDeadLetter produces dead messages to a Kafka topic: the original key
// and value, the original headers, and silt-* headers saying where the
// message came from and why it was refused.
type topicDeadLetter struct {
	cl    *kgo.Client
	topic string
}

var _ stream.DeadLetter = (*topicDeadLetter)(nil)

func (d *topicDeadLetter) Send(msgs []stream.DeadMessage) error {
	rs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r := &kgo.Record{Topic: d.topic, Key: m.Key, Value: m.Value, Timestamp: time.Unix(0, m.Time)}
		for k, v := range m.Header {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: "silt-source", Value: []byte(m.Source)},
			kgo.RecordHeader{Key: "silt-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kgo.RecordHeader{Key: "silt-code", Value: []byte(m.Code)},
			kgo.RecordHeader{Key: "silt-reason", Value: []byte(m.Reason)})
		rs[i] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("produce to dead-letter topic %s: %w", d.topic, err)
	}
	return nil
}

func (d *topicDeadLetter) Close() error { return nil }

func kerrFor(code int16) error { return kerr.ErrorForCode(code) }
