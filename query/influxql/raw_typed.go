package influxql

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// ColumnBackend is a Backend that can also answer a plan as the
// executor's typed columns (exec.RunColumns): a raw SELECT's points are
// then grouped, ordered and encoded from them, without a Go value per
// cell. ok is false for a plan it answers only as rows.
type ColumnBackend interface {
	RunColumns(ctx context.Context, db string, q *sql.Query) (cols *exec.Columns, ok bool, err error)
}

// typedRows are a series' points while they are still the executor's
// columns: row r of the answer is time cols.Cols[0] and values
// cols.Cols[first:first+n] at column row rows[r].
type typedRows struct {
	cols  *exec.Columns
	ans   *typedAnswer
	first int
	n     int
	rows  []int
	// windows, when not nil, are the times of the rows instead of
	// cols.Cols[0]: a GROUP BY time() series' windows (aggregateTyped),
	// rows[r] -1 for a window without points, whose values are null.
	windows []int64
}

// values converts the points into rows as rawFetch's SQL rows give them:
// time in nanoseconds, then the values. It checks ctx every
// valuesCheckRows rows: a Go value per cell over millions of points (math
// and transformations on a raw SELECT) runs long after the executor's
// own checks.
func (t *typedRows) values(ctx context.Context) ([][]any, error) {
	times := t.cols.Cols[0].Int64s()
	out := make([][]any, len(t.rows))
	cells := make([]any, len(t.rows)*(1+t.n))
	tv := typedValues{cols: t.cols, ans: t.ans, first: t.first, n: t.n}
	encs := t.ans.cellEncs()[t.first : t.first+t.n]
	for i, r := range t.rows {
		if i%valuesCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := cells[i*(1+t.n) : (i+1)*(1+t.n) : (i+1)*(1+t.n)]
		if t.windows != nil {
			row[0] = t.windows[i]
		} else {
			row[0] = times[r]
		}
		for j := range t.n {
			switch null, zero := tv.cellNull(j, r, &encs[j]); {
			case zero:
				row[1+j] = int64(0)
			case !null:
				row[1+j] = t.cols.Cols[t.first+j].Value(r)
			}
		}
		out[i] = row
	}
	return out, nil
}

// valuesCheckRows is how many rows values converts between checks of its
// context.
const valuesCheckRows = 4096

// untype converts the typed points of list into rows, for the callers
// that work on rows (transformations, math, chunks); it stops with ctx's
// error.
func untype(ctx context.Context, list []*seriesRows) error {
	for _, s := range list {
		if s.typed != nil {
			rows, err := s.typed.values(ctx)
			if err != nil {
				return err
			}
			s.rows, s.typed = rows, nil
		}
	}
	return nil
}

