package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltdb/silt/ingest/sink"
)

// defaultHandoverWait bounds how long a restart waits for the group's
// offsets before replaying everything.
const defaultHandoverWait = time.Minute

// flushCommitWait bounds how long a flush waits for the group to confirm
// its positions. Short: a commit cannot complete while the group is
// rebalancing, and a rebalance may itself wait for the consumer's write,
// which waits for the flush when the head is full.
const flushCommitWait = 10 * time.Second

// Handover reconciles a node's WAL with the other owners of its partitions;
// it is the engine's sink.SourceHooks (engine.Config.Sources) for the Kafka
// source. Create it before the engine recovers, and pass it to New in
// Config.Handover so that flushes wait for group commits.
//
// At replay it reads, once, the group's committed offsets and their tenure
// histories (no group membership needed) and tells the engine from which
// offset each partition's rows were consumed again by a later owner. A
// flush waits until the group has confirmed the positions of the rows it
// makes permanent, so that replay never needs to drop rows in segments.
type Handover struct {
	cfg     Config
	dataDir string
	log     *slog.Logger
	wait    time.Duration

	nodeOnce sync.Once
	node     string
	nodeErr  error

	fetchOnce sync.Once
	group     map[string]groupOffset // by source key
	fetchErr  error

	mu     sync.Mutex
	c      *Consumer       // the running consumer, for flushes
	logged map[string]bool // replay limits logged, by key and tenure
}

// logLimit reports each replay limit once, with what it was derived from.
func (h *Handover) logLimit(key string, gen, limit int64, g groupOffset) {
	id := key + "@" + strconv.FormatInt(gen, 10)
	h.mu.Lock()
	if h.logged == nil {
		h.logged = map[string]bool{}
	}
	seen := h.logged[id]
	h.logged[id] = true
	h.mu.Unlock()
	if !seen {
		h.log.Info("kafka replay limit", "source", key, "tenure", gen, "limit", limit,
			"group_committed", g.committed, "history", formatHistory(g.hist))
	}
}

type groupOffset struct {
	committed int64
	hist      []tenure
}

// NewHandover returns the hooks of the Kafka source configured by cfg for
// the data directory dataDir. wait bounds the replay's wait for the group's
// offsets: 0 means one minute, a negative wait no limit.
func NewHandover(cfg Config, dataDir string, wait time.Duration, log *slog.Logger) *Handover {
	if wait == 0 {
		wait = defaultHandoverWait
	}
	if log == nil {
		log = slog.Default()
	}
	return &Handover{cfg: cfg, dataDir: dataDir, wait: wait, log: log.With("source", "kafka")}
}

// NodeID returns the node's id, kept in the data directory.
func (h *Handover) NodeID() (string, error) {
	h.nodeOnce.Do(func() { h.node, h.nodeErr = LoadNodeID(h.dataDir) })
	return h.node, h.nodeErr
}

func (h *Handover) attach(c *Consumer) {
	h.mu.Lock()
	h.c = c
	h.mu.Unlock()
}

func (h *Handover) detach(c *Consumer) {
	h.mu.Lock()
	if h.c == c {
		h.c = nil
	}
	h.mu.Unlock()
}

// ReplayLimit implements sink.SourceHooks.
func (h *Handover) ReplayLimit(key string, gen int64) (int64, bool) {
	topic, _, ok := parseKey(key)
	if !ok || !h.consumes(topic) {
		return 0, false // not this source's: keep the rows
	}
	if gen < 0 {
		return 0, false // no generation known when the rows were written
	}
	node, err := h.NodeID()
	if err != nil {
		h.log.Error("replay keeps every kafka row: no node id", "err", err)
		return 0, false
	}
	h.fetchOnce.Do(h.fetch)
	if h.fetchErr != nil {
		return 0, false
	}
	g, ok := h.group[key]
	if !ok {
		g.committed = -1
	}
	limit := handoverPoint(g.hist, g.committed, node, int32(gen))
	h.logLimit(key, gen, limit, g)
	return limit, true
}

func (h *Handover) consumes(topic string) bool {
	for _, t := range h.cfg.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// fetch reads the group's committed offsets with their metadata, retrying
// until the brokers answer or the wait is over: a node that cannot learn
// what others consumed keeps its rows (at least once) rather than guess.
func (h *Handover) fetch() {
	opts, err := h.cfg.clientOpts()
	if err == nil {
		var cl *kgo.Client
		cl, err = kgo.NewClient(opts...)
		if err == nil {
			defer cl.Close()
			start := time.Now()
			logged := start
			for {
				// Attempts are short: franz-go retries a coordinator
				// error inside one request until its context ends.
				left := 5 * time.Second
				if h.wait > 0 {
					left = min(left, time.Until(start.Add(h.wait)))
				}
				h.group, err = fetchGroup(context.Background(), cl, h.cfg.Group, left)
				if err == nil || (h.wait > 0 && time.Since(start) >= h.wait) {
					break
				}
				if time.Since(logged) >= 30*time.Second {
					logged = time.Now()
					h.log.Warn("waiting for the group's committed offsets before replaying the wal (--kafka.replay-wait)",
						"group", h.cfg.Group, "waited", time.Since(start).Round(time.Second), "err", err)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
	}
	if err != nil {
		h.fetchErr = err
		h.log.Error("cannot read the group's committed offsets: replay keeps every row of the WAL, "+
			"so rows a later owner consumed again may be on both nodes", "group", h.cfg.Group, "err", err)
		return
	}
	h.log.Info("read the group's offsets and tenures for the wal replay", "group", h.cfg.Group, "partitions", len(h.group))
}

// fetchGroup reads every committed offset of group with its tenure history.
func fetchGroup(ctx context.Context, cl *kgo.Client, group string, timeout time.Duration) (map[string]groupOffset, error) {
	ctx, cancel := context.WithTimeout(ctx, max(timeout, time.Second))
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("kafka: fetch offsets of group %s: %w", group, err)
	}
	out := map[string]groupOffset{}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			// Nobody ever committed in this group: that is an answer.
			return out, nil
		}
		return nil, fmt.Errorf("kafka: fetch offsets of group %s: %w", group, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("kafka: fetch offset of %s/%d in group %s: %w", t.Topic, p.Partition, group, err)
			}
			g := groupOffset{committed: p.Offset}
			if p.Metadata != nil {
				if g.hist, err = parseHistory(*p.Metadata); err != nil {
					return nil, err
				}
			}
			out[Key(t.Topic, p.Partition)] = g
		}
	}
	return out, nil
}

// AwaitCommitted implements sink.SourceHooks.
func (h *Handover) AwaitCommitted(offs sink.SourceOffsets) error {
	h.mu.Lock()
	c := h.c
	h.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.awaitCommitted(offs, flushCommitWait)
}

// parseKey splits a source key made by Key.
func parseKey(key string) (string, int32, bool) {
	rest, ok := strings.CutPrefix(key, "kafka/")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], int32(p), true
}
