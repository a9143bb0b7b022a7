package engine

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// TestOpenSegmentsBounded: segment handles kept between scans stay within
// MaxOpenSegments however many segments queries read, segments a running
// scan holds are never closed under it, and scans read the same rows with
// the bound as without (the oracle: the points written).
func TestOpenSegmentsBounded(t *testing.T) {
	const windows = 8
	var pts []point
	for w := range windows { // one segment per day window
		for i := range 20 {
			pts = append(pts, point{"cpu", "h" + string(rune('a'+i%5)), int64(w)*int64(segment.WindowDuration) + int64(i)*1e9, float64(w*100 + i)})
		}
	}
	for _, c := range []struct {
		maxOpen, wantOpen int
	}{{3, 3}, {0, windows}} { // 0: the default, far above 8
		cfg := testConfig(t.TempDir())
		cfg.MaxOpenSegments = c.maxOpen
		cfg.Compaction.Disabled = true
		e := open(t, cfg)
		write(t, e, "db", pts...)
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := len(e.Manifest().Raw()); n != windows {
			t.Fatalf("%d raw segments after the flush, want %d", n, windows)
		}
		// A scan holds every segment: none may be closed under it, even
		// past the bound, while other scans come and go.
		held, err := e.OpenScan("db", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := dump(t, e, "db"), expect(pts...); !reflect.DeepEqual(got, want) {
			t.Errorf("maxOpen %d: scan beside a held one read %v, want %v", c.maxOpen, got, want)
		}
		if n := e.refs.openCount(); n != windows {
			t.Errorf("maxOpen %d: %d segments open while a scan holds all %d", c.maxOpen, n, windows)
		}
		got := map[string]map[string]float64{"cpu": {}}
		if err := held.Run(func(p *columnar.Point) error {
			got["cpu"][fmt.Sprintf("%s@%d", p.Tags[0].Value, p.Time)] = math.Float64frombits(p.Fields[0].Num)
			return nil
		}); err != nil {
			t.Fatalf("maxOpen %d: held scan: %v", c.maxOpen, err)
		}
		if err := held.Close(); err != nil {
			t.Fatal(err)
		}
		if want := expect(pts...); !reflect.DeepEqual(got, want) {
			t.Errorf("maxOpen %d: held scan read %v, want %v", c.maxOpen, got, want)
		}
		if n := e.refs.openCount(); n != c.wantOpen {
			t.Errorf("maxOpen %d: %d segments open after the scans closed, want %d", c.maxOpen, n, c.wantOpen)
		}
		// Reopened on demand: a second round reads the same rows.
		if got, want := dump(t, e, "db"), expect(pts...); !reflect.DeepEqual(got, want) {
			t.Errorf("maxOpen %d: second scan read %v, want %v", c.maxOpen, got, want)
		}
		if n := e.refs.openCount(); n != c.wantOpen {
			t.Errorf("maxOpen %d: %d segments open after a second scan, want %d", c.maxOpen, n, c.wantOpen)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