// rawFetchTyped is rawFetch over the executor's columns, when the backend
// gives them: the same series, points and order, as typed rows. ok is
// false when the backend answers only rows; nothing was run then. With
// newest, each series keeps only its points at its largest time (the
// answer holds the series' latest rows, exec.WithLatestRows).
func (c *selectCompiler) rawFetchTyped(ctx context.Context, text string, ne int, tagCols []string, newest bool) (list []*seriesRows, ties, ok bool, err error) {
	cb, isCol := c.b.(ColumnBackend)
	if !isCol {
		return nil, false, false, nil
	}
	q, err := c.compileSQL(text)
	if err != nil {
		return nil, false, true, err
	}
	res, ok, err := cb.RunColumns(ctx, c.db, q)
	if !ok || err != nil {
		return nil, false, ok, err
	}
	nd := len(c.dims)
	if len(res.Cols) != 1+nd+ne+len(tagCols) || res.Cols[0].Type() != sql.TypeTimestamp {
		return nil, false, true, fmt.Errorf("%w: the plan of %q answered %d columns, want time and %d more", ErrInternal, text, len(res.Cols), nd+ne+len(tagCols))
	}
	// What this re-shaping holds on top of the columns: each point's row
	// number in its series, and a sort key per row when tags order points.
	per := int64(16)
	if len(tagCols) > 0 {
		per += 4
	}
	if err := c.req.mem.check(res.Bytes()+int64(len(res.Rows))*per, fmt.Sprintf("%d rows of %s, as the executor's columns and as series", len(res.Rows), c.m)); err != nil {
		return nil, false, true, err
	}
	times := res.Cols[0].Int64s()
	find := c.newRowSeries(res.Cols, len(res.Rows))
	all := find.all
	ans := &typedAnswer{cols: res}
	var met []*seriesRows // nd > 0: the series, in the order rows met them
	if nd == 0 {
		if len(res.Rows) > 0 {
			s := c.seriesFor(all, nil)
			s.typed = &typedRows{cols: res, ans: ans, first: 1, n: ne, rows: slices.Clone(res.Rows)}
		}
	} else {
		// Series by their GROUP BY tag values: each row's series first,
		// then the series' row numbers carved from one slice — a few
		// allocations per answer rather than per series (a lastpoint
		// answer is a series per host, a row each).
		of := make([]int32, len(res.Rows))
		met = make([]*seriesRows, 0, min(len(res.Rows), 1024))
		count := make([]int, 0, cap(met))
		for i, r := range res.Rows {
			s, isNew := find.of(r, len(met))
			if isNew {
				met = append(met, s)
				count = append(count, 0)
			}
			of[i] = int32(s.at)
			count[s.at]++
		}
		typed := make([]typedRows, len(met))
		rows := make([]int, len(res.Rows))
		lo := 0
		for k, s := range met {
			typed[k] = typedRows{cols: res, ans: ans, first: 1 + nd, n: ne, rows: rows[lo : lo : lo+count[k]]}
			s.typed = &typed[k]
			lo += count[k]
		}
		for i, r := range res.Rows {
			t := &typed[of[i]]
			t.rows = append(t.rows, r)
		}
	}
	if nd == 0 {
		list = sortedSeries(all)
	} else {
		// met holds every series of all, in the order the rows met them.
		list = sortSeries(met)
	}
	byTime := func(a, b int) int { return cmp.Compare(times[a], times[b]) }
	var tied []*seriesRows // series with points of one time
	for _, s := range list {
		if newest {
			s.typed.rows = newestTyped(s.typed.rows, times)
		}
		rows := s.typed.rows
		slices.SortStableFunc(rows, byTime)
		for i := 1; i < len(rows); i++ {
			if times[rows[i]] == times[rows[i-1]] {
				ties = true
				tied = append(tied, s)
				break
			}
		}
	}
	if len(tied) > 0 && len(tagCols) > 0 {
		// Points of one time come in series-key order. The keys are
		// built only when some series has such points: a newest point
		// per host (lastpoint) has none.
		rank := c.seriesKeyRanks(res, 1+nd+ne, tagCols, len(times))
		for _, s := range tied {
			slices.SortStableFunc(s.typed.rows, func(a, b int) int {
				if c := cmp.Compare(times[a], times[b]); c != 0 {
					return c
				}
				return cmp.Compare(rank[a], rank[b])
			})
		}
	}
	return list, ties, true, nil
}

// newestTyped keeps the rows at the largest time among rows (in place).
func newestTyped(rows []int, times []int64) []int {
	if len(rows) == 0 {
		return rows
	}
	newest := times[rows[0]]
	for _, r := range rows[1:] {
		newest = max(newest, times[r])
	}
	n := 0
	for _, r := range rows {
		if times[r] == newest {
			rows[n] = r
			n++
		}
	}
	return rows[:n]
}

// cellString is row r of a tag column, "" when NULL.
func cellString(col exec.Column, r int) string {
	if col.IsNull(r) {
		return ""
	}
	return col.Str(r)
}

