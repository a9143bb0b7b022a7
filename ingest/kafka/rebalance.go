package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
