package columnar

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestSchemaSnapshot: a snapshot is shared until the schema changes, shows
// the schema as it was when taken (a later change, an undo by Truncate, a
// Reindex each make a new one), refuses changes of its own, and clones
// into a schema that takes them.
func TestSchemaSnapshot(t *testing.T) {
	s := NewTableSchema()
	s.AddTag("host")
	s.AddField("usage", FieldFloat)
	a := s.Snapshot()
	if b := s.Snapshot(); b != a {
		t.Fatal("a second snapshot of an unchanged schema is a new copy")
	}
	if a.Snapshot() != a {
		t.Fatal("a snapshot's snapshot is not itself")
	}
	s.AddTag("host") // present: no change
	s.AddField("usage", FieldFloat)
	if s.Snapshot() != a {
		t.Fatal("adding columns the schema has dropped its snapshot")
	}

	s.AddTag("region")
	s.AddField("idle", FieldInt)
	b := s.Snapshot()
	if b == a {
		t.Fatal("the snapshot after a change is the one before it")
	}
	want := func(got *TableSchema, tags []string, fields []FieldSchema) {
		t.Helper()
		if !slices.Equal(got.Tags, tags) || !slices.Equal(got.Fields, fields) {
			t.Fatalf("snapshot has %v %v, want %v %v", got.Tags, got.Fields, tags, fields)
		}
		for i, k := range tags {
			if c, ok := got.TagCol(k); !ok || c != i {
				t.Fatalf("snapshot finds tag %q at %d %v, want %d", k, c, ok, i)
			}
		}
		for i, f := range fields {
			if c, ok := got.FieldCol(f.Name); !ok || c != i {
				t.Fatalf("snapshot finds field %q at %d %v, want %d", f.Name, c, ok, i)
			}
		}
	}
	usage, idle := FieldSchema{Name: "usage", Type: FieldFloat}, FieldSchema{Name: "idle", Type: FieldInt}
	want(a, []string{"host"}, []FieldSchema{usage})
	want(b, []string{"host", "region"}, []FieldSchema{usage, idle})
	if _, ok := a.TagCol("region"); ok {
		t.Fatal("the older snapshot finds a tag added after it")
	}

	// Truncate undoes a batch's columns: a new snapshot without them.
	s.AddField("steal", FieldInt)
	s.Snapshot()
	s.Truncate(2, 2)
	want(s.Snapshot(), []string{"host", "region"}, []FieldSchema{usage, idle})
	if _, ok := s.Snapshot().FieldCol("steal"); ok {
		t.Fatal("the snapshot after Truncate finds the dropped field")
	}

	// A snapshot's slices have no spare room another reader's append
	// could write into.
	wide := NewTableSchema()
	for i := range 17 { // 17 strings: an allocation with room for 18
		wide.AddTag(string(rune('a' + i)))
		wide.AddField(string(rune('A'+i)), FieldInt)
	}
	for _, x := range []*TableSchema{b, wide.Snapshot()} {
		if cap(x.Tags) != len(x.Tags) || cap(x.Fields) != len(x.Fields) {
			t.Fatalf("snapshot slices have spare capacity: tags %d/%d fields %d/%d", len(x.Tags), cap(x.Tags), len(x.Fields), cap(x.Fields))
		}
	}

	// Changes to a snapshot panic; its clone takes them.
	for name, change := range map[string]func(*TableSchema){
		"AddTag":   func(x *TableSchema) { x.AddTag("dc") },
		"AddField": func(x *TableSchema) { x.AddField("nice", FieldInt) },
		"Truncate": func(x *TableSchema) { x.Truncate(0, 0) },
		"Reindex":  func(x *TableSchema) { x.Reindex() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on a snapshot did not panic", name)
				}
			}()
			change(b)
		}()
	}
	want(b, []string{"host", "region"}, []FieldSchema{usage, idle})
	c := b.Clone()
	c.AddTag("dc")
	want(c, []string{"host", "region", "dc"}, []FieldSchema{usage, idle})
	if c.Snapshot() == c {
		t.Fatal("a clone of a snapshot is read-only")
	}
}

// TestSchemaCloneJSON: a clone encodes as its schema does, an empty one
// included (manifests and /api/v1/schema carry schemas as JSON).
func TestSchemaCloneJSON(t *testing.T) {
	full := NewTableSchema()
	full.AddTag("host")
	full.AddField("usage", FieldFloat)
	var decoded TableSchema
	if err := json.Unmarshal([]byte(`{"tags":[],"fields":[]}`), &decoded); err != nil {
		t.Fatal(err)
	}
	decoded.Reindex()
	for _, s := range []*TableSchema{NewTableSchema(), full, &decoded} {
		// The encoding an AddTag-by-AddTag copy has (Clone's former way).
		ref := NewTableSchema()
		for _, k := range s.Tags {
			ref.AddTag(k)
		}
		for _, f := range s.Fields {
			ref.AddField(f.Name, f.Type)
		}
		wantJSON, _ := json.Marshal(ref)
		for _, c := range []*TableSchema{s.Clone(), s.Snapshot()} {
			got, _ := json.Marshal(c)
			if string(got) != string(wantJSON) {
				t.Errorf("copy of %s encodes as %s, want %s", mustJSON(s), got, wantJSON)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
