// Package compaction merges a time window's small segments into fewer,
// larger ones and trims rows that retention has expired.
//
// It has two halves, both free of engine state so they can be tested alone:
//
//   - Policy.Plan (plan.go) looks at one window's segments in write order
//     and picks the newest run to merge, keeping the number of segments per
//     window bounded (docs/compaction.md derives the bound).
//   - Merge (merge.go) is a streaming k-way merge over segment row readers
//     with last-write-wins deduplication, writing output segments through
//     segment.SegmentWriter. Memory is bounded by Config.MemoryBytes: it
//     sets the decode batch and the fan-in, and more inputs than the fan-in
//     are merged in passes through intermediate run files.
//
// The engine (engine/compact.go) wires them: it plans under the flush lock,
// reserves output segment ids, merges without locks, swaps the manifest and
// deletes inputs once no scan holds them.
//
// Errors are sorted into retry (I/O, a full disk: try again later) and halt
// (a corrupt or inconsistent input: stop touching that window), see errors.go.
package compaction
