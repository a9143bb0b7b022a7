package exec

import (
	"context"
	"math"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// A query grouped by one time bucket, ordered by it and limited — TSBS's
// groupby-orderby-limit, a dashboard's "latest minutes" table — wants only
// the k buckets nearest the ordered end of its range. The ones it wants
// all lie in the k buckets next to that end when they all hold rows, so
// the query runs first over that stretch alone (bucket-aligned, so its
// buckets are whole); when fewer than k come back, over a stretch four
// times as long, and so on, and finally over the whole range. Buckets
// are independent, so a bucket inside the stretch has the value it has
// in the whole range, and any bucket outside comes after all those
// inside in the query's order.

// maxBucketLimit is the largest LIMIT + OFFSET narrowed this way.
const maxBucketLimit = 10000

// bucketTries is how many widening stretches are tried before the whole
// range: 1, 4, 16 and 64 times the buckets asked for.
const bucketTries = 4

// bucketLimit reports whether q asks for its first need buckets of time
// bucket b in ascending (desc false) or descending order, from the end of
// its range that is bounded.
func bucketLimit(q *sql.Query) (b sql.Bucket, desc bool, need int64, ok bool) {
	if q.Table == nil || !q.Aggregated || q.Having != nil || q.Distinct || q.Limit < 0 ||
		len(q.GroupBy) != 1 || q.TimeKey != 0 || len(q.OrderBy) != 1 {
		return b, false, 0, false
	}
	need = q.Limit + q.Offset
	if need <= 0 || need > maxBucketLimit {
		return b, false, 0, false
	}
	k := q.OrderBy[0]
	e := k.Expr
	if k.Output >= 0 {
		e = q.Outputs[k.Output].Expr
	}
	if r, isKey := e.(*sql.KeyRef); !isKey || r.Key != 0 {
		return b, false, 0, false
	}
	b = q.GroupBy[0].Bucket
	if b.Width <= 0 {
		return b, false, 0, false
	}
	return b, k.Desc, need, true
}

// TimeBounder is a BatchSource that knows, from metadata, bounds on the
// times of a table's rows: a limited bucket order from an unbounded end of
// its range (InfluxQL's GROUP BY time LIMIT with only an upper bound)
// starts from the data's end instead. ok is false for an empty table.
type TimeBounder interface {
	TimeBounds(table string) (lo, hi int64, ok bool)
}

// orderedEnd returns the end of q's range the buckets are counted from:
// the range's own end, moved in to where the data ends when the source
// can tell (a range ending at now() over data that stopped an hour ago,
// or an unbounded end); false when neither bounds it.
func orderedEnd(q *sql.Query, src BatchSource, desc bool) (int64, bool) {
	tr := q.TimeRange
	end, bounded := tr.Min, tr.Min != math.MinInt64
	if desc {
		end, bounded = tr.Max, tr.Max != math.MaxInt64
	}
	tb, ok := src.(TimeBounder)
	if !ok {
		return end, bounded
	}
	lo, hi, ok := tb.TimeBounds(q.Table.Name)
	switch {
	case !ok:
		return end, bounded
	case desc && hi < math.MaxInt64 && (!bounded || hi+1 < end):
		return hi + 1, true // exclusive, as tr.Max
	case !desc && (!bounded || lo > end):
		return lo, true
	}
	return end, bounded
}

// runBucketLimited runs q over growing stretches at the ordered end of its
// range until one yields need buckets, then over the whole range.
func runBucketLimited(ctx context.Context, q *sql.Query, src BatchSource, stats *query.Stats, lim Limits, b sql.Bucket, desc bool, need int64) ([][]any, int64, error) {
	tr := q.TimeRange
	end, bounded := orderedEnd(q, src, desc)
	span := need
	for range bucketTries {
		if !bounded {
			break
		}
		narrow := *q
		if desc {
			hi := b.Start(end - 1) // the last bucket's start
			lo, ok := subBuckets(hi, span-1, b.Width)
			if !ok || lo <= tr.Min {
				break
			}
			narrow.TimeRange = sql.TimeRange{Min: lo, Max: tr.Max}
		} else {
			lo := b.Start(end)
			if lo < end {
				lo += b.Width // the first whole bucket after the range's start
			}
			hi, ok := addBuckets(lo, span, b.Width)
			if !ok || tr.Max != math.MaxInt64 && hi >= tr.Max {
				break
			}
			// The first (partial) bucket still starts at tr.Min.
			narrow.TimeRange = sql.TimeRange{Min: tr.Min, Max: hi}
		}
		tbl, err := materialize(ctx, &narrow, src, stats, lim)
		if err != nil {
			return nil, 0, err
		}
		rows, scanned, err := execute(ctx, &narrow, tbl)
		if err != nil {
			return nil, 0, err
		}
		// execute applied LIMIT and OFFSET: need rows before them means
		// exactly Limit rows after, or (with an OFFSET past the end) the
		// whole answer is known to hold at least need buckets.
		if int64(len(rows))+q.Offset >= need {
			return rows, scanned, nil
		}
		span *= 4
	}
	tbl, err := materialize(ctx, q, src, stats, lim)
	if err != nil {
		return nil, 0, err
	}
	return execute(ctx, q, tbl)
}

// subBuckets returns t - n*w, and false on overflow.
func subBuckets(t, n, w int64) (int64, bool) {
	if n > 0 && (w > math.MaxInt64/n || t < math.MinInt64+n*w) {
		return 0, false
	}
	return t - n*w, true
}

// addBuckets returns t + n*w, and false on overflow.
func addBuckets(t, n, w int64) (int64, bool) {
	if n > 0 && (w > math.MaxInt64/n || t > math.MaxInt64-n*w) {
		return 0, false
	}
	return t + n*w, true
}
