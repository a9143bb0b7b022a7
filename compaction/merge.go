package compaction

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// Memory model of a merge, used to turn Config.MemoryBytes into a decode
// batch and a fan-in. Estimates, checked by BenchmarkCompaction's peak RSS:
//
//   - an input costs one decoded batch (BatchRows × columns × ~32 bytes of
//     Arrow arrays and the Point) plus one column chunk per column, which
//     Arrow's reader loads whole: about a row group's compressed size,
//     inputBufferBytes for a wide 128Ki-row group;
//   - the output costs parquet-go's page buffers (1 MiB per column) plus one
//     row group of compressed pages (outputBufferBytes) plus a batch of
//     24-byte parquet.Values.
const (
	BatchRows         = 4096
	inputBufferBytes  = 4 << 20
	outputBufferBytes = 16 << 20
	maxFanIn          = 64 // more open files buys little: the heap is log k
)

// Config bounds a merge.
type Config struct {
	MemoryBytes int64 // memory for decode buffers of inputs and the output
	TargetRows  int64 // rows per output segment
}

// FanIn returns how many inputs of ncols columns one pass merges within
// c.MemoryBytes (at least 2).
func (c Config) FanIn(ncols int) int {
	out := int64(outputBufferBytes + ncols*(1<<20) + BatchRows*ncols*24)
	per := int64(inputBufferBytes + BatchRows*ncols*32)
	return int(min(max((c.MemoryBytes-out)/per, 2), maxFanIn))
}

// Output is a segment a merge wrote.
type Output struct {
	ID   uint64
	Meta columnar.SegmentMeta
}

// Job is one merge: Inputs (absolute paths, oldest first) into outputs of
// at most TargetRows rows.
type Job struct {
	DB, Table  string
	Inputs     []string
	TagOrder   []string              // the table's tag order: series sort order
	Schema     *columnar.TableSchema // of the outputs: covers every input column
	DropBefore int64                 // rows with earlier times are dropped (retention)
	// NewOutput names the next final output: its id and absolute path.
	NewOutput func() (uint64, string)
	// RunPath names intermediate run file k (when inputs exceed the fan-in);
	// it must be a path a crash leaves as an orphan the engine removes.
	RunPath func(k int) string
}

// Stats describes a finished merge.
type Stats struct {
	RowsOut           int64 // rows in the outputs (inputs' rows less duplicates and expired rows)
	BytesIn, BytesOut int64
	Passes            int
}

