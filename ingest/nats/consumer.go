package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
)

// Key returns the engine source key of a durable consumer.
func Key(streamName, consumer string) string { return "nats/" + streamName + "/" + consumer }

// Defaults: a fetch of 5000 messages amortizes the fsync; the ack wait is
// long enough for one fsync under load and is extended with InProgress
// while backpressure holds messages.
const (
	defaultBatch   = 5000
	defaultAckWait = 30 * time.Second
	minBackoff     = sink.MinBackoff // of the retries of an ack
	maxBackoff     = sink.MaxBackoff
	infoEvery      = 2 * time.Second
)

// Consumer drives one durable pull consumer. Run and Close are called from
// one goroutine.
type Consumer struct {
	cfg  Config
	sink sink.Sink
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	cons jetstream.Consumer
	dl   stream.DeadLetter
	dec  stream.Decoder
	key  string
	m    *metrics

	// noAck (tests) drops acknowledgements, as a crash between the fsync
	// and the acks does.
	noAck bool

	msgs     []jetstream.Msg
	held     []jetstream.Msg
	dbs      map[string]*columnar.Batch
	dead     []stream.DeadMessage
	lastInfo time.Time
}

// New connects and (re)creates the durable consumer at Silt's recorded
// position (or the consumer's own, if further; else the stream's start).
func New(ctx context.Context, cfg Config, out sink.Sink, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = defaultAckWait
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Consumer{cfg: cfg, sink: out, log: log.With("source", "nats"), key: Key(cfg.Stream, cfg.Consumer),
		dec: stream.Decoder{Format: cfg.Format, Table: cfg.Table, Precision: cfg.Precision},
		dbs: map[string]*columnar.Batch{}}
	opts := cfg.connOptions()
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", cfg.URL, err)
	}
	c.nc = nc
	fail := func(err error) (*Consumer, error) { nc.Close(); return nil, err }
	if c.js, err = jetstream.New(nc); err != nil {
		return fail(fmt.Errorf("nats: jetstream: %w", err))
	}
	// The durable consumer is (re)created at Silt's recorded position, as
	// a Kafka partition is sought to it: messages a killed run had fetched
	// but not acknowledged would otherwise be redelivered after newer
	// ones, below the recorded position, and look already written. The
	// existing consumer's ack floor counts too (a new data directory takes
	// over where the consumer was).
	recorded := out.SourceOffsets(c.key)[c.key]
	start, from := recorded, "silt"
	old, err := c.js.Consumer(ctx, cfg.Stream, cfg.Consumer)
	switch {
	case err == nil:
		if floor := int64(old.CachedInfo().AckFloor.Stream) + 1; floor > start {
			start, from = floor, "consumer"
		}
		if err := c.js.DeleteConsumer(ctx, cfg.Stream, cfg.Consumer); err != nil {
			return fail(fmt.Errorf("nats: reposition durable consumer %s: %w", cfg.Consumer, err))
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return fail(fmt.Errorf("nats: durable consumer %s on stream %s: %w", cfg.Consumer, cfg.Stream, err))
	}
	cc := jetstream.ConsumerConfig{Durable: cfg.Consumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait, FilterSubject: cfg.Subject, MaxAckPending: 4 * cfg.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy}
	if start > 1 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, uint64(start)
	}
	if c.cons, err = c.js.CreateConsumer(ctx, cfg.Stream, cc); err != nil {
		return fail(fmt.Errorf("nats: create durable consumer %s on stream %s: %w", cfg.Consumer, cfg.Stream, err))
	}
	c.log.Info("nats consumer positioned", "stream", cfg.Stream, "consumer", cfg.Consumer, "start", start, "from", from, "silt_recorded", recorded)
	if name, ok := strings.CutPrefix(cfg.DeadLetter, "subject:"); ok {
		c.dl = &subjectDeadLetter{js: c.js, subject: name}
	} else if c.dl, err = stream.OpenFileDeadLetter(strings.TrimPrefix(cfg.DeadLetter, "file:")); err != nil {
		return fail(err)
	}
	c.m = newMetrics(reg, cfg.Stream, cfg.Consumer)
	c.m.position.Set(float64(start))
	return c, nil
}

