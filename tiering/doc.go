// Package tiering moves cold segments to S3-compatible object storage and
// reads them back through a bounded local cache (docs/tiering.md).
//
// The parts, each usable on its own:
//
//	ObjectStore          small interface: Put, GetRange, Stat, List, Delete
//	  S3Store            any S3-compatible endpoint, via minio-go/v7
//	  FSStore            a local directory (atomic, fsynced writes)
//	  MemStore           in memory, for unit tests
//	  MetricsStore       wrapper: Prometheus ops, bytes, errors, latency
//	  FaultStore         wrapper: fail, slow or cut short chosen calls (tests)
//	Uploader             upload + verify (size and CRC-64/NVME) with bounded
//	                     concurrency and retry; data first, manifest last
//	RemoteFile           io.ReaderAt + io.Seeker + Size over GetRange, the
//	                     parquet.ReaderAtSeeker arrow-go's file.Reader needs
//	BlockCache           size-bounded on-disk LRU of fixed-size blocks
//	FooterCache          in-memory LRU of object tails (Parquet footers)
//
// Errors are classified so callers can act on them with errors.Is:
// ErrNotFound (the object is not there: do not retry), ErrUnavailable (the
// store could not be reached or answered 5xx: retry later, keep local
// copies), ErrAccessDenied (credentials: halt), ErrChecksum (the stored
// object is not what was sent, or a cached block is damaged).
package tiering
