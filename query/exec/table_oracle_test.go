package exec

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// TestRunTableAgainstPostgres: the typed answers the SQL endpoints send
// (RunTable's query.Table, encoded by Table.WriteJSON and Table.WriteCSV)
// read back as PostgreSQL's answer to the same query, over data split
// between a segment and the head, with NULLs, out-of-order points and
// rewrites: each answer's JSON and CSV text is parsed here by its
// columns' types, independently of the encoders, and compared with
// PostgreSQL's rows. The row answers have their own oracle tests; this
// one covers what only the typed path does (vectors gathered after
// LIMIT/OFFSET/DISTINCT, dictionary tags, the encoders' number, NULL and
// timestamp text).
func TestRunTableAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	all := pgoracle.CPUDataset(12, cpuStart, headInterval, 1440, 77, pgoracle.DatasetOptions{OutOfOrder: 0.05, Duplicates: 0.03})
	for i := range all {
		if i%5 == 2 && len(all[i].Fields) > 1 {
			all[i].Fields = withoutField(all[i].Fields, "usage_guest")
		}
		// Nanoseconds of several widths, so that the encoders' fractions
		// (trailing zeros dropped) are checked.
		all[i].Time += []int64{0, 1000, 120_000_000, 999_999_000, 500_000}[i%5] // PostgreSQL keeps microseconds
	}
	eng := openHeadEngine(t)
	cut := cpuStart.Add(headCut).UnixNano()
	var early, later []pgoracle.Point
	for _, p := range all {
		if p.Time < cut {
			early = append(early, p)
		} else {
			later = append(later, p)
		}
	}
	slices.SortStableFunc(early, func(a, b pgoracle.Point) int { return cmp.Compare(a.Time, b.Time) })
	writeLP(t, eng, pgoracle.CPUTable, early)
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	writeLP(t, eng, pgoracle.CPUTable, later)
	if len(eng.Manifest().Raw()) == 0 {
		t.Fatal("no segment: the data is not split")
	}
	loadOracle(t, o, eng, pgoracle.CPUTable, all)

	cases := slices.Concat(tsbsCases(), headCases(), tableCases())
	r := rand.New(rand.NewPCG(19, 3))
	for range 16 {
		cases = append(cases, randomCase(r))
	}
	typed := 0
	for _, c := range cases {
		if checkTable(t, o, eng, c) {
			typed++
		}
	}
	t.Logf("%d queries, %d answered as typed columns", len(cases), typed)
	if typed < len(cases)/2 {
		t.Errorf("only %d of %d queries were answered as typed columns", typed, len(cases))
	}
}

// tableCases are the shapes the typed path treats apart: LIMIT and
// OFFSET over wide projections (gathered vectors), DISTINCT over tags
// (dictionaries), constants, expressions and NULL-only columns.
func tableCases() []oracleCase {
	var cs []oracleCase
	add := func(silt, pg string) { cs = append(cs, oracleCase{silt, pg}) }
	add(`SELECT * FROM cpu ORDER BY time, hostname LIMIT 300 OFFSET 17`, "")
	add(fmt.Sprintf(`SELECT * FROM cpu WHERE time >= %s AND time < %s ORDER BY hostname, time`, ts(headCut-2*time.Minute), ts(headCut+2*time.Minute)), "")
	add(`SELECT DISTINCT hostname, region FROM cpu ORDER BY hostname`, "")
	add(`SELECT DISTINCT region FROM cpu ORDER BY region DESC LIMIT 2`, "")
	add(`SELECT hostname, usage_guest, usage_user * 2 AS d FROM cpu WHERE usage_guest IS NULL ORDER BY time DESC, hostname LIMIT 50`, "")
	add(`SELECT time, hostname, 7 AS seven, 'x' AS s, NULL AS nothing FROM cpu ORDER BY time DESC, hostname LIMIT 9`, "")
	add(`SELECT hostname, count(*) AS n, count(usage_guest) AS g, min(time) AS first, max(time) AS last FROM cpu GROUP BY hostname ORDER BY hostname`, "")
	add(`SELECT hostname, avg(usage_user) AS a, sum(usage_guest) AS s FROM cpu GROUP BY hostname HAVING count(*) > 0 ORDER BY a DESC, hostname`, "")
	add(`SELECT time, usage_user FROM cpu WHERE hostname = 'host_3' ORDER BY time OFFSET 1400`, "")
	add(`SELECT time FROM cpu WHERE hostname = 'no such host' ORDER BY time`, "")
	return cs
}

