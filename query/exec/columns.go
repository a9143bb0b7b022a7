package exec

import (
	"context"
	"fmt"
	"time"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// Columns is a SELECT's answer as the typed column vectors the executor
// computed, not converted to one Go value per cell: row k of the answer is
// row Rows[k] of every column. A front end that re-shapes and encodes a
// large answer itself (InfluxQL's SELECT *) reads it from here.
type Columns struct {
	Cols  []Column
	Rows  []int
	Stats query.Stats
}

// Column is one output column of a Columns.
type Column struct{ v *vec }

// Type is the column's SQL type.
func (c Column) Type() sql.Type { return c.v.typ }

// IsNull reports whether row k is NULL.
func (c Column) IsNull(k int) bool { return c.v.typ == sql.TypeNull || c.v.isNull(k) }

// Int64s holds the values of a TypeInt64 or TypeTimestamp (nanoseconds)
// column.
func (c Column) Int64s() []int64 { return c.v.i }

// Uint64s holds the values of a TypeUint64 column.
func (c Column) Uint64s() []uint64 { return c.v.u }

// Float64s holds the values of a TypeFloat64 column.
func (c Column) Float64s() []float64 { return c.v.f }

// Bools holds the values of a TypeBool column.
func (c Column) Bools() []bool { return c.v.b }

// Str is row k of a TypeString column ("" for an absent tag).
func (c Column) Str(k int) string { return c.v.str(k) }

// Dict returns, for a dictionary-encoded string column (tags), the id of
// each row (-1: absent, "") and the strings the ids index; nil ids for
// any other column.
func (c Column) Dict() (ids []int32, dict []string) { return c.v.ids, c.v.dict }

// Value is row k as the rows of a query.Result hold it.
func (c Column) Value(k int) any { return c.v.value(k) }

// Bytes estimates what the columns hold, for a caller that keeps them
// while it sends the answer.
func (c *Columns) Bytes() int64 {
	n := int64(8 * len(c.Rows))
	for _, col := range c.Cols {
		v := col.v
		n += int64(len(v.null) + 8*(len(v.i)+len(v.u)+len(v.f)) + len(v.b) + 16*len(v.s) + 4*len(v.ids))
	}
	return n
}

// RunColumns executes a SELECT over one table within lim and returns its
// answer as columns. ok is false, with nothing run, for a query whose
// answer the executor builds only as rows (subqueries, set operations,
// joins, bucket-limited aggregates, EXPLAIN): run it with RunLimited.
func RunColumns(ctx context.Context, q *sql.Query, src BatchSource, lim Limits) (cols *Columns, ok bool, err error) {
	r, retry := src.(goneRetrier)
	if !retry {
		return runColumnsOnce(ctx, q, src, lim)
	}
	// As RunLimited: a run that found an object gone is run again whole.
	err = r.RetryGone(ctx, nil, func(ctx context.Context) error {
		var err error
		cols, ok, err = runColumnsOnce(ctx, q, src, lim)
		return err
	})
	return cols, ok, err
}

func runColumnsOnce(ctx context.Context, q *sql.Query, src BatchSource, lim Limits) (cols *Columns, ok bool, err error) {
	if q.Kind != sql.QuerySelect || q.Table == nil || q.Input != nil || q.HasSubqueries() {
		return nil, false, nil
	}
	if ctx.Value(explainKey{}) != nil || ctx.Value(profileKey{}) != nil {
		return nil, false, nil
	}
	if _, _, _, ok := bucketLimit(q); ok {
		return nil, false, nil
	}
	start := time.Now()
	// As the SQL paths: the scan's readers and lookahead copies are
	// charged to the query's reservation (withScanHold). The columns'
	// names are the caller's (InfluxQL's own).
	ctx, lim, release, _ := startQuery(ctx, q, lim)
	defer release()
	res := &Columns{}
	tbl, err := materialize(ctx, q, src, &res.Stats, lim)
	if err != nil {
		return nil, true, err
	}
	outs, perm, scanned, err := executeVecs(ctx, q, tbl)
	if err != nil {
		return nil, true, err
	}
	res.Rows = perm
	res.Cols = make([]Column, len(outs))
	for i, v := range outs {
		res.Cols[i] = Column{v}
	}
	if limit := tbl.maxBytes; limit > 0 {
		// The columns stay while the caller re-shapes and sends them.
		if need := tbl.bytes + res.Bytes(); need > limit {
			return nil, true, fmt.Errorf("%w: %d result rows held %d bytes of columns on %d bytes of the table, passed %d bytes (--query-max-memory); narrow the time range, the columns, or add LIMIT",
				ErrMemoryLimit, len(perm), res.Bytes(), tbl.bytes, limit)
		}
	}
	// The answer's columns count against the shared budget like a row
	// answer's rows (toRows): reserved before they are handed on, and held
	// past the run when the caller asked (HoldAnswer).
	if err := lim.res.growAnswer(res.Bytes()); err != nil {
		return nil, true, err
	}
	lim.res.moveAnswerTo(answerHold(ctx))
	res.Stats.RowsScanned = scanned
	res.Stats.Rows = len(perm)
	res.Stats.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	return res, true, nil
}
