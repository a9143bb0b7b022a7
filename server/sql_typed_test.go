package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// typedSQLRows writes n rows of table t with every column type: tags host
// (always) and dc (missing on some rows: NULL), and fields f (float), i
// (integer), u (unsigned), b (boolean) and s (string, with characters
// JSON and CSV escape), each missing on some rows (NULL); times with
// nanoseconds, several points a minute.
func typedSQLRows(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	strs := []string{"plain", `quote " and \ back`, "<html>&amp;", "comma, and\nnewline", "ünïcödé ✓", "", " lead space", "tab\there"}
	var b strings.Builder
	base := time.Date(2024, 2, 28, 23, 58, 0, 0, time.UTC).UnixNano()
	for k := range n {
		fmt.Fprintf(&b, "t,host=h%d", r.IntN(7))
		if r.IntN(5) > 0 {
			fmt.Fprintf(&b, ",dc=dc%d", r.IntN(3))
		}
		var fs []string
		if r.IntN(6) > 0 {
			fs = append(fs, fmt.Sprintf("f=%v", []float64{r.Float64(), -r.Float64() * 1e6, 0, 1e21, 1.5e-7, float64(r.IntN(100))}[r.IntN(6)]))
		}
		if r.IntN(6) > 0 {
			fs = append(fs, fmt.Sprintf("i=%di", r.Int64N(1<<40)-1<<39))
		}
		if r.IntN(6) > 0 {
			fs = append(fs, fmt.Sprintf("u=%du", r.Uint64()))
		}
		if r.IntN(6) > 0 {
			fs = append(fs, fmt.Sprintf("b=%v", r.IntN(2) == 0))
		}
		if r.IntN(6) > 0 || len(fs) == 0 {
			s := strs[r.IntN(len(strs))]
			s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
			fs = append(fs, `s="`+s+`"`)
		}
		// Times every ~7 s with nanoseconds of several widths (and none),
		// across a day boundary.
		ns := base + int64(k)*7_000_000_000 + []int64{0, 1, 120_000_000, 999_999_999, 500_000, 123_456_789}[r.IntN(6)]
		fmt.Fprintf(&b, " %s %d\n", strings.Join(fs, ","), ns)
	}
	return b.String()
}

var (
	elapsedMs = regexp.MustCompile(`"elapsed_ms":[0-9.e+-]+`)
	requestID = regexp.MustCompile(`"request_id":"[^"]*"`)
)

// canonicalAnswer is body with what differs between two runs of one
// query made the same: the stats' elapsed_ms and an error's request id
// blanked, and the rows (as their exact bytes) sorted, since a query
// without ORDER BY returns its rows in the order its parallel scans
// deliver them.
func canonicalAnswer(t *testing.T, body []byte, format string) []byte {
	t.Helper()
	body = elapsedMs.ReplaceAll(body, []byte(`"elapsed_ms":0`))
	body = requestID.ReplaceAll(body, []byte(`"request_id":""`))
	var rows []string
	var head, tail []byte
	switch {
	case format == "csv":
		// Records cut where csv.Reader ends them (a quoted field may
		// hold a newline).
		r := csv.NewReader(bytes.NewReader(body))
		r.FieldsPerRecord = -1
		at := int64(0)
		for {
			if _, err := r.Read(); err == io.EOF {
				break
			} else if err != nil {
				return body // not CSV: an error body, compared whole
			}
			rec := string(body[at:r.InputOffset()])
			if at == 0 {
				head = []byte(rec)
			} else {
				rows = append(rows, rec)
			}
			at = r.InputOffset()
		}
	default:
		var ans struct {
			Columns json.RawMessage   `json:"columns"`
			Rows    []json.RawMessage `json:"rows"`
			Stats   json.RawMessage   `json:"stats"`
		}
		if err := json.Unmarshal(body, &ans); err != nil || ans.Rows == nil {
			return body // an error body, compared whole
		}
		for _, r := range ans.Rows {
			rows = append(rows, string(r))
		}
		// The rows' bytes are checked as written by comparing the rest
		// of the body, which holds them joined, below.
		head, tail = ans.Columns, ans.Stats
		if want := `{"columns":` + string(ans.Columns) + `,"rows":[` + joinRaw(ans.Rows) + `],"stats":` + string(ans.Stats) + "}\n"; want != string(body) {
			t.Fatalf("answer is not as WriteJSON writes it:\n%.300q", body)
		}
	}
	slices.Sort(rows)
	return slices.Concat(head, []byte(strings.Join(rows, "\x00")), tail)
}

