// Package query holds what every query front end shares: the result shape
// (columns and rows) and its encoders (JSON, CSV, Arrow IPC). The SQL front end
// is query/sql, the executor query/exec, and InfluxQL query/influxql, which
// runs over the same executor (docs/architecture.md shows the read path).
package query
