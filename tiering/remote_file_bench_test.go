package tiering

import (
	"context"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkColumnRead reads one of a segment's six float columns (300k
// rows, 14 MB file) with arrow-go: from the local file, from MinIO on the
// loopback with no cache (every open and read goes to the bucket), and from
// MinIO through warm footer and block caches. fetched-B/op is what came
// from the bucket per read.
func BenchmarkColumnRead(b *testing.B) {
	s3, _ := newMinIOStore(b, "")
	path := writeTestSegment(b, b.TempDir(), 300_000)
	ctx := context.Background()
	if r := (&Uploader{Store: s3}).UploadFile(ctx, path, "seg.parquet"); !r.Verified() {
		b.Fatal(r.Err)
	}
	st, _ := os.Stat(path)
	meter := &MetricsStore{Inner: s3, M: NewStoreMetrics(nil)}
	fetched := func() float64 { return testutil.ToFloat64(meter.M.Bytes.WithLabelValues("get")) }
	run := func(b *testing.B, open func() (*file.Reader, func())) {
		b.ReportAllocs()
		b.SetBytes(st.Size())
		before := fetched()
		for b.Loop() {
			rdr, done := open()
			if got := readColumn(b, rdr, "usage_idle"); len(got) != 300_000 {
				b.Fatalf("%d values", len(got))
			}
			done()
		}
		b.ReportMetric((fetched()-before)/float64(b.N), "fetched-B/op")
	}
	b.Run("local", func(b *testing.B) {
		run(b, func() (*file.Reader, func()) {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			rdr, err := file.NewParquetReader(f)
			if err != nil {
				b.Fatal(err)
			}
			return rdr, func() { f.Close() }
		})
	})
	remote := func(b *testing.B, opts RemoteOptions) {
		run(b, func() (*file.Reader, func()) {
			rf, err := OpenRemote(ctx, meter, "seg.parquet", opts)
			if err != nil {
				b.Fatal(err)
			}
			rdr, err := file.NewParquetReader(rf)
			if err != nil {
				b.Fatal(err)
			}
			return rdr, func() {}
		})
	}
	b.Run("cold-nocache", func(b *testing.B) { remote(b, RemoteOptions{}) })
	cache, err := OpenBlockCache(b.TempDir(), 1<<30, DefaultBlockSize)
	if err != nil {
		b.Fatal(err)
	}
	warm := RemoteOptions{Cache: cache, Footers: NewFooterCache(1 << 20)}
	rf, err := OpenRemote(ctx, meter, "seg.parquet", warm)
	if err != nil {
		b.Fatal(err)
	}
	rdr, err := file.NewParquetReader(rf)
	if err != nil {
		b.Fatal(err)
	}
	readColumn(b, rdr, "usage_idle") // warm the caches
	b.Run("cold-cached", func(b *testing.B) { remote(b, warm) })
}
