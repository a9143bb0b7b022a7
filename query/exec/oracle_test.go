package exec

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

var cpuStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ts(d time.Duration) string {
	return "'" + cpuStart.Add(d).Format(time.RFC3339) + "'"
}

const origin = "TIMESTAMP '2000-01-01'"

// tsbsCases are TSBS's query shapes over the 2-hour dataset.
func tsbsCases() []oracleCase {
	var cs []oracleCase
	add := func(silt, pg string) { cs = append(cs, oracleCase{silt, pg}) }
	for _, h := range []int{0, 7, 19} {
		host := fmt.Sprintf("host_%d", h)
		// single-groupby-1-1-1
		add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) AS max_usage_user FROM cpu
			WHERE hostname = '%s' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, host, ts(30*time.Minute), ts(90*time.Minute)), "")
		// single-groupby-5-1-12 (the whole 2 hours)
		add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait)
			FROM cpu WHERE hostname = '%s' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, host, ts(0), ts(2*time.Hour)), "")
		// high-cpu-1
		add(fmt.Sprintf(`SELECT * FROM cpu WHERE usage_user > 90 AND hostname = '%s' AND time >= %s AND time < %s ORDER BY time`, host, ts(0), ts(2*time.Hour)), "")
	}
	// single-groupby-1-8-1
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu
		WHERE hostname IN ('host_1','host_2','host_3','host_4','host_5','host_6','host_7','host_8') AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, ts(10*time.Minute), ts(70*time.Minute)), "")
	// double-groupby-1, -5, -all
	add(fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, hostname, avg(usage_user) AS mean_usage_user FROM cpu
		WHERE time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(0), ts(2*time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, hostname, avg(usage_user), avg(usage_system), avg(usage_idle), avg(usage_nice), avg(usage_iowait) FROM cpu
		WHERE time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(0), ts(2*time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, hostname, avg(usage_user), avg(usage_system), avg(usage_idle), avg(usage_nice), avg(usage_iowait),
		avg(usage_irq), avg(usage_softirq), avg(usage_steal), avg(usage_guest), avg(usage_guest_nice) FROM cpu
		GROUP BY 1, 2 ORDER BY 1, 2`, origin), "")
	// cpu-max-all-1
	add(fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait),
		max(usage_irq), max(usage_softirq), max(usage_steal), max(usage_guest), max(usage_guest_nice) FROM cpu
		WHERE hostname = 'host_4' GROUP BY 1 ORDER BY 1`, origin), "")
	// high-cpu-all
	add(`SELECT * FROM cpu WHERE usage_user > 90 ORDER BY time, hostname`, "")
	// lastpoint
	add(`SELECT hostname, last(usage_user, time) AS usage_user, last(usage_system, time) AS usage_system FROM cpu GROUP BY hostname ORDER BY hostname`,
		`SELECT DISTINCT ON (hostname) hostname, usage_user, usage_system FROM cpu ORDER BY hostname, time DESC`)
	add(`SELECT hostname, last(usage_guest, time) AS usage_guest FROM cpu GROUP BY hostname ORDER BY hostname`,
		`SELECT DISTINCT ON (hostname) hostname, usage_guest FROM cpu WHERE usage_guest IS NOT NULL ORDER BY hostname, time DESC`)
	// lastpoint variants answered from per-series last values (LastOnly):
	// time bounds that cut sources, tag filters, more keys, HAVING.
	add(fmt.Sprintf(`SELECT hostname, last(usage_user, time) AS u FROM cpu WHERE time < %s GROUP BY hostname ORDER BY hostname`, ts(50*time.Minute)),
		fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, usage_user AS u FROM cpu WHERE time < %s AND usage_user IS NOT NULL ORDER BY hostname, time DESC`, ts(50*time.Minute)))
	add(fmt.Sprintf(`SELECT hostname, region, last(usage_guest, time) AS g FROM cpu WHERE hostname IN ('host_1', 'host_4', 'host_9') AND time >= %s GROUP BY hostname, region ORDER BY hostname`, ts(100*time.Minute)),
		fmt.Sprintf(`SELECT DISTINCT ON (hostname) hostname, region, usage_guest AS g FROM cpu WHERE hostname IN ('host_1', 'host_4', 'host_9') AND time >= %s AND usage_guest IS NOT NULL ORDER BY hostname, time DESC`, ts(100*time.Minute)))
	add(fmt.Sprintf(`SELECT hostname, last(usage_nice, time) AS n FROM cpu WHERE region != 'us-east-1' AND time >= %s AND time < %s GROUP BY hostname HAVING last(usage_nice, time) > 20 ORDER BY n DESC, hostname`, ts(20*time.Minute), ts(70*time.Minute)),
		fmt.Sprintf(`SELECT * FROM (SELECT DISTINCT ON (hostname) hostname, usage_nice AS n FROM cpu WHERE region != 'us-east-1' AND time >= %s AND time < %s AND usage_nice IS NOT NULL ORDER BY hostname, time DESC) x WHERE n > 20 ORDER BY n DESC, hostname`, ts(20*time.Minute), ts(70*time.Minute)))
	add(`SELECT region, first(usage_idle, time) AS usage_idle FROM cpu WHERE hostname = 'host_3' GROUP BY region ORDER BY region`,
		`SELECT DISTINCT ON (region) region, usage_idle FROM cpu WHERE hostname = 'host_3' AND usage_idle IS NOT NULL ORDER BY region, time ASC`)
	// groupby-orderby-limit
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu
		WHERE time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 5`, origin, ts(time.Hour)), "")
	// Limited bucket orders, answered over stretches at the ordered end
	// first (bucket_limit.go): sparse buckets that make the stretch grow,
	// OFFSET, ascending from a lower bound, a bound past the data, and a
	// range holding fewer buckets than asked for.
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*), max(usage_user) FROM cpu
		WHERE usage_user > 97 AND time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 6 OFFSET 2`, origin, ts(100*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('30 seconds', time, %s) AS b, min(usage_idle) FROM cpu
		WHERE hostname = 'host_3' AND usage_user > 80 AND time >= %s GROUP BY b ORDER BY b LIMIT 7`, origin, ts(7*time.Minute+5*time.Second)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, avg(usage_system) FROM cpu
		WHERE time < %s GROUP BY 1 ORDER BY minute DESC LIMIT 3`, origin, ts(5*time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('10 minutes', time, %s) AS m, sum(usage_nice) FROM cpu
		WHERE time >= %s AND time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 50`, origin, ts(20*time.Minute), ts(90*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*), sum(usage_user) FROM cpu
		WHERE time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 4`, origin, ts(75*time.Minute+20*time.Second)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*), sum(usage_user) FROM cpu
		WHERE time >= %s GROUP BY 1 ORDER BY 1 LIMIT 3`, origin, ts(10*time.Minute+20*time.Second)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*) FROM cpu
		WHERE time < %s AND (time < %s OR time >= %s) GROUP BY 1 ORDER BY 1 DESC LIMIT 5`, origin, ts(60*time.Minute), ts(58*time.Minute), ts(59*time.Minute)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*) FROM cpu
		WHERE hostname = 'host_5' AND usage_user > 99 AND time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 4`, origin, ts(2*time.Hour)), "")
	// Limited bucket orders from an unbounded end, or from a bound far
	// past the data: the search starts where the data's time bounds say.
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu
		WHERE time < %s GROUP BY 1 ORDER BY 1 LIMIT 5`, origin, ts(time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*), min(usage_idle) FROM cpu
		WHERE hostname = 'host_7' AND usage_user > 60 GROUP BY 1 ORDER BY 1 LIMIT 4 OFFSET 3`, origin), "")
	add(fmt.Sprintf(`SELECT date_bin('5 minutes', time, %s) AS m, sum(usage_nice) FROM cpu
		WHERE usage_user < 30 GROUP BY 1 ORDER BY 1 DESC LIMIT 6`, origin), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, avg(usage_steal) FROM cpu
		WHERE time >= %s GROUP BY 1 ORDER BY 1 DESC LIMIT 3 OFFSET 1`, origin, ts(-48*time.Hour)), "")
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, count(*) FROM cpu
		WHERE time >= %s AND time < %s GROUP BY 1 ORDER BY 1 LIMIT 5`, origin, ts(-72*time.Hour), ts(72*time.Hour)), "")
	// Host selections written as OR-chains (TSBS, Grafana), mixed with time
	// bounds, IN lists, regexes, NOT and other tags: normalized into tag
	// sets the index answers, with the same rows as PostgreSQL.
	add(fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu
		WHERE (hostname = 'host_1' OR hostname = 'host_2' OR hostname = 'host_5' OR hostname = 'host_21') AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, ts(10*time.Minute), ts(70*time.Minute)), "")
	add(fmt.Sprintf(`SELECT time, hostname, usage_user FROM cpu
		WHERE time >= %s AND time < %s AND (hostname = 'host_3' OR hostname IN ('host_4', 'host_3') OR hostname = 'host_11') ORDER BY time, hostname`, ts(20*time.Minute), ts(40*time.Minute)), "")
	add(fmt.Sprintf(`SELECT hostname, count(*), sum(usage_idle) FROM cpu
		WHERE (time >= %s AND hostname = 'host_6') OR (time >= %s AND hostname = 'host_7') OR (hostname = 'host_8' AND time >= %s) GROUP BY 1 ORDER BY 1`, ts(time.Hour), ts(time.Hour), ts(time.Hour)), "")
	add(`SELECT hostname, count(*) FROM cpu WHERE hostname ~ '^(host_1|host_12|host_3)$' GROUP BY 1 ORDER BY 1`, "")
	add(`SELECT hostname, count(*) FROM cpu WHERE hostname ~ '^host_1[0-4]$' OR hostname = 'host_2' GROUP BY 1 ORDER BY 1`, "")
	add(`SELECT hostname, count(*) FROM cpu WHERE NOT (hostname = 'host_1' OR hostname = 'host_2') AND (region = 'us-east-1' OR region = 'eu-west-1') GROUP BY 1 ORDER BY 1`, "")
	add(`SELECT hostname, count(*) FROM cpu WHERE hostname = 'host_1' OR region = 'us-west-2' OR hostname = 'host_9' GROUP BY 1 ORDER BY 1`, "")
	add(`SELECT hostname, count(*) FROM cpu WHERE hostname = 'host_1' OR hostname = 'host_2' OR usage_user > 95 GROUP BY 1 ORDER BY 1`, "")
	add(`SELECT hostname, count(*) FROM cpu WHERE hostname = 'host_1' OR hostname = 'nope' OR hostname = NULL GROUP BY 1 ORDER BY 1`, "")
	// a few more fixed shapes
	add(`SELECT count(*), count(usage_user), sum(usage_user), min(usage_user), max(usage_user), avg(usage_user), stddev(usage_user) FROM cpu`, "")
	add(`SELECT count(*) FROM cpu WHERE hostname = 'nope'`, "")
	add(`SELECT sum(usage_user), max(hostname) FROM cpu WHERE hostname = 'nope'`, "")
	add(`SELECT region, count(DISTINCT hostname) FROM cpu GROUP BY region ORDER BY region`, "")
	add(`SELECT DISTINCT region, os FROM cpu ORDER BY region, os`, "")
	add(`SELECT hostname, percentile_cont(0.9) WITHIN GROUP (ORDER BY usage_user) AS p90 FROM cpu GROUP BY hostname ORDER BY p90 DESC, hostname LIMIT 7 OFFSET 2`, "")
	add(`SELECT time, hostname, usage_user / usage_system AS r FROM cpu WHERE hostname = 'host_2' ORDER BY time LIMIT 40`, "")
	return cs
}

