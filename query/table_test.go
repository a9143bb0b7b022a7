package query

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestTableWritesTheResult: a Table's JSON and CSV are byte for byte
// those of the Result holding the same rows as Go values, over every
// vector kind, NULLs, NaN and the infinities, strings JSON and CSV
// escape, dictionaries smaller and larger than the answer, timestamps
// before 1970, on minute and day boundaries and with every fraction
// width, and rows picked out of order.
func TestTableWritesTheResult(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	strs := []string{"a", "", `q"uote`, `back\slash`, "<&>", "new\nline", "comma,", " lead", "ünï ✓", "\x01ctl", "\u2028"}
	floats := []float64{0, math.Copysign(0, -1), 1.5, -2.25e-9, 1e21, 123456789012345680000, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64}
	times := func() int64 {
		switch r.IntN(5) {
		case 0: // a minute's edge, with each fraction width
			m := time.Date(1900+r.IntN(300), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, time.UTC).UnixNano()
			return m + []int64{0, 1, -1, 10, 100_000, 999_999_999, 59_999_999_999, 60_000_000_000}[r.IntN(8)]
		case 1: // before 1970
			return -r.Int64N(1 << 62)
		case 2:
			return []int64{0, -1, 1, math.MaxInt64, math.MinInt64}[r.IntN(5)]
		}
		// A run of close times (a series' points): the minute's text
		// is reused.
		return 1_700_000_000_000_000_000 + r.Int64N(600_000_000_000)
	}
	smallDict := []string{"h0", `h"1`, "h<2>", "ĥ3"}
	bigDict := make([]string, 2*n)
	for i := range bigDict {
		bigDict[i] = strs[i%len(strs)] + string(rune('a'+i%26))
	}
	vecs := []Vector{
		{Int: make([]int64, n), Null: make([]bool, n)},
		{Time: make([]int64, n), Null: make([]bool, n)},
		{Uint: make([]uint64, n)},
		{Float: make([]float64, n), Null: make([]bool, n)},
		{Bool: make([]bool, n), Null: make([]bool, n)},
		{Str: make([]string, n), Null: make([]bool, n)},
		{IDs: make([]int32, n), Dict: smallDict, Null: make([]bool, n)},
		{IDs: make([]int32, n), Dict: bigDict},
		{AllNull: true},
		{Value: func(k int) any { return "v" + string(rune('0'+k%10)) }},
	}
	cols := []Column{{"i", TypeInteger}, {"time", TypeTimestamp}, {"u", TypeUnsigned}, {"f", TypeFloat},
		{"b", TypeBoolean}, {"s", TypeString}, {"tag", TypeString}, {"big", TypeString}, {"nothing", TypeString}, {"iv", TypeString}}
	// The oracle: each row as Go values, built here from the same random
	// draws, not by the Table.
	want := make([][]any, n)
	for k := range n {
		row := make([]any, len(vecs))
		null := r.IntN(7) == 0
		vecs[0].Int[k] = r.Int64() - math.MaxInt64/2
		vecs[1].Time[k] = times()
		vecs[2].Uint[k] = r.Uint64()
		vecs[3].Float[k] = floats[r.IntN(len(floats))]
		vecs[4].Bool[k] = r.IntN(2) == 0
		vecs[5].Str[k] = strs[r.IntN(len(strs))]
		vecs[6].IDs[k] = int32(r.IntN(len(smallDict)+1)) - 1
		vecs[7].IDs[k] = int32(r.IntN(len(bigDict)+1)) - 1
		row[0] = vecs[0].Int[k]
		row[1] = time.Unix(0, vecs[1].Time[k]).UTC()
		row[2] = vecs[2].Uint[k]
		row[3] = vecs[3].Float[k]
		row[4] = vecs[4].Bool[k]
		row[5] = vecs[5].Str[k]
		row[6] = ""
		if id := vecs[6].IDs[k]; id >= 0 {
			row[6] = smallDict[id]
		}
		row[7] = ""
		if id := vecs[7].IDs[k]; id >= 0 {
			row[7] = bigDict[id]
		}
		row[8] = nil
		row[9] = "v" + string(rune('0'+k%10))
		if null {
			c := []int{0, 1, 3, 4, 5, 6}[r.IntN(6)]
			vecs[c].Null[k] = true
			row[c] = nil
		}
		want[k] = row
	}
	// Rows out of order, some twice, some left out.
	var rows []int
	var wantRows [][]any
	for range n {
		k := r.IntN(n)
		rows = append(rows, k)
		wantRows = append(wantRows, want[k])
	}
	stats := Stats{Rows: len(rows), ElapsedMs: 1.5, RowsScanned: 7, Resolution: "raw"}
	tab := &Table{Columns: cols, Vecs: vecs, Rows: rows, Stats: stats}
	res := &Result{Columns: cols, Rows: wantRows, Stats: stats}
	for _, c := range []struct {
		name       string
		got, wantW func(*bytes.Buffer) error
	}{
		{"json", func(b *bytes.Buffer) error { return tab.WriteJSON(b) }, func(b *bytes.Buffer) error { return res.WriteJSON(b) }},
		{"csv", func(b *bytes.Buffer) error { return tab.WriteCSV(b) }, func(b *bytes.Buffer) error { return res.WriteCSV(b) }},
		{"json-empty", func(b *bytes.Buffer) error { return (&Table{Columns: cols, Vecs: vecs, Rows: []int{}}).WriteJSON(b) },
			func(b *bytes.Buffer) error { return (&Result{Columns: cols, Rows: [][]any{}}).WriteJSON(b) }},
	} {
		var got, exp bytes.Buffer
		if err := c.got(&got); err != nil {
			t.Fatal(err)
		}
		if err := c.wantW(&exp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), exp.Bytes()) {
			at := 0
			for at < min(got.Len(), exp.Len()) && got.Bytes()[at] == exp.Bytes()[at] {
				at++
			}
			lo := max(0, at-60)
			t.Fatalf("%s: the Table's answer differs from the Result's at byte %d:\ngot:  %.160q\nwant: %.160q", c.name, at, got.Bytes()[lo:], exp.Bytes()[lo:])
		}
	}
	// Table.Result holds the same rows as the oracle.
	var a, b bytes.Buffer
	_ = tab.Result().WriteJSON(&a)
	_ = res.WriteJSON(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("Table.Result's rows differ from the oracle's")
	}
}

// timeFormatter writes what AppendFormat with RFC3339Nano writes, for one
// formatter reused across times as an answer's column uses it: a series'
// minutes and seconds through midnights and year ends, random times of
// any year (before 1970, past 9999), and back and forth between days.
func TestTimeFormatterMatchesAppendFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	var times []int64
	for _, start := range []time.Time{
		time.Date(2025, 12, 31, 23, 58, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 30, 500, time.UTC),
		time.Date(2024, 2, 28, 23, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		for _, step := range []time.Duration{time.Minute, 7 * time.Second, time.Hour + 1234567, -time.Minute} {
			for k := range 200 {
				times = append(times, start.Add(time.Duration(k)*step).UnixNano())
			}
		}
	}
	for range 5000 {
		times = append(times, r.Int64())
		times = append(times, -r.Int64N(1<<62))
	}
	times = append(times, 0, -1, 1, math.MinInt64, math.MaxInt64)
	var f timeFormatter
	for _, ns := range times {
		want := time.Unix(0, ns).UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := f.append([]byte("x"), ns); string(got) != "x"+string(want) {
			t.Fatalf("%d: %s, AppendFormat writes %s", ns, got[1:], want)
		}
	}
}
