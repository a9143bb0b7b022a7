// Package importer bulk-loads line-protocol or NDJSON files into a running
// Silt server over HTTP. It backs the `silt import` command.
//
// # Pipeline
//
// Files are read one after another. Each file is cut into chunks at line
// ends: a line is never split, and neither is a line-protocol point whose
// quoted string field holds raw newlines (the server's decoder accepts them
// and Silt's export writes them), which spans several lines. A chunk holds
// Config.BatchLines points, or fewer once it reaches a few MiB. Blank lines,
// and '#' comment lines in line protocol, are not sent; everything else is
// sent byte for byte. Each chunk keeps a map from request line to file line
// so that the 1-based line numbers of a 400 response can be reported as file
// line numbers. Config.Workers goroutines gzip the chunks and POST them
// concurrently over one keep-alive HTTP client.
//
// Inputs may be gzip-compressed (detected by magic bytes, never by name);
// multi-member gzip streams are read to the end.
//
// # Errors and retries
//
//   - 2xx: the whole chunk was written.
//   - 400 with a JSON body whose "line" is >= 1: the good lines were written;
//     the bad lines the body reports ("errors" if present, else "line") are
//     recorded in Result.Rejected and its "written" and "rejected" counts
//     are added up. The import goes on. A 400 without a line number is a
//     request-level error (unknown precision, bad database name...) and
//     stops the import.
//   - 429 and 503 (honouring Retry-After), 502, 504 and connection errors:
//     nothing was written; the chunk is resent with backoff until it gets
//     through or the context is cancelled. Other 5xx are retried a few times.
//   - Any other status (401, 403, 404, 413, 507, ...) stops the import with an
//     error explaining what to do.
//
// # Resuming
//
// Progress is checkpointed per file in Config.StateDir, in a small JSON file
// whose name is a hash of the file's absolute path, size and modification
// time plus the server, database, precision and (for NDJSON) table. It holds
// the highest byte offset below which every chunk has been acknowledged by
// the server (chunks complete out of order, so this is the contiguous
// acknowledged prefix), and the number of file lines in that prefix. For
// gzip inputs the offset counts uncompressed bytes; resuming decompresses and
// discards that many bytes. The checkpoint is rewritten atomically (temp file
// and rename) at most about once a second and when the run ends, and is
// marked complete when the whole file has been acknowledged, so that running
// the same import again reports the file as already imported unless
// Config.Resume is false.
//
// Delivery is at least once: chunks that were in flight when a run was
// interrupted (or crashed) lie beyond the checkpoint and are sent again by the
// next run, and a chunk whose response was lost is resent. That is safe
// because a Silt write is idempotent: a point with the same series and
// timestamp as an existing one replaces it with the same values.
package importer
