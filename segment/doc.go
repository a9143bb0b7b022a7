// Package segment holds a table's data on its way to and on disk: the
// in-memory head (arrival-ordered columns, Arrow views) and its flush into
// Parquet segment files, segment reading and streaming rewrite, the tag
// index in each segment's footer, rollups and the time windows that name
// segment directories. The head lives here because its flush writes Parquet
// straight from the head's columns, without copying them out.
package segment
