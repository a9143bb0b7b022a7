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
	"github.com/twmb/franz-go/pkg/kerr"
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

// adjustOffsets runs when partitions are assigned, after the group's
// committed offsets are fetched: each partition starts at Silt's own
// recorded position, or at the group's if that is further (another Silt
// instance consumed the partition meanwhile and committed on hand-over).
//
// Each assignment starts a tenure (tenure.go): the history the group's
// commit carries is read with the offsets and extended with this node's,
// and every commit of the tenure carries it on.
func (c *Consumer) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	own := c.sink.SourceOffsets("kafka/")
	cl := c.client(ctx)
	gen := int32(-1)
	var hist map[string]groupOffset
	if cl != nil {
		_, gen = cl.GroupMetadata()
		var err error
		if hist, err = fetchGroup(ctx, cl, c.cfg.Group, 10*time.Second); err != nil {
			// The history restarts with this tenure: a crashed earlier
			// owner then finds the hand-over by generation order.
			c.log.Warn("read tenure histories of the assigned partitions", "err", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range offsets {
		for p, o := range ps {
			group := o.EpochOffset().Offset // negative: nothing committed (the reset offset)
			start, from := group, "group"
			mine, haveMine := own[Key(topic, p)]
			if !haveMine {
				mine = -1
			}
			if haveMine && mine >= group {
				start, from = mine, "silt"
			}
			if start >= 0 {
				ps[p] = kgo.NewOffset().At(start)
			}
			h := append(hist[Key(topic, p)].hist, tenure{node: c.node, gen: gen, start: max(start, 0)})
			st := &partState{next: max(start, 0), hw: -1, gen: gen, meta: formatHistory(h), confirmed: group}
			c.parts[topicPart{topic, p}] = st
			c.m.observe(topic, p, st)
			c.log.Info("kafka partition assigned", "topic", topic, "partition", p,
				"start", start, "from", from, "group_committed", group, "silt_position", mine, "node", c.node, "generation", gen,
				"history", st.meta)
		}
	}
	return offsets, nil
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

// commitCtx attaches the partitions' tenure histories to a group commit.
func commitCtx(ctx context.Context, metas map[topicPart]string) context.Context {
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				if m, ok := metas[topicPart{t.Topic, t.Partitions[j].Partition}]; ok {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	})
}

// tenureCommitCtx is commitCtx for a commit built outside the poll loop
// (a flush's, Close's): the request leaves only if each of its partitions
// is still in the tenure (gens) it was built in, checked when franz-go is
// about to send it. Such a commit can wait out a whole join and sync
// (CommitOffsetsSync blocks while the group rebalances) and then go out
// under the new generation, which the coordinator accepts for any
// partition: landing after the revoke's commit, it would set the group's
// offset back to a position this node has since passed, and the next owner
// would consume again, without a warning, rows this node keeps. Once the
// check passes, a revoke's commit queues behind this one (franz-go runs
// commits one at a time, in order), so the group ends at the revoke's. For
// the same reason the positions are raised to the current ones when sent:
// a poll's commit may have gone out while this one waited.
func (c *Consumer) tenureCommitCtx(ctx context.Context, metas map[topicPart]string, gens map[topicPart]int32) context.Context {
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		var left []string
		c.mu.Lock()
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				tp := topicPart{t.Topic, t.Partitions[j].Partition}
				gen, ok := gens[tp]
				st := c.parts[tp]
				if !ok || st == nil || st.gen != gen {
					left = append(left, Key(tp.topic, tp.part))
					continue
				}
				// Polls may have moved the position since the commit was
				// built, and committed it: a send of the older position
				// would set the group back behind rows a later flush takes
				// as confirmed. st.next is durable, so it may go instead.
				t.Partitions[j].Offset = max(t.Partitions[j].Offset, st.next)
				if m, ok := metas[tp]; ok {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		c.mu.Unlock()
		if len(left) > 0 {
			return fmt.Errorf("%w: %v", errTenureEnded, left)
		}
		return nil
	})
}

// errTenureEnded refuses a commit whose partitions changed hands while it
// waited; the committer rebuilds it from the current partitions.
var errTenureEnded = errors.New("kafka: commit not sent: partitions left this node's tenure while it waited")

// ErrFenced refuses flushes once partitions left this node with rows the
// group had not confirmed (Config.OnFenced).
var ErrFenced = errors.New("kafka: partitions left this node with rows their next owner consumes again; they must be dropped (restart) before a flush")

// fenceLocked records, under mu, that partitions left with rows the group
// had not confirmed (unconfirmed names them with their offsets), in the
// same critical section that forgets the partitions: a flush checking them
// sees either the partition or the fence. It returns the reason to hand to
// fenced, or "" when there is nothing to do.
func (c *Consumer) fenceLocked(how string, unconfirmed []string) string {
	if len(unconfirmed) == 0 || c.cfg.OnFenced == nil || c.fenced != "" || c.closed {
		return ""
	}
	c.fenced = how + ": " + strings.Join(unconfirmed, ", ")
	return c.fenced
}

// fencedBy hands a fence over to Config.OnFenced. The caller does not hold mu.
func (c *Consumer) fencedBy(reason string) {
	if reason == "" {
		return
	}
	c.log.Error("kafka partitions left this node with rows the group has not confirmed: their next owner consumes "+
		"these rows again, so flushes are refused until a restart's replay drops them", "reason", reason)
	c.cfg.OnFenced(reason)
}

// committed records the positions a commit response confirms, for the
// partitions still in the tenure the commit was made in.
func (c *Consumer) committed(gens map[topicPart]int32) func(*kgo.Client, *kmsg.OffsetCommitRequest, *kmsg.OffsetCommitResponse, error) {
	return func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitError(resp)
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.log.Info("commit group offsets failed (retried at the next poll or flush)", "err", err, "partitions", commitOffsets(req))
			}
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tp := topicPart{t.Topic, p.Partition}
				if st := c.parts[tp]; st != nil && st.gen == gens[tp] && p.Offset > st.confirmed {
					st.confirmed = p.Offset
				}
			}
		}
	}
}

