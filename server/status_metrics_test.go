package server

import (
	"fmt"
	"testing"

	"github.com/siltdb/silt/engine"
)

// TestStatusMetrics: the head's bound and the rollup widths as
// configured, and compaction's backlog as its policy sees the manifest:
// with merges off, three small flushes of one window are under the
// policy's level-0 limit (4), a fourth puts the window and its four
// segments in the backlog.
func TestStatusMetrics(t *testing.T) {
	s := startServerEngine(t, Config{}, engine.Config{MaxHeadBytes: 300 << 20, Compaction: engine.CompactionConfig{Disabled: true}})
	m := func(series string) float64 { return metricValue(t, s, "", series) }
	if got := m("silt_head_max_bytes"); got != 300<<20 {
		t.Errorf("silt_head_max_bytes %v, want %d", got, 300<<20)
	}
	for w, sec := range map[string]float64{"10s": 10, "60s": 60, "3600s": 3600} {
		if got := m(`silt_rollup_width_seconds{width="` + w + `"}`); got != sec {
			t.Errorf("rollup width %s: %v", w, got)
		}
	}
	for i := 0; i < 4; i++ {
		if code, _, b := s.post(t, "/write?db=d", fmt.Sprintf("cpu,host=a v=%d %d\n", i, 1700000000000000000+int64(i)*1e9)); code != 204 {
			t.Fatalf("write: %d %s", code, b)
		}
		if err := s.eng.Flush(); err != nil {
			t.Fatal(err)
		}
		w, n := m("silt_compaction_backlog_windows"), m("silt_compaction_backlog_segments")
		if i < 3 && (w != 0 || n != 0) || i == 3 && (w != 1 || n != 4) {
			t.Fatalf("after %d flushes of one window: backlog %v windows, %v segments", i+1, w, n)
		}
	}
	if m("silt_segments_live") != 4 {
		t.Fatalf("segments live %v, want 4 (merges are off)", m("silt_segments_live"))
	}
}
