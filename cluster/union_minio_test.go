package cluster

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// putManifest publishes a writer's bucket manifest as the engine does: a
// manifest whose segments are all cold.
func putManifest(t *testing.T, s interface {
	PutIfAbsent(context.Context, string, []byte) (string, error)
}, key string, gen uint64, tags []string, segs ...segment.SegmentMeta) {
	t.Helper()
	m := manifest.NewManifest()
	m.Generation = gen
	m.Databases["db"] = &manifest.DatabaseMeta{Created: 1}
	sch := columnar.NewTableSchema()
	for _, tag := range tags {
		sch.AddTag(tag)
	}
	sch.AddField("v", columnar.FieldFloat)
	m.Schemas["db"] = map[string]*columnar.TableSchema{"cpu": sch}
	for _, sg := range segs {
		sg.Tier = segment.TierS3
		m.Segments = append(m.Segments, sg)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIfAbsent(context.Background(), key, raw); err != nil {
		t.Fatal(err)
	}
}

func seg(id uint64, rollupOf uint64) segment.SegmentMeta {
	s := segment.SegmentMeta{ID: id, DB: "db", Table: "cpu", Window: "20260101", Path: segment.SegmentPath("db", "cpu", "20260101", id)}
	if rollupOf != 0 {
		s.Rollup, s.Of = 60e9, rollupOf
	}
	return s
}

// The union keeps each segment's id for the whole run (open segments are
// cached by id), remaps rollups with their raw segment, keys segments
// under their writer's prefix, and changes its generation only when a
// writer's manifest changed.
func TestUnionMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s := minioStore(t, srv, "root")
	ctx := context.Background()
	putManifest(t, s, "nodes/b/manifest.json", 4, []string{"host"}, seg(3, 0), seg(4, 3))
	putManifest(t, s, "nodes/a/manifest.json", 9, []string{"host"}, seg(7, 0))
	if _, err := s.PutIfAbsent(ctx, RecordKey("a"), []byte(`{"node_id":"a"}`)); err != nil {
		t.Fatal(err)
	}
	u := NewUnion(s, nil)
	m1, err := u.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]segment.SegmentMeta{}
	for _, sg := range m1.Segments {
		byPath[sg.Path] = sg
	}
	a7 := byPath["nodes/a/"+segment.SegmentPath("db", "cpu", "20260101", 7)]
	b3 := byPath["nodes/b/"+segment.SegmentPath("db", "cpu", "20260101", 3)]
	b4 := byPath["nodes/b/"+segment.SegmentPath("db", "cpu", "20260101", 4)]
	if len(m1.Segments) != 3 || a7.ID == 0 || b3.ID == 0 || b4.ID == 0 {
		t.Fatalf("union segments %+v", m1.Segments)
	}
	// Slots in node id order: a's segments sort before b's.
	if !(a7.ID < b3.ID && b3.ID < b4.ID) || b4.Of != b3.ID || b4.Rollup == 0 {
		t.Fatalf("ids a7=%d b3=%d b4=%d (of %d)", a7.ID, b3.ID, b4.ID, b4.Of)
	}
	if m1.Schemas["db"]["cpu"] == nil || m1.Databases["db"] == nil || m1.NextSegmentID <= b4.ID {
		t.Fatalf("union catalog %+v %+v next %d", m1.Schemas, m1.Databases, m1.NextSegmentID)
	}

	m2, err := u.Load(ctx)
	if err != nil || m2.Generation != m1.Generation {
		t.Fatalf("reload with nothing changed: generation %d -> %d (%v)", m1.Generation, m2.Generation, err)
	}

	// A writer that sorts first joins later: it gets the next slot, and
	// every id already handed out stays.
	putManifest(t, s, "nodes/0/manifest.json", 1, []string{"region", "host"}, seg(1, 0))
	m3, err := u.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m3.Generation == m2.Generation || len(m3.Segments) != 4 {
		t.Fatalf("after a new writer: generation %d, %d segments", m3.Generation, len(m3.Segments))
	}
	for _, sg := range m3.Segments {
		if old, ok := byPath[sg.Path]; ok && old.ID != sg.ID {
			t.Fatalf("segment %s changed id %d -> %d", sg.Path, old.ID, sg.ID)
		}
		if sg.Path == "nodes/0/"+segment.SegmentPath("db", "cpu", "20260101", 1) && sg.ID < b4.ID {
			t.Fatalf("late writer's segment %d sorts before earlier writers'", sg.ID)
		}
	}
	// Its tag order conflicts with the others': the union keeps the first
	// writers' order and adds the new tag at the end.
	if tags := m3.Schemas["db"]["cpu"].Tags; len(tags) != 2 || tags[0] != "host" || tags[1] != "region" {
		t.Fatalf("union tags %v", tags)
	}
	if ws := u.Writers(); len(ws) != 3 || ws[0].NodeID != "0" || ws[1].Generation != 9 {
		t.Fatalf("writers %+v", ws)
	}
}

func TestMergeSchema(t *testing.T) {
	a := columnar.NewTableSchema()
	a.AddTag("host")
	a.AddField("v", columnar.FieldFloat)
	b := columnar.NewTableSchema()
	b.AddTag("host")
	b.AddTag("dc")
	b.AddField("v", columnar.FieldInt)
	b.AddField("w", columnar.FieldInt)
	msg := mergeSchema(a, b)
	if msg == "" || len(a.Tags) != 2 || len(a.Fields) != 2 || a.Fields[0].Type != columnar.FieldFloat {
		t.Fatalf("merged %+v, conflicts %q", a, msg)
	}
	if msg := mergeSchema(a, b); msg != `field "v" has two types` {
		t.Fatalf("second merge conflicts %q", msg)
	}
}