// seriesKeyRanks orders the answer's rows by series key: for each column
// row, the rank of its key (from the tag columns from first on) among
// the answer's distinct keys. A key is built once per distinct tag
// tuple, not per row.
func (c *selectCompiler) seriesKeyRanks(res *exec.Columns, first int, tagCols []string, n int) []int32 {
	rank := make([]int32, n)
	ids := map[string]int32{} // tag tuple → index in keys
	var keys []string
	var kb []byte
	for _, r := range res.Rows {
		kb = kb[:0]
		for k := range tagCols {
			col := res.Cols[first+k]
			if tagIDs, _ := col.Dict(); tagIDs != nil {
				// The value's id (equal values, equal ids): shorter to
				// hash than the value.
				id := tagIDs[r]
				if col.IsNull(r) {
					id = -1
				}
				kb = binary.LittleEndian.AppendUint32(kb, uint32(id))
				continue
			}
			v := cellString(col, r)
			kb = binary.AppendUvarint(kb, uint64(len(v)))
			kb = append(kb, v...)
		}
		id, ok := ids[string(kb)]
		if !ok {
			tags := map[string]string{}
			for k, t := range tagCols {
				if v := cellString(res.Cols[first+k], r); v != "" {
					tags[t] = v
				}
			}
			id = int32(len(keys))
			keys = append(keys, seriesKey(c.m, tags))
			ids[string(kb)] = id
		}
		rank[r] = id
	}
	// Ids become ranks: equal keys (tag tuples differing only in absent
	// tags) get equal ranks.
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
	byID := make([]int32, len(keys))
	next := int32(0)
	for i, id := range order {
		if i > 0 && keys[id] != keys[order[i-1]] {
			next++
		}
		byID[id] = next
	}
	for _, r := range res.Rows {
		rank[r] = byID[rank[r]]
	}
	return rank
}

// typedValues are a Series' rows kept as the executor's columns
// (Request.TypedValues), encoded straight from them.
type typedValues struct {
	cols     *exec.Columns
	ans      *typedAnswer
	first, n int
	rows     []int
	// times: typedRows' windows.
	times    []int64
	epoch    Epoch
	loc      *time.Location
	omitTime bool
}

// Len is the number of rows of values of s.
func (s *Series) Len() int {
	if s.typed != nil {
		return len(s.typed.rows)
	}
	return len(s.Values)
}

// AppendRowJSON appends row k of s's values as encoding/json's Marshal
// writes it (a JSON array), whether s holds them as Values or as the
// executor's columns.
func (s *Series) AppendRowJSON(b []byte, k int) ([]byte, error) {
	t := s.typed
	if t == nil {
		return appendJSONRow(b, s.Values[k])
	}
	r := t.rows[k]
	b = append(b, '[')
	if !t.omitTime {
		var ns int64
		if t.times != nil {
			ns = t.times[k]
		} else {
			ns = t.cols.Cols[0].Int64s()[r]
		}
		if t.epoch.Unit > 0 {
			b = appendJSONInt(b, ns/int64(t.epoch.Unit))
		} else {
			// RFC 3339 holds no byte JSON escapes.
			b = append(b, '"')
			b = t.ans.appendRFC3339(b, ns, t.loc)
			b = append(b, '"')
		}
	}
	encs := t.ans.cellEncs()[t.first : t.first+t.n]
	for j := range encs {
		if j > 0 || !t.omitTime {
			b = append(b, ',')
		}
		e := &encs[j]
		if r < 0 || t.ans.counts != nil || e.col.IsNull(r) {
			switch null, zero := t.cellNull(j, r, e); {
			case zero:
				b = append(b, '0')
				continue
			case null:
				b = append(b, "null"...)
				continue
			}
		}
		ok := true
		switch e.kind {
		case encDict:
			// A tag: its values' JSON is written once per value.
			if id := e.ids[r]; id >= 0 {
				b = append(b, e.dict.json(id)...)
			} else {
				b = append(b, `""`...)
			}
		case encInt:
			b = appendJSONInt(b, e.i[r])
		case encUint:
			b = strconv.AppendUint(b, e.u[r], 10)
		case encFloat:
			b, ok = appendJSONFloat(b, e.f[r])
		case encBool:
			b = strconv.AppendBool(b, e.b[r])
		case encString:
			b = query.AppendJSONString(b, e.col.Str(r))
		default:
			ok = false
		}
		if !ok {
			var err error
			if b, err = appendMarshal(b, e.col.Value(r)); err != nil {
				return b, err
			}
		}
	}
	return append(b, ']'), nil
}

