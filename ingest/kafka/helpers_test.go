package kafka

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/ingest/stream"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func counterSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// readDead returns the values of the dead letters in order.
func readDead(t testing.TB, kind, dir string, brokers []string) []string {
	t.Helper()
	var out []string
	if kind == "file" {
		f, err := os.Open(dir + "/dead.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var d stream.DeadMessage
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			if d.Reason == "" || d.Code == "" || d.Source == "" {
				t.Errorf("dead letter without reason: %+v", d)
			}
			out = append(out, string(d.Value))
		}
		return out
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("dead"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			reason := ""
			for _, h := range r.Headers {
				if h.Key == "silt-reason" {
					reason = string(h.Value)
				}
			}
			if reason == "" {
				t.Errorf("dead letter %q has no silt-reason header", r.Value)
			}
			out = append(out, string(r.Value))
		})
	}
	return out
}

// readGroup returns the group "silt"'s committed offsets with their tenure
// histories, by source key.
func readGroup(t testing.TB, brokers []string) map[string]groupOffset {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	group, err := fetchGroup(context.Background(), cl, "silt", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return group
}
