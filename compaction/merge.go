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

// Memory model of a merge, which turns Config.MemoryBytes into a fan-in.
// Measured with BenchmarkMerge's heap profiles and peak RSS:
//
//   - the output writer holds about writerBytes live: zstd's history
//     (16 MiB), parquet-go's page buffers (256 KiB per column), one row
//     group of compressed pages and the encoders' scratch;
//   - an input holds, per column, a 64 KiB read buffer and its current
//     decompressed page (flushes write pages of up to 1 MiB; about
//     pageBytes on average), or about three times its row group's
//     compressed size when that is less (small segments), plus one
//     decoded batch of BatchRows rows (about 48 bytes per value with
//     Arrow's builders and the Point). BenchmarkMerge measures ~23 MiB of
//     RSS per 100k-row TSBS input;
//   - Go's collector lets the heap grow to twice the live set (GOGC=100),
//     so the live set may use half of MemoryBytes.
const (
	BatchRows   = 4096
	writerBytes = 48 << 20
	pageBytes   = 512 << 10
	maxFanIn    = 64 // more open files buys little: the heap is log k
)

// Config bounds a merge.
type Config struct {
	MemoryBytes int64 // bound on the merge's share of the process's RSS
	TargetRows  int64 // rows per output segment
}

// inputBytes estimates the live memory of reading one input of ncols
// columns with the given file size and rows.
func inputBytes(ncols int, size, rows int64) int64 {
	chunk := size
	if rows > columnar.RowGroupRows {
		chunk = size * columnar.RowGroupRows / rows
	}
	return min(3*chunk, int64(ncols)*pageBytes) + int64(BatchRows*ncols*48)
}

// FanIn returns how many inputs, each needing per bytes (see inputBytes),
// one pass merges within c.MemoryBytes (at least 2).
func (c Config) FanIn(per int64) int {
	return int(min(max((c.MemoryBytes/2-writerBytes)/max(per, 1), 2), maxFanIn))
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
	InputRows  []int64               // rows of each input, for the memory estimate (optional)
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
	FanIn             int // inputs per pass, from the memory bound
}

// Merge runs job within c's memory bound and returns the outputs. On error
// every file it wrote is removed. ctx cancels between batches.
func Merge(ctx context.Context, c Config, job Job) (outs []Output, st Stats, err error) {
	ncols := 1 + len(job.Schema.Tags) + len(job.Schema.Fields)
	inputs := job.Inputs
	rows := map[string]int64{} // of run files
	fanIn := func(paths []string) int {
		var per int64
		for i, p := range paths {
			var size int64
			if fi, err := os.Stat(p); err == nil {
				size = fi.Size()
			}
			r, ok := rows[p]
			if !ok && i < len(job.InputRows) {
				r = job.InputRows[i]
			}
			per = max(per, inputBytes(ncols, size, r))
		}
		return c.FanIn(per)
	}
	fan := fanIn(inputs)
	st.FanIn = fan
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
		size := fan
		partial := len(inputs) < 2*fan
		if partial {
			// One run of the oldest n-fan+1 inputs leaves exactly fan for
			// the final pass: the newer inputs are read once, not twice.
			size = len(inputs) - fan + 1
		}
		for g := 0; g < len(inputs); g += size {
			group := inputs[g:min(g+size, len(inputs))]
			if partial && g > 0 {
				next = append(next, inputs[g:]...)
				break
			}
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
			m, err := w.Close()
			if err != nil {
				return nil, st, err
			}
			rows[path] = m.Rows
			next = append(next, path)
		}
		st.Passes++
		inputs = next
		fan = fanIn(inputs)
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
	// Outputs split between series, never inside one: their series ranges
	// are then disjoint, so scans read them without merging (and their
	// rollups answer), whatever their times.
	var lastTags []columnar.TagValue
	err = mergeInto(ctx, inputs, job, func(p *columnar.Point) error {
		if w != nil && w.Rows() >= c.TargetRows && !slices.Equal(p.Tags, lastTags) {
			if err := closeOut(); err != nil {
				return err
			}
		}
		if !slices.Equal(p.Tags, lastTags) {
			lastTags = append(lastTags[:0], p.Tags...)
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
	// The current series as tag values in the table's tag order, rebuilt
	// only when the tags change (rows come sorted by series, and the
	// reader hands out the same strings while a series lasts).
	key      []string
	has      []bool
	lastTags []columnar.TagValue
}

// rekey updates c.key after c.cur changed.
func (c *cursor) rekey(tagOrder []string) {
	if len(c.lastTags) == len(c.cur.Tags) && c.key != nil {
		same := true
		for i, t := range c.cur.Tags {
			if t != c.lastTags[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	c.lastTags = append(c.lastTags[:0], c.cur.Tags...)
	if c.key == nil {
		c.key, c.has = make([]string, len(tagOrder)), make([]bool, len(tagOrder))
	}
	for i, k := range tagOrder {
		c.key[i], c.has[i] = tagValue(c.cur.Tags, k)
	}
}

// compareKeys orders (series key, time) as segments are sorted: tag values
// in the table's tag order (absent first), then time. (The engine's scan
// also orders by window first; a merge stays within one window.)
func compareKeys(ak []string, ah []bool, at int64, bk []string, bh []bool, bt int64) int {
	for i := range ak {
		switch {
		case ah[i] != bh[i]:
			if !ah[i] {
				return -1
			}
			return 1
		case ah[i]:
			if c := strings.Compare(ak[i], bk[i]); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(at, bt)
}

func compareCursors(a, b *cursor) int {
	return compareKeys(a.key, a.has, a.cur.Time, b.key, b.has, b.cur.Time)
}

type cursorHeap struct{ c []*cursor }

func (h *cursorHeap) Len() int { return len(h.c) }
func (h *cursorHeap) Less(i, j int) bool {
	if c := compareCursors(h.c[i], h.c[j]); c != 0 {
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
	h := &cursorHeap{}
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
		if ok {
			c.rekey(job.TagOrder)
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
	var out columnar.Point
	var prevKey []string
	var prevHas []bool
	var prevTime int64
	havePrev := false
	var same []*cursor
	for n := 0; h.Len() > 0; n++ {
		if n%BatchRows == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		same = append(same[:0], heap.Pop(h).(*cursor))
		for h.Len() > 0 && compareCursors(h.c[0], same[0]) == 0 {
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
		k := same[0]
		if havePrev && compareKeys(prevKey, prevHas, prevTime, k.key, k.has, k.cur.Time) >= 0 {
			return Haltf("%s.%s: rows out of order after %d merged rows (an input is not sorted by series and time)", job.DB, job.Table, n)
		}
		prevKey = append(prevKey[:0], k.key...)
		prevHas = append(prevHas[:0], k.has...)
		prevTime = k.cur.Time
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
