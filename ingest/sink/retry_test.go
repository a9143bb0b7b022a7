package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	// Backpressure twice, then a full disk, then success.
	refusals := []error{ErrBackpressure, fmt.Errorf("%w: compaction is behind", ErrBackpressure), fmt.Errorf("write: %w", syscall.ENOSPC)}
	calls := 0
	var waits []bool
	res, err := Retry(context.Background(), func() (WriteResult, error) {
		calls++
		if calls <= len(refusals) {
			return WriteResult{}, refusals[calls-1]
		}
		return WriteResult{Written: 7}, nil
	}, func(err error, first bool) {
		if !IsRetryable(err) {
			t.Errorf("wait called with %v", err)
		}
		waits = append(waits, first)
	})
	if err != nil || res.Written != 7 || calls != 4 {
		t.Fatalf("Retry = %+v, %v after %d calls", res, err, calls)
	}
	if len(waits) != 3 || !waits[0] || waits[1] || waits[2] {
		t.Fatalf("waits = %v, want first only on the first", waits)
	}

	// Another error is returned at once.
	broken := errors.New("wal broken")
	calls = 0
	_, err = Retry(context.Background(), func() (WriteResult, error) { calls++; return WriteResult{}, broken }, nil)
	if !errors.Is(err, broken) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want the write's error after 1", err, calls)
	}

	// The context ends the wait: ended during the first try, it allows no
	// second (counted, not timed, so a loaded machine cannot fail it; a
	// Retry that ignored it would try again after MinBackoff).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	_, err = Retry(ctx, func() (WriteResult, error) {
		calls++
		if calls > 1 {
			return WriteResult{}, broken // ends a Retry that went on
		}
		cancel()
		return WriteResult{}, ErrBackpressure
	}, nil)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want the context's error after 1", err, calls)
	}
}

func TestPersist(t *testing.T) {
	calls := 0
	var waits []time.Duration
	err := Persist(context.Background(), func() error {
		calls++
		if calls < 4 {
			return errors.New("store down")
		}
		return nil
	}, 40*time.Millisecond, func(err error, retryIn time.Duration) { waits = append(waits, retryIn) })
	if err != nil || calls != 4 {
		t.Fatalf("Persist: err %v after %d calls, want nil after 4", err, calls)
	}
	if want := []time.Duration{MinBackoff, 2 * MinBackoff, 40 * time.Millisecond}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v (doubling, capped)", waits, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Persist(ctx, func() error { return errors.New("down") }, time.Second, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Persist with a cancelled context: %v, want context.Canceled", err)
	}
}
