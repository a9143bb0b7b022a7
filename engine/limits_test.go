package engine

import (
	"fmt"
	"github.com/siltdb/silt/ingest/sink"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// wideRow appends a row of table with nTags tags and nFields fields to b.
func wideRow(b *columnar.Batch, table string, line, nTags, nFields int, t int64) {
	b.StartRow([]byte(table), line)
	for i := range nTags {
		b.AddTag([]byte(fmt.Sprintf("t%05d", i)), []byte("x"))
	}
	for i := range nFields {
		b.AddFloat([]byte(fmt.Sprintf("f%05d", i)), float64(i))
	}
	b.EndRow(t)
}

func codesOf(res sink.WriteResult) map[int]string {
	m := map[int]string{}
	for _, r := range res.Rejected {
		m[r.Line] = r.Code
	}
	return m
}

func TestLimitsRejectWideLinesBeforeTheWAL(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Limits = Limits{MaxTagsPerLine: 4, MaxFieldsPerLine: 5, MaxColumnsPerTable: 8}
	e := open(t, cfg)
	var b columnar.Batch
	wideRow(&b, "m", 1, 4, 2, 1) // 6 columns: admitted
	wideRow(&b, "m", 2, 5, 1, 2) // 5 tags: too many
	wideRow(&b, "m", 3, 0, 6, 3) // 6 fields: too many
	wideRow(&b, "m", 4, 4, 5, 4) // 3 new fields: 9 columns, above 8
	wideRow(&b, "m", 5, 4, 4, 5) // 2 new fields: exactly 8
	wideRow(&b, "n", 6, 0, 5, 6) // another table counts its own columns
	wideRow(&b, "m", 7, 1, 4, 7) // existing columns only
	walBefore := e.wal.Size()
	res, err := e.Write("db", &b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{2: CodeTooManyTags, 3: CodeTooManyFields, 4: CodeTooManyColumns}
	if got := codesOf(res); fmt.Sprint(got) != fmt.Sprint(want) || res.Written != 4 {
		t.Fatalf("rejected %v written %d, want %v and 4", got, res.Written, want)
	}
	for _, r := range res.Rejected {
		if r.Reason == "" {
			t.Errorf("line %d: no reason", r.Line)
		}
	}
	tables, _ := e.Tables("db")
	if s := tables["m"]; len(s.Tags)+len(s.Fields) != 8 {
		t.Fatalf("table m has %d tags and %d fields, want 8 columns", len(s.Tags), len(s.Fields))
	}

	// A write of rejected rows only writes nothing to the WAL and creates
	// no table.
	walAfter := e.wal.Size()
	b.Reset()
	wideRow(&b, "wide", 1, 300, 1, 1)
	if res, err := e.Write("db", &b); err != nil || res.Written != 0 || len(res.Rejected) != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
	if e.wal.Size() != walAfter || walAfter <= walBefore {
		t.Fatalf("wal size %d → %d → %d: the rejected write reached the WAL", walBefore, walAfter, e.wal.Size())
	}
	if tables, _ := e.Tables("db"); tables["wide"] != nil {
		t.Fatal("a table of rejected rows only was created")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitNewSeriesPerWrite(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.MaxNewSeriesPerWrite = 3
	e := open(t, cfg)
	defer e.Close()
	// Five new series, the first three admitted with all their rows.
	var pts []point
	for i, h := range []string{"a", "b", "a", "c", "d", "e", "d", "c"} {
		pts = append(pts, point{"cpu", h, int64(i), 1})
	}
	res := write(t, e, "db", pts...)
	want := map[int]string{5: CodeTooManyNewSeries, 6: CodeTooManyNewSeries, 7: CodeTooManyNewSeries}
	if got := codesOf(res); fmt.Sprint(got) != fmt.Sprint(want) || res.Written != 5 {
		t.Fatalf("rejected %v written %d, want %v and 5", got, res.Written, want)
	}
	// Series the head holds are not new: a large write of them passes, and
	// it may add up to three more.
	pts = pts[:0]
	for i, h := range []string{"a", "b", "c", "a", "b", "c", "x", "y", "z"} {
		pts = append(pts, point{"cpu", h, int64(100 + i), 2})
	}
	if res := write(t, e, "db", pts...); res.Written != len(pts) {
		t.Fatalf("second write: %+v", res)
	}
	// A write no larger than the limit is never counted.
	if res := write(t, e, "db", point{"cpu", "p", 1, 1}, point{"cpu", "q", 1, 1}, point{"mem", "r", 1, 1}); res.Written != 3 {
		t.Fatalf("small write: %+v", res)
	}
}

func TestReplayIgnoresLimits(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Limits = Limits{MaxTagsPerLine: 500, MaxColumnsPerTable: 600}
	e := open(t, cfg)
	var b columnar.Batch
	wideRow(&b, "m", 1, 400, 1, 1)
	if res, err := e.Write("db", &b); err != nil || res.Written != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	// Lower limits do not drop acknowledged rows at replay.
	e = open(t, testConfig(dir))
	defer e.Close()
	if n := e.headRows.Load(); n != 1 {
		t.Fatalf("replayed %d rows, want 1", n)
	}
}

// A write encodes its WAL record before taking the engine lock, for every
// row; when admission rejects some, the record must be encoded again with
// the admitted rows only: replay (which ignores the limits) would
// otherwise bring the rejected rows back.
func TestRejectedRowsNotReplayed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Limits.MaxNewSeriesPerWrite = 3
	e := open(t, cfg)
	var pts []point
	for i, h := range []string{"a", "b", "a", "c", "d", "e", "d", "c"} {
		pts = append(pts, point{"cpu", h, int64(i), 1})
	}
	if res := write(t, e, "db", pts...); res.Written != 5 || len(res.Rejected) != 3 {
		t.Fatalf("rejected %v written %d, want 3 and 5", codesOf(res), res.Written)
	}
	// A write whose rows are all admitted: its record is the one encoded
	// before the lock.
	if res := write(t, e, "db", point{"cpu", "a", 100, 2}, point{"cpu", "b", 100, 2}); res.Written != 2 {
		t.Fatalf("second write: %+v", res)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	if n := e.headRows.Load(); n != 7 {
		t.Fatalf("replayed %d rows, want the 7 admitted", n)
	}
}
