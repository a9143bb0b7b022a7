package sink

import (
	"context"
	"time"
)

// Backoff of a write refused as retryable: short at first, since a flush
// usually frees the head within a second, capped so that a long flush does
// not leave the source asleep after it ends.
const (
	MinBackoff = 10 * time.Millisecond
	MaxBackoff = time.Second
)

// Retry calls write until it succeeds, fails with an error that is not
// retryable (IsRetryable), or ctx ends (ctx.Err() is returned). Before each
// wait it calls wait, if not nil, with the refusal and whether it is the
// first: a source stops fetching on the first and keeps its upstream
// informed on the others.
func Retry(ctx context.Context, write func() (WriteResult, error), wait func(err error, first bool)) (WriteResult, error) {
	first := true
	for backoff := MinBackoff; ; backoff = min(2*backoff, MaxBackoff) {
		res, err := write()
		if err == nil || !IsRetryable(err) {
			return res, err
		}
		if wait != nil {
			wait(err, first)
		}
		first = false
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
	}
}

// Persist calls op until it succeeds or ctx ends (ctx.Err() is returned),
// backing off from MinBackoff to maxBackoff and telling onErr, if not nil,
// of each failure and the wait before the next try. Sources use it for what
// must not be dropped and has no other way out, such as storing dead
// letters before their offsets are committed.
func Persist(ctx context.Context, op func() error, maxBackoff time.Duration, onErr func(err error, retryIn time.Duration)) error {
	for backoff := MinBackoff; ; backoff = min(2*backoff, maxBackoff) {
		err := op()
		if err == nil {
			return nil
		}
		if onErr != nil {
			onErr(err, backoff)
		}
		if err := Sleep(ctx, backoff); err != nil {
			return err
		}
	}
}

// Sleep waits d or until ctx ends, whichever is first; it returns ctx.Err()
// if ctx ended.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
