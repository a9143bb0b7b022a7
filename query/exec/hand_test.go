package exec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

var handStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// handPoints is a small table with NULL tags and fields, negative values,
// zeros, ties and strings.
func handPoints() []pgoracle.Point {
	type row struct {
		sec  int
		host string
		dc   string
		f    any
		i    any
		b    any
		s    any
	}
	rows := []row{
		{0, "a", "x", 1.5, int64(3), true, "apple"},
		{10, "a", "x", nil, int64(-2), false, "Banana"},
		{20, "a", "", 2.5, nil, nil, "banana"},
		{30, "b", "y", -1.0, int64(0), true, nil},
		{40, "b", "y", 0.0, int64(7), nil, "apple"},
		{50, "b", "", nil, nil, true, "zeta"},
		{60, "c", "x", 10.0, int64(7), false, ""},
		{70, "c", "y", 2.5, int64(100), false, "Zeta"},
		{80, "c", "", 1.5, int64(-9), true, "apple pie"},
		{90, "d", "z", 3.25, int64(1), nil, nil},
		{300, "d", "z", nil, int64(5), nil, nil},
	}
	var pts []pgoracle.Point
	for _, r := range rows {
		tags := map[string]string{"host": r.host}
		if r.dc != "" {
			tags["dc"] = r.dc
		}
		f := map[string]any{}
		for k, v := range map[string]any{"f": r.f, "i": r.i, "b": r.b, "s": r.s} {
			if v != nil {
				f[k] = v
			}
		}
		pts = append(pts, pgoracle.Point{Time: handStart.Add(time.Duration(r.sec) * time.Second).UnixNano(), Tags: tags, Fields: f})
	}
	return pts
}

