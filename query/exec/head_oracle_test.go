package exec

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// headCut is where TestAgainstPostgresHead's split engine is cut: off
// every window boundary (1m, 5m, 10m, 15m, 1h), so windows straddle the
// segment and the head.
const headCut = 57*time.Minute + 35*time.Second

// headInterval is the time between a series' points.
const headInterval = 5 * time.Second

// TestAgainstPostgresHead runs the PostgreSQL suite over data in the
// in-memory head: all of it there (written out of order, with rewrites
// of earlier points), then split (the first part of time flushed into a
// segment with 1m and 1h rollups, the rest in the head, windows
// straddling the cut), then with late points and rewrites landing in
// windows that already hold rows on both sides of the cut, and once more
// after those are flushed too. Every query, from rollups where they apply
// and from raw rows only, must equal PostgreSQL's answer over the same
// data.
func TestAgainstPostgresHead(t *testing.T) {
	o := pgoracle.Start(t)
	// Every 5 s for 2 h: 28,800 points, so that the head holds several of
	// its sealed blocks (8192 rows in segment's head today) besides the
	// unsealed tail, and the split engine's head at least one.
	all := pgoracle.CPUDataset(20, cpuStart, headInterval, 1440, 45, pgoracle.DatasetOptions{OutOfOrder: 0.05, Duplicates: 0.03})
	// NULLs: usage_guest is absent from every seventh point, and from
	// every point of each eleventh minute, so that whole 1-minute windows
	// of a series hold no value of it (a window's partial with count 0).
	for i := range all {
		minute := (all[i].Time - cpuStart.UnixNano()) / int64(time.Minute)
		if (i%7 == 3 || minute%11 == 5) && len(all[i].Fields) > 1 {
			all[i].Fields = withoutField(all[i].Fields, "usage_guest")
		}
	}
	// The rewrites are the points whose series and time came before.
	seen := map[string]bool{}
	var base, rewrites []pgoracle.Point
	for _, p := range all {
		k := fmt.Sprint(p.Time, p.Tags["hostname"])
		if seen[k] {
			rewrites = append(rewrites, p)
			continue
		}
		seen[k] = true
		base = append(base, p)
	}
	if len(rewrites) == 0 {
		t.Fatal("dataset has no rewrites")
	}
	r := rand.New(rand.NewPCG(13, 11))
	cases := slices.Concat(tsbsCases(), rollupCases(), headCases())
	for range 12 {
		cases = append(cases, randomCase(r))
	}
	suite := func(stage string, eng *engine.Engine, cs []oracleCase, wantRollups bool) {
		var tl tally
		for _, c := range cs {
			check(t, o, eng, c, &tl)
		}
		t.Logf("%s: %d queries run, %d passed, %d errors on both sides, %d answered from rollups",
			stage, tl.run, tl.passed, tl.errorsAgreed, tl.fromRollups)
		if tl.rejected > 0 {
			t.Errorf("%s: %d queries rejected by the front end", stage, tl.rejected)
		}
		if wantRollups && tl.fromRollups < len(cs)/4 {
			t.Errorf("%s: only %d of %d queries were answered from rollups", stage, tl.fromRollups, len(cs))
		}
	}
	reload := func(eng *engine.Engine, points []pgoracle.Point) {
		if err := o.Exec("DROP TABLE IF EXISTS " + pgoracle.CPUTable); err != nil {
			t.Fatal(err)
		}
		loadOracle(t, o, eng, pgoracle.CPUTable, points)
	}

	// Everything in the head, in write order (out of order, rewrites).
	head := openHeadEngine(t)
	for lo := 0; lo < len(all); lo += 5000 {
		writeLP(t, head, pgoracle.CPUTable, all[lo:min(lo+5000, len(all))])
	}
	if n := len(head.Manifest().Raw()); n != 0 {
		t.Fatalf("the head engine flushed %d segments", n)
	}
	reload(head, all)
	suite("all in the head", head, cases, false)

	// Everything in the head again, written in time order without
	// rewrites: the stage above never folds (its late rows mark every
	// window as possibly holding duplicates), this one folds its windows
	// into partials, from blocks (1h: over 32 rows per series and window)
	// and from rows (1m), and every aggregate the fold serves is checked.
	// Without segments, every answer "from rollups" is a head fold's.
	inOrder := slices.Clone(base)
	slices.SortStableFunc(inOrder, func(a, b pgoracle.Point) int { return cmp.Compare(a.Time, b.Time) })
	folded := openHeadEngine(t)
	writeLP(t, folded, pgoracle.CPUTable, inOrder)
	if n := len(folded.Manifest().Raw()); n != 0 {
		t.Fatalf("the in-order head engine flushed %d segments", n)
	}
	reload(folded, inOrder)
	suite("all in the head, in order (folded)", folded, slices.Concat(headFoldCases(), rollupCases()), true)

	// Split: the first part of time in a segment, the rest in the head.
	split := openHeadEngine(t)
	cut := cpuStart.Add(headCut).UnixNano()
	var early, later []pgoracle.Point
	for _, p := range base {
		if p.Time < cut {
			early = append(early, p)
		} else {
			later = append(later, p)
		}
	}
	// In time order, so that the head sees each series in order until
	// the stages below write into the past.
	byTime := func(a, b pgoracle.Point) int { return cmp.Compare(a.Time, b.Time) }
	slices.SortStableFunc(early, byTime)
	slices.SortStableFunc(later, byTime)
	writeLP(t, split, pgoracle.CPUTable, early)
	if err := split.Flush(); err != nil {
		t.Fatal(err)
	}
	writeLP(t, split, pgoracle.CPUTable, later)
	reload(split, base)
	suite("split between a segment and the head", split, cases, true)

	// The newest point of every series written again with new values
	// (some fields): the head is otherwise still in order.
	newest := headNewestRewrites(base)
	writeLP(t, split, pgoracle.CPUTable, newest)
	reload(split, slices.Concat(base, newest))
	suite("newest points rewritten", split, cases, false)

	// Late points and rewrites over both parts, then flushed.
	late := slices.Concat(newest, rewrites, headLatePoints(base))
	writeLP(t, split, pgoracle.CPUTable, late[len(newest):])
	final := slices.Concat(base, late)
	reload(split, final)
	cases = append(cases, headLateCases()...)
	suite("late points and rewrites over the segment and the head", split, cases, false)
	if err := split.Flush(); err != nil {
		t.Fatal(err)
	}
	// The flush of a head holding late points and rewrites: the aggregate
	// shapes (segments that overlap are merged by the engine's scan, which
	// the other oracle tests cover).
	suite("late points and rewrites flushed", split, slices.Concat(tsbsCases(), rollupCases(), headLateCases()), false)
}

