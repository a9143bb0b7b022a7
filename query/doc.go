// Package query will hold the SQL and InfluxQL engines over the head and
// segments (issues 3 and 4). Until then GET /api/v1/export reads tables back.
package query
