package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// explainData writes 8 hosts × 3 days × one point a minute into db d,
// flushes it into segments (a day window each), and writes a few more
// points that stay in the head. It returns the rows written.
func explainData(t *testing.T, s *testServer) int {
	return writeExplainData(t, s, true)
}

// writeExplainData is explainData; without flush every row stays in the
// head.
func writeExplainData(t *testing.T, s *testServer, flush bool) int {
	t.Helper()
	const base = 1_767_225_600 // 2026-01-01T00:00:00Z, seconds
	n := 0
	var body strings.Builder
	for d := range 3 {
		body.Reset()
		for i := range 1440 {
			for h := range 8 {
				fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", h, (i*7+h)%101, (base+86400*d+60*i)*1_000_000_000)
				n++
			}
		}
		if code, _, b := s.post(t, "/write?db=d", body.String()); code != 204 {
			t.Fatalf("%d %s", code, b)
		}
	}
	if !flush {
		return n
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	if code, _, b := s.post(t, "/write?db=d", fmt.Sprintf("cpu,host=h1 v=1 %d\n", (base+3*86400)*1_000_000_000)); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	return n + 1
}

type sqlAnswer struct {
	Columns []struct{ Name, Type string }
	Rows    [][]any
	Stats   struct {
		Rows            int
		RowsScanned     int64 `json:"rows_scanned"`
		SegmentsScanned int   `json:"segments_scanned"`
		SegmentsPruned  int   `json:"segments_pruned"`
		BytesRead       int64 `json:"bytes_read"`
		Resolution      string
	}
}

func runSQLAnswer(t *testing.T, s *testServer, q string) sqlAnswer {
	t.Helper()
	code, raw := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape(q))
	if code != 200 {
		t.Fatalf("%s: %d %s", q, code, raw)
	}
	var a sqlAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// planLines is an EXPLAIN answer's text: its one column's rows.
func planLines(t *testing.T, a sqlAnswer) []string {
	t.Helper()
	if len(a.Columns) != 1 || a.Columns[0].Name != "QUERY PLAN" || a.Columns[0].Type != "string" {
		t.Fatalf("EXPLAIN columns %v, want one string column QUERY PLAN", a.Columns)
	}
	lines := make([]string, len(a.Rows))
	for i, r := range a.Rows {
		lines[i] = r[0].(string)
	}
	return lines
}

// planValue is the value of the first "Key: value" line of a plan; ok is
// false when there is none.
func planValue(lines []string, key string) (string, bool) {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+": "); ok {
			return v, true
		}
	}
	return "", false
}

func planInt(t *testing.T, lines []string, key string) int64 {
	t.Helper()
	v, ok := planValue(lines, key)
	if !ok {
		t.Fatalf("plan has no %s line:\n%s", key, strings.Join(lines, "\n"))
	}
	f, _, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(f, 10, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", key, v, err)
	}
	return n
}

