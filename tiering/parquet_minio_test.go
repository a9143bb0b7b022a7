package tiering

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// writeTestSegment writes a real Silt segment (columnar's writer): 8 hosts
// × points at 1 s steps in one day window, six float fields of noise (so
// they do not compress away), more rows than one row group holds.
func writeTestSegment(t testing.TB, dir string, rows int) string {
	t.Helper()
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq"}
	r := rand.New(rand.NewPCG(7, 7))
	b := &columnar.Batch{}
	for i := range rows {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "host_%d", i%8))
		b.AddTag([]byte("region"), fmt.Appendf(nil, "r%d", i%3))
		for _, f := range fields {
			b.AddFloat([]byte(f), r.Float64()*100)
		}
		b.EndRow(int64(i/8) * 1e9)
	}
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	for i := range b.Rows {
		if err := s.Admit(b, &b.Rows[i]); err != nil {
			t.Fatal(err)
		}
		h.Append(b, &b.Rows[i], false)
	}
	var id uint64
	metas, err := segment.WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 {
		t.Fatalf("%d segments, want one window", len(metas))
	}
	return filepath.Join(dir, filepath.FromSlash(metas[0].Path))
}

// rangeLog records the ranges of GETs.
type rangeLog struct {
	ObjectStore
	mu     sync.Mutex
	ranges [][2]int64
}

func (l *rangeLog) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	l.mu.Lock()
	l.ranges = append(l.ranges, [2]int64{off, n})
	l.mu.Unlock()
	return l.ObjectStore.GetRange(ctx, key, off, n)
}

func (l *rangeLog) take() [][2]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.ranges
	l.ranges = nil
	return r
}

