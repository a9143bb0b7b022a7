package kafka

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// At replay the hand-over waits for the group's offsets as long as
// --kafka.replay-wait says: with a bound it gives up and keeps every row
// (ok false), with none (negative) it waits until the coordinator answers.
// The coordinator here refuses OffsetFetch while refusing is set.
func TestReplayWaitsForGroupOffsets(t *testing.T) {
	cluster := newCluster(t, 1)
	brokers := cluster.ListenAddrs()
	var refusing atomic.Bool
	refusing.Store(true)
	cluster.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !refusing.Load() {
			return nil, nil, false
		}
		of := req.(*kmsg.OffsetFetchRequest)
		resp := of.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		for _, g := range of.Groups { // v8+: one answer per group
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	key := Key(topic, 0)

	bounded := NewHandover(testConfig(brokers, t.TempDir()), t.TempDir(), 500*time.Millisecond, quietLog())
	if limit, ok := bounded.ReplayLimit(key, 3); ok {
		t.Fatalf("with the group unreadable and a 500ms wait: limit %d, want every row kept (ok false)", limit)
	}

	unbounded := NewHandover(testConfig(brokers, t.TempDir()), t.TempDir(), -1, quietLog())
	type answer struct {
		limit int64
		ok    bool
	}
	got := make(chan answer, 1)
	go func() {
		l, ok := unbounded.ReplayLimit(key, 3)
		got <- answer{l, ok}
	}()
	select {
	case a := <-got:
		t.Fatalf("the unbounded wait returned (%d, %v) while the group was unreadable", a.limit, a.ok)
	case <-time.After(2 * time.Second):
	}
	refusing.Store(false)
	select {
	case a := <-got:
		// Nothing committed: the next owner starts at the log's start.
		if !a.ok || a.limit != 0 {
			t.Fatalf("after the group answered: (%d, %v), want (0, true)", a.limit, a.ok)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the unbounded wait did not end once the group answered")
	}
}
