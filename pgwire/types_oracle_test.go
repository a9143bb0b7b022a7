package pgwire

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestValueEncodingMatchesPostgres encodes values of every result type as
// the listener does, in text and in binary, and compares the bytes with
// what PostgreSQL 15 itself sends for the same value (TimeZone UTC,
// DateStyle ISO, the session the listener reports).
func TestValueEncodingMatchesPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped with -short")
	}
	o := pgoracle.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'"); err != nil {
		t.Fatal(err)
	}
	// pg returns PostgreSQL's encoding of the literal lit cast to typ.
	pg := func(lit, typ string, format int16) []byte {
		t.Helper()
		res := conn.PgConn().ExecParams(ctx, "SELECT "+lit+"::"+typ, nil, nil, nil, []int16{format}).Read()
		if res.Err != nil {
			t.Fatalf("%s::%s: %v", lit, typ, res.Err)
		}
		return res.Rows[0][0]
	}
	check := func(v any, lit, typ string, oid uint32) {
		t.Helper()
		if got, want := appendText(nil, v), pg(lit, typ, 0); !bytes.Equal(got, want) {
			t.Errorf("text of %v (%s): %q, PostgreSQL %q", v, typ, got, want)
		}
		got, ok := appendBinary(nil, oid, v)
		if !ok {
			t.Errorf("no binary encoding of %v as %s", v, typ)
			return
		}
		if want := pg(lit, typ, 1); !bytes.Equal(got, want) {
			t.Errorf("binary of %v (%s): % x, PostgreSQL % x", v, typ, got, want)
		}
	}
	for _, f := range []float64{0, 1, -1, 0.5, 1e6, 1.5e6, 123456789, 1e14, 1e15, 1e16, 1.2345678901234568e+17, 1e-4, 1e-5,
		0.00012345, 0.1 + 0.2, 123456789012345.6, 1e100, -2.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN()} {
		lit := "'" + strconv.FormatFloat(f, 'g', -1, 64) + "'"
		switch {
		case math.IsNaN(f):
			lit = "'NaN'"
		case math.IsInf(f, 1):
			lit = "'Infinity'"
		case math.IsInf(f, -1):
			lit = "'-Infinity'"
		}
		check(f, lit, "float8", oidFloat8)
	}
	for _, i := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1234567890123} {
		check(i, "'"+strconv.FormatInt(i, 10)+"'", "int8", oidInt8)
	}
	for _, u := range []uint64{0, 1, 9999, 10000, 10001, 100000000, 1234567890123456789, math.MaxUint64, 10000000000000000000} {
		check(u, "'"+strconv.FormatUint(u, 10)+"'", "numeric", oidNumeric)
	}
	check(true, "true", "bool", oidBool)
	check(false, "false", "bool", oidBool)
	check("it's ünïcode\ttoo", "'it''s ünïcode\ttoo'", "text", oidText)
	for _, ts := range []time.Time{
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 1, 12, 34, 56, 500000000, time.UTC),
		time.Date(2024, 3, 1, 12, 34, 56, 123456000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 145225000, time.UTC),
	} {
		check(ts, "'"+ts.Format("2006-01-02 15:04:05.999999Z07:00")+"'", "timestamptz", oidTimestamptz)
	}
}