func joinRaw(rows []json.RawMessage) string {
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	return b.String()
}

// sqlBoth asks /api/v1/sql for q in format, answered from the executor's
// typed columns and then from rows, and fails unless the two answers are
// the same bytes (the stats' elapsed_ms aside) with the same status.
func sqlBoth(t *testing.T, s *testServer, q, format string) (int, []byte) {
	t.Helper()
	return sqlBothPath(t, s, "/api/v1/sql", q, format)
}

// sqlBothPath is sqlBoth on the endpoint at path (/api/v1/sql,
// /api/v3/query_sql).
func sqlBothPath(t *testing.T, s *testServer, endpoint, q, format string) (int, []byte) {
	t.Helper()
	path := endpoint + "?db=d&q=" + url.QueryEscape(q)
	if format != "" {
		path += "&format=" + format
	}
	s.srv.sqlRowsOnly.Store(false)
	code, typed := s.get(t, path)
	s.srv.sqlRowsOnly.Store(true)
	rcode, rows := s.get(t, path)
	s.srv.sqlRowsOnly.Store(false)
	typed, rows = canonicalAnswer(t, typed, format), canonicalAnswer(t, rows, format)
	if code != rcode || string(typed) != string(rows) {
		at := 0
		for at < min(len(typed), len(rows)) && typed[at] == rows[at] {
			at++
		}
		lo := max(0, at-80)
		t.Fatalf("%s (format %q): typed answer %d differs from the rows' %d at byte %d of %d/%d:\ntyped: %.200q\nrows:  %.200q",
			q, format, code, rcode, at, len(typed), len(rows), typed[lo:], rows[lo:])
	}
	return code, typed
}

