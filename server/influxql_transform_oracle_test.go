package server

import (
	"fmt"
	"time"
)

// transformOracleCases are transformations over GROUP BY time against
// InfluxDB 1.6: every transformation with and without fill, in both
// orders, over ranges whose edges fall inside the data (where InfluxDB
// reads one window beyond the range so that the first window has a
// value), before it, between windows and unbounded, over several series
// and aggregates.
func transformOracleCases(base time.Time) []oracleCase {
	ms := func(d time.Duration) string { return fmt.Sprintf("%dms", base.Add(d).UnixNano()/1e6) }
	type rng struct{ lo, hi string }
	ranges := []rng{
		{"time >= " + ms(10*time.Minute), "time <= " + ms(40*time.Minute)},                             // both edges on window starts inside the data
		{"time >= " + ms(9*time.Minute+30*time.Second), "time < " + ms(31*time.Minute+15*time.Second)}, // edges inside windows
		{"time >= " + ms(-5*time.Minute), "time <= " + ms(20*time.Minute)},                             // starts before the data
		{"time > " + ms(45*time.Minute), "time <= " + ms(70*time.Minute)},                              // ends after the data
		{"time >= " + ms(17*time.Minute), "time <= " + ms(33*time.Minute)},                             // around the disk gap
		{"time >= " + ms(50*time.Minute), ""},                                                          // open end: now()
		{"", "time <= " + ms(30*time.Minute)},                                                          // no lower bound
	}
	type tr struct{ fn, table, group string }
	transforms := []tr{
		{`derivative(mean("used"))`, "disk", `, "path"`},
		{`non_negative_derivative(max("free"), 1m)`, "disk", `, "path"`},
		{`difference(last("used"))`, "disk", `, "path"`},
		{`non_negative_difference(sum("free"))`, "disk", ""},
		{`moving_average(mean("used"), 3)`, "disk", `, "path"`},
		{`cumulative_sum(count("used"))`, "disk", `, "path"`},
		{`derivative(mean("usage_user"), 10s)`, "cpu", `, "hostname"`},
		{`non_negative_derivative(sum("usage_system"))`, "cpu", `, "region"`},
		{`difference(max("usage_idle"))`, "cpu", ""},
		{`non_negative_difference(min("usage_user"))`, "cpu", `, "arch"`},
		{`moving_average(max("usage_user"), 2)`, "cpu", `, "region"`},
		{`difference(first("used")), derivative(min("free")), moving_average(mean("used"), 2)`, "disk", `, "path"`},
		{`derivative(spread("usage_user")), difference(count("usage_user"))`, "cpu", `, "os"`},
		{`non_negative_derivative(percentile("usage_user", 90), 1m)`, "cpu", ""},
		{`difference(median("used"))`, "disk", `, "host"`},
	}
	intervals := map[string][]string{"disk": {"2m", "3m", "5m"}, "cpu": {"1m", "4m", "10m"}}
	fills := []string{"", " fill(null)", " fill(none)", " fill(0)", " fill(previous)", " fill(linear)", " fill(-1.5)"}
	var cs []oracleCase
	n := 0
	for i, t := range transforms {
		for j := 0; j < 6; j++ {
			r := ranges[(i*3+j*5)%len(ranges)]
			fill := fills[(i+j*3)%len(fills)]
			iv := intervals[t.table][(i+j)%3]
			order := ""
			if (i+j)%2 == 1 {
				order = " ORDER BY time DESC"
			}
			where := r.lo
			if r.hi != "" {
				if where != "" {
					where += " AND "
				}
				where += r.hi
			}
			limit := ""
			if n%5 == 4 {
				limit = " LIMIT 4"
			}
			n++
			q := fmt.Sprintf(`SELECT %s FROM "%s" WHERE %s GROUP BY time(%s)%s%s%s%s`, t.fn, t.table, where, iv, t.group, fill, order, limit)
			cs = append(cs, oracleCase{q: q, epoch: "ms"})
		}
	}
	in := "time >= " + ms(10*time.Minute) + " AND time <= " + ms(40*time.Minute)
	for _, q := range []string{
		// Raw transformations, per series, in output order.
		`SELECT difference("used") FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 5`,
		`SELECT non_negative_difference("free") FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 6`,
		`SELECT derivative("used", 1m) FROM "disk" WHERE ("path" = '/var') AND ` + in + ` ORDER BY time DESC LIMIT 5`,
		`SELECT non_negative_derivative("usage_user") FROM "cpu" WHERE ("hostname" = 'host_2') AND ` + in + ` ORDER BY time DESC LIMIT 5`,
		`SELECT moving_average("used", 3) FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 4`,
		`SELECT cumulative_sum("used") FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 4`,
		`SELECT elapsed("used", 1s) FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 4`,
		// Several transformations: InfluxDB limits each field's points,
		// then joins them by time.
		`SELECT cumulative_sum("used"), moving_average("used", 3) FROM "disk" WHERE ` + in + ` GROUP BY "path" ORDER BY time DESC LIMIT 4`,
		`SELECT difference("used"), derivative("free", 1m) FROM "disk" WHERE ` + in + ` GROUP BY "path" LIMIT 3 OFFSET 2`,
		// A transformation that reads a window before the range next to
		// one that does not.
		`SELECT cumulative_sum(max("used")), difference(max("used")) FROM "disk" WHERE ` + in + ` GROUP BY time(4m), "path" fill(null)`,
		`SELECT cumulative_sum(mean("free")), non_negative_derivative(mean("free"), 1m) FROM "disk" WHERE ` + in + ` GROUP BY time(3m) fill(previous) ORDER BY time DESC`,
		// Rows joined from several transformations: fill(previous) and
		// fill(N) fill their holes too.
		`SELECT cumulative_sum(mean("free")), non_negative_derivative(mean("free"), 1m) FROM "disk" WHERE ` + in + ` GROUP BY time(3m) fill(7)`,
		`SELECT cumulative_sum(max("used")), non_negative_difference(max("used")) FROM "disk" WHERE ` + in + ` GROUP BY time(3m), "path" fill(7.5)`,
		`SELECT cumulative_sum(max("used")), non_negative_difference(max("used")) FROM "disk" WHERE ` + in + ` GROUP BY time(3m), "path" fill(linear) ORDER BY time DESC`,
		// Math over transformations, and fill(linear) of integers in both
		// orders (interpolated from the earlier window in output order).
		`SELECT abs(difference(mean("used"))) FROM "disk" WHERE ` + in + ` GROUP BY time(2m), "path" fill(none)`,
		`SELECT max("used") FROM "disk" WHERE ` + in + ` GROUP BY time(2m), "path" fill(linear) ORDER BY time DESC`,
		`SELECT last("used") FROM "disk" WHERE ` + in + ` GROUP BY time(2m), "path" fill(linear)`,
		// A lone count(distinct()) or mode() is stamped with the range start.
		`SELECT count(distinct("used")) FROM "disk" WHERE ` + in,
		`SELECT count(distinct("free")) FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT mode("status") FROM "disk" WHERE ` + in,
		`SELECT mode("free") FROM "disk" WHERE ("path" = '/') AND ` + in,
	} {
		cs = append(cs, oracleCase{q: q, epoch: "ms"})
	}
	return cs
}