// openHeadEngine opens an engine that flushes only when told, with 1m
// rollups of 10 s data too (so windows of both widths straddle the cut).
func openHeadEngine(t *testing.T) *engine.Engine {
	t.Helper()
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	cfg.Rollups.MinRowsPerWindow = 1
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func withoutField(fields map[string]any, name string) map[string]any {
	f := make(map[string]any, len(fields))
	for k, v := range fields {
		if k != name {
			f[k] = v
		}
	}
	return f
}

// headLatePoints are points older than their series' newest one, at
// times between the existing ones (halfway to the next), on both sides of
// the cut: some with every field, some with a few, some with usage_late,
// a field no other point has. And rewrites of every series' first and
// last points and of the points next to the cut, with new values.
func headLatePoints(base []pgoracle.Point) []pgoracle.Point {
	r := rand.New(rand.NewPCG(14, 11))
	cut := cpuStart.Add(headCut).UnixNano()
	first, last := map[string]pgoracle.Point{}, map[string]pgoracle.Point{}
	for _, p := range base {
		h := p.Tags["hostname"]
		if f, ok := first[h]; !ok || p.Time < f.Time {
			first[h] = p
		}
		if l, ok := last[h]; !ok || p.Time > l.Time {
			last[h] = p
		}
	}
	var out []pgoracle.Point
	for i, p := range base {
		if p.Time == last[p.Tags["hostname"]].Time {
			continue // late points are older than the newest
		}
		near := p.Time >= cut-int64(20*time.Second) && p.Time < cut+int64(20*time.Second)
		if i%61 != 0 && !near {
			continue
		}
		fields := map[string]any{}
		switch i % 3 {
		case 0:
			for _, f := range pgoracle.CPUFields {
				fields[f.Name] = r.Float64() * 100
			}
		case 1:
			fields["usage_user"] = r.Float64() * 100
			fields["usage_late"] = float64(r.IntN(1000)) / 8
		default:
			fields["usage_late"] = -float64(r.IntN(1000)) / 4
		}
		t := p.Time + int64(headInterval/2)
		if near && i%2 == 0 {
			t = p.Time // a rewrite next to the cut
		}
		out = append(out, pgoracle.Point{Time: t, Tags: p.Tags, Fields: fields})
	}
	for _, m := range []map[string]pgoracle.Point{first, last} {
		hosts := make([]string, 0, len(m))
		for h := range m {
			hosts = append(hosts, h)
		}
		slices.Sort(hosts)
		for _, h := range hosts {
			p := m[h]
			out = append(out, pgoracle.Point{Time: p.Time, Tags: p.Tags, Fields: map[string]any{"usage_user": r.Float64() * 100, "usage_nice": r.Float64() * 100}})
		}
	}
	return out
}

// headNewestRewrites rewrites the newest point of every series: usage_user
// and usage_nice change, the other fields stay.
func headNewestRewrites(base []pgoracle.Point) []pgoracle.Point {
	last := map[string]pgoracle.Point{}
	for _, p := range base {
		if l, ok := last[p.Tags["hostname"]]; !ok || p.Time > l.Time {
			last[p.Tags["hostname"]] = p
		}
	}
	hosts := make([]string, 0, len(last))
	for h := range last {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	out := make([]pgoracle.Point, 0, len(hosts))
	for i, h := range hosts {
		p := last[h]
		out = append(out, pgoracle.Point{Time: p.Time, Tags: p.Tags, Fields: map[string]any{
			"usage_user": 100 - p.Fields["usage_user"].(float64), "usage_nice": float64(i)}})
	}
	return out
}

// headCases: the newest rows of a series beyond the first (ORDER BY time
// DESC LIMIT n), first and last values per series over ranges that cut
// the series in the middle, and time buckets that start before the data.
func headCases() []oracleCase {
	var cs []oracleCase
	add := func(silt, pg string) { cs = append(cs, oracleCase{silt, pg}) }
	for _, h := range []string{"host_0", "host_7", "host_13"} {
		add(fmt.Sprintf(`SELECT time, hostname, usage_user, usage_guest FROM cpu WHERE hostname = '%s' ORDER BY time DESC LIMIT 3`, h), "")
		add(fmt.Sprintf(`SELECT * FROM cpu WHERE hostname = '%s' AND time < %s ORDER BY time DESC LIMIT 4`, h, ts(headCut+7*time.Second)), "")
		add(fmt.Sprintf(`SELECT time, usage_idle FROM cpu WHERE hostname = '%s' AND time >= %s AND time <= %s ORDER BY time DESC LIMIT 5 OFFSET 2`, h, ts(37*time.Minute+35*time.Second), ts(81*time.Minute+12*time.Second)), "")
		add(fmt.Sprintf(`SELECT time, usage_system FROM cpu WHERE hostname = '%s' AND time > %s ORDER BY time LIMIT 3`, h, ts(headCut-25*time.Second)), "")
	}
	add(`SELECT time, hostname, usage_user FROM cpu WHERE hostname IN ('host_1', 'host_2', 'host_3') ORDER BY time DESC, hostname LIMIT 7`, "")
	add(fmt.Sprintf(`SELECT time, hostname, usage_guest FROM cpu WHERE region = 'us-east-1' AND time < %s ORDER BY time DESC, hostname DESC LIMIT 9`, ts(headCut)), "")
	cut1, cut2 := ts(37*time.Minute+35*time.Second), ts(81*time.Minute+12*time.Second)
	for _, c := range []struct{ agg, field, dir string }{
		{"last", "usage_user", "DESC"}, {"first", "usage_user", "ASC"}, {"last", "usage_guest", "DESC"}, {"first", "usage_nice", "ASC"},
	} {
		add(fmt.Sprintf(`SELECT hostname, %s(%s, time) AS v FROM cpu WHERE time >= %s AND time < %s GROUP BY hostname ORDER BY hostname`, c.agg, c.field, cut1, cut2),
			fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, %s AS v FROM cpu WHERE time >= %s AND time < %s AND %s IS NOT NULL ORDER BY hostname, time %s`, c.field, cut1, cut2, c.field, c.dir))
		add(fmt.Sprintf(`SELECT hostname, %s(%s, time) AS v FROM cpu WHERE time > %s GROUP BY hostname ORDER BY hostname`, c.agg, c.field, ts(headCut-3*time.Second)),
			fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, %s AS v FROM cpu WHERE time > %s AND %s IS NOT NULL ORDER BY hostname, time %s`, c.field, ts(headCut-3*time.Second), c.field, c.dir))
		add(fmt.Sprintf(`SELECT hostname, region, %s(%s, time) AS v FROM cpu WHERE region != 'us-east-1' AND time <= %s GROUP BY hostname, region ORDER BY hostname`, c.agg, c.field, ts(headCut+4*time.Second)),
			fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, region, %s AS v FROM cpu WHERE region != 'us-east-1' AND time <= %s AND %s IS NOT NULL ORDER BY hostname, time %s`, c.field, ts(headCut+4*time.Second), c.field, c.dir))
	}
	add(fmt.Sprintf(`SELECT date_bin('15 minutes', time, TIMESTAMP '2000-01-01 00:07:00') AS b, avg(usage_user), count(*) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, ts(-37*time.Minute), ts(20*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS b, hostname, sum(usage_idle), max(usage_guest) FROM cpu WHERE time >= %s AND time <= %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(-time.Hour), ts(3*time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('10 minutes', time, %s) AS b, min(usage_user), max(usage_user), stddev(usage_user) FROM cpu WHERE hostname = 'host_3' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, ts(-12*time.Minute), ts(headCut+3*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS b, count(usage_guest), sum(usage_system) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, ts(-3*time.Minute), ts(5*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('5 minutes', time, %s) AS b, hostname, avg(usage_nice) FROM cpu WHERE hostname IN ('host_2', 'host_9') AND time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(headCut-11*time.Minute), ts(headCut+9*time.Minute)), "")
	return cs
}

// headLateCases are about usage_late, which only late points have.
func headLateCases() []oracleCase {
	var cs []oracleCase
	add := func(silt, pg string) { cs = append(cs, oracleCase{silt, pg}) }
	add(`SELECT hostname, count(usage_late), sum(usage_late), min(usage_late), max(usage_late) FROM cpu GROUP BY 1 ORDER BY 1`, "")
	add(fmt.Sprintf(`SELECT date_bin('10 minutes', time, %s) AS b, avg(usage_late), count(*) FROM cpu GROUP BY 1 ORDER BY 1`, origin), "")
	add(`SELECT time, hostname, usage_late, usage_user FROM cpu WHERE usage_late IS NOT NULL ORDER BY time, hostname`, "")
	add(`SELECT hostname, last(usage_late, time) AS v FROM cpu GROUP BY hostname ORDER BY hostname`,
		`SELECT DISTINCT ON (hostname) hostname, usage_late AS v FROM cpu WHERE usage_late IS NOT NULL ORDER BY hostname, time DESC`)
	add(fmt.Sprintf(`SELECT hostname, first(usage_late, time) AS v FROM cpu WHERE time >= %s GROUP BY hostname ORDER BY hostname`, ts(headCut)),
		fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, usage_late AS v FROM cpu WHERE time >= %s AND usage_late IS NOT NULL ORDER BY hostname, time`, ts(headCut)))
	add(`SELECT time, usage_late FROM cpu WHERE hostname = 'host_5' AND usage_late IS NOT NULL ORDER BY time DESC LIMIT 3`, "")
	return cs
}

// headFoldCases use every aggregate a head fold serves (count, sum, avg,
// min, max, first, last, stddev and variance), at widths folded from
// block partials (1h, 30m) and from rows (1m, 5m, 10m), over ranges that
// cut windows and the head's blocks.
func headFoldCases() []oracleCase {
	var cs []oracleCase
	add := func(silt, pg string) { cs = append(cs, oracleCase{silt, pg}) }
	aggs := "count(*), count(usage_guest), sum(usage_user), avg(usage_system), min(usage_idle), max(usage_guest), " +
		"stddev(usage_nice), variance(usage_iowait), stddev_pop(usage_user), var_pop(usage_guest)"
	ranges := []string{
		"true",
		fmt.Sprintf("time >= %s AND time < %s", ts(0), ts(2*time.Hour)),
		fmt.Sprintf("time >= %s AND time < %s", ts(7*time.Minute+13*time.Second), ts(101*time.Minute+40*time.Second)),
		fmt.Sprintf("time > %s", ts(headCut)),
	}
	for _, b := range []string{"1 minute", "5 minutes", "10 minutes", "30 minutes", "1 hour"} {
		for i, rg := range ranges {
			add(fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, %s FROM cpu WHERE %s GROUP BY 1, 2 ORDER BY 1, 2`, b, origin, aggs, rg), "")
			if i%2 == 0 {
				add(fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, %s FROM cpu WHERE %s GROUP BY 1 ORDER BY 1`, b, origin, aggs, rg), "")
			}
			for _, fl := range []struct{ agg, field, dir string }{{"first", "usage_user", "ASC"}, {"last", "usage_guest", "DESC"}} {
				add(fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, %s(%s, time) AS v FROM cpu WHERE %s GROUP BY 1, 2 ORDER BY 1, 2`, b, origin, fl.agg, fl.field, rg),
					// A window whose values are all NULL is a group with a NULL answer.
					fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, (array_agg(%s ORDER BY time %s) FILTER (WHERE %s IS NOT NULL))[1] AS v FROM cpu WHERE %s GROUP BY 1, 2 ORDER BY 1, 2`, b, origin, fl.field, fl.dir, fl.field, rg))
			}
		}
	}
	return cs
}
