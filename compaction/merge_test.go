package compaction_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/segment"
)

func writeSeg(t *testing.T, path string, s *columnar.TableSchema, pts []columnar.Point) {
	t.Helper()
	w, err := segment.NewSegmentWriter(path, "db", "m", s, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pts {
		if err := w.Append(&pts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func pt(host string, tm int64, v float64) columnar.Point {
	return columnar.Point{Time: tm, Tags: []columnar.TagValue{{Key: "host", Value: host}},
		Fields: []columnar.FieldValue{{Key: "v", Type: columnar.FieldFloat, Num: math.Float64bits(v)}}}
}

func job(dir string, s *columnar.TableSchema, inputs ...string) compaction.Job {
	id := uint64(100)
	return compaction.Job{DB: "db", Table: "m", Inputs: inputs, TagOrder: s.Tags, Schema: s, DropBefore: math.MinInt64,
		NewOutput: func() (uint64, string) { id++; return id, filepath.Join(dir, "out", "o.parquet") },
		RunPath:   func(k int) string { return filepath.Join(dir, "run.tmp") }}
}

// The newer input's value wins; the output reads back in order.
func TestMergeNewerWins(t *testing.T) {
	dir := t.TempDir()
	s := columnar.NewTableSchema()
	s.AddTag("host")
	s.AddField("v", columnar.FieldFloat)
	a, b := filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")
	writeSeg(t, a, s, []columnar.Point{pt("h1", 1, 1), pt("h1", 2, 1), pt("h2", 1, 1)})
	writeSeg(t, b, s, []columnar.Point{pt("h1", 2, 2), pt("h3", 0, 2)})
	outs, st, err := compaction.Merge(context.Background(), compaction.Config{MemoryBytes: 1 << 30, TargetRows: 1 << 20}, job(dir, s, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || st.RowsOut != 4 {
		t.Fatalf("outputs %v, %d rows; want 1 output of 4 rows", outs, st.RowsOut)
	}
	seg, err := segment.OpenSegment(outs[0].Meta.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var got []string
	if err := seg.Scan(func(p *columnar.Point) error {
		got = append(got, p.Tags[0].Value+"@"+string(rune('0'+p.Time))+"="+string(rune('0'+int(math.Float64frombits(p.Fields[0].Num)))))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"h1@1=1", "h1@2=2", "h2@1=1", "h3@0=2"}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if seg.Index["host"]["h2"].GetCardinality() != 1 || !seg.Index["host"]["h2"].Contains(2) {
		t.Fatalf("tag index of h2: %v, want row 2", seg.Index["host"]["h2"])
	}
}

// An unsorted input halts; a missing input halts; nothing is left behind.
func TestMergeHalts(t *testing.T) {
	dir := t.TempDir()
	s := columnar.NewTableSchema()
	s.AddTag("host")
	s.AddField("v", columnar.FieldFloat)
	bad := filepath.Join(dir, "bad.parquet")
	writeSeg(t, bad, s, []columnar.Point{pt("h2", 1, 1), pt("h1", 1, 1)})
	_, _, err := compaction.Merge(context.Background(), compaction.Config{MemoryBytes: 1 << 30, TargetRows: 1 << 20}, job(dir, s, bad))
	if !compaction.IsHalt(err) || !errors.Is(err, compaction.ErrCorrupt) {
		t.Fatalf("unsorted input: %v, want a halt", err)
	}
	_, _, err = compaction.Merge(context.Background(), compaction.Config{MemoryBytes: 1 << 30, TargetRows: 1 << 20}, job(dir, s, filepath.Join(dir, "gone.parquet")))
	if !compaction.IsHalt(err) {
		t.Fatalf("missing input: %v, want a halt", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "out", "*")); len(m) != 0 {
		t.Fatalf("left behind: %v", m)
	}
}
