// Package nats consumes a NATS JetStream stream into Silt through a durable
// pull consumer.
//
// A fetched batch is written with sink.Sink.WriteFrom (the engine), which logs the highest
// stream sequence of the batch (+1) with the rows; messages are acknowledged
// only after that WAL record is fsynced. A message redelivered because its
// acknowledgement was lost (a crash between the fsync and the ack, or an ack
// wait that ran out) has a stream sequence below Silt's recorded position
// and is acknowledged without being written again. At start the durable
// consumer is recreated at Silt's recorded position, so that no message a
// killed run left unacknowledged can come back after newer ones (a
// redelivery below the position must mean "already written"). Exactly-once
// holds for one Silt instance per durable consumer. Several instances scale out with one
// durable consumer each over disjoint filter subjects.
//
// Undecodable messages go to the dead letter (a file or a subject) with the
// reason and are acknowledged. While the engine answers ErrBackpressure the
// consumer stops fetching, tells the server the held messages are in
// progress (so their ack wait does not run out), and retries.
package nats
