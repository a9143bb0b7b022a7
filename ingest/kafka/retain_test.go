package kafka

import (
	"testing"
)

// TestPollsDoNotPinOldRecords: after polls of 500 records and then a poll
// of 3, the slots of the consumer's record list past its length hold
// nothing. A record left there keeps its fetch's decompressed batch
// reachable, and such slots, refilled by polls of every size, kept many
// old batches alive.
func TestPollsDoNotPinOldRecords(t *testing.T) {
	cluster := newCluster(t, 1)
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	e := openEngine(t, dir)
	defer e.Close()
	produce(t, brokers, 0, 2000)
	r := start(t, testConfig(brokers, dir), e, false)
	waitFor(t, "2000 rows", func() bool { return rowCount(t, e) == 2000 })
	produce(t, brokers, 2000, 3)
	waitFor(t, "2003 rows", func() bool { return rowCount(t, e) == 2003 })
	r.stop(t)
	b := r.c.batches["db"]
	if b == nil {
		t.Fatal("no batch for db")
	}
	if cap(b.msgs) < 100 {
		t.Fatalf("the record list never held a large poll (cap %d): the test shows nothing", cap(b.msgs))
	}
	pinned := 0
	for _, m := range b.msgs[len(b.msgs):cap(b.msgs)] {
		if m != nil {
			pinned++
		}
	}
	if pinned > 0 {
		t.Errorf("%d records of earlier polls stay reachable past the %d of the last poll", pinned, len(b.msgs))
	}
}
