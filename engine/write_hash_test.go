package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// TestWriteHashesFollowAdmission: the tag hashes a write computes before
// the engine lock (shapeScratch.mark) are, after admitLocked drops rows,
// those of the admitted rows in their order — each equal to what the head
// would compute for the row it is handed with (segment.RowTagsHash). Rows
// are rejected for a bad table name and for a field type conflict, alone
// and in runs, and the rows around them carry other tag values, so a hash
// left behind by a dropped row names another series.
func TestWriteHashesFollowAdmission(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{table: "cpu", host: "h0", t: 0, v: 1}) // cpu's v a float, before the rows that conflict with it
	rng := rand.New(rand.NewPCG(5, 6))
	long := strings.Repeat("/", 100) // a table name refused (names_test.go)
	for round := range 20 {
		var b columnar.Batch
		rejects := 0
		for i := range 200 {
			table, typ := "cpu", columnar.FieldFloat
			switch rng.IntN(8) {
			case 0:
				table = long
				rejects++
			case 1:
				typ = columnar.FieldString // cpu's v is a float
				rejects++
			}
			b.StartRow([]byte(table), i+1)
			b.AddTag([]byte("host"), []byte(fmt.Sprint("h", rng.IntN(10))))
			if rng.IntN(3) == 0 {
				b.AddTag([]byte("dc"), []byte(fmt.Sprint("d", rng.IntN(3))))
			}
			if typ == columnar.FieldString {
				b.AddString([]byte("v"), []byte("x"))
			} else {
				b.AddFloat([]byte("v"), 1)
			}
			b.EndRow(int64(round*1000 + i))
		}
		shapes := shapePool.Get().(*shapeScratch)
		shapes.mark(&b)
		if len(shapes.hashes) != len(b.Rows) {
			t.Fatalf("round %d: %d hashes for %d rows", round, len(shapes.hashes), len(b.Rows))
		}
		var undo schemaUndo
		e.mu.Lock()
		rejected := e.admitLocked("db", &b, shapes.same, shapes.hashes, &undo, true)
		e.mu.Unlock()
		if len(rejected) == 0 || len(b.Rows) == 0 {
			t.Fatalf("round %d: %d rows rejected, %d admitted: the test exercises nothing", round, len(rejected), len(b.Rows))
		}
		var key []byte
		for i := range b.Rows {
			var want uint64
			want, key = segment.RowTagsHash(key, &b, &b.Rows[i])
			if shapes.hashes[i] != want {
				t.Fatalf("round %d, admitted row %d (line %d): hash %x, the row's is %x", round, i, b.Rows[i].Line, shapes.hashes[i], want)
			}
		}
		shapes.release()
	}
}