// EXPLAIN ANALYZE reports the counters the query itself reports, and they
// show the tag index, time pruning and rollups at work.
func TestSQLExplainAnalyze(t *testing.T) {
	s := startServer(t, 0)
	total := explainData(t, s)
	// A median reads raw rows: rollups hold no percentiles.
	const twoHosts = "SELECT host, percentile_disc(0.5) WITHIN GROUP (ORDER BY v) FROM cpu WHERE host = 'h1' OR host = 'h2' GROUP BY host ORDER BY host"
	plain := runSQLAnswer(t, s, twoHosts)
	ex := runSQLAnswer(t, s, "EXPLAIN ANALYZE "+twoHosts)
	lines := planLines(t, ex)
	if v, _ := planValue(lines, "Tag Index"); v != "host IN ('h1', 'h2')" {
		t.Errorf("Tag Index %q, want the OR-chain as an IN list:\n%s", v, strings.Join(lines, "\n"))
	}
	scanned := planInt(t, lines, "Rows Scanned")
	if scanned != plain.Stats.RowsScanned || ex.Stats.RowsScanned != scanned {
		t.Errorf("Rows Scanned %d, stats of the query %d, stats of EXPLAIN ANALYZE %d: want one figure", scanned, plain.Stats.RowsScanned, ex.Stats.RowsScanned)
	}
	if got := planInt(t, lines, "Segments Scanned"); got != int64(plain.Stats.SegmentsScanned) || got == 0 {
		t.Errorf("Segments Scanned %d, the query's stats %d", got, plain.Stats.SegmentsScanned)
	}
	if got := planInt(t, lines, "Bytes Read"); got != plain.Stats.BytesRead {
		t.Errorf("Bytes Read %d, the query's stats %d", got, plain.Stats.BytesRead)
	}
	// The segments decode only the two hosts' rows (the head holds one
	// more of h1); the other six hosts' rows are skipped unread.
	if v, _ := planValue(lines, "Segment Rows"); v != fmt.Sprintf("%d decoded, %d skipped unread", 2*3*1440, 6*3*1440) {
		t.Errorf("Segment Rows %q:\n%s", v, strings.Join(lines, "\n"))
	}
	if got := planInt(t, lines, "Rows Returned"); got != 2 {
		t.Errorf("Rows Returned %d, want 2", got)
	}
	if got := planInt(t, lines, "Peak Memory Charged"); got <= 0 {
		t.Errorf("Peak Memory Charged %d", got)
	}
	if !strings.Contains(lines[0], "actual time=") {
		t.Errorf("the top node has no actual time: %q", lines[0])
	}
	// The index lets two hosts read a quarter of the rows all eight read.
	all := runSQLAnswer(t, s, "EXPLAIN ANALYZE SELECT host, percentile_disc(0.5) WITHIN GROUP (ORDER BY v) FROM cpu GROUP BY host")
	allLines := planLines(t, all)
	allScanned := planInt(t, allLines, "Rows Scanned")
	if allScanned != int64(total) || scanned*4 != allScanned+3 { // the head's extra point is h1's
		t.Errorf("rows scanned: two hosts %d, all %d of %d written", scanned, allScanned, total)
	}
	if v, _ := planValue(allLines, "Tag Index"); !strings.HasPrefix(v, "none") {
		t.Errorf("all hosts: Tag Index %q", v)
	}

	// A day's range prunes the other days' segments.
	const oneDay = "SELECT count(*) FROM cpu WHERE time >= '2026-01-02T00:00:00Z' AND time < '2026-01-03T00:00:00Z' AND v >= 0"
	plain = runSQLAnswer(t, s, oneDay)
	lines = planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE "+oneDay))
	pruned := planInt(t, lines, "Segments Pruned")
	if pruned == 0 || pruned != int64(plain.Stats.SegmentsPruned) || planInt(t, lines, "Rows Scanned") != 8*1440 {
		t.Errorf("one day: pruned %d (stats %d), rows scanned %d, want 8×1440:\n%s", pruned, plain.Stats.SegmentsPruned,
			planInt(t, lines, "Rows Scanned"), strings.Join(lines, "\n"))
	}
	var bytesRead, bytesPruned int64
	if v, _ := planValue(lines, "Bytes"); func() bool {
		_, err := fmt.Sscanf(v, "%d in the segment files read, %d in those pruned", &bytesRead, &bytesPruned)
		return err != nil
	}() || bytesRead != plain.Stats.BytesRead || bytesPruned <= 0 {
		t.Errorf("Bytes %q, want the query's %d read and the pruned segments' bytes", v, plain.Stats.BytesRead)
	}
	if v, _ := planValue(lines, "Time Range"); v != "[2026-01-02T00:00:00Z, 2026-01-03T00:00:00Z)" {
		t.Errorf("Time Range %q", v)
	}
	if v, _ := planValue(lines, "Field Filter"); !strings.HasPrefix(v, "v >= 0") {
		t.Errorf("Field Filter %q, want v >= 0 pushed into the scan", v)
	}

	// Hourly aggregates over whole days read the 1h rollups.
	const hourly = "SELECT date_bin('1 hour', time, TIMESTAMP '2026-01-01') AS h, max(v) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-03T00:00:00Z' GROUP BY 1 ORDER BY 1"
	plain = runSQLAnswer(t, s, hourly)
	lines = planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE "+hourly))
	if v, _ := planValue(lines, "Rollups"); !strings.HasPrefix(v, "1h") {
		t.Errorf("Rollups %q, want 1h first", v)
	}
	if v, _ := planValue(lines, "Resolution"); v != plain.Stats.Resolution || v != "1h" {
		t.Errorf("Resolution %q, the query's %q, want 1h", v, plain.Stats.Resolution)
	}
	if v, _ := planValue(lines, "Rows Read"); !strings.HasPrefix(v, "0 raw, ") || strings.HasPrefix(v, "0 raw, 0 rollup") {
		t.Errorf("Rows Read %q, want rollup rows only", v)
	}

	// A host no segment holds: the index rules out every row group.
	lines = planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE SELECT count(v) FROM cpu WHERE host = 'nosuch' AND time < '2026-01-04T00:00:00Z'"))
	if v, _ := planValue(lines, "Row Groups"); !strings.HasPrefix(v, "0 read, 3 skipped") {
		t.Errorf("Row Groups %q, want the 3 segments' row groups skipped:\n%s", v, strings.Join(lines, "\n"))
	}
	// An hour of a series' day: the pages (segment.PageRows rows) outside
	// it are not decoded.
	var fine strings.Builder
	for i := range 17280 { // a day every 5 s
		fmt.Fprintf(&fine, "fine v=%d %d\n", i, (1_767_312_000+5*i)*1_000_000_000) // from 2026-01-02
	}
	if code, _, b := s.post(t, "/write?db=d", fine.String()); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	lines = planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE SELECT count(v) FROM fine WHERE time >= '2026-01-02T12:00:00Z' AND time < '2026-01-02T13:00:00Z' AND v >= 0"))
	seg, _ := planValue(lines, "Segment Rows")
	var decoded, skipped int
	if _, err := fmt.Sscanf(seg, "%d decoded, %d skipped", &decoded, &skipped); err != nil || decoded >= 17280/2 || decoded < 720 || decoded+skipped != 17280 ||
		planInt(t, lines, "Rows Scanned") != 720 {
		t.Errorf("an hour: Segment Rows %q, want the hour's pages decoded, not the day's 17280 rows:\n%s", seg, strings.Join(lines, "\n"))
	}

	// Without ANALYZE nothing is read: no actual figures, zero stats, but
	// the pruning the manifest decides is shown.
	ex = runSQLAnswer(t, s, "EXPLAIN "+oneDay)
	lines = planLines(t, ex)
	if ex.Stats.RowsScanned != 0 || strings.Contains(strings.Join(lines, "\n"), "actual time") {
		t.Errorf("EXPLAIN read rows (%d) or shows actual times:\n%s", ex.Stats.RowsScanned, strings.Join(lines, "\n"))
	}
	if v, _ := planValue(lines, "Segments"); !strings.Contains(v, "to read, ") || strings.Contains(v, " 0 pruned") {
		t.Errorf("Segments %q, want the segments to read and those pruned", v)
	}
	// The options PostgreSQL takes in parentheses.
	lines = planLines(t, runSQLAnswer(t, s, "EXPLAIN (ANALYZE, VERBOSE, FORMAT TEXT) "+oneDay))
	if _, ok := planValue(lines, "Rows Scanned"); !ok {
		t.Errorf("EXPLAIN (ANALYZE) shows no Rows Scanned:\n%s", strings.Join(lines, "\n"))
	}
	code, raw := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("EXPLAIN (FORMAT JSON) SELECT 1"))
	if code != 400 || !strings.Contains(string(raw), "FORMAT JSON") {
		t.Errorf("FORMAT JSON: %d %s", code, raw)
	}
}