// cellEnc is how AppendRowJSON writes the values of one column of a
// typed answer, decided once per answer rather than once per cell.
type cellEnc struct {
	col  exec.Column
	kind uint8
	ids  []int32   // encDict: each row's id
	dict *dictJSON // encDict: the values' JSON
	i    []int64
	u    []uint64
	f    []float64
	b    []bool
}

// The kinds of cellEnc.
const (
	encOther uint8 = iota // through Marshal
	encDict               // a dictionary's string (a tag)
	encInt
	encUint
	encFloat
	encBool
	encString
)

// cellEncs returns the encoders of the answer's columns.
func (a *typedAnswer) cellEncs() []cellEnc {
	if a.encs != nil {
		return a.encs
	}
	a.encs = make([]cellEnc, len(a.cols.Cols))
	for k, col := range a.cols.Cols {
		e := &a.encs[k]
		e.col = col
		if d := a.dictJSON(k); d != nil {
			e.kind, e.dict = encDict, d
			e.ids, _ = col.Dict()
			continue
		}
		switch col.Type() {
		case sql.TypeInt64:
			e.kind, e.i = encInt, col.Int64s()
		case sql.TypeUint64:
			e.kind, e.u = encUint, col.Uint64s()
		case sql.TypeFloat64:
			e.kind, e.f = encFloat, col.Float64s()
		case sql.TypeBool:
			e.kind, e.b = encBool, col.Bools()
		case sql.TypeString:
			e.kind = encString
		}
	}
	return a.encs
}

// finishTyped is finish for a series of typed rows: ORDER BY time DESC,
// LIMIT and OFFSET, then the rows kept typed (Request.TypedValues) or
// converted into Values. false when no row is left; ctx's error when it
// ends during the conversion.
func (c *selectCompiler) finishTyped(ctx context.Context, sr *seriesRows, cols []string, desc bool, s *Series) (bool, error) {
	t := sr.typed
	rows, windows := t.rows, t.windows
	if desc {
		slices.Reverse(rows)
		slices.Reverse(windows)
	}
	if !c.limited {
		rows = limitRows(rows, c.stmt.Limit, c.stmt.Offset)
		if windows != nil {
			windows = limitRows(windows, c.stmt.Limit, c.stmt.Offset)
		}
	}
	if len(rows) == 0 {
		return false, nil
	}
	*s = Series{Name: c.m, Columns: cols}
	c.setTags(s, sr)
	if c.req.TypedValues {
		if len(c.valSlab) > 0 {
			s.typed, c.valSlab = &c.valSlab[0], c.valSlab[1:]
		} else {
			s.typed = new(typedValues)
		}
		*s.typed = typedValues{cols: t.cols, ans: t.ans, first: t.first, n: t.n, rows: rows, times: windows,
			epoch: c.req.Epoch, loc: c.loc, omitTime: c.stmt.OmitTime}
		return true, nil
	}
	t.rows, t.windows = rows, windows
	vals, err := t.values(ctx)
	if err != nil {
		return false, err
	}
	for i, r := range vals {
		r[0] = c.req.Epoch.timeValue(r[0].(int64), c.loc)
		if c.stmt.OmitTime {
			vals[i] = r[1:]
		}
	}
	s.Values = vals
	return true, nil
}

// typedAnswer is the executor's answer the series of one raw SELECT
// share, with what their encoding learns of it.
type typedAnswer struct {
	cols *exec.Columns
	// dicts holds, per dictionary-encoded string column (tags), the JSON
	// of each dictionary value, written once instead of once per cell;
	// nil until the first row is encoded.
	dicts []*dictJSON
	// encs: per column, how its cells are written (cellEncs); nil
	// until the first row is encoded.
	encs []cellEnc
	// counts, when not nil, say per value column of a GROUP BY time()
	// answer (aggregateTyped) which are count()s: countNone,
	// countNullZero, countZeroNull. The answer's series share it.
	counts []uint8
	// day and dayText: the last UTC day appendRFC3339 wrote and its
	// text up to the 'T' (an answer's times are mostly of a few days).
	day     int64
	dayText []byte
}

