package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
)

// Key returns the engine source key of a topic partition.
func Key(topic string, partition int32) string {
	return "kafka/" + topic + "/" + strconv.Itoa(int(partition))
}

// Defaults of the fetch bounds: one poll is one WAL record per database,
// so it should be large enough to amortize the fsync and small enough that
// the memory held outside the engine's head bound stays modest.
const (
	defaultMaxPollRecords = 10_000
	defaultFetchMaxBytes  = 16 << 20
	// Backoff of the retries of a commit.
	minBackoff = sink.MinBackoff
	maxBackoff = sink.MaxBackoff
)

type topicPart struct {
	topic string
	part  int32
}

type partState struct {
	next      int64 // durable position: the next offset to consume
	hw        int64 // last known high watermark
	paused    bool
	gen       int32  // group generation of this node's tenure (tenure.go)
	meta      string // commit metadata: the tenure history ending with this node's
	confirmed int64  // highest position the group confirmed in this tenure
}

// dbBatch collects one poll's rows for one database.
type dbBatch struct {
	b    columnar.Batch
	msgs []*kgo.Record // msgs[i] produced the rows with Line i+1
}

// Consumer consumes Kafka topics into a Sink. Run drives it; the group
// callbacks run on franz-go's goroutines and share the partition state
// under mu.
type Consumer struct {
	cfg  Config
	sink sink.Sink
	log  *slog.Logger
	cl   *kgo.Client
	dl   stream.DeadLetter
	m    *metrics
	dec  stream.Decoder

	mu    sync.Mutex
	parts map[topicPart]*partState

	// noCommit (tests) suppresses group commits, as a crash or a slow
	// coordinator leaves the group's offsets behind Silt's.
	noCommit atomic.Bool
	// gateCommitHook (tests) runs between building a flush's commit and
	// handing it to franz-go: where a rebalance can slip in.
	gateCommitHook func()

	node   string                     // this node's id in tenure histories
	clp    atomic.Pointer[kgo.Client] // c.cl for the group callbacks
	closed bool                       // guarded by mu: Close has run
	// fenced (guarded by mu) is set once partitions left with rows the
	// group had not confirmed: flushes are refused from then on.
	fenced string
	// revoking (guarded by mu) counts revokes whose commit of unconfirmed
	// positions is under way: flushes wait for them.
	revoking int

	// Scratch of process, used by Run's goroutine only.
	batches map[string]*dbBatch
	order   []string
	dead    []stream.DeadMessage
}

// New connects to the brokers and joins the group; consumption starts with
// Run. reg receives the consumer's metrics.
func New(cfg Config, out sink.Sink, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.knobs.fromEnv(); err != nil {
		return nil, err
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = defaultMaxPollRecords
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = defaultFetchMaxBytes
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Consumer{cfg: cfg, sink: out, log: log.With("source", "kafka"),
		parts: map[topicPart]*partState{}, batches: map[string]*dbBatch{},
		dec: stream.Decoder{Format: cfg.Format, Table: cfg.Table, Precision: cfg.Precision, MaxLineBytes: cfg.MaxLineBytes}}
	// Metrics first: the client joins the group as soon as it exists, and
	// the group callbacks update them.
	c.m = newMetrics(reg)
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		// A new group with nothing recorded reads the topics from the
		// start: a sink should not skip what was produced before it began.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(int32(min(cfg.FetchMaxBytes, 1<<30))),
	)
	opts = append(opts, cfg.Extra...)
	if cfg.Handover != nil {
		if c.node, err = cfg.Handover.NodeID(); err != nil {
			return nil, err
		}
	} else if c.node, err = randomNodeID(); err != nil {
		return nil, err
	}
	c.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: create client: %w", err)
	}
	c.clp.Store(c.cl)
	if d := cfg.knobs.gateCommitDelay; d > 0 {
		c.gateCommitHook = func() { time.Sleep(d) }
	}
	if cfg.Handover != nil {
		cfg.Handover.attach(c)
	}
	if t := cfg.deadLetterTopic(); t != "" {
		c.dl = &topicDeadLetter{cl: c.cl, topic: t}
	} else {
		c.dl, err = stream.OpenFileDeadLetter(strings.TrimPrefix(cfg.DeadLetter, "file:"))
		if err != nil {
			c.cl.Close()
			return nil, err
		}
	}
	return c, nil
}

// client returns the client once New has stored it (the group may call
// back before NewClient has returned to New).
func (c *Consumer) client(ctx context.Context) *kgo.Client {
	for {
		if cl := c.clp.Load(); cl != nil {
			return cl
		}
		if sleep(ctx, time.Millisecond) != nil {
			return nil
		}
	}
}

// Run consumes until ctx is cancelled or a write fails for good (the WAL
// is broken). It returns nil on cancellation.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		fs := c.cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil {
			c.cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.m.fetchErrors.Inc()
			c.log.Warn("kafka fetch", "topic", topic, "partition", p, "err", err)
		})
		err := c.process(ctx, fs)
		c.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Close commits the durable positions, leaves the group and closes the
// dead letter. Call it after Run has returned.
func (c *Consumer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	commit := map[string]map[int32]kgo.EpochOffset{}
	metas := map[topicPart]string{}
	gens := map[topicPart]int32{}
	c.mu.Lock()
	for tp, st := range c.parts {
		if commit[tp.topic] == nil {
			commit[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.topic][tp.part] = kgo.EpochOffset{Epoch: -1, Offset: st.next}
		metas[tp], gens[tp] = st.meta, st.gen
	}
	c.mu.Unlock()
	if !c.noCommit.Load() && len(commit) > 0 {
		// A partition revoked meanwhile had these positions committed by
		// the revoke (Run has returned: nothing moved them since).
		c.cl.CommitOffsetsSync(c.tenureCommitCtx(ctx, metas, gens), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err == nil {
				err = commitError(resp)
			}
			if errors.Is(err, errTenureEnded) {
				c.log.Info("kafka positions at shutdown not committed: committed by the revoke of their partitions", "err", err)
			} else if err != nil {
				c.log.Warn("commit offsets at shutdown", "err", err, "positions", commit)
			} else {
				c.log.Info("kafka positions committed at shutdown", "positions", commit)
			}
		})
	}
	// Flushes from now on (the engine's last, at shutdown) no longer wait
	// for the group: the positions above are all this node can commit.
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if c.cfg.Handover != nil {
		c.cfg.Handover.detach(c)
	}
	c.cl.Close()
	return c.dl.Close()
}

var sleep = sink.Sleep
