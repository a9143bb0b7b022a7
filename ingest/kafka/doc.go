// Package kafka consumes Kafka topics into Silt with exactly-once delivery
// into segments, using franz-go.
//
// Exactly-once: each write carries the offsets its rows bring their
// partitions to (sink.Sink.WriteParts), in the same WAL record as the rows and
// later in the same manifest commit as the segments holding them. When the
// group assigns a partition, the consumer starts it at Silt's own recorded
// offset, not at the group's committed one (it takes the larger of the two,
// so that a partition handed over by another Silt instance resumes where
// that instance committed). Group offsets are committed after every durable
// write, for lag monitoring with ordinary Kafka tools and for hand-over.
//
// Hand-over after a crash (handover.go, tenure.go): group commits are
// asynchronous, so a node killed after a WAL fsync but before the commit
// lands leaves records that the partition's next owner consumes again.
// Every commit carries the partition's tenure history (node, generation,
// start offset) as metadata, every WAL record names the tenure and offset
// of each row, and at restart the replay drops the rows at or past the
// start of the tenure that followed the node's own. Flushes wait for the
// group to confirm their positions, so those rows are never in segments.
//
// Fencing (Config.OnFenced): a node that learns it lost partitions while
// alive (its group session expired in a stall, or a revoke's commit
// failed) and holds rows the group never confirmed refuses every flush
// from then on and hands over to OnFenced; silt serve restarts itself, and
// the replay drops those rows as after a crash.
//
// One fetch is processed at a time and rebalances wait for it to finish
// (kgo.BlockRebalanceOnPoll), so a revoked partition's last durable offsets
// are committed synchronously before another member gets it.
//
// Poison messages (undecodable) go to the dead letter with the reason and
// are counted; their offsets advance like any other, so they never stall the
// partition. When the engine answers ErrBackpressure (head memory full) the
// partitions of the fetch in hand are paused, the write retried with backoff,
// and fetching resumes when it succeeds: at most one fetch is ever buffered.
package kafka
