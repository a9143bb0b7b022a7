package main

import (
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// formatFixture is a data directory written by release 414df65 (see its
// README): Parquet segments of its layout (one page per row group, plain
// integers), rollup segments, the manifest, and a WAL holding writes that
// were never flushed (the process was killed).
const formatFixture = "testdata/format-414df65"

// TestPreviousFormatAnswersTheSame opens the previous release's data
// directory with this build and asks it what a fresh directory loaded with
// the same line protocol by this build answers: every on-disk format read
// back (segments, rollups, manifest, WAL replay) must give the same rows.
func TestPreviousFormatAnswersTheSame(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	old := filepath.Join(h.dir, "old")
	if err := copyTree(filepath.Join(formatFixture, "data"), old); err != nil {
		t.Fatal(err)
	}
	// The previous format checks clean (its segments predate recorded
	// checksums: their pages are verified).
	checkDataDir(t, old, "the previous format's data directory")
	prev := h.start(old)
	fresh := h.start(filepath.Join(h.dir, "fresh"))
	if code, body, _, err := fresh.do(http.MethodPost, "/query?q="+url.QueryEscape("CREATE DATABASE fx"), nil); err != nil || code != http.StatusOK {
		t.Fatalf("create database: %d %s %v", code, body, err)
	}
	for _, f := range []string{"a.lp", "b.lp"} {
		lp, err := os.ReadFile(filepath.Join(formatFixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if code, body, _, err := fresh.write("fx", lp); err != nil || code != http.StatusNoContent {
			t.Fatalf("write %s: %d %s %v", f, code, body, err)
		}
	}

	sqls := []string{
		`SELECT * FROM cpu ORDER BY time, host, region, rack`,
		`SELECT * FROM mem ORDER BY time, host`,
		`SELECT host, count(*), sum(n), min(usage), max(big), sum(big), count(msg), count(ok) FROM cpu GROUP BY host ORDER BY host`,
		`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS h, region, avg(usage), max(n), count(*) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT date_bin('10 minutes', time, TIMESTAMP '2000-01-01') AS m, sum(free), avg(pct) FROM mem WHERE host IN ('host_0', 'host_3') GROUP BY 1 ORDER BY 1`,
		`SELECT host, last(usage, time), last(msg, time), last(ok, time) FROM cpu GROUP BY host ORDER BY host`,
		`SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS m, max(usage) FROM cpu WHERE time < '2026-01-02T12:00:00Z' GROUP BY 1 ORDER BY 1 DESC LIMIT 5`,
	}
	influxql := []string{
		`SELECT mean(usage), max(n), count(msg) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-04T00:00:00Z' GROUP BY time(2h), region`,
		`SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1`,
		`SELECT last(*) FROM mem GROUP BY host`,
		`SHOW TAG VALUES FROM cpu WITH KEY = rack`,
		`SHOW FIELD KEYS`,
	}
	answer := func(p *siltProc, path string) any {
		t.Helper()
		code, body, err := p.get(path)
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %s %v", path, code, body, err)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v in %s", path, err, body)
		}
		delete(v, "stats") // timings and bytes read differ by layout
		return v
	}
	for _, q := range sqls {
		path := "/api/v1/sql?" + url.Values{"db": {"fx"}, "q": {q}}.Encode()
		if a, b := answer(prev, path), answer(fresh, path); !sameJSON(a, b) {
			t.Errorf("%s\nprevious format: %v\nthis build:      %v", q, a, b)
		}
	}
	for _, q := range influxql {
		path := "/query?" + url.Values{"db": {"fx"}, "q": {q}}.Encode()
		if a, b := answer(prev, path), answer(fresh, path); !sameJSON(a, b) {
			t.Errorf("%s\nprevious format: %v\nthis build:      %v", q, a, b)
		}
	}
	// Every point, as exported (values exact, no arithmetic), in any order.
	for _, table := range []string{"cpu", "mem"} {
		var lines [2][]string
		for i, p := range []*siltProc{prev, fresh} {
			code, body, err := p.get("/api/v1/export?db=fx&table=" + table)
			if err != nil || code != http.StatusOK {
				t.Fatalf("export %s: %d %s %v", table, code, body, err)
			}
			lines[i] = strings.Split(strings.TrimSpace(string(body)), "\n")
			sort.Strings(lines[i])
		}
		if len(lines[0]) < 500 || !slices.Equal(lines[0], lines[1]) {
			t.Errorf("export of %s: %d lines from the previous format, %d from this build, or they differ", table, len(lines[0]), len(lines[1]))
		}
	}
	prev.term()
	fresh.term()
}

// sameJSON compares decoded JSON answers, floats to a relative 1e-9: sums
// and means add in the order a layout gives.
func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y))
	}
	return reflect.DeepEqual(a, b)
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
}
