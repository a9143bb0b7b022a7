package importer

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// describeEvery limits how often the bar's rows/s figure is recomputed.
const describeEvery = 500 * time.Millisecond

// progress drives the progress bar. A nil *progress does nothing.
type progress struct {
	bar   *progressbar.ProgressBar
	start time.Time
	rows  atomic.Int64

	mu           sync.Mutex // serialises use of bar: its Clear is unsynchronised, and notices must not land mid-redraw
	name         string
	lastDescribe time.Time
}

// newProgress returns a bar over total on-disk bytes written to w, or nil
// when there is no writer or nothing to do.
func newProgress(w io.Writer, total int64) *progress {
	if w == nil || total <= 0 {
		return nil
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(25),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &progress{bar: bar, start: time.Now()}
}

// setFile names the file being read in the bar.
func (p *progress) setFile(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name = name
	p.describe(time.Now())
}

// add records acknowledged on-disk bytes and rows.
func (p *progress) add(raw int64, rows int) {
	if p == nil {
		return
	}
	n := p.rows.Add(int64(rows))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar.IsFinished() {
		return
	}
	if now := time.Now(); now.Sub(p.lastDescribe) >= describeEvery && n > 0 {
		p.describe(now)
	}
	if raw > 0 {
		p.bar.Add64(raw) // only fails when over the total, which is harmless
	}
}

// describe refreshes the description, which carries the rows/s figure the
// bar itself cannot show next to its byte rate. p.mu must be held.
func (p *progress) describe(now time.Time) {
	p.lastDescribe = now
	desc := p.name
	if secs := now.Sub(p.start).Seconds(); secs > 0 && p.rows.Load() > 0 {
		desc = fmt.Sprintf("%s %s rows/s", p.name, groupThousands(int64(float64(p.rows.Load())/secs)))
	}
	p.bar.Describe(desc)
}

// above prints msg where the bar is and lets the bar redraw below it on its
// next update. Holding p.mu keeps the bar from writing in between, which
// matters when both go to the same writer.
func (p *progress) above(w io.Writer, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bar.IsFinished() {
		p.bar.Clear()
	}
	io.WriteString(w, msg)
}

// finish fills the bar when everything was imported, else leaves it where
// it stopped; either way it ends the bar's line.
func (p *progress) finish(done bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bar.IsFinished(): // the last Add filled it and ended the line
	case done:
		p.bar.Finish()
	default:
		p.bar.Exit()
	}
}

// logger prints notices, clearing the progress bar first so that a notice
// does not end up glued to the middle of it.
type logger struct {
	mu   sync.Mutex
	w    io.Writer
	prog *progress
}

func (l *logger) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	msg := fmt.Sprintf(format+"\n", args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prog == nil {
		io.WriteString(l.w, msg)
		return
	}
	l.prog.above(l.w, msg)
}

func (l *logger) setProgress(p *progress) {
	l.mu.Lock()
	l.prog = p
	l.mu.Unlock()
}
