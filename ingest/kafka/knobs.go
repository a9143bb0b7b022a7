package kafka

import "time"

// testKnobs widen the windows crash tests must hit. Production leaves them
// zero: they are unexported, set by this package's tests directly and, in
// a binary built with the silttest tag, from SILT_TEST_KAFKA_* variables
// (knobs_silttest.go) so that tests which spawn silt serve can set them.
type testKnobs struct {
	// commitDelay delays each poll's group commit after its WAL fsync,
	// widening the window a kill -9 must hit to leave the group behind
	// the WAL.
	commitDelay time.Duration
	// gateCommitDelay delays a flush's group commit between building it
	// and handing it to franz-go, as a rebalance's join and sync can: the
	// window in which a revoke must not be overtaken by it.
	gateCommitDelay time.Duration
}
