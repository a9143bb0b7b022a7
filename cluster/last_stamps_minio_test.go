package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// lastFields are the fields of the last-value test's writes; a write
// carries one or both, so a point's fields may come from different
// writers' copies.
var lastFields = []string{"usage", "idle"}

// pointFields is the model of a point: per field, its last written value.
type pointFields map[lwwKey]map[string]float64

// lastCell is a series' last value of a field: its time and value.
type lastCell struct {
	t int64
	v float64
}

// lastAnswer is last() per host and field.
type lastAnswer map[string]map[string]lastCell

func (a lastAnswer) set(host, field string, c lastCell) error {
	if a[host] == nil {
		a[host] = map[string]lastCell{}
	}
	if old, dup := a[host][field]; dup {
		return fmt.Errorf("%s.%s answered twice (%v and %v)", host, field, old, c)
	}
	a[host][field] = c
	return nil
}

// fold keeps, of a host's field, the value at the largest time.
func (a lastAnswer) fold(host, field string, c lastCell) {
	if a[host] == nil {
		a[host] = map[string]lastCell{}
	}
	if old, ok := a[host][field]; !ok || c.t > old.t {
		a[host][field] = c
	}
}

// last is the model's answer over [minT, maxT): per host and field, the
// value at the largest time that field has, as the writes left it.
func (m pointFields) last(minT, maxT int64) lastAnswer {
	out := lastAnswer{}
	for k, fs := range m {
		if k.t < minT || k.t >= maxT {
			continue
		}
		for f, v := range fs {
			out.fold(k.host, f, lastCell{k.t, v})
		}
	}
	return out
}

// diffLast returns the cells where got and want differ, at most a few
// described, and how many.
func diffLast(got, want lastAnswer) (int, []string) {
	n := 0
	var say []string
	hosts := map[string]bool{}
	for h := range got {
		hosts[h] = true
	}
	for h := range want {
		hosts[h] = true
	}
	for h := range hosts {
		for _, f := range lastFields {
			g, gok := got[h][f]
			w, wok := want[h][f]
			if gok == wok && g == w {
				continue
			}
			n++
			if len(say) < 5 {
				say = append(say, fmt.Sprintf("%s.%s: got %v (present %v), model %v (present %v)", h, f, g, gok, w, wok))
			}
		}
	}
	slices.Sort(say)
	return n, say
}

func sameLast(t *testing.T, what string, got, want lastAnswer) {
	t.Helper()
	if n, say := diffLast(got, want); n > 0 {
		t.Fatalf("%s: %d of the last values differ from the model:\n%s", what, n, strings.Join(say, "\n"))
	}
}

// lastSpy is the engine's source for SQL that records whether each scan
// was a last-value one (ScanSpec.LastOnly: engine runLast).
type lastSpy struct {
	exec.EngineSource
	lastOnly []bool
}

func (s *lastSpy) ScanBatches(ctx context.Context, spec exec.ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	s.lastOnly = append(s.lastOnly, spec.LastOnly)
	return s.EngineSource.ScanBatches(ctx, spec, stats, fn)
}

// localRows is what a writer's internal API does for a query node's
// fetch (cmd/silt: cluster.RowsPath with stamps): its rows outside the
// bucket in [minT, maxT), merged, each with its write stamp, as an Arrow
// stream, read back as the query node's head.
func localRows(w *engine.Engine, db, table string, minT, maxT int64, schema *columnar.TableSchema) (*segment.Head, error) {
	ts, err := w.OpenLocalScan(db, table, minT, maxT)
	if err != nil {
		return nil, err
	}
	defer ts.Close()
	tables, _ := w.Tables(db)
	s := tables[table]
	if s == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	rw := NewStampedRowWriter(&buf, s.Tags, s.Fields, true)
	err = ts.RunStamped(func(p *columnar.Point, st int64) error {
		if p.Time < minT || (p.Time >= maxT && maxT != math.MaxInt64) {
			return nil
		}
		return rw.AddStamped(p, st)
	})
	if err = errors.Join(err, rw.Close()); err != nil {
		return nil, err
	}
	return ReadHead(&buf, table, schema)
}

