package server

import (
	"fmt"
	"time"
)

// selectorOracleCases are selectors next to tags and fields (InfluxDB
// answers the selected point's tags and fields) and mode(), percentile()
// and count(distinct()) next to other aggregates and in arithmetic. (No
// case lets points of one time from several series compete for first()
// or last(): which one InfluxDB keeps varies.)
func selectorOracleCases(base time.Time) []oracleCase {
	ms := func(d time.Duration) string { return fmt.Sprintf("%dms", base.Add(d).UnixNano()/1e6) }
	in := "time >= " + ms(10*time.Minute) + " AND time <= " + ms(40*time.Minute)
	gap := "time >= " + ms(18*time.Minute) + " AND time <= " + ms(30*time.Minute) // the disk gap inside
	var cs []oracleCase
	for _, q := range []string{
		`SELECT max("used"), "host" FROM "disk" WHERE ` + in,
		`SELECT min("used"), "host" FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT "host", max("used") FROM "disk" WHERE ` + gap + ` GROUP BY time(4m), "path"`,
		`SELECT max("used"), "host", "path" FROM "disk" WHERE ` + in + ` GROUP BY time(10m)`,
		`SELECT max("used"), "host"::tag, "free"::field FROM "disk" WHERE ` + gap,
		`SELECT max("used") AS "m", "host" AS "h", "status" FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT max("usage_user"), "hostname", "usage_system" FROM "cpu" WHERE ` + in + ` GROUP BY "region"`,
		`SELECT min("usage_idle"), "hostname", "arch" FROM "cpu" WHERE ` + in + ` GROUP BY time(10m), "region" fill(none)`,
		`SELECT first("usage_user"), "region" FROM "cpu" WHERE ` + in + ` GROUP BY "hostname"`,
		`SELECT last("used"), "free", "status" FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT last("status"), "nosuch", "path" FROM "disk" WHERE ` + in + ` GROUP BY "host"`,
		`SELECT first("used"), "free" FROM "disk" WHERE ` + gap + ` GROUP BY time(3m), "path"`,
		`SELECT percentile("used", 50), "path" FROM "disk" WHERE ` + in,
		`SELECT percentile("usage_user", 90), "hostname" FROM "cpu" WHERE ` + in + ` GROUP BY time(15m), "region"`,
		`SELECT max("used"), "host" FROM "disk" WHERE ` + gap + ` GROUP BY time(4m), "path" ORDER BY time DESC LIMIT 2`,
		`SELECT max("used"), min("used"), "path" FROM "disk" WHERE ` + in,
		// fill() of a selector with names: previous repeats the previous
		// row, linear the value only, a number every missing value.
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(null)`,
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(0)`,
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(previous)`,
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(linear)`,
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(none)`,
		`SELECT max("used"), "host", "status" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m) fill(7.5)`,
		`SELECT min("free"), "host" FROM "disk" WHERE ` + gap + ` GROUP BY time(2m), "path" fill(previous) ORDER BY time DESC`,
		// mode(), percentile(), count(distinct()) with other aggregates.
		`SELECT mode("used"), mean("used"), count("free") FROM "disk" WHERE ` + in + ` GROUP BY time(10m), "path"`,
		`SELECT mean("used"), mode("free"), percentile("used", 90), sum("free") FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT count(distinct("used")), mean("used") FROM "disk" WHERE ` + in + ` GROUP BY time(5m) fill(0)`,
		`SELECT percentile("used", 50), spread("used") FROM "disk" WHERE ` + gap + ` GROUP BY time(4m), "path" fill(previous)`,
		`SELECT mode("status"), count("status"), last("used") FROM "disk" WHERE ` + gap + ` GROUP BY time(4m) fill(none)`,
		`SELECT mode("free") + 1, max("free") FROM "disk" WHERE ` + in + ` GROUP BY "path"`,
		`SELECT percentile("used", 90) - mean("used"), count(distinct("used")) / count("used") FROM "disk" WHERE ` + in + ` GROUP BY time(10m), "path"`,
	} {
		cs = append(cs, oracleCase{q: q, epoch: "ms"})
	}
	return cs
}
