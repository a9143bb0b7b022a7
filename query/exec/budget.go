package exec

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/siltdb/silt/query"
)

// Budget is memory all running queries share (--query-max-memory-total):
// each query's --query-max-memory bounds it alone, and without a shared
// bound N concurrent queries could hold N times that. A query reserves
// what it charges against its own limit — the columns it materializes,
// the relations it holds and its answer's rows — from the budget as it
// goes, and gives it all back when it ends; one that would take the
// budget past its limit fails with ErrMemoryLimit, as one past its own
// limit does. A caller that keeps the answer after the run (to encode and
// send it) keeps its rows reserved until it is sent (HoldAnswer), and
// the other query languages and protocols charge what they hold
// (PromQL's samples, Flight's record batches) through a Reservation.
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

// Reserve returns an empty reservation of b (nil b: one that never
// fails and counts nothing).
func (b *Budget) Reserve() *Reservation { return &Reservation{b: b} }

// Reservation is what one query, or one answer being sent, holds of a
// Budget. Its methods are safe for concurrent use once it is bound to a
// budget; a nil Reservation, or one of no Budget, counts nothing.
type Reservation struct {
	b      *Budget
	held   atomic.Int64
	answer atomic.Int64 // of held, for the answer's rows (growAnswer)
}

// A Reservation is what protocols and the other query languages charge
// what they hold to.
var _ query.Hold = (*Reservation)(nil)

// reservation is the executor's name for its part of a Budget.
type reservation = Reservation

// Grow reserves n more bytes, or fails wrapping ErrMemoryLimit, naming
// --query-max-memory-total, when the budget has not that much left.
func (r *Reservation) Grow(n int64) error { return r.grow(n) }

// Shrink gives back n of the bytes reserved (no more than are held).
func (r *Reservation) Shrink(n int64) {
	if r == nil || r.b == nil || n <= 0 {
		return
	}
	for {
		h := r.held.Load()
		m := min(n, h)
		if r.held.CompareAndSwap(h, h-m) {
			r.b.used.Add(-m)
			return
		}
	}
}

// Release gives back everything reserved; the reservation may be grown
// again after.
func (r *Reservation) Release() { r.release() }

// Held returns the bytes reserved.
func (r *Reservation) Held() int64 {
	if r == nil {
		return 0
	}
	return r.held.Load()
}

func (r *Reservation) grow(n int64) error {
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

func (r *Reservation) release() {
	if r == nil || r.b == nil {
		return
	}
	r.answer.Store(0)
	r.b.used.Add(-r.held.Swap(0))
}

// growAnswer is grow for the rows of the query's answer, which
// moveAnswerTo hands on.
func (r *Reservation) growAnswer(n int64) error {
	if err := r.grow(n); err != nil || r == nil || r.b == nil {
		return err
	}
	r.answer.Add(n)
	return nil
}

// moveAnswerTo hands the bytes reserved for the answer's rows to to
// without giving them back in between. to must be of r's budget or of
// none, and is then bound to r's.
func (r *Reservation) moveAnswerTo(to *Reservation) {
	if r == nil || r.b == nil || to == nil {
		return
	}
	if to.b == nil {
		to.b = r.b
	}
	if to.b != r.b {
		return
	}
	n := r.answer.Swap(0)
	r.held.Add(-n)
	to.held.Add(n)
}

type answerHoldKey struct{}

// HoldAnswer returns ctx under which a query's answer stays reserved
// after its run: the rows the run charged are handed to hold instead of
// being given back with the rest, and the caller releases hold once the
// answer is sent. hold is a reservation of the run's Limits.Shared, or a
// new(Reservation), which the first answer handed to it binds to that
// budget: a caller without the budget (a protocol listener) can then
// charge what it builds from the answer to hold too. A nil hold undoes an outer one, for queries whose
// answers are read and dropped inside a larger one.
func HoldAnswer(ctx context.Context, hold *Reservation) context.Context {
	return context.WithValue(ctx, answerHoldKey{}, hold)
}

func answerHold(ctx context.Context) *Reservation {
	h, _ := ctx.Value(answerHoldKey{}).(*Reservation)
	return h
}

// HoldRows charges res's rows to the answer hold of ctx (HoldAnswer),
// if it has one bound to a budget: for an answer built outside the
// executor (InfluxQL's table), held while it is sent as the executor's
// are. It fails, wrapping ErrMemoryLimit, when the budget has not room.
func HoldRows(ctx context.Context, res *query.Result) error {
	return answerHold(ctx).grow(answerBytes(res))
}

// AnswerBytes is what res's rows hold as Go values, as the executor
// charges them to its budget.
func AnswerBytes(res *query.Result) int64 { return answerBytes(res) }

// answerBytes is what res's rows hold as Go values, estimated per row as
// rowValueBytes estimates it from the answer's vectors: the row's slice
// and its cells' interfaces, and the value boxed behind each (a string's
// header, not its bytes, which the columns' dictionaries share).
func answerBytes(res *query.Result) int64 { return AnswerRowBytes(res) * int64(len(res.Rows)) }

// AnswerRowBytes is what one row of res holds as Go values (answerBytes).
func AnswerRowBytes(res *query.Result) int64 {
	per := int64(24 + 16*len(res.Columns))
	for _, c := range res.Columns {
		switch c.Type {
		case query.TypeTimestamp:
			per += 24
		case query.TypeString:
			per += 16
		case query.TypeFloat, query.TypeInteger, query.TypeUnsigned:
			per += 8
		}
	}
	return per
}
