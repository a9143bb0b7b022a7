package influxql

import (
	"context"
	"fmt"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// execExplain answers EXPLAIN [ANALYZE] SELECT ... as InfluxDB 1.x does —
// one series with a "QUERY PLAN" column, a row per line — with Silt's
// plan: the statement runs with every SQL query it compiles to recorded
// by the executor (exec.Explain), and the plans of those queries are the
// lines. Without ANALYZE the queries read no data, so a step that depends
// on what an earlier one found (the series a selector picks, the rows a
// subquery gives its outer query) shows as it would run on no data;
// ANALYZE shows every step as it ran, with its counters and times.
func execExplain(ctx context.Context, b Backend, req Request, st *influxql.ExplainStatement) ([]*Series, error) {
	ex := &exec.Explain{Analyze: st.Analyze}
	start := time.Now()
	series, err := execSelect(exec.WithExplain(ctx, ex), b, req, st.Statement)
	if err != nil {
		return nil, err
	}
	out := &Series{Columns: []string{sql.ExplainColumn}}
	out.Values = append(out.Values, []any{"EXPLAIN " + analyzeWord(st.Analyze) + st.Statement.String()})
	for _, line := range ex.Lines() {
		out.Values = append(out.Values, []any{line})
	}
	if st.Analyze {
		rows := 0
		for _, s := range series {
			rows += s.Len()
		}
		out.Values = append(out.Values,
			[]any{fmt.Sprintf("Statement: %d series, %d rows", len(series), rows)},
			[]any{fmt.Sprintf("Statement Time: %.3f ms", float64(time.Since(start).Microseconds())/1000)})
	}
	return []*Series{out}, nil
}

func analyzeWord(on bool) string {
	if on {
		return "ANALYZE "
	}
	return ""
}
