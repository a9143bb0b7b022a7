package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/siltdb/silt/query/sql"
)

// denseGroups must partition rows exactly as the encoded-bytes path does,
// with the same first-seen group ids, whichever of its own paths (slot
// table, uint64 map, value map for uneven times) it takes.
func TestDenseGroupsMatchStringGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	tagVec := func(n, card int, nulls bool) *vec {
		v := &vec{typ: sql.TypeString, n: n, ids: make([]int32, n)}
		for i := range card {
			v.dict = append(v.dict, fmt.Sprint("v", i))
		}
		for k := range v.ids {
			v.ids[k] = int32(rng.IntN(card))
			if nulls && rng.IntN(10) == 0 {
				v.ids[k] = -1
			}
		}
		return v
	}
	timeVec := func(n int, width int64, even bool) *vec {
		v := &vec{typ: sql.TypeTimestamp, n: n, i: make([]int64, n)}
		for k := range v.i {
			v.i[k] = 1_700_000_000_000_000_000 + int64(rng.IntN(50))*width
			if !even {
				v.i[k] += int64(rng.IntN(3))
			}
		}
		return v
	}
	const n = 5000
	cases := map[string]struct {
		keys   []*vec
		widths []int64
	}{
		"tag×time slots":     {[]*vec{timeVec(n, 60e9, true), tagVec(n, 100, false)}, []int64{60e9, 0}},
		"uneven time":        {[]*vec{timeVec(n, 60e9, false), tagVec(n, 7, true)}, []int64{60e9, 0}},
		"time width 1":       {[]*vec{timeVec(n, 1e9, true)}, []int64{1}},
		"three big tags map": {[]*vec{tagVec(n, 1000, false), tagVec(n, 1000, true), tagVec(n, 1000, false)}, []int64{0, 0, 0}},
	}
	for name, c := range cases {
		q := &sql.Query{}
		for _, w := range c.widths {
			q.GroupBy = append(q.GroupBy, sql.GroupKey{Bucket: sql.Bucket{Width: w}})
		}
		got := make([]int32, n)
		gotFirst, err := denseGroups(context.Background(), q, c.keys, got)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int32, n)
		wantFirst, err := stringGroups(context.Background(), c.keys, want)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.Equal(gotFirst, wantFirst) {
			t.Errorf("%s: groups differ (%d vs %d groups)", name, len(gotFirst), len(wantFirst))
		}
	}
}