// randomCase generates an aggregate or row query over the cpu table.
func randomCase(r *rand.Rand) oracleCase {
	tags := []string{"hostname", "region", "datacenter", "os", "arch", "team", "service_environment"}
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_guest"}
	field := func() string { return fields[r.IntN(len(fields))] }
	host := func() string { return fmt.Sprintf("'host_%d'", r.IntN(22)) }
	var conds []string
	if r.IntN(2) == 0 {
		a := r.IntN(110)
		b := a + 1 + r.IntN(60)
		conds = append(conds, fmt.Sprintf("time >= %s AND time < %s", ts(time.Duration(a)*time.Minute), ts(time.Duration(b)*time.Minute)))
	}
	preds := []func() string{
		func() string { return "hostname = " + host() },
		func() string { return fmt.Sprintf("hostname IN (%s, %s, %s)", host(), host(), host()) },
		func() string { return "region != 'us-east-1'" },
		func() string { return fmt.Sprintf("hostname ~ '^host_%d'", r.IntN(3)) },
		func() string { return fmt.Sprintf("datacenter NOT IN ('us-west-1a', 'eu-west-1b', %s)", host()) },
		func() string { return fmt.Sprintf("%s > %d", field(), r.IntN(100)) },
		func() string { return fmt.Sprintf("%s <= %d.5", field(), r.IntN(100)) },
		func() string { a := r.IntN(80); return fmt.Sprintf("%s BETWEEN %d AND %d", field(), a, a+20) },
		func() string { return fmt.Sprintf("NOT (%s < %d)", field(), r.IntN(60)) },
		func() string {
			return fmt.Sprintf("(%s > %d OR %s < %d)", field(), 50+r.IntN(50), field(), r.IntN(50))
		},
		func() string { return fmt.Sprintf("%s + %s > %d", field(), field(), r.IntN(150)) },
		func() string { return field() + " IS NOT NULL" },
		func() string { return "usage_guest IS NULL" },
		func() string { return fmt.Sprintf("hostname !~ '%d$'", r.IntN(10)) },
		func() string { return "hostname LIKE 'host_1%'" },
		func() string { return fmt.Sprintf("(usage_guest > %d OR hostname = %s)", r.IntN(100), host()) },
		func() string { return fmt.Sprintf("time < %s", ts(time.Duration(r.IntN(120))*time.Minute)) },
	}
	for n := r.IntN(3); n > 0; n-- {
		conds = append(conds, preds[r.IntN(len(preds))]())
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	if r.IntN(5) == 0 { // row query
		f1, f2 := field(), field()
		sel := []string{"time", "hostname", f1, fmt.Sprintf("%s * 2 - %s AS x", f1, f2)}
		order := "ORDER BY time, hostname"
		if r.IntN(2) == 0 {
			order = "ORDER BY time DESC, hostname DESC"
		}
		return oracleCase{silt: fmt.Sprintf("SELECT %s FROM cpu%s %s LIMIT %d", strings.Join(sel, ", "), where, order, 1+r.IntN(100))}
	}
	var keys, outs []string
	perm := r.Perm(len(tags))
	for i := 0; i < r.IntN(3); i++ {
		keys = append(keys, tags[perm[i]])
	}
	if r.IntN(2) == 0 {
		iv := []string{"5 minutes", "10 minutes", "1 hour", "90 seconds", "7 minutes"}[r.IntN(5)]
		keys = append(keys, fmt.Sprintf("date_bin('%s', time, %s)", iv, origin))
	}
	outs = append(outs, keys...)
	aggs := []func() string{
		func() string { return "count(*)" },
		func() string { return "count(" + field() + ")" },
		func() string { return "sum(" + field() + ")" },
		func() string { return "min(" + field() + ")" },
		func() string { return "max(" + field() + ")" },
		func() string { return "avg(" + field() + ")" },
		func() string { return "stddev(" + field() + ")" },
		func() string { return "stddev_pop(" + field() + ")" },
		func() string { return "var_samp(" + field() + ")" },
		func() string {
			return fmt.Sprintf("percentile_cont(%.2f) WITHIN GROUP (ORDER BY %s)", float64(r.IntN(101))/100, field())
		},
		func() string { return "count(DISTINCT hostname)" },
		func() string { return "var_pop(" + field() + ")" },
		func() string {
			return fmt.Sprintf("percentile_disc(%.2f) WITHIN GROUP (ORDER BY %s)", float64(r.IntN(101))/100, field())
		},
		func() string { return "max(" + field() + ") - min(" + field() + ")" },
	}
	for n := 1 + r.IntN(3); n > 0; n-- {
		outs = append(outs, aggs[r.IntN(len(aggs))]())
	}
	q := "SELECT " + strings.Join(outs, ", ") + " FROM cpu" + where
	if len(keys) > 0 {
		var pos []string
		for i := range keys {
			pos = append(pos, fmt.Sprint(i+1))
		}
		q += " GROUP BY " + strings.Join(pos, ", ")
	}
	if r.IntN(4) == 0 {
		q += []string{" HAVING count(*) > 10", " HAVING avg(usage_user) > 45", " HAVING max(usage_idle) < 99"}[r.IntN(3)]
	}
	var order []string
	for i := range outs {
		dir := []string{"", " DESC", " ASC", " DESC NULLS LAST"}[r.IntN(4)]
		order = append(order, fmt.Sprint(i+1)+dir)
	}
	q += " ORDER BY " + strings.Join(order, ", ")
	if r.IntN(3) == 0 {
		q += fmt.Sprintf(" LIMIT %d", 1+r.IntN(20))
		if r.IntN(2) == 0 {
			q += fmt.Sprintf(" OFFSET %d", r.IntN(5))
		}
	}
	return oracleCase{silt: q}
}

// Out-of-order and duplicate points make the head and the segment overlap
// in time, so the engine merges its sources.
func TestAgainstPostgres(t *testing.T) {
	againstPostgres(t, pgoracle.DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.05}, 150)
}

