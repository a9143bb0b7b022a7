package exec

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// The PostgreSQL oracle over an engine whose data went through compaction:
// many small flushes with out-of-order and duplicate points, then merges
// with a small policy (outputs split, several levels) and a memory bound
// that forces multi-pass merges, the last chunk left in the head. Every
// query must still equal PostgreSQL's answer.
func TestAgainstPostgresCompacted(t *testing.T) {
	o := pgoracle.Start(t)
	points := pgoracle.CPUDataset(20, cpuStart, 10*time.Second, 720, 43, pgoracle.DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.05})
	eng := loadEngineCompacted(t, pgoracle.CPUTable, points)
	loadOracle(t, o, eng, pgoracle.CPUTable, points)
	var tl tally
	for _, c := range tsbsCases() {
		check(t, o, eng, c, &tl)
	}
	r := rand.New(rand.NewPCG(9, 11))
	for i := 0; i < 80; i++ {
		check(t, o, eng, randomCase(r), &tl)
	}
	t.Logf("oracle after compaction: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides, %d answered from rollups", tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
}

func loadEngineCompacted(t testing.TB, table string, points []pgoracle.Point) *engine.Engine {
	t.Helper()
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true // compacted below, when the test says
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 256, TargetRows: 3000, L0Max: 2, MaxTail: 3}
	cfg.Compaction.MemoryBytes = 1 // fan-in 2
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	const chunk = 700
	flushed := 0
	for lo := 0; lo < len(points); lo += chunk {
		hi := min(lo+chunk, len(points))
		writeLP(t, eng, table, points[lo:hi])
		if hi < len(points) { // the last chunk stays in the head
			if err := eng.Flush(); err != nil {
				t.Fatal(err)
			}
			flushed++
		}
	}
	if err := eng.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := len(eng.Manifest().Raw())
	if out >= flushed {
		t.Fatalf("compaction left %d segments of %d flushed", out, flushed)
	}
	t.Logf("%d flushed segments compacted into %d", flushed, out)
	return eng
}
