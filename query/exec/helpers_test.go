package exec

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

func TestMain(m *testing.M) { os.Exit(pgoracle.RunTests(m)) }

const testDB = "db"

// memSource serves fixed points.
type memSource map[string][]columnar.Point

func (m memSource) ScanBatches(ctx context.Context, spec ScanSpec, _ *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	var tags []string
	var fields []columnar.FieldSchema
	seen := map[string]bool{}
	for _, p := range m[spec.Table] {
		for _, tv := range p.Tags {
			if !seen[tv.Key] {
				seen[tv.Key] = true
				tags = append(tags, tv.Key)
			}
		}
		for _, fv := range p.Fields {
			if !seen[fv.Key] {
				seen[fv.Key] = true
				fields = append(fields, columnar.FieldSchema{Name: fv.Key, Type: fv.Type})
			}
		}
	}
	// Small batches, so that queries span several.
	bb := columnar.NewBatchBuilder(tags, fields, 3)
	for i := range m[spec.Table] {
		if err := bb.Add(&m[spec.Table][i], fn); err != nil {
			return err
		}
	}
	return bb.Flush(fn)
}

// loadEngine writes points (in order, through line protocol) into a fresh
// engine, flushing once midway so both segments and heads are read.
func loadEngine(t testing.TB, table string, points []pgoracle.Point) *engine.Engine {
	t.Helper()
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	const chunk = 5000
	for lo := 0; lo < len(points); lo += chunk {
		hi := min(lo+chunk, len(points))
		writeLP(t, eng, table, points[lo:hi])
		if lo < len(points)/2 && hi >= len(points)/2 {
			if err := eng.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return eng
}

// writeLP writes points into table through line protocol, in one batch.
func writeLP(t testing.TB, eng *engine.Engine, table string, points []pgoracle.Point) {
	t.Helper()
	var body []byte
	for _, p := range points {
		body = p.AppendLineProtocol(body, table)
		body = append(body, '\n')
	}
	var b columnar.Batch
	var lerr []columnar.LineError
	lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { lerr = append(lerr, e) })
	if len(lerr) > 0 {
		t.Fatalf("line protocol: %v", lerr[0])
	}
	res, err := eng.Write(testDB, &b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("rejected: %v", res.Rejected[0])
	}
}

// runSQL compiles and runs text against the engine (from rollups where
// they apply).
func runSQL(eng *engine.Engine, text string) (*query.Result, error) {
	return runSQLAt(eng, text, false)
}

// runSQLAt is runSQL; raw answers from raw rows only.
func runSQLAt(eng *engine.Engine, text string, raw bool) (*query.Result, error) {
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	q, err := sql.Compile(text, cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, &compileError{err}
	}
	return Run(context.Background(), q, EngineSource{Engine: eng, DB: testDB, Raw: raw}, names)
}

type compileError struct{ err error }

func (e *compileError) Error() string { return "compile: " + e.err.Error() }

// diff compares our result with PostgreSQL's; "" when equal.
func diff(res *query.Result, cols []string, rows [][]any) string {
	var names []string
	for _, c := range res.Columns {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != strings.Join(cols, ",") {
		return fmt.Sprintf("columns: silt %q, postgres %q", names, cols)
	}
	if len(res.Rows) != len(rows) {
		return fmt.Sprintf("row count: silt %d, postgres %d", len(res.Rows), len(rows))
	}
	for r := range rows {
		for c := range rows[r] {
			if !equalValue(res.Rows[r][c], rows[r][c]) {
				return fmt.Sprintf("row %d column %s: silt %#v, postgres %#v", r, cols[c], res.Rows[r][c], rows[r][c])
			}
		}
	}
	return ""
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func equalValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if ai, ok := a.(int64); ok {
		if bi, ok := b.(int64); ok {
			return ai == bi
		}
	}
	if af, ok := toFloat(a); ok {
		bf, ok := toFloat(b)
		if !ok {
			return false
		}
		if math.IsNaN(af) || math.IsNaN(bf) {
			return math.IsNaN(af) && math.IsNaN(bf)
		}
		d := math.Abs(af - bf)
		return d <= 1e-9 || d <= 1e-9*math.Max(math.Abs(af), math.Abs(bf))
	}
	if at, ok := a.(time.Time); ok {
		bt, ok := b.(time.Time)
		return ok && at.Equal(bt)
	}
	return a == b
}

func formatRows(rows [][]any, max int) string {
	var b strings.Builder
	for i, r := range rows {
		if i == max {
			fmt.Fprintf(&b, "  ... %d more\n", len(rows)-max)
			break
		}
		fmt.Fprintf(&b, "  %v\n", r)
	}
	return b.String()
}

// oracleCase is one query, with its PostgreSQL text when it differs.
type oracleCase struct {
	silt, pg string
}

type tally struct {
	run, passed, rejected, errorsAgreed int
	fromRollups                         int // queries answered (at least partly) from rollups
}

// check runs one case on both sides — Silt twice, from rollups where they
// apply and from raw rows only — and reports a mismatch.
func check(t *testing.T, o *pgoracle.Oracle, eng *engine.Engine, c oracleCase, tl *tally) {
	t.Helper()
	tl.run++
	pgText := c.pg
	if pgText == "" {
		pgText = c.silt
	}
	cols, rows, pgErr := o.Query(pgText)
	ok := true
	for _, raw := range []bool{false, true} {
		res, err := runSQLAt(eng, c.silt, raw)
		if ce, isCE := err.(*compileError); isCE {
			tl.rejected++
			t.Logf("REJECTED by front end: %s\n  %v", c.silt, ce.err)
			return
		}
		mode := "from rollups where they apply"
		if raw {
			mode = "from raw rows"
		} else if err == nil && res.Stats.Resolution != "raw" {
			tl.fromRollups++
			mode = "from " + res.Stats.Resolution
		}
		switch {
		case err != nil && pgErr != nil:
			if strings.Contains(pgErr.Error(), "division by zero") != strings.Contains(err.Error(), "division by zero") {
				t.Errorf("%s (%s)\n  different errors: silt %v, postgres %v", c.silt, mode, err, pgErr)
				ok = false
			} else if !raw {
				tl.errorsAgreed++
			}
			continue
		case err != nil:
			t.Errorf("%s (%s)\n  silt error: %v", c.silt, mode, err)
			ok = false
			continue
		case pgErr != nil:
			t.Errorf("%s (%s)\n  postgres error: %v (pg text %s)", c.silt, mode, pgErr, pgText)
			ok = false
			continue
		}
		if d := diff(res, cols, rows); d != "" {
			t.Errorf("MISMATCH %s (%s)\n  pg: %s\n  %s\n silt result:\n%s postgres result:\n%s", c.silt, mode, pgText, d, formatRows(res.Rows, 20), formatRows(rows, 20))
			ok = false
		}
	}
	if ok {
		tl.passed++
	}
}

// loadOracle loads points into PostgreSQL with the engine's column order
// (so that SELECT * agrees).
func loadOracle(t testing.TB, o *pgoracle.Oracle, eng *engine.Engine, table string, points []pgoracle.Point) {
	t.Helper()
	schemas, _ := eng.Tables(testDB)
	s := schemas[table]
	var fields []pgoracle.FieldDef
	for _, f := range s.Fields {
		fields = append(fields, pgoracle.FieldDef{Name: f.Name, Type: f.Type.String()})
	}
	if err := o.LoadPoints(table, s.Tags, fields, points); err != nil {
		t.Fatal(err)
	}
}
