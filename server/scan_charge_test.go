package server

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// A query's readers' buffers — the batches its scan decodes segments
// into, on each worker — are reserved of --query-max-memory-total while
// it scans: a query is refused when the total cannot hold them, and
// everything is given back after.
func TestScanBuffersChargeTotal(t *testing.T) {
	// (The executor's scans charge the same: query/exec's
	// TestEngineScanChargesReaders.) PromQL selects through the engine's
	// scans too: a query whose engine may hold 128 KiB, reserved, leaves
	// too little of a 256 KiB total for one batch of a row group of
	// 32,768 rows (time, a tag's ids and the value: 640 KiB).
	s := startServerWith(t, Config{QueryMaxMemory: 128 << 10, QueryMaxMemoryTotal: 256 << 10})
	var lp strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&lp, "p,host=h%d value=%d %d\n", i%16, i, 1_700_000_000_000_000_000+int64(i)*1_000_000)
	}
	if code, _, body := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	code, _, body := s.post(t, "/api/v1/query?db=d", url.Values{"query": {"max(p)"}, "time": {"1700000100"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	wantTotalRefusal(t, "a PromQL selection whose scan buffers pass the total", code, body)
	if got := s.srv.queryMem.Used(); got != 0 {
		t.Fatalf("after the refused PromQL scan %d bytes are reserved, want 0", got)
	}
}

// With room for them, the same scan answers, and gives its buffers back.
func TestScanBuffersGivenBack(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemoryTotal: 64 << 20})
	loadRows(t, s, "d", 200_000)
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	code, body := s.get(t, "/api/v1/sql?db=d&resolution=raw&q="+url.QueryEscape("SELECT max(v), min(w) FROM m"))
	if code != 200 || !strings.Contains(string(body), "199999") {
		t.Fatalf("the scan within the total: %d %.300s", code, body)
	}
	if got := s.srv.queryMem.Used(); got != 0 {
		t.Fatalf("after the scan %d bytes are reserved, want 0", got)
	}
}
