package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// modelBucket is a bucket in memory that counts requests by kind, for the
// scale model of docs/scaling.md: the real cluster code runs against it.
type modelBucket struct {
	mu                     sync.Mutex
	objs                   map[string][]byte
	etags                  map[string]string
	seq                    int
	lists, heads, gets     atomic.Int64
	bytesGot, conditionals atomic.Int64
}

func newModelBucket() *modelBucket {
	return &modelBucket{objs: map[string][]byte{}, etags: map[string]string{}}
}

func (b *modelBucket) put(key string, data []byte) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	b.objs[key], b.etags[key] = data, fmt.Sprint(b.seq)
	return b.etags[key]
}

func (b *modelBucket) PutIfAbsent(_ context.Context, key string, data []byte) (string, error) {
	b.conditionals.Add(1)
	b.mu.Lock()
	_, ok := b.objs[key]
	b.mu.Unlock()
	if ok {
		return "", tiering.ErrPrecondition
	}
	return b.put(key, data), nil
}

func (b *modelBucket) PutIfMatch(_ context.Context, key string, data []byte, etag string) (string, error) {
	b.conditionals.Add(1)
	b.mu.Lock()
	cur := b.etags[key]
	b.mu.Unlock()
	if cur != etag {
		return "", tiering.ErrPrecondition
	}
	return b.put(key, data), nil
}

func (b *modelBucket) GetWithETag(_ context.Context, key string) ([]byte, string, error) {
	b.gets.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.objs[key]
	if !ok {
		return nil, "", tiering.ErrNotFound
	}
	b.bytesGot.Add(int64(len(d)))
	return d, b.etags[key], nil
}

func (b *modelBucket) ListDir(_ context.Context, prefix string) ([]tiering.ObjectInfo, []string, error) {
	b.lists.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	var files []tiering.ObjectInfo
	dirs := map[string]bool{}
	for k, d := range b.objs {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			dirs[prefix+rest[:i+1]] = true
			continue
		}
		files = append(files, tiering.ObjectInfo{Key: k, Size: int64(len(d)), ETag: b.etags[k]})
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	return files, ds, nil
}

func (b *modelBucket) Stat(_ context.Context, key string) (tiering.ObjectInfo, error) {
	b.heads.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.objs[key]
	if !ok {
		return tiering.ObjectInfo{}, tiering.ErrNotFound
	}
	return tiering.ObjectInfo{Key: key, Size: int64(len(d)), ETag: b.etags[key]}, nil
}

// writerManifest is one writer's bucket manifest after days of tiering:
// for each table and day, one raw segment per series block and its
// rollups (1 m and 1 h), as compaction and tiering leave them.
func writerManifest(node string, tables, days, segsPerDay int) []byte {
	m := manifest.NewManifest()
	m.Databases["metrics"] = &manifest.DatabaseMeta{}
	m.Schemas["metrics"] = map[string]*columnar.TableSchema{}
	day := int64(24 * time.Hour)
	id := uint64(1)
	for t := range tables {
		name := fmt.Sprintf("t%02d", t)
		s := &columnar.TableSchema{Tags: []string{"hostname", "region"}}
		for f := range 10 {
			s.Fields = append(s.Fields, columnar.FieldSchema{Name: fmt.Sprintf("f%d", f), Type: columnar.FieldFloat})
		}
		s.Reindex()
		m.Schemas["metrics"][name] = s
		for d := range days {
			for k := range segsPerDay {
				raw := id
				for _, width := range []int64{0, int64(time.Minute), int64(time.Hour)} {
					sm := segment.SegmentMeta{ID: id, DB: "metrics", Table: name, Window: fmt.Sprintf("d%d", d),
						Path: fmt.Sprintf("segments/metrics/%s/%d/%d.parquet", name, d, id), Rows: 2_000_000, Series: 1000,
						MinTime: int64(d) * day, MaxTime: int64(d+1)*day - 1, Bytes: 64 << 20, Tier: segment.TierS3,
						Checksum: "AAAAAAAAAAA=", Rollup: width,
						FirstSeries: []columnar.TagValue{{Key: "hostname", Value: fmt.Sprintf("%s-h%04d", node, k*1000)}},
						LastSeries:  []columnar.TagValue{{Key: "hostname", Value: fmt.Sprintf("%s-h%04d", node, k*1000+999)}}}
					if width != 0 {
						sm.Of = raw
					}
					m.Segments = append(m.Segments, sm)
					id++
				}
			}
		}
	}
	m.NextSegmentID = id
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return raw
}

// BenchmarkClusterUnionLoad runs the query node's Union.Load — what it does
// before every scan — over a bucket of W writers, each with a month of
// 10 tables tiered (one raw segment per table and day and its two
// rollups): the requests it makes and its time and memory, when nothing
// changed and when one writer published a new manifest.
//
//	go test -run NONE -bench ClusterUnionLoad -benchmem ./bench/
func BenchmarkClusterUnionLoad(b *testing.B) {
	for _, writers := range []int{3, 100} {
		bucket := newModelBucket()
		var manifestBytes int
		for w := range writers {
			node := fmt.Sprintf("w%03d", w)
			raw := writerManifest(node, 10, 30, 1)
			manifestBytes = len(raw)
			bucket.put(cluster.NodesDir+node+"/"+manifest.ManifestFile, raw)
		}
		ctx := context.Background()
		u := cluster.NewUnion(bucket, nil)
		t0 := time.Now()
		m, err := u.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		first := time.Since(t0)
		segs := len(m.Segments)
		b.Run(fmt.Sprintf("writers=%d/unchanged", writers), func(b *testing.B) {
			bucket.lists.Store(0)
			bucket.heads.Store(0)
			bucket.gets.Store(0)
			for b.Loop() {
				if _, err := u.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(bucket.lists.Load())/n, "LIST/load")
			b.ReportMetric(float64(bucket.heads.Load())/n, "HEAD/load")
			b.ReportMetric(float64(bucket.gets.Load())/n, "GET/load")
			b.ReportMetric(float64(segs), "segments")
			b.ReportMetric(float64(manifestBytes), "manifest-bytes/writer")
			b.ReportMetric(first.Seconds()*1e3, "first-load-ms")
		})
		b.Run(fmt.Sprintf("writers=%d/one-changed", writers), func(b *testing.B) {
			key := cluster.NodesDir + "w000/" + manifest.ManifestFile
			raw := writerManifest("w000", 10, 30, 1)
			bucket.gets.Store(0)
			bucket.bytesGot.Store(0)
			for b.Loop() {
				bucket.put(key, raw) // a new etag: tiering published
				if _, err := u.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bucket.gets.Load())/float64(b.N), "GET/load")
			b.ReportMetric(float64(bucket.bytesGot.Load())/float64(b.N), "bytes-got/load")
		})
	}
}
