package exec

import (
	"fmt"
	"sync/atomic"
)

// Budget is memory all running queries share (--query-max-memory-total):
// each query's --query-max-memory bounds it alone, and without a shared
// bound N concurrent queries could hold N times that. A query reserves
// what it charges against its own limit — the columns it materializes and
// the relations it holds — from the budget as it goes, and gives it all
// back when it ends; one that would take the budget past its limit fails
// with ErrMemoryLimit, as one past its own limit does.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes (<= 0: unlimited).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used returns the bytes reserved by running queries.
func (b *Budget) Used() int64 { return b.used.Load() }

// Limit returns the budget's size (<= 0: unlimited).
func (b *Budget) Limit() int64 { return b.limit }

// reservation is what one query holds of a Budget.
type reservation struct {
	b    *Budget
	held atomic.Int64
}

// grow reserves n more bytes for the query.
func (r *reservation) grow(n int64) error {
	if r == nil || r.b == nil || n <= 0 {
		return nil
	}
	if used := r.b.used.Add(n); r.b.limit > 0 && used > r.b.limit {
		r.b.used.Add(-n)
		return fmt.Errorf("%w: running queries together would hold %d bytes, past %d bytes (--query-max-memory-total); retry when fewer queries run, or narrow this one",
			ErrMemoryLimit, used, r.b.limit)
	}
	r.held.Add(n)
	return nil
}

// release gives back everything the query reserved.
func (r *reservation) release() {
	if r == nil || r.b == nil {
		return
	}
	r.b.used.Add(-r.held.Swap(0))
}