// awaitCommitted returns nil once the group has confirmed, for every
// partition this node owns, at least the position offs records (committing
// the current positions itself), or after wait. Partitions it no longer
// owns were committed on revoke, or lost, and are not waited for. It
// refuses (an error) once the node is fenced: some of the rows belong to
// another node now.
func (c *Consumer) awaitCommitted(offs sink.SourceOffsets, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		commit := map[string]map[int32]kgo.EpochOffset{}
		metas := map[topicPart]string{}
		gens := map[topicPart]int32{}
		c.mu.Lock()
		if c.fenced != "" {
			err := fmt.Errorf("%w: %s", ErrFenced, c.fenced)
			c.mu.Unlock()
			return err
		}
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		if c.revoking > 0 {
			c.mu.Unlock()
			if time.Now().After(deadline) {
				return errors.New("kafka: a revoke's commit is still under way")
			}
			_ = sleep(context.Background(), 20*time.Millisecond)
			continue
		}
		for key, v := range offs {
			topic, p, ok := parseKey(key)
			if !ok {
				continue
			}
			tp := topicPart{topic, p}
			st := c.parts[tp]
			if st == nil || st.confirmed >= v {
				continue
			}
			if commit[topic] == nil {
				commit[topic] = map[int32]kgo.EpochOffset{}
			}
			// v is durable (the flush took it from the engine) even if
			// process has not yet moved st.next to it.
			commit[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: max(st.next, v)}
			metas[tp], gens[tp] = st.meta, st.gen
		}
		c.mu.Unlock()
		if len(metas) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			c.m.unconfirmedFlushes.Inc()
			c.log.Warn("flushing rows whose positions the group has not confirmed: if this node is killed "+
				"before its next commit, the partitions' next owner consumes them again", "partitions", commit)
			return nil
		}
		if c.gateCommitHook != nil {
			c.gateCommitHook()
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		var commitErr error
		done := c.committed(gens)
		c.cl.CommitOffsetsSync(c.tenureCommitCtx(ctx, metas, gens), commit, func(cl *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			done(cl, req, resp, err)
			if err == nil {
				err = commitError(resp)
			}
			commitErr = err
		})
		cancel()
		if notMember(commitErr) {
			// The coordinator no longer counts this node as the owner:
			// the group will report the partitions lost or revoked. Try
			// again after that, rather than flush rows that may be
			// another node's by then.
			return fmt.Errorf("kafka: the group refused this node's commit before a flush: %w", commitErr)
		}
		_ = sleep(context.Background(), 20*time.Millisecond)
	}
}

// notMember reports a commit refused because the committing member is not
// (or no longer) in the group's current generation.
func notMember(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.StaleMemberEpoch)
}

