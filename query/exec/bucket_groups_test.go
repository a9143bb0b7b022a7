package exec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// bucketGroups must group rows as the general path does (date_bin of
// every row, then first-seen ids by the key's bytes): the same group ids
// row for row and the same key per group, on times before and after the
// origin, ragged (not on a bucket's start), with empty buckets between
// rows, and at int64's ends; and decline what it does not handle.
func TestBucketGroupsMatchGeneralPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 7))
	ctx := context.Background()
	general := func(tv *vec, b sql.Bucket) ([]int64, []int32) {
		kv := &vec{typ: sql.TypeTimestamp, n: tv.n, i: make([]int64, tv.n)}
		for k, t := range tv.i {
			kv.i[k] = b.Start(t)
		}
		gids := make([]int32, tv.n)
		first, err := stringGroups(ctx, []*vec{kv}, gids)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]int64, len(first))
		for g, k := range first {
			keys[g] = kv.i[k]
		}
		return keys, gids
	}
	taken := 0
	for it := range 300 {
		n := 1 + rng.IntN(3000)
		width := []int64{1, 7, int64(time.Second), int64(time.Minute), int64(time.Hour)}[rng.IntN(5)]
		origin := rng.Int64N(2e18) - 1e18
		base := rng.Int64N(2e18) - 1e18
		span := width * int64(1+rng.IntN(200)) // empty buckets where rows are fewer
		tv := &vec{typ: sql.TypeTimestamp, n: n, i: make([]int64, n)}
		for k := range tv.i {
			tv.i[k] = base + rng.Int64N(span)
		}
		if it%50 == 0 { // int64's ends: differences pass int64's range
			tv.i[0], tv.i[n-1] = math.MinInt64+int64(rng.IntN(5)), math.MaxInt64-int64(rng.IntN(5))
		}
		b := sql.Bucket{Width: width, Origin: origin}
		keys, gids, err := bucketGroups(ctx, tv, b)
		if err != nil {
			t.Fatal(err)
		}
		wantKeys, wantGids := general(tv, b)
		if keys == nil {
			if it%50 == 0 {
				continue // declined: int64's whole range is too many buckets
			}
			if uint64(b.Start(slices.Max(tv.i))-b.Start(slices.Min(tv.i)))/uint64(width) <= uint64(4*n) {
				t.Fatalf("case %d: declined %d rows over %d buckets", it, n, len(wantKeys))
			}
			continue
		}
		if keys.typ != sql.TypeTimestamp || keys.n != len(keys.i) || !slices.Equal(keys.i, wantKeys) {
			t.Fatalf("case %d (width %d, origin %d): %d keys from %d, want %d from %d", it, width, origin, keys.n, keys.i[0], len(wantKeys), wantKeys[0])
		}
		if !slices.Equal(gids, wantGids) {
			t.Fatalf("case %d (width %d, origin %d): group ids differ", it, width, origin)
		}
		taken++
	}
	if taken < 250 {
		t.Fatalf("the fast path took %d of 300 cases", taken)
	}
	// Declined: no rows, NULL times, buckets far more than rows.
	for name, tv := range map[string]*vec{
		"empty":  {typ: sql.TypeTimestamp, n: 0, i: []int64{}},
		"nulls":  {typ: sql.TypeTimestamp, n: 2, i: []int64{1, 2}, null: []bool{false, true}},
		"sparse": {typ: sql.TypeTimestamp, n: 2, i: []int64{0, 1e12}},
	} {
		if keys, _, err := bucketGroups(ctx, tv, sql.Bucket{Width: 1000}); keys != nil || err != nil {
			t.Errorf("%s: took %v (%v), want declined", name, keys, err)
		}
	}
}

// Queries of TSBS's single-groupby shape (one bucket key of time) answer
// as a reference computed here from the points: max, min, sum and count
// of a field with NULLs (points without it), per minute, over a range
// whose ends are ragged (not on minutes), with minutes without rows, from
// raw rows and from rollups, over a segment and a head.
func TestTimeBucketGroupByMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 9))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var points []pgoracle.Point
	for h := range 3 {
		for ts := start; ts < start+int64(6*time.Hour); ts += int64(10 * time.Second) {
			if rng.IntN(40) == 0 {
				continue // some minutes lose rows, a few all of them
			}
			p := pgoracle.Point{Time: ts, Tags: map[string]string{"host": fmt.Sprint("h", h)}, Fields: map[string]any{"y": int64(1)}}
			if rng.IntN(5) != 0 {
				p.Fields["x"] = rng.Int64N(2000) - 1000
			}
			points = append(points, p)
		}
	}
	// Whole empty hours (gaps of buckets inside the range).
	points = slices.DeleteFunc(points, func(p pgoracle.Point) bool {
		return p.Time >= start+int64(2*time.Hour) && p.Time < start+int64(2*time.Hour+17*time.Minute)
	})
	eng := loadEngine(t, "m", points)
	type agg struct {
		max, min, sum, count int64
		rows                 int64
	}
	for it := range 12 {
		lo := start + rng.Int64N(int64(3*time.Hour))
		hi := lo + rng.Int64N(int64(3*time.Hour))
		host := fmt.Sprint("h", rng.IntN(3))
		width := []time.Duration{time.Minute, 5 * time.Minute, time.Hour}[it%3]
		ref := map[int64]*agg{}
		for _, p := range points {
			if p.Time < lo || p.Time >= hi || (it%2 == 0 && p.Tags["host"] != host) {
				continue
			}
			b := sql.Bucket{Width: int64(width)}.Start(p.Time)
			a := ref[b]
			if a == nil {
				a = &agg{max: math.MinInt64, min: math.MaxInt64}
				ref[b] = a
			}
			a.rows++
			if x, ok := p.Fields["x"].(int64); ok {
				a.max, a.min, a.sum, a.count = max(a.max, x), min(a.min, x), a.sum+x, a.count+1
			}
		}
		where := fmt.Sprintf("time >= %d AND time < %d", lo, hi)
		if it%2 == 0 {
			where += fmt.Sprintf(" AND host = '%s'", host)
		}
		text := fmt.Sprintf(`SELECT date_bin(INTERVAL '%d seconds', time, TIMESTAMP '1970-01-01') AS b, max(x), min(x), sum(x), count(x), count(*)
			FROM m WHERE %s GROUP BY b ORDER BY b`, int64(width/time.Second), where)
		var want [][]any
		var bs []int64
		for b := range ref {
			bs = append(bs, b)
		}
		slices.Sort(bs)
		for _, b := range bs {
			a := ref[b]
			row := []any{time.Unix(0, b).UTC(), nil, nil, nil, a.count, a.rows}
			if a.count > 0 {
				row[1], row[2], row[3] = a.max, a.min, a.sum
			}
			want = append(want, row)
		}
		for _, raw := range []bool{true, false} {
			res, err := runSQLAt(eng, text, raw)
			if err != nil {
				t.Fatalf("%s: %v", text, err)
			}
			var cols []string
			for _, c := range res.Columns {
				cols = append(cols, c.Name)
			}
			if d := diff(res, cols, want); d != "" {
				t.Fatalf("%s (raw %v): %s", text, raw, d)
			}
		}
	}
}
