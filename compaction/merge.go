package compaction

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
	"github.com/siltdb/silt/segment"
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
	if rows > segment.RowGroupRows {
		chunk = size * segment.RowGroupRows / rows
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
	Meta segment.SegmentMeta
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
	// Written, if set, sees every point written to a final output (id as
	// NewOutput gave it), in order, once appended: the caller can derive
	// what it needs of an output while its rows pass, instead of reading
	// the file back. The point's slices are valid only during the call.
	Written func(id uint64, p *columnar.Point)
	// Stamps, if set, makes the outputs keep each point's write stamp
	// (segment.StampColumn): its newest version's. Stamps[i] is what
	// input i's points take where it has no stamp column (a segment
	// written before stamps: its manifest's write_max, or 0, unknown).
	// Within one writer the merge still resolves versions by input order.
	Stamps []int64
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
			w, err := segment.NewStampedSegmentWriter(path, job.DB, job.Table, job.Schema, BatchRows, job.Stamps != nil)
			if err != nil {
				return nil, st, err
			}
			if err := mergeInto(ctx, group, job, func(p *columnar.Point, stamp int64) error { return w.AppendStamped(p, stamp) }); err != nil {
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
	var w *segment.SegmentWriter
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
	err = mergeInto(ctx, inputs, job, func(p *columnar.Point, stamp int64) error {
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
			if w, err = segment.NewStampedSegmentWriter(path, job.DB, job.Table, job.Schema, BatchRows, job.Stamps != nil); err != nil {
				return err
			}
		}
		if err := w.AppendStamped(p, stamp); err != nil {
			return err
		}
		if job.Written != nil {
			job.Written(id, p)
		}
		return nil
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

// readErr sorts an input read error: I/O is retried, anything else (a
// missing file the manifest names, an undecodable page) halts.
func readErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return Halt(fmt.Errorf("%w: read %s: %w", ErrCorrupt, path, err))
}

// rowSource reads one input for the merge.
type rowSource struct {
	rows *segment.RowReader
	p    columnar.Point
	// fallback is the stamp of the input's points where it has no stamp
	// column (Job.Stamps).
	fallback int64
}

// Stamp is merge.Stamped: the point's stamp column, else the input's
// fallback.
func (s *rowSource) Stamp() int64 {
	if st := s.rows.Stamp(); st != 0 {
		return st
	}
	return s.fallback
}

func (s *rowSource) Next() (*columnar.Point, error) {
	ok, err := s.rows.Next(&s.p)
	if !ok {
		return nil, err
	}
	return &s.p, nil
}

// mergeInto merges inputs (oldest first) into sink in segment order, one
// point per series and time, the newest input's value of each field
// winning, with the point's write stamp (the newest of its versions'; 0
// without Job.Stamps).
func mergeInto(ctx context.Context, inputs []string, job Job, sink func(*columnar.Point, int64) error) (err error) {
	var segs []*segment.Segment
	var rows []*segment.RowReader
	defer func() {
		for i, s := range segs {
			rows[i].Close()
			err = errors.Join(err, s.Close())
		}
	}()
	sources := make([]merge.Source, len(inputs))
	for i, path := range inputs {
		seg, err := segment.OpenSegment(path)
		if err != nil {
			return readErr(path, err)
		}
		rr, err := seg.Rows(BatchRows)
		if err != nil {
			return errors.Join(readErr(path, err), seg.Close())
		}
		segs, rows = append(segs, seg), append(rows, rr)
		src := &rowSource{rows: rr}
		if k := slices.Index(job.Inputs, path); k >= 0 && k < len(job.Stamps) {
			src.fallback = job.Stamps[k]
		}
		sources[i] = src
	}
	m := merge.New(job.TagOrder, true, sources...)
	n := 0
	for p := m.Next(); p != nil; p = m.Next() {
		if n%BatchRows == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		n++
		if p.Time >= job.DropBefore {
			if err := sink(p, m.Stamp()); err != nil {
				return err
			}
		}
	}
	var se *merge.SourceError
	switch err := m.Err(); {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return readErr(inputs[se.Source], se.Err)
	case errors.Is(err, merge.ErrOutOfOrder):
		return Haltf("%s.%s: rows out of order after %d merged rows (an input is not sorted by series and time)", job.DB, job.Table, n)
	default:
		return err
	}
}
