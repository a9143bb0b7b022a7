package exec

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// rangeFrameCases are window frames RANGE BETWEEN <offset> PRECEDING or
// FOLLOWING over one ORDER BY key: moving sums and counts over time
// (intervals of hours, days and months; the key ascending and
// descending) and over numeric keys with NULLs (NULLS FIRST and LAST),
// on the dialect table m.
var rangeFrameCases = []string{
	"SELECT time, host, dc, f, sum(f) OVER (PARTITION BY host, dc ORDER BY time RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW) AS s FROM m ORDER BY host, dc, time",
	"SELECT time, host, dc, count(*) OVER (PARTITION BY host ORDER BY time RANGE BETWEEN INTERVAL '12 hours' PRECEDING AND INTERVAL '12 hours' FOLLOWING) AS c, avg(f) OVER (PARTITION BY host ORDER BY time RANGE BETWEEN INTERVAL '12 hours' PRECEDING AND INTERVAL '12 hours' FOLLOWING) AS a FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, i, sum(i) OVER (PARTITION BY host, dc ORDER BY time DESC RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW) AS s FROM m ORDER BY host, dc, time",
	"SELECT time, host, dc, count(*) OVER (ORDER BY time RANGE BETWEEN INTERVAL '1 month' PRECEDING AND CURRENT ROW) AS c FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, count(i) OVER (ORDER BY time RANGE BETWEEN INTERVAL '1 mon 2 days' PRECEDING AND INTERVAL '3 hours' PRECEDING) AS c FROM m WHERE dc = 'a' ORDER BY time, host, dc",
	"SELECT time, host, dc, max(f) OVER (PARTITION BY dc ORDER BY time RANGE BETWEEN CURRENT ROW AND INTERVAL '2 days' FOLLOWING) AS mx, min(time) OVER (PARTITION BY dc ORDER BY time RANGE BETWEEN INTERVAL '1 day' FOLLOWING AND INTERVAL '3 days' FOLLOWING) AS nt FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, sum(f) OVER (PARTITION BY host, dc ORDER BY time RANGE '2 days' PRECEDING) AS s FROM m ORDER BY host, dc, time",
	"SELECT time, host, dc, f, first_value(f) OVER (PARTITION BY host, dc ORDER BY time RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW) AS fv, last_value(f) OVER (PARTITION BY host, dc ORDER BY time RANGE BETWEEN CURRENT ROW AND INTERVAL '1 day' FOLLOWING) AS lv FROM m ORDER BY host, dc, time",
	"SELECT time, host, dc, count(*) OVER (PARTITION BY host ORDER BY time RANGE BETWEEN INTERVAL '1 day' PRECEDING AND UNBOUNDED FOLLOWING) AS c, sum(i) OVER (PARTITION BY host ORDER BY time RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '1 day' PRECEDING) AS s FROM m ORDER BY time, host, dc",
	"SELECT date_trunc('day', time) AS d, sum(f) AS s, sum(sum(f)) OVER (ORDER BY date_trunc('day', time) RANGE BETWEEN INTERVAL '6 days' PRECEDING AND CURRENT ROW) AS week FROM m GROUP BY 1 ORDER BY 1",
	"SELECT time, host, dc, i, count(*) OVER (ORDER BY i RANGE BETWEEN 10 PRECEDING AND 10 FOLLOWING) AS c, sum(f) OVER (ORDER BY i RANGE BETWEEN 5 PRECEDING AND CURRENT ROW) AS s FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, i, count(*) OVER (ORDER BY i NULLS FIRST RANGE BETWEEN UNBOUNDED PRECEDING AND 3 PRECEDING) AS c, count(*) OVER (ORDER BY i NULLS FIRST RANGE BETWEEN 3 FOLLOWING AND UNBOUNDED FOLLOWING) AS r FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, i, sum(i) OVER (ORDER BY i DESC RANGE BETWEEN 20 PRECEDING AND 5 FOLLOWING) AS s, count(*) OVER (ORDER BY i DESC NULLS LAST RANGE BETWEEN 7 FOLLOWING AND 30 FOLLOWING) AS c FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, f, count(*) OVER (ORDER BY f RANGE BETWEEN 2.5 PRECEDING AND 2.5 FOLLOWING) AS c, min(i) OVER (ORDER BY f RANGE BETWEEN 1 FOLLOWING AND 10 FOLLOWING) AS lo FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, f, sum(i) OVER (PARTITION BY dc ORDER BY f DESC RANGE BETWEEN 0.5 PRECEDING AND 0 FOLLOWING) AS s FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, i, count(*) OVER (ORDER BY i RANGE BETWEEN 9223372036854775807 PRECEDING AND 9223372036854775807 FOLLOWING) AS c FROM m ORDER BY time, host, dc",
	"SELECT time, host, dc, i, count(*) OVER (ORDER BY i RANGE BETWEEN 5 FOLLOWING AND 2 FOLLOWING) AS empty FROM m ORDER BY time, host, dc",
}

