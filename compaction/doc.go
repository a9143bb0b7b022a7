// Package compaction will merge a window's small segments into fewer, larger
// ones with a streaming k-way merge, apply retention and build rollups
// (issue 5). Until then segments accumulate one per flush per table per day.
package compaction
