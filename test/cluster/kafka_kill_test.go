package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// envInt is an integer knob of the long mode (make test-cluster).
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// TestClusterKafkaKill9 runs three writers (--role writer) in one Kafka
// consumer group over a kfake topic of 6 partitions, and a query node. An
// outside producer (Debian's kcat, every other chunk; franz-go for the
// rest) sends the TSBS cpu records while writers are killed with SIGKILL
// at random and restarted, which moves partitions between them and makes
// the next owner consume again what the killed one had not committed.
// Afterwards the query node's answers over all writers must equal
// PostgreSQL's over the produced records: no row missing, none twice.
//
// SILT_CLUSTER_KAFKA_RECORDS (default 24,000) and SILT_CLUSTER_KAFKA_KILLS
// (default 5) scale it; make test-cluster runs 300,000 and 10.
func TestClusterKafkaKill9(t *testing.T) {
	c := newCluster(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not found (Debian package kcat; .ci/run installs it)")
		}
		t.Skip("kcat not found (Debian package kcat)")
	}
	records := envInt(t, "SILT_CLUSTER_KAFKA_RECORDS", 24_000)
	kills := envInt(t, "SILT_CLUSTER_KAFKA_KILLS", 5)
	const hosts = 40
	// Three days ago, so that nothing tiers while the test runs (--tier.after 1h):
	// the query node reads every row from the writers' internal APIs.
	start := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	pts := pgoracle.CPUDataset(hosts, start, 10*time.Second, records/hosts, 11, pgoracle.DatasetOptions{OutOfOrder: 0.05})

	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "metrics"),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	brokers := strings.Join(kf.ListenAddrs(), ",")
	writer := func(i int) *proc {
		return c.start(fmt.Sprintf("w%d", i), "--role", "writer", "--node-id", fmt.Sprintf("w%d", i),
			"--kafka.brokers", brokers, "--kafka.topics", "metrics", "--kafka.group", "silt",
			"--kafka.db", "db", "--kafka.format", "line", "--kafka.max-poll-records", "300",
			"--kafka.session-timeout", "2s", "--kafka.rebalance-timeout", "3s", "--flush-bytes", "256KiB")
	}
	writers := []*proc{writer(1), writer(2), writer(3)}
	query := c.start("q1", "--role", "query", "--node-id", "q1")

	// The producer: records keyed by host, so a host's points keep their
	// order in one partition (last write wins within a series).
	produced := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.DefaultProduceTopic("metrics"))
		if err != nil {
			produced <- err
			return
		}
		defer cl.Close()
		// Small chunks with pauses: production goes on through the kills.
		const chunk = 1000
		for n, from := 0, 0; from < len(pts); n, from = n+1, from+chunk {
			to := min(from+chunk, len(pts))
			if n%2 == 1 {
				var b strings.Builder
				for _, p := range pts[from:to] {
					b.WriteString(p.Tags["hostname"] + "\t" + p.LineProtocol(pgoracle.CPUTable) + "\n")
				}
				file := filepath.Join(c.dir, fmt.Sprintf("chunk-%d.txt", n))
				if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
					produced <- err
					return
				}
				out, err := exec.Command(kcat, "-P", "-b", brokers, "-t", "metrics", "-K", "\t", "-l", file).CombinedOutput()
				if err != nil {
					produced <- fmt.Errorf("kcat: %v\n%s", err, out)
					return
				}
			} else {
				rs := make([]*kgo.Record, 0, to-from)
				for _, p := range pts[from:to] {
					rs = append(rs, &kgo.Record{Key: []byte(p.Tags["hostname"]), Value: []byte(p.LineProtocol(pgoracle.CPUTable))})
				}
				if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
					produced <- err
					return
				}
			}
			sent.Store(int64(to))
			time.Sleep(700 * time.Millisecond)
		}
		produced <- nil
	}()

	// The kills: a random writer, at a random moment, restarted on its
	// data directory (it waits out its own registration's lease).
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for k := range kills {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		i := rng.IntN(3)
		w := writers[i]
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-w.done
		t.Logf("kill %d: w%d, %d records produced so far", k+1, i+1, sent.Load())
		writers[i] = writer(i + 1)
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}

	o := pgoracle.Start(t)
	if err := o.LoadPoints(pgoracle.CPUTable, pgoracle.CPUTags, pgoracle.CPUFields, pts); err != nil {
		t.Fatal(err)
	}
	_, want, err := o.Query("SELECT count(*) FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	// Until the writers have consumed everything (a hang guard only).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got := query.sql("SELECT count(*) FROM cpu")
		if len(got) == 1 && fmt.Sprint(got[0][0]) == fmt.Sprint(want[0][0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query node counts %v rows, PostgreSQL %v", got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, q := range []string{
		"SELECT hostname, count(*), sum(usage_user), min(usage_idle), max(usage_system) FROM cpu GROUP BY hostname ORDER BY hostname",
		"SELECT region, count(*), avg(usage_steal) FROM cpu GROUP BY region ORDER BY region",
		"SELECT count(*), sum(usage_guest) FROM cpu WHERE usage_user > 50",
	} {
		_, pg, err := o.Query(q)
		if err != nil {
			t.Fatalf("PostgreSQL %s: %v", q, err)
		}
		got := query.sql(q)
		if !rowsNear(pg, got) {
			t.Errorf("%s:\nquery node %v\nPostgreSQL %v", q, got, pg)
		}
	}
	t.Logf("%d records, %d kills: the query node's answers equal PostgreSQL's", len(pts), kills)
}

// rowsNear compares PostgreSQL's rows with Silt's JSON rows: strings
// exactly, numbers to a relative 1e-9 (sums in a different order).
func rowsNear(pg, silt [][]any) bool {
	if len(pg) != len(silt) {
		return false
	}
	for i := range pg {
		if len(pg[i]) != len(silt[i]) {
			return false
		}
		for j := range pg[i] {
			w, g := pg[i][j], silt[i][j]
			wf, wok := toFloat(w)
			gf, gok := toFloat(g)
			if wok && gok {
				if math.Abs(wf-gf) > 1e-9*math.Max(1, math.Abs(wf)) {
					return false
				}
				continue
			}
			if fmt.Sprint(w) != fmt.Sprint(g) {
				return false
			}
		}
	}
	return true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}