// TestSQLTypedAnswerIsTheRowAnswer: /api/v1/sql's JSON and CSV answers
// encoded from the executor's typed columns are byte for byte the
// answers encoded from rows, over every column type, NULLs, escapes,
// timestamps, empty answers, LIMIT/OFFSET, DISTINCT, ORDER BY,
// aggregates, expressions and constants, over rows in segments and in
// the head; the shapes the typed path leaves to rows (joins, subqueries,
// SELECT without FROM, SHOW, EXPLAIN) answer the same too. The answers
// of more than streamRows rows are streamed.
func TestSQLTypedAnswerIsTheRowAnswer(t *testing.T) {
	s := startServer(t, 0)
	lp := typedSQLRows(6000, 7)
	half := strings.Index(lp[len(lp)/2:], "\n") + len(lp)/2 + 1
	if code, _, b := s.post(t, "/write?db=d", lp[:half]); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	if code, _, b := s.post(t, "/write?db=d", lp[half:]); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	cases := []struct {
		q     string
		typed bool // answered from typed columns
	}{
		{`SELECT * FROM t`, true},
		{`SELECT * FROM t WHERE f > 0.5`, true},
		{`SELECT * FROM t WHERE f > 0.5 AND time >= '2024-02-29T00:00:00Z'`, true},
		{`SELECT time, host, dc, s FROM t WHERE s <> '' ORDER BY s DESC, time LIMIT 7 OFFSET 3`, true},
		{`SELECT * FROM t ORDER BY time DESC LIMIT 5000`, true},
		{`SELECT * FROM t ORDER BY time OFFSET 5990`, true},
		{`SELECT * FROM t LIMIT 0`, true},
		{`SELECT * FROM t WHERE f > 1e30`, true},
		{`SELECT * FROM t WHERE host = 'nope'`, true},
		{`SELECT DISTINCT host, dc FROM t ORDER BY host, dc`, true},
		{`SELECT DISTINCT b FROM t`, true},
		{`SELECT host, count(*), count(f), sum(i), avg(i), max(f), min(f), max(u), min(s), max(time) FROM t GROUP BY host ORDER BY host`, true},
		{`SELECT dc, count(*) FROM t GROUP BY dc ORDER BY dc NULLS FIRST`, true},
		{`SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS m, max(f), min(i), count(s) FROM t GROUP BY m ORDER BY m`, true},
		{`SELECT count(*), min(f), sum(i), avg(i) FROM t`, true},
		{`SELECT i + 1 AS j, -f AS g, NOT b AS nb, upper(s) AS us, u, CAST(i AS DOUBLE PRECISION) / 3 AS third FROM t WHERE i IS NOT NULL`, true},
		{`SELECT CAST('NaN' AS DOUBLE PRECISION) AS nan, CAST('Infinity' AS DOUBLE PRECISION) AS inf, host FROM t ORDER BY time LIMIT 3`, true},
		{`SELECT NULL AS n, 1 AS one, 'x"y' AS c, 2.5 AS two, true AS yes, host FROM t ORDER BY time LIMIT 9`, true},
		{`SELECT time, time - TIMESTAMP '2024-02-28 00:00:00' AS since FROM t ORDER BY time LIMIT 20`, true},
		{`SELECT host, s FROM t WHERE s LIKE '%"%' OR s LIKE '%,%'`, true},
		{`SELECT a.time, a.host, b.f FROM t a JOIN t b ON a.time = b.time AND a.host = b.host ORDER BY a.time LIMIT 50`, false},
		{`SELECT * FROM (SELECT host, max(f) AS m FROM t GROUP BY host) x ORDER BY m`, false},
		{`SELECT host FROM t UNION SELECT dc FROM t`, false},
		{`SELECT 1 AS one, 'a' AS b`, false},
		{`SHOW TABLES`, false},
		{`EXPLAIN SELECT * FROM t`, false},
	}
	for _, c := range cases {
		for _, format := range []string{"", "csv"} {
			code, body := sqlBoth(t, s, c.q, format)
			if code != 200 {
				t.Fatalf("%s: %d %s", c.q, code, body)
			}
		}
		// The case took the path it is meant to test.
		cq, err := s.srv.CompileSQL("d", c.q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, tab, err := s.srv.runSQL(context.Background(), "d", cq, false, true)
		if err != nil || (tab != nil) != c.typed {
			t.Fatalf("%s: typed answer %v (err %v), want %v", c.q, tab != nil, err, c.typed)
		}
	}
	// Errors are the same: a run-time error, and a query that does not
	// compile.
	for _, q := range []string{`SELECT i / 0 FROM t`, `SELECT nope FROM t`, `SELECT * FROM missing`} {
		if code, body := sqlBoth(t, s, q, ""); code == 200 {
			t.Fatalf("%s: %d %s, want an error", q, code, body)
		}
	}
}

// TestSQLV3TypedAnswerIsTheRowAnswer: /api/v3/query_sql's json, jsonl
// and csv answers from the executor's typed columns are the answers from
// rows, byte for byte (NULL cells left out of their object, NaN and the
// infinities as null), and its pretty and Parquet ones still answer.
func TestSQLV3TypedAnswerIsTheRowAnswer(t *testing.T) {
	s := startServer(t, 0)
	if code, _, b := s.post(t, "/write?db=d", typedSQLRows(5000, 9)); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	for _, q := range []string{
		`SELECT * FROM t ORDER BY time`,
		`SELECT * FROM t WHERE f > 0.5 ORDER BY time`,
		`SELECT time, s, dc FROM t ORDER BY time DESC LIMIT 10 OFFSET 2`,
		`SELECT * FROM t WHERE host = 'nope'`,
		`SELECT host, count(*), max(f), min(s), max(u) FROM t GROUP BY host ORDER BY host`,
		`SELECT NULL AS n, CAST('NaN' AS DOUBLE PRECISION) AS nan, CAST('-Infinity' AS DOUBLE PRECISION) AS inf, time - TIMESTAMP '2024-02-28 00:00:00' AS since, host FROM t ORDER BY time LIMIT 9`,
		`SELECT 1 AS one`,
	} {
		for _, f := range []string{"json", "jsonl", "csv", "pretty"} {
			if code, body := sqlBothPath(t, s, "/api/v3/query_sql", q, f); code != 200 {
				t.Fatalf("%s (%s): %d %.300s", q, f, code, body)
			}
		}
	}
}

// TestSQLTypedAnswerLimits: the typed answer meets --query-max-rows and
// --query-max-memory where the row answer does, with the same error, and
// passes where it passes.
func TestSQLTypedAnswerLimits(t *testing.T) {
	lp := typedSQLRows(3000, 11)
	for _, c := range []struct {
		name string
		cfg  Config
		fail []string // queries past the limit
		pass []string // queries within it
	}{
		{"rows", Config{QueryMaxRows: 100},
			[]string{`SELECT * FROM t`, `SELECT * FROM t ORDER BY time LIMIT 101`},
			[]string{`SELECT * FROM t ORDER BY time LIMIT 100`, `SELECT host, count(*) FROM t GROUP BY host`}},
		{"memory", Config{QueryMaxMemory: 600_000},
			[]string{`SELECT * FROM t`, `SELECT *, i + 1 AS j FROM t ORDER BY s`},
			[]string{`SELECT * FROM t ORDER BY time LIMIT 10`, `SELECT * FROM t ORDER BY time DESC LIMIT 10`, `SELECT host, max(f) FROM t GROUP BY host`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startServerWith(t, c.cfg)
			if code, _, b := s.post(t, "/write?db=d", lp); code != 204 {
				t.Fatalf("%d %s", code, b)
			}
			for _, q := range c.fail {
				for _, f := range []string{"", "csv"} {
					if code, body := sqlBoth(t, s, q, f); code != 422 {
						t.Fatalf("%s: %d %.300s, want 422", q, code, body)
					}
				}
			}
			for _, q := range c.pass {
				for _, f := range []string{"", "csv"} {
					if code, body := sqlBoth(t, s, q, f); code != 200 {
						t.Fatalf("%s: %d %.300s, want 200", q, code, body)
					}
				}
			}
		})
	}
}

// TestSQLStreamedAnswerReleases: a large SQL answer, sent through
// setBodyWriterTo in chunks, arrives whole with --access-log on (its line
// logged with the bytes sent), and its rows' reservation of the shared
// query memory is given back once it is sent and when the client hangs
// up mid-answer.
func TestSQLStreamedAnswerReleases(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	s := startServerWith(t, Config{QueryMaxMemoryTotal: 1 << 30, AccessLog: true,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))})
	if code, _, b := s.post(t, "/write?db=d", typedSQLRows(20000, 5)); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	released := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for s.srv.QueryMemoryReserved() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d bytes still reserved", what, s.srv.QueryMemoryReserved())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	q := "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT * FROM t ORDER BY time")
	code, body := s.get(t, q)
	var ans struct{ Rows [][]any }
	if err := json.Unmarshal(body, &ans); code != 200 || err != nil || len(ans.Rows) != 20000 {
		t.Fatalf("%d %v: %d rows, want 20000", code, err, len(ans.Rows))
	}
	released("answer sent")
	mu.Lock()
	if !strings.Contains(logged.String(), fmt.Sprintf(`"bytes":%d`, len(body))) {
		t.Errorf("access log does not count the %d bytes sent: %.600s", len(body), logged.String())
	}
	mu.Unlock()

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET " + q + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	released("client gone")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestWriterToStream: the answer stream runs its writer exactly once,
// whichever way fasthttp takes it: WriteTo, Read, or Close unread (then
// into a writer that fails, so what the writer releases is released).
func TestWriterToStream(t *testing.T) {
	text := strings.Repeat("0123456789", 20000)
	for _, way := range []string{"writeto", "read", "close"} {
		runs := 0
		st := &writerToStream{sw: func(w *bufio.Writer) {
			runs++
			_, _ = w.WriteString(text)
		}}
		var got bytes.Buffer
		switch way {
		case "writeto":
			if n, err := st.WriteTo(&got); err != nil || n != int64(len(text)) {
				t.Fatalf("WriteTo: %d %v", n, err)
			}
		case "read":
			if _, err := io.Copy(&got, struct{ io.Reader }{st}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if way != "close" && got.String() != text {
			t.Fatalf("%s: %d bytes, want %d", way, got.Len(), len(text))
		}
		if runs != 1 {
			t.Fatalf("%s: the writer ran %d times, want once", way, runs)
		}
		if _, err := st.WriteTo(io.Discard); err == nil {
			t.Fatalf("%s: written twice", way)
		}
	}
}
