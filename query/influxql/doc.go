// Package influxql answers InfluxDB 1.x queries (the /query API that
// Grafana's InfluxDB data source, Telegraf and the influx CLI speak).
//
// Statements are parsed with github.com/influxdata/influxql. SELECT is
// compiled into Silt's SQL plan (query/sql) and run by the same vectorized
// executor as /api/v1/sql; this package then shapes the rows the way
// InfluxDB does: one series per tag set, time buckets filled by fill(),
// LIMIT/OFFSET per series, SLIMIT/SOFFSET over series, times as RFC 3339
// or epoch integers. Meta statements (SHOW DATABASES, MEASUREMENTS, TAG
// KEYS, TAG VALUES, FIELD KEYS, SERIES, RETENTION POLICIES, CREATE
// DATABASE) are answered from the engine's schema and small SQL queries.
//
// docs/influxql.md lists what is supported and where Silt deliberately
// differs from InfluxDB 1.6.
package influxql
