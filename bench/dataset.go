package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Dataset describes a generated cpu-only dataset: the same Dataset gives
// the same bytes.
type Dataset struct {
	Hosts    int
	Start    time.Time
	End      time.Time // exclusive
	Interval time.Duration
	Seed     uint64
	Format   Format
	// OutOfOrder, when above 1, emits the rows of each block of that many
	// intervals in a random order (from Seed), so rows arrive up to
	// OutOfOrder-1 intervals late and out of series order, as from many
	// agents with skewed clocks and retries. The rows are the same as in
	// order; only their order changes.
	OutOfOrder int
}

// Validate reports a dataset that cannot be generated.
func (d Dataset) Validate() error {
	switch {
	case d.Hosts <= 0:
		return errors.New("need at least one host (--scale > 0)")
	case d.Interval <= 0:
		return errors.New("need --interval > 0")
	case !d.End.After(d.Start):
		return errors.New("need --start before --end")
	case d.Format != LineProtocol && d.Interval%time.Second != 0:
		// ClickHouse 18's DateTime has whole seconds.
		return fmt.Errorf("%s output has whole-second timestamps: need an --interval of whole seconds", d.Format)
	case d.OutOfOrder < 0:
		return errors.New("need --out-of-order >= 0")
	}
	return nil
}

// Intervals is the number of intervals in [Start, End).
func (d Dataset) Intervals() int {
	return int((d.End.Sub(d.Start) + d.Interval - 1) / d.Interval)
}

// Rows is the number of rows the dataset has.
func (d Dataset) Rows() int64 { return int64(d.Intervals()) * int64(d.Hosts) }

// WriteTo writes the dataset to w (CSV starts with its header).
func (d Dataset) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := d.Generate(func(chunk []byte) error {
		m, err := w.Write(chunk)
		n += int64(m)
		return err
	})
	return n, err
}

// Generate calls emit with successive chunks of whole rows (one interval, or
// one out-of-order block, at a time). The chunk is reused after emit returns.
func (d Dataset) Generate(emit func(chunk []byte) error) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Format == CSV {
		if err := emit([]byte(CSVHeader())); err != nil {
			return err
		}
	}
	g := NewCPU(d.Hosts, d.Start, d.Interval, d.Seed)
	n := d.Intervals()
	var buf, out []byte
	if d.OutOfOrder <= 1 {
		for i := 0; i < n; i++ {
			buf = g.AppendIntervalAs(buf[:0], d.Format)
			if err := emit(buf); err != nil {
				return err
			}
		}
		return nil
	}
	// A second stream, so the values are those of the in-order dataset.
	shuffle := rand.New(rand.NewPCG(d.Seed^0x6f75742d6f662d6f, d.Seed))
	var lines [][2]int
	for i := 0; i < n; i += d.OutOfOrder {
		buf = buf[:0]
		for j := i; j < min(i+d.OutOfOrder, n); j++ {
			buf = g.AppendIntervalAs(buf, d.Format)
		}
		lines = lines[:0]
		for s := 0; s < len(buf); {
			e := s + bytes.IndexByte(buf[s:], '\n') + 1
			lines = append(lines, [2]int{s, e})
			s = e
		}
		shuffle.Shuffle(len(lines), func(a, b int) { lines[a], lines[b] = lines[b], lines[a] })
		out = out[:0]
		for _, l := range lines {
			out = append(out, buf[l[0]:l[1]]...)
		}
		if err := emit(out); err != nil {
			return err
		}
	}
	return nil
}
