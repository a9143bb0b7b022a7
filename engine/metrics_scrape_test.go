package engine

import (
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// gauge returns the value of the gauge name in families, and whether it
// was there.
func gauge(families []*dto.MetricFamily, name string) (float64, bool) {
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// A /metrics scrape takes no engine lock: one answers while the engine's
// mutex is held (as a write or flush holds it), and scrapes running beside
// writes (under -race) read values that only grow with the writes and end
// at what the engine holds: the head's rows and the WAL's bytes.
// Mutation-checked: with walForMetrics taking e.mu again, the scrape under
// the held mutex did not answer, and the test failed at its guard.
func TestMetricsScrapeTakesNoEngineLock(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	t.Cleanup(func() { e.Close() })
	write(t, e, "db", point{"m", "h0", 1, 1})

	e.mu.Lock()
	done := make(chan error, 1)
	go func() {
		_, err := e.Metrics().Registry.Gather()
		done <- err
	}()
	// A guard against a hang, not a measure of speed: a scrape answers in
	// milliseconds, and one waiting for e.mu never does.
	select {
	case err := <-done:
		e.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		e.mu.Unlock()
		<-done
		t.Fatal("a /metrics scrape waited for the engine's mutex")
	}

	const writers, perWriter = 2, 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scrapeErr := make(chan error, 1)
	go func() {
		defer close(scrapeErr)
		var lastRows, lastWAL float64
		for {
			select {
			case <-stop:
				return
			default:
			}
			fams, err := e.Metrics().Registry.Gather()
			if err != nil {
				scrapeErr <- err
				return
			}
			rows, ok1 := gauge(fams, "silt_head_rows")
			wal, ok2 := gauge(fams, "silt_wal_bytes")
			if !ok1 || !ok2 || rows < lastRows || wal < lastWAL {
				t.Errorf("scrape: head rows %v (before %v), WAL bytes %v (before %v); want both present and not shrinking without a flush", rows, lastRows, wal, lastWAL)
				return
			}
			lastRows, lastWAL = rows, wal
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				write(t, e, "db", point{"m", "h" + string(rune('a'+w)), int64(10 + i), float64(i)})
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-scrapeErr; err != nil {
		t.Fatal(err)
	}
	fams, err := e.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := gauge(fams, "silt_head_rows"); rows != float64(e.headRows.Load()) || rows != 1+writers*perWriter {
		t.Errorf("silt_head_rows %v after the writes, want %d (the engine's count %d)", rows, 1+writers*perWriter, e.headRows.Load())
	}
	if wal, _ := gauge(fams, "silt_wal_bytes"); wal <= 0 || wal != float64(e.wal.Size()) {
		t.Errorf("silt_wal_bytes %v after the writes, want the WAL's size %d", wal, e.wal.Size())
	}
}