// revoked commits the durable positions of the partitions leaving this
// member, synchronously, so that the member taking them over resumes there.
// Processing is not running (BlockRebalanceOnPoll), so the positions are
// final.
func (c *Consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	commit := map[string]map[int32]kgo.EpochOffset{}
	metas := map[topicPart]string{}
	var unconfirmed []string
	c.mu.Lock()
	for topic, ps := range revoked {
		for _, p := range ps {
			st := c.parts[topicPart{topic, p}]
			if st == nil {
				continue
			}
			if st.confirmed < st.next {
				unconfirmed = append(unconfirmed, unconfirmedRange(topic, p, st))
			}
			if commit[topic] == nil {
				commit[topic] = map[int32]kgo.EpochOffset{}
			}
			commit[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: st.next}
			metas[topicPart{topic, p}] = st.meta
			delete(c.parts, topicPart{topic, p})
			c.m.forget(topic, p)
		}
	}
	committing := len(unconfirmed) > 0 && !c.noCommit.Load()
	if committing {
		// Flushes wait for this commit: until it is confirmed the rows
		// past the group's offset may be the next owner's too.
		c.revoking++
	}
	c.mu.Unlock()
	cl.ResumeFetchPartitions(revoked)
	if c.noCommit.Load() {
		return
	}
	commitErr := errors.New("franz-go returned no commit response")
	cl.CommitOffsetsSync(commitCtx(ctx, metas), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitError(resp)
		}
		commitErr = err
	})
	if commitErr != nil && len(commit) > 0 {
		c.log.Warn("commit offsets of revoked partitions failed", "err", commitErr)
	}
	if committing {
		reason := ""
		c.mu.Lock()
		c.revoking--
		if commitErr != nil {
			reason = c.fenceLocked("the commit of revoked partitions failed ("+commitErr.Error()+")", unconfirmed)
		}
		c.mu.Unlock()
		c.fencedBy(reason)
	}
	if len(commit) > 0 && commitErr == nil {
		c.log.Info("kafka partitions revoked; their positions committed to the group", "partitions", revoked, "positions", commit)
	}
}

// lost forgets partitions taken away without a clean revoke (the group
// session expired): nothing can be committed for them any more.
func (c *Consumer) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	var unconfirmed []string
	c.mu.Lock()
	for topic, ps := range lost {
		for _, p := range ps {
			if st := c.parts[topicPart{topic, p}]; st != nil && st.confirmed < st.next {
				// The next owner starts at the group's offset: these rows
				// are on both nodes unless this node restarts before a
				// flush takes them (its replay then drops them).
				c.log.Warn("kafka partition lost with positions the group has not confirmed: the next owner consumes these records again",
					"topic", topic, "partition", p, "from", max(st.confirmed, 0), "to", st.next)
				unconfirmed = append(unconfirmed, unconfirmedRange(topic, p, st))
			}
			delete(c.parts, topicPart{topic, p})
			c.m.forget(topic, p)
		}
	}
	reason := c.fenceLocked("group session lost", unconfirmed)
	c.mu.Unlock()
	cl.ResumeFetchPartitions(lost)
	c.log.Warn("kafka partitions lost (group session expired)", "partitions", lost)
	c.fencedBy(reason)
}

// unconfirmedRange names a partition's rows past the group's offset, for
// logs and the fencing reason.
func unconfirmedRange(topic string, p int32, st *partState) string {
	return fmt.Sprintf("%s [%d,%d)", Key(topic, p), max(st.confirmed, 0), st.next)
}

// commitOffsets lists a commit request's positions, for logs.
func commitOffsets(req *kmsg.OffsetCommitRequest) map[string]int64 {
	out := map[string]int64{}
	if req == nil {
		return out
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			out[Key(t.Topic, p.Partition)] = p.Offset
		}
	}
	return out
}

func commitError(resp *kmsg.OffsetCommitResponse) error {
	if resp == nil {
		return nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerrFor(p.ErrorCode); err != nil {
				return fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
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
	for _, db := range c.order {
		b := c.batches[db]
		b.b.Reset()
		b.msgs = b.msgs[:0]
	}
	c.order = c.order[:0]
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
	for backoff := minBackoff; ; backoff = min(2*backoff, 10*maxBackoff) {
		err := c.dl.Send(c.dead)
		if err == nil {
			break
		}
		c.log.Error("store dead letters; retrying (the partitions wait)", "err", err, "retry_in", backoff)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
	}
	for _, d := range c.dead {
		topic, _, _ := strings.Cut(strings.TrimPrefix(d.Source, "kafka/"), "/")
		c.m.deadLetters.WithLabelValues(topic, d.Code).Inc()
		c.log.Warn("kafka message dead-lettered", "source", d.Source, "offset", d.Offset, "code", d.Code, "reason", d.Reason)
	}
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
