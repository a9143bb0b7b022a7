package influxql

import (
	"fmt"
	"sort"

	"github.com/influxdata/influxql"
)

// Deleting data. DROP DATABASE and DROP MEASUREMENT remove durably
// (engine.DropDatabase / DropTable); DROP SERIES and DELETE are accepted
// only without WHERE, where they remove whole measurements, which is what
// InfluxDB 1.6 does with them then (the measurement disappears from SHOW
// MEASUREMENTS). Deleting some series or a time range would need
// tombstones, which Silt does not have.

// dropDatabase: like InfluxDB, dropping a database that does not exist
// is not an error.
func dropDatabase(b Backend, st *influxql.DropDatabaseStatement) error {
	if st.Name == "" {
		return ErrDatabaseRequired
	}
	return b.DropDatabase(st.Name)
}

// dropMeasurement drops one measurement of the request's database (the
// statement cannot name another); a measurement that does not exist is
// not an error, a database that does not exist is.
func dropMeasurement(b Backend, req Request, st *influxql.DropMeasurementStatement) error {
	if _, ok := b.Tables(req.Database); !ok {
		return databaseNotFound(req.Database)
	}
	return b.DropMeasurement(req.Database, st.Name)
}

// dropSeries serves DROP SERIES FROM m and DELETE FROM m without WHERE:
// every series of the measurements named (or matched by a regex) goes,
// that is the measurements themselves.
func dropSeries(b Backend, req Request, stmt string, sources influxql.Sources, cond influxql.Expr) error {
	if cond != nil {
		return fmt.Errorf("%s with WHERE is not supported by Silt: it deletes whole measurements only (DROP MEASUREMENT, or %s FROM m without WHERE); see docs/influxql.md", stmt, stmt)
	}
	if len(sources) == 0 {
		return fmt.Errorf("%s without FROM or WHERE: name the measurements", stmt)
	}
	tables, ok := b.Tables(req.Database)
	if !ok {
		return databaseNotFound(req.Database)
	}
	var names []string
	for _, src := range sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			return fmt.Errorf("%s: unsupported source %s", stmt, src)
		}
		if m.Regex == nil {
			names = append(names, m.Name)
			continue
		}
		for name := range tables {
			if m.Regex.Val.MatchString(name) {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := b.DropMeasurement(req.Database, name); err != nil {
			return err
		}
	}
	return nil
}
