package engine

import (
	"reflect"
	"testing"

	"github.com/siltdb/silt/segment"
)

// The segments kept open between scans are bounded by their footers'
// size too: with a bound of three footers, reading eight segments leaves
// at most three open, and the rows read are the same.
func TestOpenSegmentsBoundedByFooterBytes(t *testing.T) {
	const windows = 8
	var pts []point
	for w := range windows { // one segment per day window
		for i := range 20 {
			pts = append(pts, point{"cpu", "h" + string(rune('a'+i%5)), int64(w)*int64(segment.WindowDuration) + int64(i)*1e9, float64(w*100 + i)})
		}
	}
	cfg := testConfig(t.TempDir())
	cfg.Compaction.Disabled = true
	e := open(t, cfg)
	defer e.Close()
	write(t, e, "db", pts...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, e, "db"), expect(pts...); !reflect.DeepEqual(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	if n := e.refs.openCount(); n != windows {
		t.Fatalf("%d segments open under the default bounds, want %d", n, windows)
	}
	e.refs.mu.Lock()
	footer, largest := e.refs.mu.footer, int64(0)
	for _, s := range e.refs.mu.open {
		largest = max(largest, s.FooterBytes())
	}
	e.refs.mu.Unlock()
	if footer <= 0 || largest <= 0 {
		t.Fatalf("open footers counted %d bytes (largest %d)", footer, largest)
	}
	// Bound the footers to what three of the largest take: the next
	// release evicts down to it.
	e.refs.maxOpenFooter = 3 * largest
	if got, want := dump(t, e, "db"), expect(pts...); !reflect.DeepEqual(got, want) {
		t.Fatalf("with the footer bound, read %v, want %v", got, want)
	}
	e.refs.mu.Lock()
	n, footer := len(e.refs.mu.open), e.refs.mu.footer
	e.refs.mu.Unlock()
	if n > 3 || n == 0 || footer > 3*largest {
		t.Fatalf("%d segments open holding %d footer bytes, want 1 to 3 within %d", n, footer, 3*largest)
	}
}
