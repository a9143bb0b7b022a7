package kafka

import (
	"errors"
	"fmt"
	"strings"
)

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

// unconfirmedRange names a partition's rows past the group's offset, for
// logs and the fencing reason.
func unconfirmedRange(topic string, p int32, st *partState) string {
	return fmt.Sprintf("%s [%d,%d)", Key(topic, p), max(st.confirmed, 0), st.next)
}
