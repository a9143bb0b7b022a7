package bench

import (
	"strings"
	"testing"
)

// The three systems' answers to one question, in their own shapes, reduce
// to the same Answer; a changed value or a missing row does not.
func TestAnswersAcrossDialects(t *testing.T) {
	silt := `{"columns":[{"name":"hour","type":"timestamp"},{"name":"hostname","type":"string"},{"name":"avg","type":"float"}],
	  "rows":[["2026-01-01T00:00:00Z","host_0",1.5],["2026-01-01T00:00:00Z","host_1",2.25],["2026-01-01T01:00:00Z","host_0",100]]}`
	influx := `{"results":[{"statement_id":0,"series":[
	  {"name":"cpu","tags":{"hostname":"host_0"},"columns":["time","mean"],"values":[["2026-01-01T00:00:00Z",1.5],["2026-01-01T01:00:00Z",100]]},
	  {"name":"cpu","tags":{"hostname":"host_1"},"columns":["time","mean"],"values":[["2026-01-01T00:00:00Z",2.2500000000000001]]}]}]}`
	ch := `{"meta":[{"name":"hour","type":"DateTime"},{"name":"hostname","type":"String"},{"name":"avg(usage_user)","type":"Float64"}],
	  "data":[["2026-01-01 00:00:00","host_0",1.5],["2026-01-01 00:00:00","host_1",2.25],["2026-01-01 01:00:00","host_0",100]],"rows":3}`
	parse := func(dialect, body string) Answer {
		t.Helper()
		a, err := ParseAnswer(dialect, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := parse("sql", silt)
	if a.Rows != 3 || a.Count != 3 || a.Sum != 103.75 {
		t.Fatalf("Silt answer reduced to %+v", a)
	}
	// Prometheus matrix: time stamps are numbers there, values strings; only
	// the values count.
	prom := `{"status":"success","data":{"resultType":"matrix","result":[
	  {"metric":{"hostname":"host_0"},"values":[[1767225600,"1.5"],[1767229200,"100"]]},
	  {"metric":{"hostname":"host_1"},"values":[[1767225600,"2.25"]]}]}}`
	for _, o := range []Answer{parse("influxql", influx), parse("clickhouse", ch), parse("promql", prom)} {
		if err := a.Agrees(o); err != nil {
			t.Errorf("same answers disagree: %v", err)
		}
	}
	if err := a.Agrees(parse("clickhouse", strings.Replace(ch, "2.25", "2.26", 1))); err == nil {
		t.Error("a changed value agrees")
	}
	if err := a.Agrees(parse("clickhouse", strings.Replace(ch, `,["2026-01-01 01:00:00","host_0",100]`, "", 1))); err == nil {
		t.Error("a missing row agrees")
	}
	if _, err := ParseAnswer("promql", []byte(`{"status":"error","error":"bad"}`)); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("Prometheus error answer: %v", err)
	}
	if _, err := ParseAnswer("influxql", []byte(`{"results":[{"statement_id":0,"error":"boom"}]}`)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("InfluxDB error answer: %v", err)
	}
}

func TestStats(t *testing.T) {
	tr := TypeResult{Runs: []float64{5, 1, 4, 2, 3}}
	lo, med, p95, hi := tr.Stats()
	if lo != 1 || med != 3 || hi != 5 || p95 != 4.8 {
		t.Fatalf("Stats() = %v %v %v %v", lo, med, p95, hi)
	}
}
