package server

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/query/influxql"
)

// planCacheData writes 100 seconds of cpu points of five hosts from base,
// and returns the queries the plan cache tests ask: raw, newest-point,
// last(), aggregates by time and tag, and now()-relative ones.
func planCacheData(t *testing.T, s *testServer, base int64) []string {
	t.Helper()
	var lp strings.Builder
	for i := range 500 {
		fmt.Fprintf(&lp, "cpu,host=h%d,dc=%s usr=%d,sy=%d.5 %d\n", i%5, []string{"east", "west"}[i%2], i, i%7, base+int64(i/5)*int64(time.Second))
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	window := fmt.Sprintf("time >= %d AND time < %d", base+10e9, base+60e9)
	return []string{
		`SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1`,
		`SELECT * FROM cpu GROUP BY dc, nosuch ORDER BY time DESC LIMIT 1`,
		`SELECT last(*) FROM cpu GROUP BY host`,
		`SELECT usr, sy FROM cpu WHERE host = 'h1' AND ` + window,
		`SELECT max(usr), mean(sy) FROM cpu WHERE ` + window + ` GROUP BY time(10s), host`,
		`SELECT count(usr) FROM cpu WHERE time > now() - 30s GROUP BY time(10s) fill(none)`,
		`SELECT last(usr) FROM cpu WHERE time > now() - 20s GROUP BY host`,
		`SELECT * FROM cpu WHERE time > now() - 5s`,
		`SELECT usr FROM cpu WHERE ` + window + ` ORDER BY time DESC LIMIT 3; SELECT sy FROM cpu WHERE host = 'h2' LIMIT 2`,
		// TSBS's RFC 3339 bounds, and a zone's local time: the reduced
		// condition is kept with the statement.
		`SELECT max(usr) FROM cpu WHERE host = 'h3' AND time >= '2023-11-14T22:13:30Z' AND time < '2023-11-14T22:14:20Z' GROUP BY time(10s)`,
		`SELECT mean(sy) FROM cpu WHERE time >= '2023-11-14 23:13:40' AND time <= '2023-11-14 23:14:00' GROUP BY time(5s), dc tz('Europe/Paris')`,
		`SELECT count(usr) FROM cpu WHERE time >= '2023-11-14T22:13:30Z' AND time < now() - 10s GROUP BY host`,
	}
}

// TestInfluxQLPlanCacheAnswersTheSame: each request asked again and
// again with the plan cache — its second time keeps its parse and plans,
// the later ones run them — is answered byte for byte as without the
// cache, at a now() that moves between rounds: a now()-relative query's
// bounds come from each request's time (its answers change as now()
// passes over the data), never from the request that was kept.
func TestInfluxQLPlanCacheAnswersTheSame(t *testing.T) {
	s := startServer(t, 0)
	base := int64(1_700_000_000_000_000_000)
	queries := planCacheData(t, s, base)
	pc := influxql.NewPlanCache(influxql.DefaultPlanEntries, influxql.DefaultPlanBytes)
	b := influxBackend{s: s.srv}
	changed := map[string]bool{}
	last := map[string][]byte{}
	for round := range 4 {
		now := time.Unix(0, base+int64(40+40*round)*int64(time.Second))
		for _, q := range queries {
			req := influxql.Request{Query: q, Database: "d", Now: now, TypedValues: true}
			want := encodeInflux(t, b, req)
			req.Plans = pc
			for again := range 3 {
				if got := encodeInflux(t, b, req); !bytes.Equal(got, want) {
					t.Fatalf("%s at %s, time %d with the plan cache:\n%.1500s\nwithout:\n%.1500s", q, now, again+1, got, want)
				}
			}
			if prev, ok := last[q]; ok && !bytes.Equal(prev, want) {
				changed[q] = true
			}
			last[q] = want
		}
	}
	for _, q := range queries {
		if strings.Contains(q, "now()") && !changed[q] {
			t.Errorf("%s: the same answer at every now(): the test cannot tell kept bounds", q)
		}
	}
	if st := pc.Stats(); st.Hits == 0 {
		t.Fatalf("the cache was never read: %+v", st)
	}
}

// TestInfluxQLPlanCacheFollowsSchema: a kept plan is not used once its
// measurement has a new field or tag (the next answer has them), nor once
// it was dropped and written again with other types under the same names,
// where the query's SQL text is the same.
func TestInfluxQLPlanCacheFollowsSchema(t *testing.T) {
	s := startServer(t, 0)
	base := int64(1_700_000_000_000_000_000)
	planCacheData(t, s, base)
	q := "/query?" + url.Values{"db": {"d"}, "q": {`SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1`}}.Encode()
	for range 3 {
		if code, body := s.get(t, q); code != 200 || bytes.Contains(body, []byte("extra")) {
			t.Fatalf("%d %s", code, body)
		}
	}
	line := fmt.Sprintf("cpu,host=h1,rack=r9 usr=1,extra=2 %d\n", base+200*int64(time.Second))
	if code, _, b := s.post(t, "/write?db=d", line); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, body := s.get(t, q)
	if code != 200 || !bytes.Contains(body, []byte(`"extra"`)) || !bytes.Contains(body, []byte(`"r9"`)) {
		t.Fatalf("after a new field and tag: %d %s", code, body)
	}
	req := influxql.Request{Query: `SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1`, Database: "d", TypedValues: true}
	if want := encodeInflux(t, influxBackend{s: s.srv}, req); !bytes.Equal(body, want) {
		t.Fatalf("after a new field and tag, /query answered\n%s\nwithout the cache:\n%s", body, want)
	}

	text := `SELECT usr FROM cpu WHERE host = 'h1' ORDER BY time DESC LIMIT 2`
	q = "/query?" + url.Values{"db": {"d"}, "q": {text}}.Encode()
	for range 3 {
		if code, body := s.get(t, q); code != 200 || !bytes.Contains(body, []byte(`"values"`)) {
			t.Fatalf("%d %s", code, body)
		}
	}
	if code, _, b := s.post(t, "/query?db=d&q=DROP+MEASUREMENT+cpu", ""); code != 200 {
		t.Fatalf("drop: %d %s", code, b)
	}
	line = fmt.Sprintf("cpu,host=h1 usr=\"text\" %d\ncpu,host=h1 usr=\"more\" %d\n", base, base+1)
	if code, _, b := s.post(t, "/write?db=d", line); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, body = s.get(t, q)
	want := encodeInflux(t, influxBackend{s: s.srv}, influxql.Request{Query: text, Database: "d", TypedValues: true})
	if code != 200 || !bytes.Equal(body, want) || !bytes.Contains(want, []byte(`"more"`)) {
		t.Fatalf("usr a string now: /query answered %d\n%s\nwithout the cache:\n%s", code, body, want)
	}
}

// TestInfluxQLPlanCacheConcurrent: requests sharing kept parses and plans
// run at once (go test -race: nothing a request runs from the cache is
// written while another reads it) and each is answered as alone.
func TestInfluxQLPlanCacheConcurrent(t *testing.T) {
	s := startServer(t, 0)
	base := int64(1_700_000_000_000_000_000)
	queries := planCacheData(t, s, base)
	now := time.Unix(0, base+60*int64(time.Second))
	b := influxBackend{s: s.srv}
	want := map[string][]byte{}
	for _, q := range queries {
		want[q] = encodeInflux(t, b, influxql.Request{Query: q, Database: "d", Now: now, TypedValues: true})
	}
	pc := influxql.NewPlanCache(influxql.DefaultPlanEntries, influxql.DefaultPlanBytes)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 * len(queries) {
				q := queries[(i+w)%len(queries)]
				resp, err := influxql.Execute(t.Context(), b, influxql.Request{Query: q, Database: "d", Now: now, TypedValues: true, Plans: pc})
				if err != nil {
					errs <- err.Error()
					return
				}
				var buf bytes.Buffer
				if err := writeInfluxJSON(&buf, resp); err != nil {
					errs <- err.Error()
					return
				}
				if !bytes.Equal(buf.Bytes(), want[q]) {
					errs <- fmt.Sprintf("%s: %.500s, alone %.500s", q, buf.Bytes(), want[q])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if st := pc.Stats(); st.Hits == 0 {
		t.Fatalf("the cache was never read: %+v", st)
	}
}

// TestInfluxQLPlanCacheMetrics: /metrics counts the plan cache's misses,
// then its hits, as /query repeats a request.
func TestInfluxQLPlanCacheMetrics(t *testing.T) {
	s := startServer(t, 0)
	planCacheData(t, s, 1_700_000_000_000_000_000)
	metric := func(name string) float64 {
		_, body := s.get(t, "/metrics")
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics lacks %s", name)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	q := "/query?" + url.Values{"db": {"d"}, "q": {`SELECT last(*) FROM cpu GROUP BY host`}}.Encode()
	hits0, misses0 := metric("silt_influxql_plan_cache_hits_total"), metric("silt_influxql_plan_cache_misses_total")
	for range 2 {
		if code, body := s.get(t, q); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if h, m := metric("silt_influxql_plan_cache_hits_total"), metric("silt_influxql_plan_cache_misses_total"); h != hits0 || m <= misses0 {
		t.Fatalf("first two requests: hits %v → %v, misses %v → %v", hits0, h, misses0, m)
	}
	hits1 := metric("silt_influxql_plan_cache_hits_total")
	if code, body := s.get(t, q); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if h := metric("silt_influxql_plan_cache_hits_total"); h <= hits1 {
		t.Fatalf("the third request: hits %v → %v", hits1, h)
	}
	if n, b := metric("silt_influxql_plan_cache_entries"), metric("silt_influxql_plan_cache_bytes"); n == 0 || b == 0 {
		t.Fatalf("entries %v, bytes %v", n, b)
	}
}