// Two writers over a real MinIO write the same hosts' points in turns,
// each turn a random half of the points and, of each, one field or both
// (so a point's two fields may come from different writers); some turns
// end in the bucket (flushed, tiered, then both writers merge their
// window, so the two segments' write ranges interleave), some in the
// writers' local segments, the last ones in their heads. After each stage
// the query node's last() of each host's fields — the last-value scan
// (engine runLast, from per-segment summaries and the heads' latest
// rows) — must equal a model of the writes applied in write order (one
// host clock: the order of the write stamps; writes of whole rows, last,
// partial rows, compared with the full scan only), for the whole time range
// and one ending before the newest points (segments read past it), and
// the same node's full scan (the stamp merge) must give the same. With
// the union's order of sources instead of stamps some last values are
// older writes: the case proves something.
func TestLastValueAcrossWritersStampsMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	const root = "laststamps"
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	openWriter := func(id string) *engine.Engine {
		e, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
			Compaction: engine.CompactionConfig{Interval: time.Hour},
			Tiering:    engine.TierConfig{Tier: minioTier(t, srv, WriterPrefix(root, id)), After: time.Hour, Interval: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	w1, w2 := openWriter("w1"), openWriter("w2")
	writers := []*engine.Engine{w1, w2}

	const hosts, points = 40, 6
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	at := func(k int) int64 { return day + int64(k)*int64(time.Minute) }
	rng := rand.New(rand.NewPCG(21, 5))
	model := pointFields{}
	// round writes on w a random half of the points (all in round 1)
	// with k < upto, with both fields or, if partial, some with one.
	round := func(r int, w *engine.Engine, upto int, partial bool) {
		t.Helper()
		var body []byte
		for h := range hosts {
			for k := range upto {
				if r > 1 && rng.IntN(2) == 0 {
					continue
				}
				key := lwwKey{fmt.Sprintf("h%d", h), at(k)}
				if model[key] == nil {
					model[key] = map[string]float64{}
				}
				var fs []string
				skip := -1 // the field not written this time, if any
				if partial {
					skip = rng.IntN(3)
				}
				for i, f := range lastFields {
					if i == skip {
						continue // this field not written this time
					}
					v := float64(r*1_000_000 + h*1000 + k*10 + i)
					fs = append(fs, fmt.Sprintf("%s=%v", f, v))
					model[key][f] = v
				}
				body = fmt.Appendf(body, "cpu,host=%s %s %d\n", key.host, strings.Join(fs, ","), key.t)
			}
		}
		var b columnar.Batch
		var lerr []columnar.LineError
		lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { lerr = append(lerr, e) })
		if len(lerr) > 0 {
			t.Fatalf("line protocol: %v", lerr[0])
		}
		if res, err := w.Write("db", &b); err != nil || len(res.Rejected) > 0 {
			t.Fatalf("write: %v %v", err, res.Rejected)
		}
	}
	flush := func(w *engine.Engine, tier bool) {
		t.Helper()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if tier {
			if _, err := w.TierNow(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Stage 1: four turns in the bucket, then each writer merges its
	// window: the two segments' write ranges interleave.
	for r := 1; r <= 4; r++ {
		w := writers[(r-1)%2]
		round(r, w, points, false)
		flush(w, true)
	}
	for _, w := range writers {
		if err := w.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		flush(w, true)
	}

	var q *engine.Engine
	qt := minioTier(t, srv, root)
	union := NewUnion(qt.S3, quiet)
	// The query node's fetch of the writers' rows outside the bucket, in
	// slot order, then the manifests reloaded (engine.TierConfig.Overlay).
	overlay := func(ctx context.Context, db, table string, minT, maxT int64, s *columnar.TableSchema) ([]*segment.Head, []string, error) {
		var hs []*segment.Head
		for _, w := range writers {
			h, err := localRows(w, db, table, minT, maxT, s.Clone())
			if err != nil {
				return nil, nil, err
			}
			if h != nil && h.Len() > 0 {
				hs = append(hs, h)
			}
		}
		return hs, nil, q.ReloadBucketManifest(ctx)
	}
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load, Overlay: overlay}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.ReloadBucketManifest(ctx); err != nil {
		t.Fatal(err)
	}

	// The engine's last-value scan and full scan over [minT, maxT).
	scanLast := func(minT, maxT int64) lastAnswer {
		t.Helper()
		ts, err := q.OpenScanContext(ctx, "db", "cpu", minT, maxT, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		ts.Columns = append([]string{"host"}, lastFields...)
		ts.LastOnly = true
		got := lastAnswer{}
		err = ts.RunBatches(ctx, func(b *columnar.ColumnBatch) error {
			rows := b.Sel
			if rows == nil {
				for r := range int32(b.Len) {
					rows = append(rows, r)
				}
			}
			for _, r := range rows {
				host := b.Tags[0].Dict[b.Tags[0].IDs[r]]
				for j := range b.Fields {
					fv := &b.Fields[j]
					if !fv.IsNull(int(r)) {
						if err := got.set(host, fv.Name, lastCell{b.Time[r], fv.F[r]}); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	scanFull := func(minT, maxT int64) lastAnswer {
		t.Helper()
		ts, err := q.OpenScanContext(ctx, "db", "cpu", minT, maxT, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		got := lastAnswer{}
		err = ts.Run(func(p *columnar.Point) error {
			if p.Time < minT || p.Time >= maxT {
				return nil
			}
			for _, f := range p.Fields {
				got.fold(p.Tags[0].Value, f.Key, lastCell{p.Time, math.Float64frombits(f.Num)})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// SQL: last() per host (a last-value scan), the latest rows per
	// series (InfluxQL's newest points, exec.WithLatestRows: a last-value
	// scan) and every raw row (not one), each checked to take the path it
	// is meant to.
	runSQL := func(ctx context.Context, text string, wantLast bool) [][]any {
		t.Helper()
		tables, _ := q.Tables("db")
		cat, names := exec.Catalog(tables)
		cq, err := sql.Compile(text, cat, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		spy := &lastSpy{EngineSource: exec.EngineSource{Engine: q, DB: "db"}}
		res, err := exec.Run(ctx, cq, spy, names)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if len(spy.lastOnly) == 0 || slices.Contains(spy.lastOnly, !wantLast) {
			t.Fatalf("%s: scans' last-value flags %v, want all %v", text, spy.lastOnly, wantLast)
		}
		return res.Rows
	}
	where := func(maxT int64) string {
		if maxT == math.MaxInt64 {
			return ""
		}
		return fmt.Sprintf(" WHERE time < %d", maxT)
	}
	sqlLast := func(maxT int64, times lastAnswer) lastAnswer {
		t.Helper()
		got := lastAnswer{}
		rows := runSQL(ctx, "SELECT host, last(usage, time), last(idle, time) FROM cpu"+where(maxT)+" GROUP BY host", true)
		for _, r := range rows {
			for i, f := range lastFields {
				if v, ok := r[1+i].(float64); ok {
					// last() gives no time: the expected one is taken.
					if err := got.set(r[0].(string), f, lastCell{times[r[0].(string)][f].t, v}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return got
	}
	sqlRows := func(ctx context.Context, maxT int64, wantLast bool) lastAnswer {
		t.Helper()
		w := where(maxT)
		if wantLast {
			w = " WHERE (usage IS NOT NULL OR idle IS NOT NULL)"
			if maxT != math.MaxInt64 {
				w += fmt.Sprintf(" AND time < %d", maxT)
			}
		}
		got := lastAnswer{}
		for _, r := range runSQL(ctx, "SELECT host, time, usage, idle FROM cpu"+w, wantLast) {
			for i, f := range lastFields {
				if v, ok := r[2+i].(float64); ok {
					got.fold(r[0].(string), f, lastCell{r[1].(time.Time).UnixNano(), v})
				}
			}
		}
		return got
	}

	differ := 0 // last values the union's order of sources gets wrong
	// check compares the last values with the model (exact: every write
	// so far carried whole rows) and with the full scan, or (exact false)
	// with the full scan only.
	check := func(stage string, exact bool) {
		t.Helper()
		for _, maxT := range []int64{math.MaxInt64, at(points - 1)} {
			what := fmt.Sprintf("%s, time < %d", stage, maxT)
			want := model.last(math.MinInt64, maxT)
			full := scanFull(math.MinInt64, maxT)
			if exact {
				sameLast(t, what+": full scan", full, want)
			} else {
				want = full
			}
			sameLast(t, what+": SQL raw rows", sqlRows(ctx, maxT, false), want)
			sameLast(t, what+": last-value scan", scanLast(math.MinInt64, maxT), want)
			sameLast(t, what+": SQL last()", sqlLast(maxT, want), want)
			sameLast(t, what+": SQL latest rows", sqlRows(exec.WithLatestRows(ctx), maxT, true), want)

			engine.StampMergeOff = true
			n, _ := diffLast(scanLast(math.MinInt64, maxT), want)
			engine.StampMergeOff = false
			t.Logf("%s: %d of the last values would be older writes in the union's order", what, n)
			differ += n
		}
	}
	defer func() { engine.StampMergeOff = false }()
	check("bucket segments, windows merged", true)

	// Stage 2: two turns in the writers' local segments (not tiered),
	// the first adding a newer point to some hosts.
	round(5, w2, points+1, false)
	flush(w2, false)
	round(6, w1, points+1, false)
	flush(w1, false)
	check("local segments", true)

	// Stage 3: two turns left in the writers' heads.
	round(7, w2, points+1, false)
	round(8, w1, points+1, false)
	check("heads", true)

	// Stage 4: two more turns in the heads, some writes with one field.
	// A point's copies carry one stamp each (its newest write's), so a
	// field one copy lacks comes from an older copy even where a newer
	// write of it sits in a copy with an older point stamp: the full scan
	// answers that, not the per-field model, and last() must answer as
	// the full scan does.
	round(9, w2, points+1, true)
	round(10, w1, points+1, true)
	check("heads, partial rows", false)

	if differ == 0 {
		t.Fatal("the union's order of sources answers as the stamps do: the case proves nothing")
	}
}