// Run fetches and writes until ctx is cancelled (nil) or a write fails for
// good (the WAL is broken).
func (c *Consumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		c.refreshInfo(ctx)
		// A fetch waits less than the ack wait, so that its first messages
		// are rarely redelivered before it returns.
		batch, err := c.cons.Fetch(c.cfg.Batch, jetstream.FetchMaxWait(min(time.Second, c.cfg.AckWait/2)))
		if err != nil {
			c.m.fetchErrors.Inc()
			c.log.Warn("nats fetch", "err", err)
			if sleep(ctx, time.Second) != nil {
				return nil
			}
			continue
		}
		clear(c.msgs) // a message left past the length would stay reachable
		c.msgs = c.msgs[:0]
		for msg := range batch.Messages() {
			c.msgs = append(c.msgs, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			c.log.Debug("nats fetch ended", "err", err)
		}
		if len(c.msgs) == 0 {
			continue
		}
		if err := c.process(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // unacknowledged messages are redelivered to the next run
			}
			return err
		}
	}
	return nil
}

func (c *Consumer) refreshInfo(ctx context.Context) {
	if time.Since(c.lastInfo) < infoEvery {
		return
	}
	c.lastInfo = time.Now()
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := c.cons.Info(ictx)
	if err != nil {
		return
	}
	c.m.pending.Set(float64(info.NumPending))
	c.m.ackPending.Set(float64(info.NumAckPending))
}

