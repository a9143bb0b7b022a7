// Package iceberg publishes Silt's cold data as Apache Iceberg tables in the
// bucket, so that outside engines (Spark, Trino, Flink, DuckDB, iceberg-go)
// read it without going through Silt (docs/iceberg.md).
//
// One Iceberg table per Silt table, at <table-root>/<db>/<table>/ in the
// store: a node's own prefix, or a cluster's root, where every writer
// commits the files under its own prefix into the same table and keeps the
// others' (Publisher.DataPrefix). Its data files are the tiered segments themselves (they
// are Parquet already); only the metadata is written here: manifests (Avro:
// one for each commit's new files, kept until files leave them) and a
// manifest list per snapshot, written with iceberg-go, and the table
// metadata JSON, written by this package. A table holds only
// published windows: day windows whose segments are all in the bucket and
// hold no point twice, so the rows outside engines read are the rows Silt
// answers.
//
// Commits are atomic without a catalog service: metadata versions are the
// objects metadata/v<N>.metadata.json, each created with a conditional put
// (If-None-Match: *), which is the commit point (a writer that finds the
// version taken builds its change again on the newer one); metadata/version-hint.text
// then names the newest version for readers that use it (the layout of
// Iceberg's file-system catalog). Everything a version names is written
// before the version itself, so a crash at any point leaves the previous
// version complete and current.
package iceberg