var handQueries = []string{
	`SELECT * FROM t ORDER BY time`,
	`SELECT time, host, f, i FROM t WHERE f > 1 OR i < 3 ORDER BY time`,
	`SELECT time, host FROM t WHERE NOT (f > 1) ORDER BY time`,
	`SELECT time, host FROM t WHERE dc IS NULL ORDER BY time`,
	`SELECT time, host FROM t WHERE dc IS NOT NULL AND dc != 'x' ORDER BY time`,
	`SELECT time, host FROM t WHERE dc NOT IN ('x', NULL) ORDER BY time`,
	`SELECT time, host FROM t WHERE dc IN ('x', NULL) ORDER BY time`,
	`SELECT time, host FROM t WHERE NOT (dc IN ('x', NULL)) ORDER BY time`,
	`SELECT time, f > 1 AS g, (f > 1) AND (i < 3) AS a, (f > 1) OR (i < 3) AS o, NOT (f > 1) AS n, f IS NULL AS z FROM t ORDER BY time`,
	`SELECT time, (f > 1) AND (i < 3) AND b AS a3, (f > 1) OR (i < 3) OR b AS o3 FROM t ORDER BY time`,
	`SELECT time, f + i, f * 2, i % 3, -i, i / 2, i - 4, -f FROM t ORDER BY time`,
	`SELECT time, b, NOT b AS nb, b IS TRUE AS t, b IS NOT FALSE AS nf, b IS UNKNOWN AS u FROM t ORDER BY time`,
	`SELECT time FROM t WHERE b ORDER BY time`,
	`SELECT time FROM t WHERE b IS NOT TRUE ORDER BY time`,
	`SELECT time, s FROM t WHERE s ~ '^[a-z]' ORDER BY time`,
	`SELECT time, s FROM t WHERE s !~ 'an' ORDER BY time`,
	`SELECT time, s FROM t WHERE s LIKE 'apple%' ORDER BY time`,
	`SELECT time, s FROM t WHERE s ILIKE 'b%' ORDER BY time`,
	`SELECT time, s FROM t WHERE s IN ('apple', 'zeta') ORDER BY time`,
	`SELECT time, s FROM t WHERE s > 'a' ORDER BY time`,
	`SELECT s FROM t ORDER BY s, time`,
	`SELECT s FROM t ORDER BY s DESC, time`,
	`SELECT s FROM t ORDER BY s NULLS FIRST, time`,
	`SELECT f FROM t ORDER BY f, time`,
	`SELECT f FROM t ORDER BY f DESC, time`,
	`SELECT f, i FROM t ORDER BY f DESC NULLS LAST, i NULLS FIRST, time`,
	`SELECT b FROM t ORDER BY b, time`,
	`SELECT time, host FROM t ORDER BY time LIMIT 3 OFFSET 2`,
	`SELECT time, host FROM t ORDER BY time DESC LIMIT 4`,
	`SELECT time, host FROM t ORDER BY time OFFSET 9`,
	`SELECT time FROM t ORDER BY time LIMIT 0`,
	`SELECT time FROM t ORDER BY time OFFSET 100`,
	`SELECT DISTINCT dc FROM t ORDER BY dc`,
	`SELECT DISTINCT host, dc FROM t ORDER BY host, dc DESC`,
	`SELECT DISTINCT f FROM t ORDER BY f`,
	`SELECT DISTINCT b FROM t ORDER BY b NULLS FIRST`,
	`SELECT count(*), count(f), count(i), count(b), count(s), count(DISTINCT dc), count(DISTINCT host) FROM t`,
	`SELECT sum(f), sum(i), min(f), max(f), min(i), max(i), min(s), max(s), min(time), max(time) FROM t`,
	`SELECT avg(f), avg(i), stddev(f), stddev_pop(f), stddev_samp(i), variance(f), var_pop(i), var_samp(f) FROM t`,
	`SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY f), percentile_cont(0.5) WITHIN GROUP (ORDER BY i), percentile_cont(1) WITHIN GROUP (ORDER BY f), percentile_cont(0) WITHIN GROUP (ORDER BY f) FROM t`,
	`SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY i), percentile_disc(0.25) WITHIN GROUP (ORDER BY f), percentile_disc(0) WITHIN GROUP (ORDER BY f), percentile_disc(1) WITHIN GROUP (ORDER BY i) FROM t`,
	`SELECT percentile_cont(0.3) WITHIN GROUP (ORDER BY f DESC) FROM t`,
	`SELECT dc, count(*), count(f), sum(f), sum(i), min(s), max(s), avg(i), stddev(f), stddev_pop(f), variance(i), percentile_cont(0.5) WITHIN GROUP (ORDER BY f) FROM t GROUP BY dc ORDER BY dc NULLS FIRST`,
	`SELECT dc, host, count(*), max(f) FROM t GROUP BY dc, host ORDER BY 1, 2`,
	`SELECT host, count(*) FROM t GROUP BY host HAVING count(f) > 1 ORDER BY host`,
	`SELECT host, max(f) - min(f) AS spread FROM t GROUP BY host HAVING max(f) - min(f) > 0 ORDER BY spread DESC, host`,
	`SELECT host, sum(i) FROM t GROUP BY host ORDER BY sum(i) DESC NULLS LAST, host`,
	`SELECT count(*), sum(f), max(s), avg(i), stddev(f) FROM t WHERE f > 1000`,
	`SELECT dc, count(*) FROM t WHERE f > 1000 GROUP BY dc`,
	`SELECT date_bin('30 seconds', time, TIMESTAMP '2000-01-01') AS b, count(*), sum(i) FROM t GROUP BY 1 ORDER BY 1`,
	`SELECT date_bin('1 minute', time, TIMESTAMP '2026-03-01 00:00:20') AS b, host, avg(f) FROM t GROUP BY 1, 2 ORDER BY 1 DESC, 2`,
	`SELECT time, i / 0 FROM t ORDER BY time`,
	`SELECT time, f / (f - f) FROM t ORDER BY time`,
	`SELECT time, i % (i - i) FROM t ORDER BY time`,
	`SELECT time, f FROM t WHERE time >= '2026-03-01T00:00:30Z' AND time < '2026-03-01T00:01:10Z' ORDER BY time`,
	`SELECT time, f FROM t WHERE time > '2026-03-01T00:00:30Z' OR f < 2 ORDER BY time`,
	`SELECT 1 AS one, 'x' AS s`,
	`SELECT count(*) FROM t WHERE i::float8 / 2 > 1`,
	`SELECT time, f::bigint AS r FROM t ORDER BY time`,
	`SELECT host, count(*) FROM t GROUP BY host ORDER BY 2 DESC, 1 LIMIT 2`,
	`SELECT time FROM t WHERE i = 0 OR 10 / i > 1 ORDER BY time`,
	`SELECT time, i <> 0 AND 10 / i > 1 AS q FROM t ORDER BY time`,
	`SELECT host FROM t GROUP BY host HAVING sum(i) = 0 OR 1 / sum(i) >= 0 ORDER BY host`,
}

func TestHandAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	pts := handPoints()
	eng := loadEngine(t, "t", pts)
	loadOracle(t, o, eng, "t", pts)
	var tl tally
	for _, q := range handQueries {
		check(t, o, eng, oracleCase{silt: q}, &tl)
	}
	t.Logf("hand oracle: %d queries run, %d passed, %d rejected, %d errors on both sides, %d answered from rollups", tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
}

// handSource converts hand points to columnar points, for tests without
// the engine.
func handSource() memSource {
	var out []columnar.Point
	for _, p := range handPoints() {
		cp := columnar.Point{Time: p.Time}
		for _, k := range []string{"dc", "host"} {
			if v, ok := p.Tags[k]; ok {
				cp.Tags = append(cp.Tags, columnar.TagValue{Key: k, Value: v})
			}
		}
		for k, v := range p.Fields {
			fv := columnar.FieldValue{Key: k}
			switch x := v.(type) {
			case float64:
				fv.Type, fv.Num = columnar.FieldFloat, math.Float64bits(x)
			case int64:
				fv.Type, fv.Num = columnar.FieldInt, uint64(x)
			case bool:
				fv.Type = columnar.FieldBool
				if x {
					fv.Num = 1
				}
			case string:
				fv.Type, fv.Str = columnar.FieldString, x
			}
			cp.Fields = append(cp.Fields, fv)
		}
		out = append(out, cp)
	}
	return memSource{"t": out}
}

var handCatalog = sql.MapCatalog{"t": {Tags: []string{"dc", "host"}, Fields: []sql.Field{
	{Name: "b", Type: sql.TypeBool}, {Name: "f", Type: sql.TypeFloat64}, {Name: "i", Type: sql.TypeInt64}, {Name: "s", Type: sql.TypeString}}}}

func runHand(t *testing.T, text string) [][]any {
	t.Helper()
	q, err := sql.Compile(text, handCatalog, handStart)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	res, err := Run(context.Background(), q, handSource(), []string{"t"})
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return res.Rows
}

func TestUnitNullLogic(t *testing.T) {
	rows := runHand(t, `SELECT f > 1 AND i < 3, f > 1 OR i < 3, NOT (f > 1) FROM t ORDER BY time LIMIT 3`)
	// row 0: f=1.5 i=3 → T AND F = F; T OR F = T; NOT T = F
	// row 1: f NULL i=-2 → NULL AND T = NULL; NULL OR T = T; NULL
	// row 2: f=2.5 i NULL → T AND NULL = NULL; T OR NULL = T; F
	want := [][]any{{false, true, false}, {nil, true, nil}, {nil, true, false}}
	for r := range want {
		for c := range want[r] {
			if rows[r][c] != want[r][c] {
				t.Fatalf("row %d col %d: got %v want %v", r, c, rows[r][c], want[r][c])
			}
		}
	}
	if rows := runHand(t, `SELECT time FROM t WHERE dc NOT IN ('x', NULL)`); len(rows) != 0 {
		t.Fatalf("NOT IN with NULL: %v", rows)
	}
}

func TestUnitAggregates(t *testing.T) {
	rows := runHand(t, `SELECT count(*), count(f), sum(i), min(s), max(s), avg(f), first(f, time), last(i, time) FROM t`)
	want := []any{int64(11), int64(8), int64(112), "", "zeta", (1.5 + 2.5 - 1 + 0 + 10 + 2.5 + 1.5 + 3.25) / 8, 1.5, int64(5)}
	for c, w := range want {
		if !equalValue(rows[0][c], w) {
			t.Errorf("col %d: got %#v want %#v", c, rows[0][c], w)
		}
	}
	rows = runHand(t, `SELECT count(*), sum(f), max(s) FROM t WHERE f > 100`)
	if rows[0][0] != int64(0) || rows[0][1] != nil || rows[0][2] != nil {
		t.Errorf("empty group: %v", rows[0])
	}
	rows = runHand(t, `SELECT stddev(f), var_pop(f) FROM t WHERE host = 'd' AND f IS NOT NULL`)
	if rows[0][0] != nil || rows[0][1] != 0.0 {
		t.Errorf("single value stddev/var_pop: %v", rows[0])
	}
}