// In-order points leave the segment and the head disjoint in time, so the
// engine reads them one after the other without merging: the other path.
func TestAgainstPostgresInOrder(t *testing.T) {
	againstPostgres(t, pgoracle.DatasetOptions{}, 60)
}

func againstPostgres(t *testing.T, opts pgoracle.DatasetOptions, n int) {
	o := pgoracle.Start(t)
	points := pgoracle.CPUDataset(20, cpuStart, 10*time.Second, 720, 42, opts)
	// Drop some fields so NULLs occur: usage_guest is absent from every
	// seventh point (both sides see the same data).
	for i := range points {
		if i%7 == 3 && len(points[i].Fields) > 1 {
			f := make(map[string]any, len(points[i].Fields))
			for k, v := range points[i].Fields {
				if k != "usage_guest" {
					f[k] = v
				}
			}
			points[i].Fields = f
		}
	}
	eng := loadEngine(t, pgoracle.CPUTable, points)
	loadOracle(t, o, eng, pgoracle.CPUTable, points)

	var tl tally
	for _, c := range tsbsCases() {
		check(t, o, eng, c, &tl)
	}
	seed := uint64(7)
	if v, err := strconv.Atoi(os.Getenv("SILT_ORACLE_QUERIES")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("SILT_ORACLE_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 11))
	for i := 0; i < n; i++ {
		check(t, o, eng, randomCase(r), &tl)
	}
	t.Logf("oracle: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides, %d answered from rollups", tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
	if tl.rejected > 3 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}