// appendRFC3339 appends the time ns (UTC, or in loc) as
// time.RFC3339Nano formats it: for UTC times from 1970 on, from the
// text of the day, written once per day, the clock's digits, and the
// fraction without trailing zeros (a GROUP BY time(1m) answer is a
// new second every row, and Format was most of its encoding).
func (a *typedAnswer) appendRFC3339(b []byte, ns int64, loc *time.Location) []byte {
	if loc != nil || ns < 0 { // (an int64 of nanoseconds ends in 2262)
		tm := time.Unix(0, ns).UTC()
		if loc != nil {
			tm = tm.In(loc)
		}
		return tm.AppendFormat(b, time.RFC3339Nano)
	}
	sec, frac := ns/1e9, ns%1e9
	day, clock := sec/86400, sec%86400
	if a.dayText == nil || day != a.day {
		a.day = day
		a.dayText = time.Unix(day*86400, 0).UTC().AppendFormat(a.dayText[:0], "2006-01-02T")
	}
	b = append(b, a.dayText...)
	h, m, s := clock/3600, clock/60%60, clock%60
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	return append(query.AppendNanoFraction(b, frac), 'Z')
}

// dictJSON returns the JSON of column i's dictionary values, or nil
// when it is not dictionary-encoded.
func (a *typedAnswer) dictJSON(i int) *dictJSON {
	if a.dicts == nil {
		a.dicts = make([]*dictJSON, len(a.cols.Cols))
		// The columns' entries and their bounds, each in one
		// allocation: SELECT * reads every tag (TSBS's ten).
		var n, values int
		for _, col := range a.cols.Cols {
			if a.tagDict(col) {
				_, dict := col.Dict()
				n, values = n+1, values+len(dict)
			}
		}
		if n == 0 {
			return nil
		}
		entries := make([]dictJSON, n)
		bounds := make([]int32, 2*values)
		for k, col := range a.cols.Cols {
			if !a.tagDict(col) {
				continue
			}
			_, dict := col.Dict()
			d := &entries[0]
			entries = entries[1:]
			*d = dictJSON{dict: dict, start: bounds[:len(dict):len(dict)], end: bounds[len(dict) : 2*len(dict) : 2*len(dict)]}
			bounds = bounds[2*len(dict):]
			a.dicts[k] = d
		}
	}
	return a.dicts[i]
}

// tagDict reports whether col's values are a dictionary's strings whose
// JSON dictJSON keeps: a tag, with no more values than the answer's rows.
func (a *typedAnswer) tagDict(col exec.Column) bool {
	ids, dict := col.Dict()
	return ids != nil && col.Type() == sql.TypeString && len(dict) <= len(a.cols.Rows)
}

// dictJSON holds the JSON of a dictionary's values, each written the
// first time a cell holds it, all in one buffer: a few allocations per
// column rather than one per value.
type dictJSON struct {
	dict  []string
	buf   []byte
	start []int32 // per id: where its JSON starts
	end   []int32 // per id: where its JSON ends, 0 until written
}

func (d *dictJSON) json(id int32) []byte {
	if d.end[id] == 0 { // (a JSON string has at least its quotes)
		if d.buf == nil {
			// Room for short values (tags: hosts, regions, racks),
			// rather than growing from a few bytes by doubling.
			d.buf = make([]byte, 0, 16*len(d.dict))
		}
		d.start[id] = int32(len(d.buf))
		d.buf = query.AppendJSONString(d.buf, d.dict[id])
		d.end[id] = int32(len(d.buf))
	}
	return d.buf[d.start[id]:d.end[id]]
}
