package influxql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// planOnlyBackend answers every plan with no rows: FuzzExecute checks that
// whatever InfluxQL parses compiles to SQL the planner accepts (or gets an
// InfluxQL-level error), never a panic or an internal compile error.
type planOnlyBackend struct{ failingBackend }

func (planOnlyBackend) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	cpu := columnar.NewTableSchema()
	cpu.Tags = []string{"hostname", "region", "it's \"odd\""}
	cpu.Fields = []columnar.FieldSchema{{Name: "usage_user", Type: columnar.FieldFloat}, {Name: "n", Type: columnar.FieldInt},
		{Name: "u", Type: columnar.FieldUint}, {Name: "ok", Type: columnar.FieldBool}, {Name: "s", Type: columnar.FieldString},
		{Name: "region", Type: columnar.FieldFloat}}
	return map[string]*columnar.TableSchema{"cpu": cpu, "my measure": cpu}, true
}

func (planOnlyBackend) Run(context.Context, string, *sql.Query) (*query.Result, error) {
	return &query.Result{}, nil
}

func FuzzExecute(f *testing.F) {
	for _, q := range []string{
		`SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" =~ /^host_[12]$/) AND time >= 1700000000000ms and time <= 1700003600000ms GROUP BY time(1m), "hostname" fill(null)`,
		`SELECT "usage_user", "s" FROM "cpu" WHERE "it's \"odd\"" = 'x''y' AND "s" =~ /a'b/ LIMIT 3`,
		`SELECT top("usage_user", "hostname", 3), bottom(n, 2) FROM cpu`,
		`SELECT non_negative_derivative(max(n), 1s) FROM "my measure" WHERE time > now() - 1h GROUP BY time(10s) fill(linear)`,
		`SELECT count(distinct(s)), percentile(usage_user, 99.9), first(ok) FROM cpu GROUP BY *`,
		`SELECT u / 0, n % 3, -usage_user, ok FROM cpu WHERE u > 5 AND n <= -3 AND ok = true OR region = 1.5`,
		`SHOW TAG VALUES FROM /.*/ WITH KEY =~ /o/ WHERE hostname != '' AND region !~ /x/`,
		`SHOW SERIES FROM "my measure" WHERE "it's \"odd\"" = 'q'; SHOW FIELD KEYS; SHOW MEASUREMENTS WHERE n > 1`,
		`SELECT mean(*) FROM /.*/ WHERE time >= '2026-01-01T00:00:00Z' GROUP BY time(1h, 15m) tz('Asia/Kolkata') SLIMIT 2 SOFFSET 1`,
		`SELECT integral(usage_user, 1m), moving_average(mean(n), 3) FROM cpu`,
		`CREATE DATABASE "x" WITH DURATION 2d; ALTER RETENTION POLICY "autogen" ON "x" DURATION INF`,
		`SELECT max("m") * 2 FROM (SELECT mean(usage_user) AS m FROM cpu GROUP BY time(1m), hostname) WHERE m > 3 GROUP BY time(5m)`,
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		resp, err := Execute(context.Background(), &planOnlyBackend{}, Request{Query: q, Database: "d", Now: time.Unix(1_700_000_000, 0)})
		if err != nil {
			return // not InfluxQL
		}
		for _, r := range resp.Results {
			if errors.Is(r.Err(), ErrInternal) || strings.Contains(r.Error, "internal error") {
				t.Fatalf("%s\n%s", q, r.Error)
			}
		}
	})
}
