package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"
)

// Table is a query's answer as the executor's typed column vectors, not
// yet a Go value per cell: row r of the answer is row Rows[r] of every
// vector. Its encoders write exactly what Result's write for the same
// answer (the SQL endpoint answers large SELECTs from a Table; boxing
// each cell of tens of thousands of rows into an interface cost more
// than encoding them).
type Table struct {
	Columns []Column
	Vecs    []Vector // one per column
	Rows    []int
	Stats   Stats
}

// Vector is one column of a Table. Which values it holds follows the
// column's type: Int (integer), Time (timestamp, Unix nanoseconds), Uint,
// Float, Bool, Str, or IDs into Dict (dictionary-encoded strings, tags;
// id -1 is the empty string). Null marks NULL rows (nil: none); AllNull
// is a column of NULLs. A column none of these fit gives its rows through
// Value, as Result's rows would hold them.
type Vector struct {
	Null    []bool
	AllNull bool
	Int     []int64
	Time    []int64
	Uint    []uint64
	Float   []float64
	Bool    []bool
	Str     []string
	IDs     []int32
	Dict    []string
	Value   func(k int) any
}

func (v *Vector) isNull(k int) bool { return v.AllNull || (v.Null != nil && v.Null[k]) }

// value is row k as Result's rows hold it.
func (v *Vector) value(k int) any {
	switch {
	case v.isNull(k):
		return nil
	case v.Int != nil:
		return v.Int[k]
	case v.Time != nil:
		return time.Unix(0, v.Time[k]).UTC()
	case v.Uint != nil:
		return v.Uint[k]
	case v.Float != nil:
		return v.Float[k]
	case v.Bool != nil:
		return v.Bool[k]
	case v.Str != nil:
		return v.Str[k]
	case v.IDs != nil:
		return v.dictStr(k)
	case v.Value != nil:
		return v.Value(k)
	}
	return nil
}

func (v *Vector) dictStr(k int) string {
	if id := v.IDs[k]; id >= 0 {
		return v.Dict[id]
	}
	return ""
}

// Result converts t into a Result: what a caller that needs rows (or a
// test comparing the two) reads.
func (t *Table) Result() *Result {
	res := &Result{Columns: t.Columns, Rows: make([][]any, len(t.Rows)), Stats: t.Stats}
	cells := make([]any, len(t.Rows)*len(t.Vecs))
	for r, k := range t.Rows {
		row := cells[r*len(t.Vecs) : (r+1)*len(t.Vecs) : (r+1)*len(t.Vecs)]
		for i := range t.Vecs {
			row[i] = t.Vecs[i].value(k)
		}
		res.Rows[r] = row
	}
	return res
}

