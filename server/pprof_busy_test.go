package server

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two CPU profiles (or traces) at once: the runtime takes one at a time,
// so the second gets 409 profile-busy in Silt's error shape, never a 500.
func TestConcurrentProfilesConflict(t *testing.T) {
	s := startServerWith(t, Config{DebugPprof: true})
	for _, name := range []string{"profile", "trace"} {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		bodies := make([][]byte, 2)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(s.url + "/debug/pprof/" + name + "?seconds=2")
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				codes[i] = resp.StatusCode
				bodies[i], _ = io.ReadAll(resp.Body)
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		ok, busy := 0, 0
		for i, c := range codes {
			var e ErrorBody
			switch {
			case c == http.StatusOK:
				ok++
			case c == http.StatusConflict && json.Unmarshal(bodies[i], &e) == nil && e.Code == "profile-busy":
				busy++
			default:
				t.Fatalf("%s: %d %.200s", name, c, bodies[i])
			}
		}
		// Both may succeed when the first ends before the second starts
		// (a loaded machine); never a 500.
		if ok == 0 {
			t.Fatalf("%s: no profile taken (%d busy)", name, busy)
		}
	}
}

// A mutex or block profile over a window (?seconds=N) samples that window:
// contention made during it is in the profile, and sampling is off again
// afterwards (it costs every contended Unlock and blocking event). The
// runtime samples nothing of either by default, so without the window's
// switch the profile stays empty.
func TestContentionProfileSamplesItsWindow(t *testing.T) {
	s := startServerWith(t, Config{DebugPprof: true})
	if runtime.SetMutexProfileFraction(-1) != 0 {
		t.Fatal("mutex profiling is on before any window")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sink int // guarded by mu
	for range 4 {
		wg.Add(1)
		go func() { // contend for mu, and block on a channel, until stopped
			defer wg.Done()
			ch := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Microsecond):
						ch <- struct{}{}
					}
				}
			}()
			for {
				select {
				case <-stop:
					return
				case <-ch:
				}
				mu.Lock()
				sink += busyWork(20_000)
				mu.Unlock()
			}
		}()
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, name := range []string{"mutex", "block"} {
		// On a machine busy with other work the four goroutines can go a
		// whole window without meeting at the lock (sampled events are a
		// fraction of them), so up to five windows are opened; without
		// the window's switch none of them would sample anything.
		var text string
		for range 5 {
			if code, body := get("/debug/pprof/" + name + "?seconds=1"); code != http.StatusOK {
				t.Fatalf("%s?seconds=1: %d %.300s", name, code, body)
			}
			// What the window sampled stays in the cumulative profile.
			if _, text = get("/debug/pprof/" + name + "?debug=1"); strings.Contains(text, "TestContentionProfileSamplesItsWindow") {
				break
			}
		}
		if !strings.Contains(text, "TestContentionProfileSamplesItsWindow") {
			t.Errorf("%s profile after five 1 s windows of contention has none of it:\n%.1000s", name, text)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("work done under the contended lock: %d", sink)
	if f := runtime.SetMutexProfileFraction(-1); f != 0 {
		t.Errorf("mutex profile fraction %d after the window, want 0", f)
	}
	if code, _ := get("/debug/pprof/mutex?seconds=x"); code != http.StatusBadRequest {
		t.Errorf("seconds=x: %d, want 400", code)
	}
}

//go:noinline
func busyWork(n int) int {
	x := 0
	for i := range n {
		x += i * i
	}
	return x
}