// Merge runs job within c's memory bound and returns the outputs. On error
// every file it wrote is removed. ctx cancels between batches.
func Merge(ctx context.Context, c Config, job Job) (outs []Output, st Stats, err error) {
	ncols := 1 + len(job.Schema.Tags) + len(job.Schema.Fields)
	fan := c.FanIn(ncols)
	inputs := job.Inputs
	var runs []string // intermediate files to remove at the end
	defer func() {
		for _, r := range runs {
			_ = os.Remove(r)
		}
		if err != nil {
			for _, o := range outs {
				_ = os.Remove(o.Meta.Path)
			}
			outs = nil
		}
	}()
	for _, in := range inputs {
		if fi, err := os.Stat(in); err == nil {
			st.BytesIn += fi.Size()
		}
	}
	// Passes: merge consecutive groups of fan inputs (oldest first, so the
	// groups keep write order) into runs until one pass remains.
	k := 0
	for len(inputs) > fan {
		var next []string
		for g := 0; g < len(inputs); g += fan {
			group := inputs[g:min(g+fan, len(inputs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			path := job.RunPath(k)
			k++
			runs = append(runs, path)
			w, err := columnar.NewSegmentWriter(path, job.DB, job.Table, job.Schema, BatchRows)
			if err != nil {
				return nil, st, err
			}
			if err := mergeInto(ctx, group, job, func(p *columnar.Point) error { return w.Append(p) }); err != nil {
				return nil, st, errors.Join(err, w.Abort())
			}
			if _, err := w.Close(); err != nil {
				return nil, st, err
			}
			next = append(next, path)
		}
		st.Passes++
		inputs = next
	}
	// Final pass into size-bounded outputs.
	var w *columnar.SegmentWriter
	var id uint64
	var path string
	closeOut := func() error {
		if w == nil {
			return nil
		}
		cw := w
		w = nil
		if cw.Rows() == 0 {
			return cw.Abort()
		}
		m, err := cw.Close()
		if err != nil {
			return err
		}
		m.ID, m.Path = id, path
		outs = append(outs, Output{ID: id, Meta: m})
		st.RowsOut += m.Rows
		st.BytesOut += m.Bytes
		return nil
	}
	err = mergeInto(ctx, inputs, job, func(p *columnar.Point) error {
		if w != nil && w.Rows() >= c.TargetRows {
			if err := closeOut(); err != nil {
				return err
			}
		}
		if w == nil {
			id, path = job.NewOutput()
			var err error
			if w, err = columnar.NewSegmentWriter(path, job.DB, job.Table, job.Schema, BatchRows); err != nil {
				return err
			}
		}
		return w.Append(p)
	})
	st.Passes++
	if err != nil {
		if w != nil {
			err = errors.Join(err, w.Abort())
		}
		return outs, st, err
	}
	return outs, st, closeOut()
}

// cursor is one input's position in the merge.
type cursor struct {
	path string
	seg  *columnar.Segment
	rows *columnar.RowReader
	cur  columnar.Point
	prio int // input index: higher is newer
}

type cursorHeap struct {
	c    []*cursor
	less func(a, b *columnar.Point) int
}

func (h *cursorHeap) Len() int { return len(h.c) }
func (h *cursorHeap) Less(i, j int) bool {
	if c := h.less(&h.c[i].cur, &h.c[j].cur); c != 0 {
		return c < 0
	}
	return h.c[i].prio < h.c[j].prio
}
func (h *cursorHeap) Swap(i, j int) { h.c[i], h.c[j] = h.c[j], h.c[i] }
func (h *cursorHeap) Push(x any)    { h.c = append(h.c, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	x := h.c[len(h.c)-1]
	h.c = h.c[:len(h.c)-1]
	return x
}

// ComparePoints orders points as segments are sorted: tag values in the
// table's tag order (absent first), then time. (The engine's scan also
// orders by window first; a merge stays within one window.)
func ComparePoints(tagOrder []string) func(a, b *columnar.Point) int {
	return func(a, b *columnar.Point) int {
		for _, k := range tagOrder {
			va, oka := tagValue(a.Tags, k)
			vb, okb := tagValue(b.Tags, k)
			switch {
			case oka != okb:
				if !oka {
					return -1
				}
				return 1
			case oka:
				if c := strings.Compare(va, vb); c != 0 {
					return c
				}
			}
		}
		return cmp.Compare(a.Time, b.Time)
	}
}

func tagValue(tags []columnar.TagValue, k string) (string, bool) {
	for _, t := range tags {
		if t.Key == k {
			return t.Value, true
		}
	}
	return "", false
}

// readErr sorts an input read error: I/O is retried, anything else (a
// missing file the manifest names, an undecodable page) halts.
func readErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return Halt(fmt.Errorf("%w: read %s: %w", ErrCorrupt, path, err))
}

// mergeInto merges inputs (oldest first) into sink in segment order, one
// point per series and time, the newest input's value of each field
// winning.
func mergeInto(ctx context.Context, inputs []string, job Job, sink func(*columnar.Point) error) (err error) {
	less := ComparePoints(job.TagOrder)
	h := &cursorHeap{less: less}
	var all []*cursor
	defer func() {
		for _, c := range all {
			c.rows.Close()
			err = errors.Join(err, c.seg.Close())
		}
	}()
	advance := func(c *cursor) (bool, error) {
		ok, err := c.rows.Next(&c.cur)
		if err != nil {
			return false, readErr(c.path, err)
		}
		return ok, nil
	}
	for i, path := range inputs {
		seg, err := columnar.OpenSegment(path)
		if err != nil {
			return readErr(path, err)
		}
		rr, err := seg.Rows(BatchRows)
		if err != nil {
			return errors.Join(readErr(path, err), seg.Close())
		}
		c := &cursor{path: path, seg: seg, rows: rr, prio: i}
		all = append(all, c)
		ok, err := advance(c)
		if err != nil {
			return err
		}
		if ok {
			h.c = append(h.c, c)
		}
	}
	heap.Init(h)
	var out, prev columnar.Point
	havePrev := false
	var same []*cursor
	for n := 0; h.Len() > 0; n++ {
		if n%BatchRows == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		same = append(same[:0], heap.Pop(h).(*cursor))
		for h.Len() > 0 && less(&h.c[0].cur, &same[0].cur) == 0 {
			same = append(same, heap.Pop(h).(*cursor))
		}
		slices.SortFunc(same, func(a, b *cursor) int { return cmp.Compare(a.prio, b.prio) })
		first := &same[0].cur
		out.Time = first.Time
		out.Tags = append(out.Tags[:0], first.Tags...)
		out.Fields = out.Fields[:0]
		for _, c := range same {
			for _, f := range c.cur.Fields {
				i := slices.IndexFunc(out.Fields, func(g columnar.FieldValue) bool { return g.Key == f.Key })
				if i < 0 {
					out.Fields = append(out.Fields, f)
				} else {
					out.Fields[i] = f // newer input wins
				}
			}
		}
		if havePrev && less(&prev, &out) >= 0 {
			return Haltf("%s.%s: rows out of order after %d merged rows (an input is not sorted by series and time)", job.DB, job.Table, n)
		}
		prev.Time = out.Time
		prev.Tags = append(prev.Tags[:0], out.Tags...)
		havePrev = true
		if out.Time >= job.DropBefore {
			if err := sink(&out); err != nil {
				return err
			}
		}
		for _, c := range same {
			ok, err := advance(c)
			if err != nil {
				return err
			}
			if ok {
				heap.Push(h, c)
			}
		}
	}
	return nil
}
