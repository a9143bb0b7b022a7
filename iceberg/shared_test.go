package iceberg

// The shared table's rules on an in-memory store: writers keep each
// other's files and columns, a commit that keeps losing gives up with an
// error that says so, old metadata files are deleted past
// previous-versions-max, and a table of a later layout is left alone.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func fileOf(prefix string, i int) DataFile {
	w := day0 + int64(i)*int64(segment.WindowDuration)
	return DataFile{Key: fmt.Sprintf("%ssegments/db/cpu/%s/%020d.parquet", prefix, segment.WindowName(w), i),
		Window: segment.WindowName(w), Rows: 10, Bytes: 100, MinTime: w, MaxTime: w + 1}
}

// currentFiles returns the data file keys of the table's current snapshot.
func currentFiles(t *testing.T, p *Publisher) []string {
	t.Helper()
	ctx := context.Background()
	_, key, err := p.Current(ctx, "db", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	md := readMetadata(t, p, key)
	snap := md.currentSnapshot()
	if snap == nil {
		return nil
	}
	ms, err := p.readManifests(ctx, snap.ManifestList)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		for _, e := range m.entries {
			out = append(out, p.keyOf(e.DataFile().FilePath()))
		}
	}
	slices.Sort(out)
	return out
}

func readMetadata(t *testing.T, p *Publisher, key string) *tableMetadata {
	t.Helper()
	raw, err := readAll(context.Background(), p.Store, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.ParseMetadataBytes(raw); err != nil {
		t.Fatalf("metadata %s does not validate: %v", key, err)
	}
	var md tableMetadata
	if err := json.Unmarshal(raw, &md); err != nil {
		t.Fatal(err)
	}
	return &md
}

func schemaWith(fields ...string) *columnar.TableSchema {
	s := columnar.NewTableSchema()
	s.AddTag("host")
	for _, f := range fields {
		s.AddField(f, columnar.FieldFloat)
	}
	return s
}

func TestSharedTableKeepsOtherWritersFilesAndColumns(t *testing.T) {
	st := &memStore{MemStore: tiering.NewMemStore()}
	a := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/a/"}
	b := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/b/"}
	ctx := context.Background()
	mustPublish := func(p *Publisher, tb Table) Result {
		t.Helper()
		r, err := p.Publish(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustPublish(a, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/a/", 0), fileOf("nodes/a/", 1)}})
	mustPublish(b, Table{DB: "db", Name: "cpu", Schema: schemaWith("temp"), Files: []DataFile{fileOf("nodes/b/", 0)}})
	// a drops one file: b's stays; a's schema lacks temp: the column stays.
	r := mustPublish(a, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/a/", 1)}})
	if r.Removed != 1 || r.Added != 0 {
		t.Fatalf("a's second commit: %+v", r)
	}
	want := []string{fileOf("nodes/a/", 1).Key, fileOf("nodes/b/", 0).Key}
	slices.Sort(want)
	if got := currentFiles(t, a); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	_, key, _ := a.Current(ctx, "db", "cpu")
	md := readMetadata(t, a, key)
	sch, err := md.schema(md.CurrentSchemaID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sch.Fields() {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"time", "host", "usage", "temp"}) {
		t.Fatalf("columns %v", names)
	}
	// Committing the same again changes nothing: the schema is stable
	// whichever writer commits.
	for _, p := range []*Publisher{a, b} {
		files := []DataFile{fileOf(p.DataPrefix, 1)}
		if p == b {
			files = []DataFile{fileOf(p.DataPrefix, 0)}
		}
		sch := schemaWith("usage")
		if p == b {
			sch = schemaWith("temp")
		}
		if r := mustPublish(p, Table{DB: "db", Name: "cpu", Schema: sch, Files: files}); r.Committed {
			t.Fatalf("%s recommitted an unchanged table: %+v", p.DataPrefix, r)
		}
	}
	// A dropped table (no schema) removes only the writer's own files.
	mustPublish(b, Table{DB: "db", Name: "cpu"})
	if got := currentFiles(t, a); !slices.Equal(got, []string{fileOf("nodes/a/", 1).Key}) {
		t.Fatalf("after b dropped its table: %v", got)
	}
	// A file outside the writer's prefix is refused.
	if _, err := a.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/b/", 3)}}); err == nil ||
		!strings.Contains(err.Error(), "outside this writer's prefix") {
		t.Fatalf("publishing b's file through a: %v", err)
	}
}

// losingStore refuses every create of a metadata version, as if another
// writer always got there first.
type losingStore struct{ *memStore }

func (l losingStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	return "", fmt.Errorf("create %s: %w", key, tiering.ErrPrecondition)
}

func TestCommitGivesUpAfterMaxAttempts(t *testing.T) {
	st := losingStore{&memStore{MemStore: tiering.NewMemStore()}}
	p := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/a/", MaxAttempts: 3}
	_, err := p.Publish(context.Background(), Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("nodes/a/", 0)}})
	if !errors.Is(err, tiering.ErrPrecondition) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err %v", err)
	}
	if p.Retries() != 3 {
		t.Fatalf("retries %d, want 3", p.Retries())
	}
	// What the lost attempts wrote is gone: no manifest, no list.
	objs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("lost attempts left %d objects, first %s", len(objs), objs[0].Key)
	}
}

func TestMetadataExpiry(t *testing.T) {
	st := &memStore{MemStore: tiering.NewMemStore()}
	p := &Publisher{Store: st, Location: "s3://b/cl", PreviousVersions: 5}
	ctx := context.Background()
	var files []DataFile
	for i := range 12 {
		files = append(files, fileOf("", i))
		if _, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: slices.Clone(files)}); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := st.List(ctx, p.TableKey("db", "cpu")+"/metadata/v")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".metadata.json") {
			continue // the version hint
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(o.Key, p.TableKey("db", "cpu")+"/metadata/v"), ".metadata.json"))
		vs = append(vs, n)
	}
	slices.Sort(vs)
	if !slices.Equal(vs, []int{7, 8, 9, 10, 11, 12}) {
		t.Fatalf("metadata versions kept %v, want the current one and the 5 before it", vs)
	}
	v, key, err := p.Current(ctx, "db", "cpu")
	if err != nil || v != 12 {
		t.Fatalf("current %d, %v", v, err)
	}
	md := readMetadata(t, p, key)
	if len(md.MetadataLog) != 5 || !strings.HasSuffix(md.MetadataLog[0].MetadataFile, "/v7.metadata.json") {
		t.Fatalf("metadata log %+v", md.MetadataLog)
	}
	if md.Properties[DeleteAfterCommitProperty] != "true" || md.Properties[PreviousVersionsProperty] != "5" || md.Properties[LayoutProperty] != "2" {
		t.Fatalf("properties %v", md.Properties)
	}
	// Without the hint (a reader listing the versions) the newest is found.
	if err := st.Delete(ctx, p.TableKey("db", "cpu")+"/metadata/"+versionHintName); err != nil {
		t.Fatal(err)
	}
	if v, _, err := p.Current(ctx, "db", "cpu"); err != nil || v != 12 {
		t.Fatalf("current without the hint %d, %v", v, err)
	}
}

func TestLaterLayoutIsLeftAlone(t *testing.T) {
	st := &memStore{MemStore: tiering.NewMemStore()}
	p := &Publisher{Store: st, Location: "s3://b/cl"}
	ctx := context.Background()
	if _, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("", 0)}}); err != nil {
		t.Fatal(err)
	}
	_, key, _ := p.Current(ctx, "db", "cpu")
	raw, _ := readAll(ctx, st, key)
	var md map[string]any
	if err := json.Unmarshal(raw, &md); err != nil {
		t.Fatal(err)
	}
	md["properties"].(map[string]any)[LayoutProperty] = strconv.Itoa(Layout + 1)
	raw, _ = json.Marshal(md)
	if _, err := st.PutIfAbsent(ctx, metadataKey(p.TableKey("db", "cpu"), 2), raw); err != nil {
		t.Fatal(err)
	}
	_, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf("", 1)}})
	if err == nil || !strings.Contains(err.Error(), "newer Silt") {
		t.Fatalf("commit onto a later layout: %v", err)
	}
}