// process writes one fetched batch and then acknowledges it.
func (c *Consumer) process(ctx context.Context) error {
	for _, b := range c.dbs {
		b.Reset()
	}
	clear(c.dead) // as c.msgs: no old message stays reachable from a spare slot
	clear(c.held)
	c.dead = c.dead[:0]
	c.held = c.held[:0]
	var order []string
	top := c.sink.SourceOffsets(c.key)[c.key] // the recorded position
	var skipped []jetstream.Msg
	for _, msg := range c.msgs {
		md, err := msg.Metadata()
		if err != nil {
			c.log.Warn("nats message without JetStream metadata: acknowledged and ignored", "subject", msg.Subject(), "err", err)
			_ = msg.Ack()
			continue
		}
		seq := int64(md.Sequence.Stream)
		if seq < top {
			// Below the recorded position: durable already, its ack was
			// lost. Below this batch's highest: a redelivery of a message
			// earlier in this batch (its ack wait ran out during the
			// fetch). Either way acknowledge it after the write, write it
			// once.
			skipped = append(skipped, msg)
			continue
		}
		top = max(top, seq+1)
		c.held = append(c.held, msg)
		db := c.cfg.DB
		if v := msg.Headers().Get("db"); v != "" {
			db = v
		}
		if err := sink.ValidateName("database", db); err != nil {
			c.dead = append(c.dead, deadOf(msg, md, c.key, "stream-bad-db", "header db: "+err.Error()))
			continue
		}
		b := c.dbs[db]
		if b == nil {
			b = &columnar.Batch{}
			c.dbs[db] = b
		}
		if !contains(order, db) {
			order = append(order, db)
		}
		if err := c.dec.Decode(b, msg.Data(), len(c.held), md.Timestamp.UnixNano()); err != nil {
			var de *stream.DecodeError
			code := "stream-decode"
			if errors.As(err, &de) {
				code = de.Code()
			}
			c.dead = append(c.dead, deadOf(msg, md, c.key, code, err.Error()))
		}
	}
	c.m.redelivered.Add(float64(len(skipped)))
	if len(c.held) == 0 {
		for _, msg := range skipped {
			_ = msg.Ack()
		}
		return nil
	}
	written := false
	defer func() {
		if !written {
			return // unacknowledged: redelivered, or repositioned at restart
		}
		for _, msg := range skipped {
			_ = msg.Ack()
		}
	}()
	c.m.messages.Add(float64(len(c.held)))
	if err := c.sendDead(ctx); err != nil {
		return err
	}
	if len(order) == 0 {
		order = append(order, c.cfg.DB)
		if c.dbs[c.cfg.DB] == nil {
			c.dbs[c.cfg.DB] = &columnar.Batch{}
		}
	}
	offs := sink.SourceOffsets{c.key: top}
	for i, db := range order {
		var o sink.SourceOffsets
		if i == len(order)-1 {
			o = offs // logged last: never ahead of rows not yet durable
		}
		res, err := c.write(ctx, db, c.dbs[db], o)
		if err != nil {
			return err
		}
		for _, e := range res.Rejected {
			if e.Line >= 1 && e.Line <= len(c.held) {
				msg := c.held[e.Line-1]
				md, _ := msg.Metadata()
				c.dead = append(c.dead, deadOf(msg, md, c.key, e.Code, e.Reason))
			}
		}
	}
	// The rows and the position are fsynced: only now acknowledge.
	written = true
	for _, msg := range c.held {
		if !c.noAck {
			_ = msg.Ack()
		}
	}
	c.m.position.Set(float64(top))
	return c.sendDead(ctx)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func deadOf(msg jetstream.Msg, md *jetstream.MsgMetadata, key, code, reason string) stream.DeadMessage {
	d := stream.DeadMessage{Source: key, Value: msg.Data(), Code: code, Reason: reason}
	if md != nil {
		d.Offset, d.Time = int64(md.Sequence.Stream), md.Timestamp.UnixNano()
	}
	if h := msg.Headers(); len(h) > 0 {
		d.Header = map[string]string{}
		for k := range h {
			d.Header[k] = h.Get(k)
		}
	}
	d.Header = mergeSubject(d.Header, msg.Subject())
	return d
}

func mergeSubject(h map[string]string, subject string) map[string]string {
	if h == nil {
		h = map[string]string{}
	}
	h["Nats-Subject"] = subject
	return h
}

func (c *Consumer) sendDead(ctx context.Context) error {
	if len(c.dead) == 0 {
		return nil
	}
	err := sink.Persist(ctx, func() error { return c.dl.Send(c.dead) }, 10*maxBackoff, func(err error, retryIn time.Duration) {
		c.log.Error("store dead letters; retrying", "err", err, "retry_in", retryIn)
		c.inProgress()
	})
	if err != nil {
		return err
	}
	for _, d := range c.dead {
		c.m.deadLetters.WithLabelValues(d.Code).Inc()
		c.log.Warn("nats message dead-lettered", "source", d.Source, "sequence", d.Offset, "code", d.Code, "reason", d.Reason)
	}
	clear(c.dead)
	c.dead = c.dead[:0]
	return nil
}

// inProgress resets the ack wait of the held messages.
func (c *Consumer) inProgress() {
	for _, msg := range c.held {
		_ = msg.InProgress()
	}
}

// write retries while the engine answers backpressure (or a full disk);
// fetching stops meanwhile, as Run does not fetch until process returns.
func (c *Consumer) write(ctx context.Context, db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
	paused := false
	defer func() {
		if paused {
			c.m.paused.Set(0)
		}
	}()
	lastProgress := time.Now()
	res, err := sink.Retry(ctx, func() (sink.WriteResult, error) { return c.sink.WriteFrom(db, b, offs) },
		func(_ error, first bool) {
			if first {
				paused = true
				c.m.paused.Set(1)
				c.m.pauses.Inc()
			}
			// Held messages would be redelivered after AckWait.
			if time.Since(lastProgress) > c.cfg.AckWait/3 {
				c.inProgress()
				lastProgress = time.Now()
			}
		})
	if err != nil {
		return res, fmt.Errorf("nats: write to database %s: %w", db, err)
	}
	return res, nil
}

// Close closes the dead letter and the connection (pending acks are
// flushed first).
func (c *Consumer) Close() error {
	err := c.nc.Drain()
	return errors.Join(err, c.dl.Close())
}

var sleep = sink.Sleep