// readColumn reads one column of every row group with arrow-go, as
// columnar's segment reader does.
func readColumn(t testing.TB, rdr *file.Reader, name string) []float64 {
	t.Helper()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	ci := rdr.MetaData().Schema.ColumnIndexByName(name)
	if ci < 0 {
		t.Fatalf("no column %s", name)
	}
	rr, err := fr.GetRecordReader(context.Background(), []int{ci}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var out []float64
	for rr.Next() {
		col := rr.RecordBatch().Column(0).(*array.Float64)
		for i := range col.Len() {
			out = append(out, col.Value(i))
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// chunkRanges returns the byte ranges of a column's chunks, as arrow-go
// computes them to read a chunk.
func chunkRanges(t testing.TB, rdr *file.Reader, name string) [][2]int64 {
	t.Helper()
	ci := rdr.MetaData().Schema.ColumnIndexByName(name)
	var out [][2]int64
	for g := range rdr.NumRowGroups() {
		cc, err := rdr.MetaData().RowGroup(g).ColumnChunk(ci)
		if err != nil {
			t.Fatal(err)
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && start > cc.DictionaryPageOffset() {
			start = cc.DictionaryPageOffset()
		}
		out = append(out, [2]int64{start, start + cc.TotalCompressedSize()})
	}
	return out
}

// within reports whether [off,off+n) lies inside one of the ranges, each
// widened to block boundaries (bs > 0).
func within(off, n int64, ranges [][2]int64, bs int64) bool {
	for _, r := range ranges {
		lo, hi := r[0], r[1]
		if bs > 0 {
			lo, hi = lo/bs*bs, (hi+bs-1)/bs*bs
		}
		if off >= lo && off+n <= hi {
			return true
		}
	}
	return false
}

// TestColdSegmentReadMinIO uploads a real Silt segment to MinIO, opens it
// with arrow-go's Parquet reader over a RemoteFile and reads one column: the
// values equal the local file's, and the only GETs are one for the footer
// and ones inside that column's chunks.
func TestColdSegmentReadMinIO(t *testing.T) {
	s3, _ := newMinIOStore(t, "silt")
	dir := t.TempDir()
	path := writeTestSegment(t, dir, 300_000)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()

	// Tier it: data, then a manifest naming it.
	ctx := context.Background()
	key := "db/cpu/1970-01-01/00000000000000000001.parquet"
	u := &Uploader{Store: s3, Retry: fastRetry}
	manifest, _ := json.Marshal(map[string]any{"segments": []string{key}})
	tr, err := u.Tier(ctx, "db/manifest.json", manifest, Upload{Path: path, Key: key})
	if err != nil || !tr.Complete() || len(tr.Deletable()) != 1 || tr.Deletable()[0] != path {
		t.Fatalf("tier: %v, result %+v", err, tr)
	}

	// The oracle: the same column read from the local file.
	lf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	local, err := file.NewParquetReader(lf)
	if err != nil {
		t.Fatal(err)
	}
	want := readColumn(t, local, "usage_idle")
	if len(want) != 300_000 || local.NumRowGroups() < 2 {
		t.Fatalf("local segment: %d values in %d row groups", len(want), local.NumRowGroups())
	}
	chunks := chunkRanges(t, local, "usage_idle")
	var chunkBytes int64
	for _, c := range chunks {
		chunkBytes += c[1] - c[0]
	}

	log := &rangeLog{ObjectStore: s3}
	f := func(name string, cache *BlockCache, footers *FooterCache, wantOpenGETs int) (fetched int64) {
		t.Helper()
		rf, err := OpenRemote(ctx, log, key, RemoteOptions{Cache: cache, Footers: footers})
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := file.NewParquetReader(rf)
		if err != nil {
			t.Fatalf("%s: open parquet over RemoteFile: %v", name, err)
		}
		// The segment's own metadata is in the footer.
		raw := rdr.MetaData().KeyValueMetadata().FindValue(segment.MetaKeyInfo)
		var info segment.SegmentInfo
		if raw == nil || json.Unmarshal([]byte(*raw), &info) != nil || info.Rows != 300_000 {
			t.Fatalf("%s: segment info from the remote footer: %v", name, raw)
		}
		// So is its tag index: pruning by tag needs no GET beyond the footer.
		rawIdx := rdr.MetaData().KeyValueMetadata().FindValue(segment.MetaKeyIndex)
		if rawIdx == nil {
			t.Fatalf("%s: no tag index in the remote footer", name)
		}
		idx, err := segment.DecodeTagIndex(*rawIdx)
		if err != nil || len(idx["host"]) != 8 || idx["host"]["host_3"].GetCardinality() != 300_000/8 {
			t.Fatalf("%s: tag index from the remote footer: %v", name, err)
		}
		opened := log.take()
		if len(opened) != wantOpenGETs {
			t.Fatalf("%s: open made %d GETs %v, want %d", name, len(opened), opened, wantOpenGETs)
		}
		for _, r := range opened {
			fetched += r[1]
			if r[0]+r[1] != size {
				t.Fatalf("%s: open GET %v is not the file's tail", name, r)
			}
		}
		got := readColumn(t, rdr, "usage_idle")
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s: value %d is %v, want %v", name, i, got[i], want[i])
			}
		}
		var bs int64
		if cache != nil {
			bs = cache.BlockSize()
		}
		for _, r := range log.take() {
			fetched += r[1]
			if !within(r[0], r[1], chunks, bs) {
				t.Fatalf("%s: GET [%d,+%d) is outside the column's chunks %v", name, r[0], r[1], chunks)
			}
		}
		t.Logf("%s: file %d bytes, column chunks %d bytes, fetched %d bytes (%.1f%% of the file)",
			name, size, chunkBytes, fetched, 100*float64(fetched)/float64(size))
		return fetched
	}
	fetched := f("no cache", nil, nil, 1)
	if fetched > chunkBytes+DefaultTailBytes {
		t.Fatalf("fetched %d bytes for %d bytes of column and a %d-byte tail", fetched, chunkBytes, DefaultTailBytes)
	}
	if fetched > size/3 {
		t.Fatalf("fetched %d of %d bytes: not selective", fetched, size)
	}
	cache, err := OpenBlockCache(t.TempDir(), 64<<20, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	footers := NewFooterCache(8 << 20)
	first := f("block cache, first read", cache, footers, 1)
	if first > size/2 {
		t.Fatalf("first cached read fetched %d of %d bytes", first, size)
	}
	if again := f("block cache, second read", cache, footers, 0); again != 0 {
		t.Fatalf("second read fetched %d bytes, want everything from the caches", again)
	}
}

// TestColdSegmentAllColumnsMinIO reads every column of a segment with all
// field types (float, int, string, bool, with nulls) and two windows from
// MinIO through a small cache, and compares the whole table with the same
// read of the local files.
func TestColdSegmentAllColumnsMinIO(t *testing.T) {
	s3, _ := newMinIOStore(t, "p")
	dir := t.TempDir()
	b := &columnar.Batch{}
	day := int64(segment.WindowDuration)
	for i := range 50_000 {
		b.StartRow([]byte("mixed"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%13))
		if i%3 == 0 {
			b.AddTag([]byte("dc"), []byte("eu"))
		}
		b.AddFloat([]byte("f"), float64(i)/7)
		if i%5 == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i)))
			b.AddString([]byte("s"), fmt.Appendf(nil, "message %d", i))
			b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
		}
		b.EndRow(int64(i%20_000)*1e9 + int64(i%2)*day)
	}
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	for i := range b.Rows {
		if err := s.Admit(b, &b.Rows[i]); err != nil {
			t.Fatal(err)
		}
		h.Append(b, &b.Rows[i], false)
	}
	var id uint64
	metas, err := segment.WriteSegments(dir, "db", "mixed", h, func() uint64 { id++; return id })
	if err != nil || len(metas) != 2 {
		t.Fatalf("%d segments, %v", len(metas), err)
	}
	var ups []Upload
	for _, m := range metas {
		ups = append(ups, Upload{Path: filepath.Join(dir, filepath.FromSlash(m.Path)), Key: m.Path})
	}
	ctx := context.Background()
	if res, err := (&Uploader{Store: s3, Retry: fastRetry}).Tier(ctx, "manifest.json", []byte("{}"), ups...); err != nil || !res.Complete() {
		t.Fatalf("tier: %v", err)
	}
	cache, err := OpenBlockCache(t.TempDir(), 48<<10, 8<<10) // smaller than one segment
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range ups {
		lf, err := os.Open(up.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		want := readTable(t, lf)
		rf, err := OpenRemote(ctx, s3, up.Key, RemoteOptions{Cache: cache, TailBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		got := readTable(t, rf)
		if got.NumRows() != want.NumRows() || got.NumRows() == 0 || got.NumCols() != 7 {
			t.Fatalf("%s: %d rows × %d columns, want %d rows", up.Key, got.NumRows(), got.NumCols(), want.NumRows())
		}
		for c := range int(want.NumCols()) {
			wc, gc := want.Column(c).Data(), got.Column(c).Data()
			if len(wc.Chunks()) != len(gc.Chunks()) {
				t.Fatalf("%s column %s: %d chunks, want %d", up.Key, want.Schema().Field(c).Name, len(gc.Chunks()), len(wc.Chunks()))
			}
			for k := range wc.Chunks() {
				if !array.Equal(wc.Chunk(k), gc.Chunk(k)) {
					t.Fatalf("%s column %s differs", up.Key, want.Schema().Field(c).Name)
				}
			}
		}
		want.Release()
		got.Release()
	}
	if st := cache.Stats(); st.Evictions == 0 || st.Bytes > 48<<10 {
		t.Fatalf("cache %+v: want evictions within the bound", st)
	}
}

func readTable(t *testing.T, r parquet.ReaderAtSeeker) arrow.Table {
	t.Helper()
	rdr, err := file.NewParquetReader(r)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}
