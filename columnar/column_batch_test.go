package columnar

import (
	"slices"
	"testing"
)

func TestColumnBatchRows(t *testing.T) {
	b := &ColumnBatch{Len: 4}
	if got := slices.Collect(b.Rows()); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("rows without a selection: %v, want 0..3", got)
	}
	b.Sel = []int32{1, 3}
	if got := slices.Collect(b.Rows()); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("rows of selection [1 3]: %v", got)
	}
	for i := range b.Rows() {
		if i != 1 {
			t.Fatalf("first selected row %d, want 1", i)
		}
		break // a stopped loop must not be called again
	}
	b.Sel = []int32{}
	if got := slices.Collect(b.Rows()); len(got) != 0 {
		t.Fatalf("rows of an empty selection: %v, want none", got)
	}
	for i := range b.Rows() {
		t.Fatalf("empty selection yielded %d", i)
	}
}