func TestUnitOrderLimit(t *testing.T) {
	rows := runHand(t, `SELECT f FROM t ORDER BY f DESC, time LIMIT 4 OFFSET 1`)
	want := []any{nil, nil, 10.0, 3.25}
	for r, w := range want {
		if rows[r][0] != w {
			t.Fatalf("row %d: got %v want %v (%v)", r, rows[r][0], w, rows)
		}
	}
	rows = runHand(t, `SELECT s FROM t WHERE s IS NOT NULL ORDER BY s`)
	got := []string{}
	for _, r := range rows {
		got = append(got, r[0].(string))
	}
	if strings.Join(got, ",") != ",Banana,Zeta,apple,apple,apple pie,banana,zeta" {
		t.Fatalf("byte order: %q", got)
	}
}

func TestUnitErrors(t *testing.T) {
	for _, text := range []string{`SELECT i / (i - i) FROM t`, `SELECT f / 0 FROM t`} {
		q, err := sql.Compile(text, handCatalog, handStart)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if _, err := Run(context.Background(), q, handSource(), nil); err == nil || err.Error() != "division by zero" {
			t.Errorf("%s: got %v, want division by zero", text, err)
		}
	}
	big := memSource{"t": {
		{Time: 1, Fields: []columnar.FieldValue{{Key: "i", Type: columnar.FieldInt, Num: uint64(math.MaxInt64)}}},
		{Time: 2, Fields: []columnar.FieldValue{{Key: "i", Type: columnar.FieldInt, Num: 1}}},
	}}
	q, err := sql.Compile(`SELECT sum(i) FROM t`, handCatalog, handStart)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), q, big, nil); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("sum overflow: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, _ = sql.Compile(`SELECT count(*) FROM t`, handCatalog, handStart)
	if _, err := Run(ctx, q, handSource(), nil); err == nil {
		t.Errorf("cancelled context: no error")
	}
}

func TestUnitMeta(t *testing.T) {
	q, err := sql.Compile(`SHOW TABLES`, handCatalog, handStart)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), q, handSource(), []string{"z", "t"})
	if err != nil || len(res.Rows) != 2 || res.Rows[0][0] != "t" || res.Columns[0].Name != "table_name" {
		t.Fatalf("show tables: %v %v", res, err)
	}
	q, err = sql.Compile(`DESCRIBE t`, handCatalog, handStart)
	if err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), q, handSource(), nil)
	if err != nil || len(res.Rows) != 7 || res.Rows[1][0] != "dc" || res.Rows[1][2] != "tag" {
		t.Fatalf("describe: %v %v", res, err)
	}
}

