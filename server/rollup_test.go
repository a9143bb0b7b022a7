package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The SQL endpoint reports the resolution that answered, and
// resolution=raw gives the same rows from raw data.
func TestSQLResolution(t *testing.T) {
	s := startServer(t, 0)
	var body strings.Builder
	const base = 1_767_225_600 // 2026-01-01T00:00:00Z, seconds
	for i := range 3 * 360 {   // 3 hours every 10 s
		for _, h := range []string{"a", "b"} {
			fmt.Fprintf(&body, "cpu,host=%s v=%d %d\n", h, (i*7)%101, (base+10*i)*1_000_000_000)
		}
	}
	if code, _, b := s.post(t, "/write?db=d", body.String()); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape("SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS h, host, avg(v), max(v), count(*) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2")
	type result struct {
		Rows  [][]any
		Stats struct {
			Resolution string
			BytesRead  int64 `json:"bytes_read"`
		}
	}
	run := func(extra string) result {
		code, raw := s.get(t, "/api/v1/sql?db=d&q="+q+extra)
		if code != 200 {
			t.Fatalf("%d %s", code, raw)
		}
		var r result
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	auto, raw := run(""), run("&resolution=raw")
	if auto.Stats.Resolution != "1h" || raw.Stats.Resolution != "raw" {
		t.Fatalf("resolutions %q and %q, want 1h and raw", auto.Stats.Resolution, raw.Stats.Resolution)
	}
	var rawBytes, rollupBytes int64
	for _, m := range s.eng.Manifest().Segments {
		if m.Rollup == int64(time.Hour) {
			rollupBytes += m.Bytes
		} else if !m.IsRollup() {
			rawBytes += m.Bytes
		}
	}
	if auto.Stats.BytesRead != rollupBytes || raw.Stats.BytesRead != rawBytes {
		t.Errorf("bytes read %d from rollups, %d raw; the segments hold %d and %d", auto.Stats.BytesRead, raw.Stats.BytesRead, rollupBytes, rawBytes)
	}
	if len(auto.Rows) != 6 || !reflect.DeepEqual(auto.Rows, raw.Rows) {
		t.Fatalf("from rollups %v\nfrom raw rows %v", auto.Rows, raw.Rows)
	}
	if code, b := s.get(t, "/api/v1/sql?db=d&resolution=fine&q="+q); code != 400 || !strings.Contains(string(b), "bad-resolution") {
		t.Fatalf("bad resolution: %d %s", code, b)
	}
	// InfluxQL: the same answer from rollups and from raw rows.
	iq := url.QueryEscape("SELECT mean(v), max(v), count(v) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T03:00:00Z' GROUP BY time(1h), host")
	code1, fromRollups := s.get(t, "/query?db=d&q="+iq)
	code2, fromRaw := s.get(t, "/query?db=d&resolution=raw&q="+iq)
	if code1 != 200 || code2 != 200 || string(fromRollups) != string(fromRaw) || !strings.Contains(string(fromRaw), `"host":"b"`) {
		t.Fatalf("InfluxQL from rollups %d %s\nfrom raw rows %d %s", code1, fromRollups, code2, fromRaw)
	}
	if code, b := s.get(t, "/query?db=d&resolution=fine&q="+iq); code != 400 || !strings.Contains(string(b), "bad-resolution") {
		t.Fatalf("InfluxQL bad resolution: %d %s", code, b)
	}
}
