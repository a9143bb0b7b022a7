package exec

import (
	"context"
	"sync"

	"github.com/siltdb/silt/query/sql"
)

// timeBucketKey returns the date_bin of q's one group key when that key
// is a bucket of the time column itself (TSBS's single-groupby shapes:
// GROUP BY minute), else nil.
func timeBucketKey(q *sql.Query) *sql.DateBin {
	if len(q.GroupBy) != 1 || !q.GroupBy[0].IsTime() {
		return nil
	}
	db, ok := q.GroupBy[0].Expr.(*sql.DateBin)
	if !ok || db.Bucket.Width <= 0 {
		return nil
	}
	if ref, ok := db.X.(*sql.ColumnRef); !ok || ref.Column.Kind != sql.KindTime {
		return nil
	}
	return db
}

// bucketGroups groups the rows of the time vector tv by bucket b without
// the general path's per-row key vector, codes and map: a row's bucket is
// its index (t - start of the first bucket) / width, which indexes a slot
// table of the buckets between the first and the last. Group ids are
// assigned in first-seen order, as group's general path assigns them, so
// answers are the same row for row. It returns the groups' keys (bucket
// starts, one per group) and the rows' group ids (from getInt32s), or nil
// keys when the path does not apply: no rows, NULL times, or buckets far
// more numerous than rows (the general path's map then costs less than
// the table). It checks ctx between blocks of rows, as aggregate does.
func bucketGroups(ctx context.Context, tv *vec, b sql.Bucket) (keys *vec, gids []int32, err error) {
	n := tv.n
	if n == 0 || tv.null != nil || len(tv.i) != n {
		return nil, nil, nil
	}
	lo, hi := tv.i[0], tv.i[0]
	for _, t := range tv.i {
		lo, hi = min(lo, t), max(hi, t)
	}
	start, last := b.Start(lo), b.Start(hi)
	if start > lo || last < start {
		return nil, nil, nil // a bucket's start before int64's range
	}
	w := uint64(b.Width)
	// Differences in uint64: t - start is at most hi - lo + width, which
	// may pass int64's range but not uint64's.
	nb := uint64(last-start)/w + 1
	if nb > uint64(4*n)+1024 {
		return nil, nil, nil
	}
	slot := getInt32s(int(nb)) // bucket → gid+1
	defer putInt32s(slot)
	clear(slot)
	gids = getInt32s(n)
	starts := make([]int64, 0, min(nb, uint64(n)))
	for lo, hi := 0, 0; lo < n; lo = hi {
		if hi, err = blockEnd(ctx, lo, n); err != nil {
			putInt32s(gids)
			return nil, nil, err
		}
		for k, t := range tv.i[lo:hi] {
			idx := uint64(t-start) / w
			s := &slot[idx]
			if *s == 0 {
				starts = append(starts, start+int64(idx*w))
				*s = int32(len(starts))
			}
			gids[lo+k] = *s - 1
		}
	}
	return &vec{typ: sql.TypeTimestamp, n: len(starts), i: starts}, gids, nil
}

// int32Pool holds per-query scratch of int32s (group ids, selection
// vectors, slot tables) between queries: a TSBS query's few thousand rows
// otherwise allocate each afresh, and the garbage they leave is what its
// collections cost. Arrays past maxPooledInt32s are not kept, so the pool
// never holds a large query's memory.
var int32Pool sync.Pool

const maxPooledInt32s = 1 << 16

// getInt32s returns a slice of n int32s of unspecified content.
func getInt32s(n int) []int32 {
	if p, ok := int32Pool.Get().(*[]int32); ok {
		if cap(*p) >= n {
			return (*p)[:n]
		}
		int32Pool.Put(p)
	}
	return make([]int32, n)
}

// putInt32s gives s back to the pool; the caller no longer uses it.
func putInt32s(s []int32) {
	if s == nil || cap(s) > maxPooledInt32s {
		return
	}
	int32Pool.Put(&s)
}
