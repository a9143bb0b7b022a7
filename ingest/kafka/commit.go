package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltdb/silt/ingest/sink"
)

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