// WriteJSON writes t as Result.WriteJSON writes the same answer, byte for
// byte.
func (t *Table) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	cols, err := json.Marshal(t.Columns)
	if err != nil {
		return err
	}
	bw.WriteString(`{"columns":`)
	bw.Write(cols)
	bw.WriteString(`,"rows":[`)
	encs := make([]cellEncoder, len(t.Vecs))
	for i := range t.Vecs {
		encs[i].init(&t.Vecs[i], len(t.Rows))
	}
	var buf []byte
	for r, k := range t.Rows {
		buf = buf[:0]
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		for i := range encs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = encs[i].appendJSON(buf, k)
		}
		buf = append(buf, ']')
		bw.Write(buf)
	}
	stats, err := json.Marshal(t.Stats)
	if err != nil {
		return err
	}
	bw.WriteString(`],"stats":`)
	bw.Write(stats)
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteCSV writes t as Result.WriteCSV writes the same answer.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		rec[i] = c.Name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	encs := make([]cellEncoder, len(t.Vecs))
	for i := range t.Vecs {
		encs[i].init(&t.Vecs[i], 0) // no JSON to cache
	}
	var buf []byte
	for _, k := range t.Rows {
		for i := range encs {
			rec[i], buf = encs[i].text(buf, k)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cellEncoder encodes the cells of one Vector.
type cellEncoder struct {
	v *Vector
	// dictJSON holds each dictionary entry JSON-encoded, at dictAt[id]
	// (the last entry: the empty string), when the answer has more rows
	// than the dictionary entries: a tag column repeats its values.
	dictJSON []byte
	dictAt   []int32
	times    timeFormatter
}

func (e *cellEncoder) init(v *Vector, rows int) {
	e.v = v
	if v.IDs == nil || len(v.Dict) >= rows {
		return
	}
	e.dictAt = make([]int32, len(v.Dict)+2)
	for id, s := range v.Dict {
		e.dictAt[id] = int32(len(e.dictJSON))
		e.dictJSON = AppendJSONString(e.dictJSON, s)
	}
	e.dictAt[len(v.Dict)] = int32(len(e.dictJSON))
	e.dictJSON = append(e.dictJSON, `""`...)
	e.dictAt[len(v.Dict)+1] = int32(len(e.dictJSON))
}

func (e *cellEncoder) appendJSON(dst []byte, k int) []byte {
	v := e.v
	if v.isNull(k) {
		return append(dst, "null"...)
	}
	switch {
	case v.Int != nil:
		return strconv.AppendInt(dst, v.Int[k], 10)
	case v.Float != nil:
		return appendJSONFloat(dst, v.Float[k])
	case v.IDs != nil:
		if e.dictAt == nil {
			return AppendJSONString(dst, v.dictStr(k))
		}
		id := int(v.IDs[k])
		if id < 0 {
			id = len(v.Dict)
		}
		return append(dst, e.dictJSON[e.dictAt[id]:e.dictAt[id+1]]...)
	case v.Time != nil:
		dst = append(dst, '"')
		dst = e.times.append(dst, v.Time[k])
		return append(dst, '"')
	case v.Uint != nil:
		return strconv.AppendUint(dst, v.Uint[k], 10)
	case v.Bool != nil:
		return strconv.AppendBool(dst, v.Bool[k])
	case v.Str != nil:
		return AppendJSONString(dst, v.Str[k])
	}
	return appendJSONValue(dst, v.value(k))
}

// text is row k as FormatValue renders it; buf is scratch space, returned
// for reuse.
func (e *cellEncoder) text(buf []byte, k int) (string, []byte) {
	v := e.v
	if v.isNull(k) {
		return "", buf
	}
	switch {
	case v.IDs != nil:
		return v.dictStr(k), buf
	case v.Str != nil:
		return v.Str[k], buf
	case v.Int != nil:
		return strconv.FormatInt(v.Int[k], 10), buf
	case v.Time != nil:
		buf = e.times.append(buf[:0], v.Time[k])
		return string(buf), buf
	case v.Float != nil:
		return strconv.FormatFloat(v.Float[k], 'g', -1, 64), buf
	}
	return FormatValue(v.value(k)), buf
}

// timeFormatter appends Unix nanoseconds as time.Time's AppendFormat with
// time.RFC3339Nano in UTC does, reusing the date while consecutive times
// share their day (a series' points do) and writing the clock from the
// seconds of the day: formatting the whole time for each timestamp was a
// large part of encoding a wide answer, and of a per-minute GROUP BY's,
// whose every row is a new minute.
type timeFormatter struct {
	day    int64  // the day (Unix seconds / 86400) prefix holds
	prefix []byte // "2006-01-02T"
}

func (f *timeFormatter) append(dst []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	day, s := sec/86400, sec%86400
	if s < 0 {
		day, s = day-1, s+86400
	}
	if f.prefix == nil || day != f.day {
		// Years outside 0..9999 are written as AppendFormat writes them
		// by AppendFormat itself (their text has no fixed width).
		t := time.Unix(day*86400, 0).UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		f.day, f.prefix = day, t.AppendFormat(f.prefix[:0], "2006-01-02T")
	}
	dst = append(dst, f.prefix...)
	h, m := s/3600, s/60%60
	s %= 60
	dst = append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	return append(AppendNanoFraction(dst, frac), 'Z')
}

// AppendNanoFraction appends RFC3339Nano's ".999999999" for frac
// nanoseconds (0 ≤ frac < 1e9): the fraction without its trailing zeros,
// nothing for 0. The typed encoders here and InfluxQL's share it.
func AppendNanoFraction(dst []byte, frac int64) []byte {
	if frac == 0 {
		return dst
	}
	var digits [10]byte
	digits[0] = '.'
	for i := 9; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 10
	for digits[n-1] == '0' {
		n--
	}
	return append(dst, digits[:n]...)
}

// WriteJSONObjects writes t as InfluxDB 3's json (lines false: one array
// of objects) and jsonl (lines true: an object a line) formats: each row
// an object of its non-NULL cells, keys[i] (column i's name as a JSON
// string, and a colon) before each; timestamps as RFC 3339 strings, NaN
// and the infinities as null.
func (t *Table) WriteJSONObjects(w io.Writer, keys [][]byte, lines bool) error {
	bw := bufio.NewWriter(w)
	if !lines {
		bw.WriteByte('[')
	}
	encs := make([]cellEncoder, len(t.Vecs))
	for i := range t.Vecs {
		encs[i].init(&t.Vecs[i], len(t.Rows))
	}
	var buf []byte
	for r, k := range t.Rows {
		buf = buf[:0]
		if r > 0 && !lines {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		first := true
		for i := range encs {
			v := encs[i].v
			if v.isNull(k) || (v.Value != nil && v.value(k) == nil) {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, keys[i]...)
			switch {
			case v.Float != nil && (math.IsNaN(v.Float[k]) || math.IsInf(v.Float[k], 0)):
				buf = append(buf, "null"...)
			case v.Value != nil:
				if s, ok := v.value(k).(string); ok {
					buf = AppendJSONString(buf, s)
				} else {
					b, _ := json.Marshal(FormatValue(v.value(k)))
					buf = append(buf, b...)
				}
			default:
				buf = encs[i].appendJSON(buf, k)
			}
		}
		buf = append(buf, '}')
		if lines {
			buf = append(buf, '\n')
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	if !lines {
		bw.WriteString("]\n")
	}
	return bw.Flush()
}
