package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
)

func (c *Consumer) batch(db string) *dbBatch {
	b := c.batches[db]
	if b == nil {
		b = &dbBatch{}
		c.batches[db] = b
	}
	if len(b.msgs) == 0 && len(b.b.Rows) == 0 {
		c.order = append(c.order, db)
	}
	return b
}

func dbOf(r *kgo.Record, def string) string {
	for _, h := range r.Headers {
		if h.Key == "db" {
			return string(h.Value)
		}
	}
	return def
}

func deadOf(r *kgo.Record, code, reason string) stream.DeadMessage {
	d := stream.DeadMessage{Source: Key(r.Topic, r.Partition), Offset: r.Offset, Key: r.Key,
		Value: r.Value, Code: code, Reason: reason, Time: r.Timestamp.UnixNano()}
	if len(r.Headers) > 0 {
		d.Header = map[string]string{}
		for _, h := range r.Headers {
			d.Header[h.Key] = string(h.Value)
		}
	}
	return d
}

// process writes one poll: rows grouped by database, the partitions'
// offsets logged with the last write so that they never run ahead of rows
// that are not durable yet.
func (c *Consumer) process(ctx context.Context, fs kgo.Fetches) error {
	// The slices are truncated for reuse, but cleared first: a record left
	// in a slot past the length keeps its fetch's whole decompressed batch
	// reachable (franz-go's records point into it), and slots of a large
	// poll that later small polls never overwrite would keep old batches
	// alive (up to the poll size times a batch's size).
	for _, db := range c.order {
		b := c.batches[db]
		b.b.Reset()
		clear(b.msgs)
		b.msgs = b.msgs[:0]
	}
	c.order = c.order[:0]
	clear(c.dead)
	c.dead = c.dead[:0]
	offs := sink.SourceOffsets{}
	polled := map[string][]int32{}
	hws := map[topicPart]int64{}
	// The tenure of every partition in the poll. Rebalances wait for the
	// poll (BlockRebalanceOnPoll), so ownership cannot change before the
	// write; records of a partition without state (a fetch buffered before
	// the partition left) are not this node's to write: its owner reads
	// them from the group's offset.
	gens := map[topicPart]int32{}
	c.mu.Lock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if st := c.parts[topicPart{p.Topic, p.Partition}]; st != nil {
			gens[topicPart{p.Topic, p.Partition}] = st.gen
		}
	})
	c.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		tp := topicPart{p.Topic, p.Partition}
		if _, ok := gens[tp]; !ok {
			if len(p.Records) > 0 {
				c.log.Warn("kafka records of a partition this node does not own skipped",
					"topic", p.Topic, "partition", p.Partition, "first", p.Records[0].Offset, "records", len(p.Records))
			}
			return
		}
		hws[tp] = p.HighWatermark
		if len(p.Records) == 0 {
			return
		}
		polled[p.Topic] = append(polled[p.Topic], p.Partition)
		for _, r := range p.Records {
			db := dbOf(r, c.cfg.DB)
			if err := sink.ValidateName("database", db); err != nil {
				c.dead = append(c.dead, deadOf(r, "stream-bad-db", "header db: "+err.Error()))
				continue
			}
			b := c.batch(db)
			b.msgs = append(b.msgs, r)
			if err := c.dec.Decode(&b.b, r.Value, len(b.msgs), r.Timestamp.UnixNano()); err != nil {
				var de *stream.DecodeError
				code := "stream-decode"
				if errors.As(err, &de) {
					code = de.Code()
				}
				c.dead = append(c.dead, deadOf(r, code, err.Error()))
			}
		}
		c.m.messages.WithLabelValues(p.Topic).Add(float64(len(p.Records)))
		offs[Key(p.Topic, p.Partition)] = p.Records[len(p.Records)-1].Offset + 1
	})
	if len(offs) > 0 {
		// Dead letters go first: a crash before the write below consumes
		// these messages again and dead-letters them again (at least once).
		if err := c.sendDead(ctx); err != nil {
			return err
		}
		if len(c.order) == 0 {
			c.batch(c.cfg.DB) // all dead: a write of offsets only
		}
		for i, db := range c.order {
			var o sink.SourceOffsets
			if i == len(c.order)-1 {
				o = offs
			}
			b := c.batches[db]
			res, err := c.write(ctx, db, &b.b, c.sourceParts(b, o, gens), polled)
			if err != nil {
				return err
			}
			c.rejected(b, res.Rejected)
		}
		// Rows the schema rejected are known only after the write that
		// advanced the offsets: their dead letters are at most once.
		if err := c.sendDead(ctx); err != nil {
			return err
		}
	}
	commit := map[string]map[int32]kgo.EpochOffset{}
	metas := map[topicPart]string{}
	c.mu.Lock()
	for tp, hw := range hws {
		st := c.parts[tp]
		if st == nil {
			continue // revoked meanwhile (only possible without records)
		}
		if next, ok := offs[Key(tp.topic, tp.part)]; ok {
			st.next = next
			if commit[tp.topic] == nil {
				commit[tp.topic] = map[int32]kgo.EpochOffset{}
			}
			commit[tp.topic][tp.part] = kgo.EpochOffset{Epoch: -1, Offset: next}
			metas[tp] = st.meta
		}
		st.hw = hw
		c.m.observe(tp.topic, tp.part, st)
	}
	c.mu.Unlock()
	if len(commit) > 0 && !c.noCommit.Load() {
		if c.cfg.knobs.commitDelay > 0 {
			_ = sleep(ctx, c.cfg.knobs.commitDelay)
		}
		// For lag monitoring and hand-over; Silt's own offsets are the
		// truth, so a failed commit only costs a retry at the next poll.
		// A kill -9 before it lands leaves the group behind the WAL: the
		// tenure histories let the restarted node drop what the next
		// owner consumes again (handover.go).
		c.cl.CommitOffsets(commitCtx(ctx, metas), commit, c.committed(gens))
	}
	return nil
}

