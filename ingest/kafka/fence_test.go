package kafka

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltdb/silt/engine"
)

// A node whose group session is lost while it is alive (a stall longer
// than the session timeout) holds rows the group never confirmed; the next
// owner starts at the group's offset and consumes them again. The node must
// refuse to flush them (that would make them permanent on both nodes) and
// hand over to OnFenced, whose restart replays the WAL without them. Here
// node A never commits, the coordinator answers its heartbeat with
// UNKNOWN_MEMBER_ID, A "restarts" (engine reopened from its WAL, as the
// exec in cmd/silt does) while node B consumes every partition from the
// group's offset: the two engines together hold every record exactly once.
// Without the fence A's flush makes the rows permanent and both hold them.
func TestLostSessionFencesFlushes(t *testing.T) {
	const n = 1000
	cluster := newCluster(t, 2)
	brokers := cluster.ListenAddrs()
	produce(t, brokers, 0, n)

	dirA := t.TempDir()
	cfgA := testConfig(brokers, dirA)
	cfgA.Handover = NewHandover(cfgA, dirA, 10*time.Second, quietLog())
	fenced := make(chan string, 4)
	cfgA.OnFenced = func(reason string) { fenced <- reason }
	eA, err := engine.Open(engine.Config{DataDir: dirA, Logger: quietLog(), FlushInterval: time.Hour, Sources: cfgA.Handover})
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, cfgA, eA, true) // no commits: every position stays unconfirmed
	waitFor(t, "A consumed every record", func() bool { return rowCount(t, eA) == n })

	// The coordinator forgets A's member: its next heartbeat is refused.
	member, _ := a.c.cl.GroupMetadata()
	var once sync.Once
	cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.MemberID != member {
			return nil, nil, false
		}
		handled := false
		once.Do(func() { handled = true })
		if !handled {
			return nil, nil, false
		}
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	var reason string
	select {
	case reason = <-fenced:
	case <-time.After(30 * time.Second):
		t.Fatal("A lost its session with unconfirmed rows, but OnFenced was not called")
	}
	for _, p := range []string{Key(topic, 0), Key(topic, 1)} {
		if !strings.Contains(reason, p+" [0,") {
			t.Errorf("fencing reason %q does not name %s from offset 0", reason, p)
		}
	}
	if err := eA.Flush(); !errors.Is(err, ErrFenced) {
		t.Fatalf("A's flush after the fence = %v, want ErrFenced", err)
	}
	if segs := len(eA.Manifest().Segments); segs != 0 {
		t.Fatalf("A's manifest names %d segments after the fence", segs)
	}
	select {
	case r := <-fenced:
		t.Errorf("OnFenced called twice (%q)", r)
	default:
	}

	// A goes down as the restart does (no flush, no commit); B consumes
	// every partition from the group's offsets.
	a.cancel()
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	a.c.cl.Close()
	if err := eA.Close(); err == nil {
		t.Error("A's engine closed with a flush, after the fence")
	}
	dirB := t.TempDir()
	eB := openEngine(t, dirB)
	defer eB.Close()
	b := start(t, testConfig(brokers, dirB), eB, false)
	waitFor(t, "B consumed every record", func() bool { return rowCount(t, eB) == n })
	b.stop(t)

	// A's start: the replay drops every row B consumed again.
	hA := NewHandover(testConfig(brokers, dirA), dirA, 10*time.Second, quietLog())
	eA, err = engine.Open(engine.Config{DataDir: dirA, Logger: quietLog(), FlushInterval: time.Hour, Sources: hA})
	if err != nil {
		t.Fatal(err)
	}
	defer eA.Close()
	if got := rowCount(t, eA); got != 0 {
		t.Errorf("A holds %d rows after its restart; B holds all %d, so A should hold none", got, n)
	}
}
