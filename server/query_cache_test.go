package server

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestQueryCacheMetrics: a query repeated over flushed segments is
// answered the same from the cache of decoded pages, and /metrics counts
// the cache's misses, then hits, and the bytes it holds.
func TestQueryCacheMetrics(t *testing.T) {
	s := startServer(t, 0)
	var lines strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&lines, "cpu,host=h%d v=%d,s=\"x%d\" %d\n", i%7, i, i%5, 1700000000000000000+int64(i)*1e9)
	}
	if code, _, b := s.post(t, "/write?db=d", lines.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	metric := func(name string) float64 {
		_, body := s.get(t, "/metrics")
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics lacks %s", name)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	q := "/api/v1/sql?" + url.Values{"db": {"d"}, "q": {"SELECT time, host, v, s FROM cpu WHERE v > 100 ORDER BY time"}}.Encode()
	code, first := s.get(t, q)
	if code != 200 {
		t.Fatalf("query: %d %s", code, first)
	}
	misses, hits := metric("silt_query_cache_misses_total"), metric("silt_query_cache_hits_total")
	if misses == 0 || metric("silt_query_cache_bytes") == 0 {
		t.Fatalf("a first read cached nothing: %v misses", misses)
	}
	_, again := s.get(t, q)
	stats := regexp.MustCompile(`"stats":.*`)
	if string(stats.ReplaceAll(again, nil)) != string(stats.ReplaceAll(first, nil)) {
		t.Fatalf("cached answer differs:\n%s\nfirst:\n%s", again, first)
	}
	if metric("silt_query_cache_hits_total") <= hits || metric("silt_query_cache_misses_total") != misses {
		t.Fatalf("the repeated query was not answered from the cache")
	}
	if max := metric("silt_query_cache_max_bytes"); max != 128<<20 || metric("silt_query_cache_bytes") > max {
		t.Fatalf("cache bound %v, holding %v", max, metric("silt_query_cache_bytes"))
	}
}