// checkTable runs c through RunTable, from rollups where they apply and
// from raw rows, and compares the answer's JSON and CSV text, parsed
// here, with PostgreSQL's rows. It reports whether the answers were
// typed (a query.Table rather than rows).
func checkTable(t *testing.T, o *pgoracle.Oracle, eng *engine.Engine, c oracleCase) bool {
	t.Helper()
	pgText := c.pg
	if pgText == "" {
		pgText = c.silt
	}
	cols, want, pgErr := o.Query(pgText)
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	q, err := sql.Compile(c.silt, cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Errorf("%s: compile: %v", c.silt, err)
		return false
	}
	wasTyped := false
	for _, raw := range []bool{false, true} {
		res, tab, err := RunTable(context.Background(), q, EngineSource{Engine: eng, DB: testDB, Raw: raw}, names, Limits{})
		switch {
		case err != nil && pgErr != nil:
			if strings.Contains(pgErr.Error(), "division by zero") != strings.Contains(err.Error(), "division by zero") {
				t.Errorf("%s (raw %v): different errors: silt %v, postgres %v", c.silt, raw, err, pgErr)
			}
			continue
		case err != nil:
			t.Errorf("%s (raw %v): %v", c.silt, raw, err)
			continue
		case pgErr != nil:
			t.Errorf("%s (raw %v): postgres error %v, silt answered", c.silt, raw, pgErr)
			continue
		}
		if (res == nil) == (tab == nil) {
			t.Fatalf("%s: RunTable answered rows %v and table %v: want exactly one", c.silt, res != nil, tab != nil)
		}
		if tab == nil {
			if d := diff(res, cols, want); d != "" {
				t.Errorf("MISMATCH (rows) %s (raw %v): %s", c.silt, raw, d)
			}
			continue
		}
		wasTyped = true
		var js, cs bytes.Buffer
		if err := tab.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		if err := tab.WriteCSV(&cs); err != nil {
			t.Fatal(err)
		}
		fromJSON, err := parseTableJSON(js.Bytes())
		if err != nil {
			t.Fatalf("%s: answer is not JSON as expected: %v\n%.400s", c.silt, err, js.Bytes())
		}
		if d := diff(fromJSON, cols, want); d != "" {
			t.Errorf("MISMATCH (typed JSON) %s (raw %v)\n  %s\n silt:\n%s postgres:\n%s", c.silt, raw, d, formatRows(fromJSON.Rows, 10), formatRows(want, 10))
		}
		if fromJSON.Stats.Rows != len(want) {
			t.Errorf("%s: stats say %d rows, postgres has %d", c.silt, fromJSON.Stats.Rows, len(want))
		}
		fromCSV, err := parseTableCSV(cs.Bytes(), fromJSON.Columns)
		if err != nil {
			t.Fatalf("%s: answer is not CSV as expected: %v\n%.400s", c.silt, err, cs.Bytes())
		}
		// CSV has no NULL: an empty string cell is NULL or ''.
		wantCSV := make([][]any, len(want))
		for r, row := range want {
			wantCSV[r] = slices.Clone(row)
			for i, v := range row {
				if v == "" {
					wantCSV[r][i] = nil
				}
			}
		}
		if d := diff(fromCSV, cols, wantCSV); d != "" {
			t.Errorf("MISMATCH (typed CSV) %s (raw %v)\n  %s\n silt:\n%s postgres:\n%s", c.silt, raw, d, formatRows(fromCSV.Rows, 10), formatRows(wantCSV, 10))
		}
	}
	return wasTyped
}

// parseTableJSON reads an answer as WriteJSON documents it: columns with
// their types, rows of JSON values (timestamps RFC 3339 text, NaN and the
// infinities as strings), stats.
func parseTableJSON(body []byte) (*query.Result, error) {
	var ans struct {
		Columns []query.Column
		Rows    [][]json.RawMessage
		Stats   query.Stats
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&ans); err != nil {
		return nil, err
	}
	res := &query.Result{Columns: ans.Columns, Stats: ans.Stats, Rows: [][]any{}}
	for _, row := range ans.Rows {
		if len(row) != len(ans.Columns) {
			return nil, fmt.Errorf("row of %d cells, %d columns", len(row), len(ans.Columns))
		}
		out := make([]any, len(row))
		for i, cell := range row {
			if string(cell) == "null" {
				continue
			}
			var text string
			if cell[0] == '"' {
				if err := json.Unmarshal(cell, &text); err != nil {
					return nil, err
				}
			} else {
				text = string(cell)
			}
			v, err := parseCell(text, ans.Columns[i].Type)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		res.Rows = append(res.Rows, out)
	}
	return res, nil
}

// parseTableCSV reads a CSV answer of cols: a header, then one record a
// row, an empty cell NULL (or the empty string).
func parseTableCSV(body []byte, cols []query.Column) (*query.Result, error) {
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no header")
	}
	for i, c := range cols {
		if recs[0][i] != c.Name {
			return nil, fmt.Errorf("header %q, columns %v", recs[0], cols)
		}
	}
	res := &query.Result{Columns: cols, Rows: [][]any{}}
	for _, rec := range recs[1:] {
		out := make([]any, len(rec))
		for i, text := range rec {
			if text == "" {
				continue
			}
			if out[i], err = parseCell(text, cols[i].Type); err != nil {
				return nil, err
			}
		}
		res.Rows = append(res.Rows, out)
	}
	return res, nil
}

// parseCell reads one cell's text as a value of its column's type.
func parseCell(text, typ string) (any, error) {
	switch typ {
	case query.TypeTimestamp:
		return time.Parse(time.RFC3339Nano, text)
	case query.TypeInteger:
		return strconv.ParseInt(text, 10, 64)
	case query.TypeUnsigned:
		return strconv.ParseUint(text, 10, 64)
	case query.TypeFloat:
		switch text {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(text, 64)
	case query.TypeBoolean:
		return strconv.ParseBool(text)
	case query.TypeString:
		return text, nil
	}
	return nil, fmt.Errorf("column type %q", typ)
}