// rangeFrameErrors are refused by PostgreSQL and Silt with the same
// SQLSTATE.
var rangeFrameErrors = []string{
	"SELECT sum(f) OVER (ORDER BY time, host RANGE INTERVAL '1 day' PRECEDING) FROM m",
	"SELECT sum(f) OVER (RANGE 1 PRECEDING) FROM m",
	"SELECT sum(f) OVER (ORDER BY time RANGE 5 PRECEDING) FROM m",
	"SELECT sum(f) OVER (ORDER BY i RANGE INTERVAL '1 day' PRECEDING) FROM m",
	"SELECT sum(f) OVER (ORDER BY s RANGE 1 PRECEDING) FROM m",
	"SELECT sum(f) OVER (ORDER BY i RANGE BETWEEN -1 PRECEDING AND CURRENT ROW) FROM m",
	"SELECT sum(f) OVER (ORDER BY time RANGE BETWEEN INTERVAL '-1 hour' PRECEDING AND CURRENT ROW) FROM m",
	"SELECT sum(f) OVER (ORDER BY f RANGE BETWEEN CURRENT ROW AND NULL FOLLOWING) FROM m",
}

// TestRangeFramesAgainstPostgres compares RANGE frames with offsets with
// PostgreSQL 15, answers and refusals; none may be refused by Silt's
// front end where PostgreSQL answers.
func TestRangeFramesAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	points := dialectDataset()
	eng := loadEngine(t, dialectTable, points)
	loadOracle(t, o, eng, dialectTable, points)
	var tl tally
	for _, q := range rangeFrameCases {
		check(t, o, eng, oracleCase{silt: q}, &tl)
	}
	if tl.rejected != 0 || tl.passed != len(rangeFrameCases) {
		t.Errorf("%d of %d RANGE frame queries agree with PostgreSQL, %d rejected by Silt", tl.passed, len(rangeFrameCases), tl.rejected)
	}
	schemas, _ := eng.Tables(testDB)
	cat, _ := Catalog(schemas)
	agreed := 0
	defer func() {
		t.Logf("RANGE frame oracle: %d queries run, %d passed, %d rejected by the front end; %d of %d refusals with PostgreSQL's SQLSTATE",
			tl.run, tl.passed, tl.rejected, agreed, len(rangeFrameErrors))
	}()
	for _, q := range rangeFrameErrors {
		_, _, pgErr := o.Query(q)
		var pe *pgconn.PgError
		if !errors.As(pgErr, &pe) {
			t.Errorf("%s: PostgreSQL answered (%v)", q, pgErr)
			continue
		}
		_, err := sql.Compile(q, cat, time.Now())
		var se *sql.Error
		if !errors.As(err, &se) || se.SQLState != pe.Code {
			t.Errorf("%s: Silt %v, PostgreSQL %s %s", q, err, pe.Code, pe.Message)
			continue
		}
		agreed++
	}
}
