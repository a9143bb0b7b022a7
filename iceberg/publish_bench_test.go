package iceberg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// memStore adds create-only puts to the in-memory store.
type memStore struct {
	*tiering.MemStore
	mu sync.Mutex
}

func (m *memStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.Stat(ctx, key); err == nil {
		return "", tiering.ErrPrecondition
	} else if !errors.Is(err, tiering.ErrNotFound) {
		return "", err
	}
	info, err := m.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	return info.ETag, err
}

func (m *memStore) ListDir(ctx context.Context, prefix string) ([]tiering.ObjectInfo, []string, error) {
	all, err := m.List(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	var objs []tiering.ObjectInfo
	var dirs []string
	for _, o := range all {
		rest := strings.TrimPrefix(o.Key, prefix)
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if d := prefix + rest[:i+1]; !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
			continue
		}
		objs = append(objs, o)
	}
	return objs, dirs, nil
}

// BenchmarkPublishCommit measures one commit of a table of n data files
// (a year of days with n/365 segments each) that adds one file: the cost
// of a tiering pass's publication as the table grows. It reports the
// bytes a commit writes (manifests, manifest list, metadata, hint), and
// the manifests of the last snapshot.
func BenchmarkPublishCommit(b *testing.B) {
	for _, n := range []int{365, 3650, 36500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st := &memStore{MemStore: tiering.NewMemStore()}
			p := &Publisher{Store: st, Location: "s3://bucket/node"}
			sch := columnar.NewTableSchema()
			sch.AddTag("host")
			sch.AddTag("region")
			sch.AddField("usage", columnar.FieldFloat)
			sch.AddField("n", columnar.FieldInt)
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
			file := func(i int) DataFile {
				w := start + int64(i%365)*int64(segment.WindowDuration)
				return DataFile{Key: fmt.Sprintf("segments/db/cpu/%s/%020d.parquet", segment.WindowName(w), i),
					Window: segment.WindowName(w), Rows: 1 << 20, Bytes: 8 << 20, MinTime: w, MaxTime: w + 1000}
			}
			t := Table{DB: "db", Name: "cpu", Schema: sch}
			for i := range n {
				t.Files = append(t.Files, file(i))
			}
			ctx := context.Background()
			if _, err := p.Publish(ctx, t); err != nil {
				b.Fatal(err)
			}
			size := func() int64 {
				objs, err := st.List(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				var sum int64
				for _, o := range objs {
					sum += o.Size
				}
				return sum
			}
			before, deletedBefore := size(), p.Deleted()
			var r Result
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t.Files = append(t.Files, file(n+i))
				var err error
				if r, err = p.Publish(ctx, t); err != nil || !r.Committed {
					b.Fatal(r, err)
				}
			}
			b.StopTimer()
			// Net growth: what a commit wrote less what expiry deleted
			// (with the default snapshot age, every snapshot of a run this
			// short stays, and only metadata files past the log go).
			b.ReportMetric(float64(size()-before)/float64(b.N), "net-bytes/op")
			b.ReportMetric(float64(p.Deleted()-deletedBefore)/float64(b.N), "deleted-objects/op")
			md, err := readAll(ctx, st, r.MetadataKey)
			if err != nil {
				b.Fatal(err)
			}
			var m tableMetadata
			if err := json.Unmarshal(md, &m); err != nil {
				b.Fatal(err)
			}
			ms, err := p.readManifests(ctx, m.currentSnapshot().ManifestList)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(ms)), "manifests")
			b.ReportMetric(float64(len(md)), "metadata-bytes")
		})
	}
}
