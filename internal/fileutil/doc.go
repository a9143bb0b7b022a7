// Package fileutil holds the crash-safe file operations shared by the WAL,
// segments and the manifest: directory fsync, durable mkdir, atomic replace.
package fileutil
