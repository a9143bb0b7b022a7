// Package stream holds what the stream sources (ingest/kafka, ingest/nats)
// share: decoding a message into rows of a Batch, the dead-letter sinks for
// messages that cannot be decoded. They write through ingest/sink.
//
// A message is decoded all or nothing: if any of its lines fails to decode,
// none of its rows are kept and the whole message goes to the dead letter
// with the reasons. That keeps a dead-lettered message replayable as it is.
package stream
