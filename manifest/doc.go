// Package manifest holds the manifest: the single durable list of live
// segments, table schemas, databases and the WAL position they cover,
// replaced atomically on every commit.
package manifest
