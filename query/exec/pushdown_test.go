package exec

import (
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestTagPredicatesReachIndex checks that host selections written as
// OR-chains, regexes and repeated per-branch bounds scan only the selected
// series, as the IN list does, and return the same rows.
func TestTagPredicatesReachIndex(t *testing.T) {
	points := pgoracle.CPUDataset(20, cpuStart, 10*time.Second, 720, 42, pgoracle.DatasetOptions{})
	eng := loadEngine(t, "cpu", points)
	window := "time >= " + ts(10*time.Minute) + " AND time < " + ts(70*time.Minute)
	base := `SELECT hostname, count(*), max(usage_user) FROM cpu WHERE hostname IN ('host_1', 'host_4', 'host_9') AND ` + window + ` GROUP BY 1 ORDER BY 1`
	want, err := runSQL(eng, base)
	if err != nil {
		t.Fatal(err)
	}
	all, err := runSQL(eng, `SELECT count(*) FROM cpu WHERE usage_user > -1`)
	if err != nil {
		t.Fatal(err)
	}
	if want.Stats.RowsScanned*4 > all.Stats.RowsScanned {
		t.Fatalf("IN scanned %d of %d rows: the tag index was not used", want.Stats.RowsScanned, all.Stats.RowsScanned)
	}
	for _, where := range []string{
		`(hostname = 'host_1' OR hostname = 'host_4' OR hostname = 'host_9') AND ` + window,
		window + ` AND (hostname = 'host_1' OR hostname IN ('host_4', 'host_9'))`,
		`hostname ~ '^(host_1|host_4|host_9)$' AND ` + window,
		`(` + window + ` AND hostname = 'host_1') OR (` + window + ` AND hostname = 'host_4') OR (hostname = 'host_9' AND ` + window + `)`,
	} {
		res, err := runSQL(eng, `SELECT hostname, count(*), max(usage_user) FROM cpu WHERE `+where+` GROUP BY 1 ORDER BY 1`)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if res.Stats.RowsScanned != want.Stats.RowsScanned {
			t.Errorf("%s: scanned %d rows, the IN list %d", where, res.Stats.RowsScanned, want.Stats.RowsScanned)
		}
		if d := diff(res, []string{"hostname", "count", "max"}, want.Rows); d != "" {
			t.Errorf("%s: rows differ from the IN list's: %s", where, d)
		}
	}
}
