package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// cancelAfterColumns is the server's InfluxQL backend whose executor runs
// to its end, after which the statement's context is canceled: what the
// statement does next (converting the columns into rows) is all that is
// left to notice it.
type cancelAfterColumns struct {
	influxBackend
	cancel context.CancelFunc
}

func (b cancelAfterColumns) RunColumns(ctx context.Context, db string, q *sql.Query) (*exec.Columns, bool, error) {
	cols, ok, err := b.influxBackend.RunColumns(context.WithoutCancel(ctx), db, q)
	b.cancel()
	return cols, ok, err
}

// InfluxQL's conversion of the executor's typed columns into rows (for
// answers not written from the columns: CSV, chunked, pretty, export;
// and for math and transformations, which work row by row) stops when
// the statement's context ends: a query canceled, or past
// --query-timeout, once the executor has answered does not go on
// converting millions of rows. Deterministic: the context is canceled
// when the executor returns. Mutation-checked: without the check in
// typedRows.values the statement answers in full.
func TestInfluxQLRowConversionStopsWithItsContext(t *testing.T) {
	s := startServerWith(t, Config{})
	loadRows(t, s, "d", 20_000)
	run := func(b influxql.Backend, ctx context.Context) *influxql.Response {
		t.Helper()
		resp, err := influxql.Execute(ctx, b, influxql.Request{Query: "SELECT v * 2, w + 1 FROM m", Database: "d",
			Now: time.Now(), MaxRows: 1 << 20, Timeout: time.Hour, MaxMemoryBytes: s.srv.cfg.QueryMaxMemory})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Uncanceled, the statement answers every row.
	full := run(influxBackend{s.srv, false}, context.Background())
	if len(full.Results) != 1 || full.Results[0].Error != "" || len(full.Results[0].Series) != 1 || len(full.Results[0].Series[0].Values) != 20_000 {
		t.Fatalf("uncanceled: %s, want one series of 20000 rows", describe(full))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := run(cancelAfterColumns{influxBackend{s.srv, false}, cancel}, ctx)
	if len(resp.Results) != 1 || resp.Results[0].Error == "" || len(resp.Results[0].Series) != 0 {
		t.Fatalf("canceled once the executor answered: %s, want the statement's error and no series", describe(resp))
	}
	if e := resp.Results[0].Error; !strings.Contains(e, "cancel") && !strings.Contains(e, "timeout") {
		t.Errorf("canceled once the executor answered: error %q, want the cancellation's", e)
	}
}

// describe is a response's results in brief: error, series and rows.
func describe(r *influxql.Response) string {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "[error %q, %d series:", res.Error, len(res.Series))
		for _, s := range res.Series {
			fmt.Fprintf(&b, " %d rows", len(s.Values))
		}
		b.WriteString("]")
	}
	return b.String()
}