// sourceParts describes which rows of b came from which partition (b.msgs
// holds each partition's messages contiguously: a poll is decoded partition
// by partition), for the WAL record. offs are the positions this write
// moves (the poll's last write), also for partitions without rows here.
func (c *Consumer) sourceParts(b *dbBatch, offs sink.SourceOffsets, gens map[topicPart]int32) []sink.SourcePart {
	var parts []sink.SourcePart
	all := make([]int64, len(b.msgs))
	seen := map[string]bool{}
	for i := 0; i < len(b.msgs); {
		r := b.msgs[i]
		j := i
		for j < len(b.msgs) && b.msgs[j].Partition == r.Partition && b.msgs[j].Topic == r.Topic {
			all[j] = b.msgs[j].Offset
			j++
		}
		key := Key(r.Topic, r.Partition)
		next, ok := offs[key]
		if !ok {
			next = -1
		}
		seen[key] = true
		parts = append(parts, sink.SourcePart{Key: key, Tenure: int64(gens[topicPart{r.Topic, r.Partition}]),
			Next: next, FirstLine: i + 1, Offsets: all[i:j:j]})
		i = j
	}
	for key, next := range offs {
		if !seen[key] {
			topic, p, _ := parseKey(key)
			parts = append(parts, sink.SourcePart{Key: key, Tenure: int64(gens[topicPart{topic, p}]),
				Next: next, FirstLine: len(b.msgs) + 1})
		}
	}
	return parts
}

// rejected turns rows the schema refused into dead letters of their
// messages (once per message).
func (c *Consumer) rejected(b *dbBatch, rej []columnar.LineError) {
	last := -1
	for _, e := range rej {
		if e.Line == last || e.Line < 1 || e.Line > len(b.msgs) {
			continue
		}
		last = e.Line
		c.dead = append(c.dead, deadOf(b.msgs[e.Line-1], e.Code, e.Reason))
	}
}

func (c *Consumer) sendDead(ctx context.Context) error {
	if len(c.dead) == 0 {
		return nil
	}
	err := sink.Persist(ctx, func() error { return c.dl.Send(c.dead) }, 10*maxBackoff, func(err error, retryIn time.Duration) {
		c.log.Error("store dead letters; retrying (the partitions wait)", "err", err, "retry_in", retryIn)
	})
	if err != nil {
		return err
	}
	for _, d := range c.dead {
		topic, _, _ := strings.Cut(strings.TrimPrefix(d.Source, "kafka/"), "/")
		c.m.deadLetters.WithLabelValues(topic, d.Code).Inc()
		c.log.Warn("kafka message dead-lettered", "source", d.Source, "offset", d.Offset, "code", d.Code, "reason", d.Reason)
	}
	clear(c.dead) // their values alias fetched batches, as in process
	c.dead = c.dead[:0]
	return nil
}

// write writes one batch, pausing the polled partitions while the engine
// answers backpressure (or a full disk) and retrying until it takes the
// rows. Other errors are returned: the WAL is broken and only a restart
// (and replay) can go on.
func (c *Consumer) write(ctx context.Context, db string, b *columnar.Batch, parts []sink.SourcePart, polled map[string][]int32) (sink.WriteResult, error) {
	paused := false
	defer func() {
		if paused {
			c.cl.ResumeFetchPartitions(polled)
			c.setPaused(polled, false)
		}
	}()
	res, err := sink.Retry(ctx, func() (sink.WriteResult, error) { return c.sink.WriteParts(db, b, parts) },
		func(err error, first bool) {
			if !first {
				return
			}
			paused = true
			c.cl.PauseFetchPartitions(polled)
			c.setPaused(polled, true)
			c.m.pauses.Inc()
			if sink.IsDiskFull(err) {
				c.log.Error("disk full: kafka partitions paused until writes succeed", "err", err)
			}
		})
	if err != nil {
		return res, fmt.Errorf("kafka: write to database %s: %w", db, err)
	}
	return res, nil
}

func (c *Consumer) setPaused(parts map[string][]int32, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			if st := c.parts[topicPart{topic, p}]; st != nil {
				st.paused = paused
				c.m.observe(topic, p, st)
			}
		}
	}
}