// handRandomCase generates NULL-heavy queries over the hand table.
func handRandomCase(r *rand.Rand) string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	pred := func() string {
		return pick("f > 1", "f <= 2.5", "i < 3", "i <> 7", "b", "NOT b", "b IS NULL", "dc = 'x'", "dc <> 'y'",
			"dc IS NULL", "dc IN ('x', 'z')", "dc NOT IN ('x', NULL)", "host IN ('a', 'c', NULL)", "s ~ 'an'", "s LIKE '%e'",
			"s >= 'b'", "f IS NOT NULL", "i IS NULL", "f + i > 3", "i * 2 >= f", "NOT (f > 1 AND i > 0)", "(f > 2 OR i < 0)",
			"time < '2026-03-01T00:00:45Z'", "s IS DISTINCT FROM 'x' IS NULL")
	}
	var conds []string
	for n := r.IntN(3); n > 0; n-- {
		p := pred()
		if strings.Contains(p, "DISTINCT") {
			p = "f > 0"
		}
		if r.IntN(4) == 0 {
			p = "(" + p + " OR " + pred() + ")"
			if strings.Contains(p, "DISTINCT") {
				p = "i > 0"
			}
		}
		conds = append(conds, p)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var outs []string
	if r.IntN(3) == 0 {
		for n := 1 + r.IntN(3); n > 0; n-- {
			outs = append(outs, pick("time", "host", "dc", "f", "i", "b", "s", "f * 2", "i - 1", "f > i", "i % 4", "-f", "(f > 1) OR b", "(f > 1) AND b"))
		}
		d := ""
		if r.IntN(3) == 0 {
			d = "DISTINCT "
		}
		var order []string
		for k := range outs {
			order = append(order, fmt.Sprint(k+1)+pick("", " DESC", " NULLS FIRST", " DESC NULLS LAST"))
		}
		q := "SELECT " + d + strings.Join(outs, ", ") + " FROM t" + where + " ORDER BY " + strings.Join(order, ", ")
		if r.IntN(3) == 0 {
			q += fmt.Sprintf(" LIMIT %d OFFSET %d", r.IntN(5), r.IntN(3))
		}
		return q
	}
	var keys []string
	for _, k := range r.Perm(3)[:r.IntN(3)] {
		keys = append(keys, []string{"host", "dc", "date_bin('30 seconds', time, TIMESTAMP '2000-01-01')"}[k])
	}
	outs = append(outs, keys...)
	for n := 1 + r.IntN(3); n > 0; n-- {
		a := pick("count(*)", "count(%s)", "sum(%s)", "min(%s)", "max(%s)", "avg(%s)", "stddev(%s)", "stddev_pop(%s)",
			"var_samp(%s)", "var_pop(%s)", "percentile_cont(0.4) WITHIN GROUP (ORDER BY %s)", "percentile_disc(0.6) WITHIN GROUP (ORDER BY %s)",
			"count(DISTINCT dc)", "max(%s) - min(%s)")
		col := pick("f", "i")
		if strings.HasPrefix(a, "min") || strings.HasPrefix(a, "max(") || strings.HasPrefix(a, "count(%") {
			col = pick("f", "i", "s")
		}
		if strings.HasPrefix(a, "max(%s) -") {
			col = pick("f", "i")
		}
		outs = append(outs, strings.ReplaceAll(a, "%s", col))
	}
	q := "SELECT " + strings.Join(outs, ", ") + " FROM t" + where
	if len(keys) > 0 {
		var pos []string
		for k := range keys {
			pos = append(pos, fmt.Sprint(k+1))
		}
		q += " GROUP BY " + strings.Join(pos, ", ")
	}
	if r.IntN(3) == 0 {
		q += pick(" HAVING count(*) > 1", " HAVING sum(f) > 2", " HAVING min(s) IS NOT NULL", " HAVING NOT (avg(i) < 2)")
	}
	var order []string
	for k := range outs {
		order = append(order, fmt.Sprint(k+1)+pick("", " DESC", " NULLS FIRST", " DESC NULLS LAST"))
	}
	return q + " ORDER BY " + strings.Join(order, ", ")
}

func TestHandRandomAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	pts := handPoints()
	eng := loadEngine(t, "t", pts)
	loadOracle(t, o, eng, "t", pts)
	n := 300
	if v, err := strconv.Atoi(os.Getenv("SILT_ORACLE_QUERIES")); err == nil {
		n = v
	}
	r := rand.New(rand.NewPCG(3, 5))
	var tl tally
	for i := 0; i < n; i++ {
		check(t, o, eng, oracleCase{silt: handRandomCase(r)}, &tl)
	}
	t.Logf("hand random oracle: %d queries run, %d passed, %d rejected, %d errors on both sides, %d answered from rollups", tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
	if tl.rejected > 3 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}

func TestUnitShortCircuit(t *testing.T) {
	rows := runHand(t, `SELECT time FROM t WHERE i = 0 OR 10 / i > 1 ORDER BY time`)
	if len(rows) != 4 { // i = 3, 0, 1, 5
		t.Fatalf("rows: %v", rows)
	}
	rows = runHand(t, `SELECT i <> 0 AND 10 / i > 1 FROM t ORDER BY time`)
	if len(rows) != 11 {
		t.Fatalf("rows: %v", rows)
	}
	rows = runHand(t, `SELECT host FROM t GROUP BY host HAVING sum(i) = 0 OR 1 / sum(i) >= 0 ORDER BY host`)
	if len(rows) == 0 {
		t.Fatalf("having: %v", rows)
	}
}