// InfluxQL's EXPLAIN ANALYZE answers a series with a QUERY PLAN column,
// showing the SQL plans the statement ran.
func TestInfluxQLExplainAnalyze(t *testing.T) {
	s := startServer(t, 0)
	explainData(t, s)
	sqlScanned := runSQLAnswer(t, s, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM cpu WHERE host = 'h3' OR host = 'h4'").Stats.RowsScanned
	for _, c := range []struct {
		q       string
		analyze bool
	}{
		{"EXPLAIN ANALYZE SELECT median(v) FROM cpu WHERE host = 'h3' OR host = 'h4'", true},
		{"EXPLAIN SELECT median(v) FROM cpu WHERE host = 'h3' OR host = 'h4'", false},
	} {
		code, raw := s.get(t, "/query?db=d&q="+url.QueryEscape(c.q))
		if code != 200 {
			t.Fatalf("%s: %d %s", c.q, code, raw)
		}
		var resp struct {
			Results []struct {
				Error  string
				Series []struct {
					Columns []string
					Values  [][]any
				}
			}
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 1 || resp.Results[0].Error != "" || len(resp.Results[0].Series) != 1 {
			t.Fatalf("%s: %s", c.q, raw)
		}
		se := resp.Results[0].Series[0]
		if len(se.Columns) != 1 || se.Columns[0] != "QUERY PLAN" {
			t.Fatalf("%s: columns %v", c.q, se.Columns)
		}
		var lines []string
		for _, v := range se.Values {
			lines = append(lines, v[0].(string))
		}
		if v, _ := planValue(lines, "Tag Index"); v != "host IN ('h3', 'h4')" {
			t.Errorf("%s: Tag Index %q:\n%s", c.q, v, strings.Join(lines, "\n"))
		}
		_, has := planValue(lines, "Rows Scanned")
		if has != c.analyze {
			t.Errorf("%s: Rows Scanned shown: %v", c.q, has)
		}
		if c.analyze {
			if got := planInt(t, lines, "Rows Scanned"); got != sqlScanned || got != 2*3*1440 {
				t.Errorf("%s: Rows Scanned %d, SQL's stats %d, want 2×3×1440", c.q, got, sqlScanned)
			}
		}
	}
}

// A head's blocks outside the time range are skipped, and EXPLAIN ANALYZE
// counts them.
func TestExplainHeadBlocks(t *testing.T) {
	s := startServer(t, 0)
	n := writeExplainData(t, s, false)
	const q = "SELECT count(v) FROM cpu WHERE time >= '2026-01-03T12:00:00Z' AND time < '2026-01-03T13:00:00Z' AND v >= 0"
	lines := planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE "+q))
	v, _ := planValue(lines, "Head Blocks")
	var read, skipped int
	if _, err := fmt.Sscanf(v, "%d read, %d outside", &read, &skipped); err != nil || read < 1 || skipped < 1 {
		t.Errorf("Head Blocks %q, want the hour's block read and others skipped (%d rows in the head):\n%s", v, n, strings.Join(lines, "\n"))
	}
	if got := planInt(t, lines, "Rows Scanned"); got != runSQLAnswer(t, s, q).Stats.RowsScanned || got >= int64(n)/2 {
		t.Errorf("Rows Scanned %d of %d in the head", got, n)
	}
}

// EXPLAIN ANALYZE of a field filter over segments counts the rows the
// filter dropped before their other columns were read (late
// materialization): every segment row decoded but those answered.
func TestSQLExplainLateMaterialization(t *testing.T) {
	s := startServer(t, 0)
	explainData(t, s)
	const q = "SELECT time, host, v FROM cpu WHERE v > 95"
	plain := runSQLAnswer(t, s, q)
	lines := planLines(t, runSQLAnswer(t, s, "EXPLAIN ANALYZE "+q))
	decoded := planInt(t, lines, "Segment Rows")
	if decoded != 3*1440*8 {
		t.Errorf("Segment Rows: %d decoded, want every segment row:\n%s", decoded, strings.Join(lines, "\n"))
	}
	// The head's one row (v=1) fails the filter: every answered row
	// comes from a segment.
	if got, want := planInt(t, lines, "Late Materialization"), decoded-int64(len(plain.Rows)); got != want || len(plain.Rows) == 0 {
		t.Errorf("Late Materialization: %d dropped, want %d (%d answered):\n%s", got, want, len(plain.Rows), strings.Join(lines, "\n"))
	}
	if v, _ := planValue(lines, "Scan Time"); !strings.Contains(v, "ms wall") {
		t.Errorf("Scan Time %q does not say it is wall time", v)
	}
	if got := planInt(t, lines, "Read Tasks"); got <= 0 {
		t.Errorf("Read Tasks %d", got)
	}
}
