package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar on a terminal, at most every
// 100 ms, and nothing when its writer is not a terminal (logs stay clean).
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int64
	start time.Time
	last  time.Time
	unit  string
	rate  bool
}

// NewProgress returns a bar for total units of unit (e.g. "rows") written to
// stderr when stderr is a terminal, or to nowhere. rate adds units per second.
func NewProgress(label string, total int64, unit string, rate bool) *Progress {
	var w io.Writer
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		w = os.Stderr
	}
	return &Progress{w: w, label: label, total: total, unit: unit, rate: rate, start: time.Now()}
}

// Set reports done units; safe for concurrent use.
func (p *Progress) Set(done int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last = now
	const width = 30
	frac := float64(done) / float64(max(p.total, 1))
	n := int(frac * width)
	line := fmt.Sprintf("\r%-24s [%s%s] %3.0f%% %d/%d %s", p.label,
		strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, done, p.total, p.unit)
	if p.rate {
		line += fmt.Sprintf("  %.0f %s/s", float64(done)/now.Sub(p.start).Seconds(), p.unit)
	}
	fmt.Fprint(p.w, line)
}

// Done ends the bar's line.
func (p *Progress) Done() {
	if p != nil && p.w != nil {
		fmt.Fprintln(p.w)
	}
}
