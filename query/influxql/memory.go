package influxql

import (
	"fmt"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
)

// memAccount counts what one /query request holds of its answer against
// Request.MaxMemoryBytes: the rows of every statement's series, which
// stay until the response is sent. The executor bounds what each SQL
// query it runs holds on its own (columns and its answer's rows); the
// statement's copy of those rows is charged here, on top of them while
// both are alive.
type memAccount struct {
	limit int64 // 0: no limit
	held  int64 // rows of the statements answered so far
}

// check fails, wrapping exec.ErrMemoryLimit, when what is held plus
// extra bytes passes the limit.
func (m *memAccount) check(extra int64, what string) error {
	if m == nil || m.limit <= 0 || m.held+extra <= m.limit {
		return nil
	}
	return fmt.Errorf("%w: %s: %d bytes on top of the %d the request's answer holds pass %d bytes (--query-max-memory); narrow the time range or the fields, or add LIMIT",
		exec.ErrMemoryLimit, what, extra, m.held, m.limit)
}

// charge adds n bytes of rows the request now holds.
func (m *memAccount) charge(n int64, what string) error {
	if err := m.check(n, what); err != nil {
		return err
	}
	if m != nil {
		m.held += n
	}
	return nil
}

// release gives back n bytes of rows the request no longer holds.
func (m *memAccount) release(n int64) {
	if m != nil {
		m.held -= n
	}
}

// heldBytes is what the request holds now.
func (m *memAccount) heldBytes() int64 {
	if m == nil {
		return 0
	}
	return m.held
}

// resultRowBytes estimates what one row of res takes as Go values, as
// the executor counts its answer's rows.
func resultRowBytes(res *query.Result) int64 { return exec.AnswerRowBytes(res) }

// copyRowBytes estimates what one row of a statement's series takes with
// cells values: the row's cells, its time boxed as an int64 (8 bytes),
// later a time string with its header (about 48 bytes) unless the epoch
// is numeric, and its place in the series' rows (a slice header, twice
// over while they grow and are sorted).
func copyRowBytes(cells int, epoch Epoch) int64 {
	n := int64(16*cells + 8 + 48)
	if epoch.Unit <= 0 {
		n += 48
	}
	return n
}

// seriesBytes estimates what list's rows hold. Typed rows hold the
// executor's columns, and, unless kept typed (typedValues), their copy
// as Values.
func seriesBytes(list []*seriesRows, epoch Epoch, typedValues bool) int64 {
	var n int64
	var cols *exec.Columns // the series of one answer share its columns
	for _, s := range list {
		if t := s.typed; t != nil {
			if t.cols != cols {
				cols = t.cols
				n += cols.Bytes()
			}
			n += 8 * int64(len(t.rows)+len(t.windows))
			if !typedValues {
				n += int64(len(t.rows)) * copyRowBytes(1+t.n, epoch)
			}
		}
		for _, r := range s.rows {
			n += copyRowBytes(len(r), epoch)
		}
	}
	return n
}
