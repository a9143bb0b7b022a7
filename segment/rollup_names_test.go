package segment

import (
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A rollup builder's column names, cut from one string, are
// RollupColumn's, field by field in RollupParts order.
func TestRollupBuilderNames(t *testing.T) {
	fields := []columnar.FieldSchema{{Name: "usage_user", Type: columnar.FieldFloat}, {Name: "x", Type: columnar.FieldInt}, {Name: "ünï:c", Type: columnar.FieldUint}}
	rb := newRollupBuilder(60e9, []string{"host"}, fields, nil)
	if len(rb.names) != len(fields) {
		t.Fatalf("%d name lists for %d fields", len(rb.names), len(fields))
	}
	for k, f := range fields {
		if len(rb.names[k]) != len(RollupParts) {
			t.Fatalf("%s: %d names, want %d", f.Name, len(rb.names[k]), len(RollupParts))
		}
		for i, p := range RollupParts {
			if got, want := rb.names[k][i], RollupColumn(f.Name, p); got != want {
				t.Errorf("%s part %s: named %q, want %q", f.Name, p, got, want)
			}
		}
	}
}
