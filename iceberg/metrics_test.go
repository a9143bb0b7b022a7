package iceberg

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/tiering"
)

// losesFirst refuses the first n creates of a metadata version, as if
// another writer had taken the version each time, then lets them through.
type losesFirst struct {
	*memStore
	n atomic.Int64
}

func (l *losesFirst) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if l.n.Add(-1) >= 0 {
		return "", fmt.Errorf("create %s: %w", key, tiering.ErrPrecondition)
	}
	return l.memStore.PutIfAbsent(ctx, key, data)
}

// gathered returns the publisher's metrics as /metrics would show them.
func gathered(t *testing.T, p *Publisher) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	p.Register(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
	}
	return out
}

func TestPublisherMetrics(t *testing.T) {
	ctx := context.Background()
	st := &losesFirst{memStore: &memStore{MemStore: tiering.NewMemStore()}}
	st.n.Store(2)
	p := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/a/", MaxAttempts: 3}
	tbl := Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/a/", 0)}}
	// Two lost races, then the commit.
	if r, err := p.Publish(ctx, tbl); err != nil || !r.Committed || r.Attempts != 3 {
		t.Fatalf("publish: %+v %v", r, err)
	}
	// The same files again: nothing to commit, nothing counted.
	if r, err := p.Publish(ctx, tbl); err != nil || r.Committed {
		t.Fatalf("publish unchanged: %+v %v", r, err)
	}
	tbl.Files = append(tbl.Files, fileOf("nodes/a/", 1))
	if _, err := p.Publish(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	// Three lost races with MaxAttempts 3: a failure.
	st.n.Store(3)
	tbl.Files = append(tbl.Files, fileOf("nodes/a/", 2))
	if _, err := p.Publish(ctx, tbl); err == nil {
		t.Fatal("a commit that lost every attempt succeeded")
	}
	// A file outside the writer's prefix: a failure too.
	if _, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/b/", 3)}}); err == nil {
		t.Fatal("publishing another writer's file succeeded")
	}
	want := map[string]float64{
		"silt_iceberg_commits_total":          2,
		"silt_iceberg_commit_retries_total":   5,
		"silt_iceberg_commit_failures_total":  2,
		"silt_iceberg_metadata_deleted_total": 0, // two versions: nothing left the log
	}
	if got := gathered(t, p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}
