package sink

// SourceOffsets are stream positions that a write covers, keyed by source
// partition ("kafka/<topic>/<partition>", "nats/<stream>/<consumer>"). The
// value is the next position to consume: the last consumed offset + 1.
//
// The engine logs offsets in the same WAL record as the rows they cover and
// writes them into the manifest together with the segments that hold those
// rows, so its offsets can never be ahead of, or behind, its data: that is
// what makes stream ingestion exactly-once.
type SourceOffsets map[string]int64

// Advance raises every position of dst to at least the one in src. A source
// never moves backwards: a position below the recorded one would be a
// re-consumed record, and the recorded position still covers it.
func (dst SourceOffsets) Advance(src SourceOffsets) {
	for k, v := range src {
		if cur, ok := dst[k]; !ok || v > cur {
			dst[k] = v
		}
	}
}

// SourcePart describes, in a write from a stream source, the rows of one
// source partition and the tenure under which they were consumed. It lets a
// node that crashed drop at replay the rows that a later owner of the
// partition consumed again (see SourceHooks and docs/scaling.md).
type SourcePart struct {
	Key string // source key, e.g. "kafka/metrics/3"
	// Tenure identifies the ownership period of the partition in which the
	// rows were consumed (for Kafka: the consumer-group generation).
	Tenure int64
	// Next is the position the write brings the partition to, or -1 when
	// this record does not move it (a poll spanning several databases
	// moves the positions in its last record only).
	Next int64
	// The rows whose Line is in [FirstLine, FirstLine+len(Offsets)) came
	// from the messages at Offsets (increasing), in order.
	FirstLine int
	Offsets   []int64
}

// SourceHooks let a stream source reconcile the engine's WAL with the
// positions its upstream (a Kafka consumer group) recorded. Both methods may
// block on the network; both are optional in effect (an engine without
// hooks keeps every row and never waits).
type SourceHooks interface {
	// ReplayLimit returns, for rows of source key consumed under tenure,
	// the offset from which a later owner of the partition consumes (or
	// will consume) them again: replay drops those rows and does not let
	// the key's position pass the limit. ok false keeps every row.
	ReplayLimit(key string, tenure int64) (limit int64, ok bool)
	// AwaitCommitted is called by a flush before its manifest names
	// segments holding the rows up to offs: it returns nil once upstream
	// has confirmed those positions (so replay never needs to drop flushed
	// rows), or after a bounded wait. An error refuses the flush: some of
	// the rows belong to another node now and must be dropped first (the
	// flush is retried; a restart's replay drops them).
	AwaitCommitted(offs SourceOffsets) error
}
