package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
)

func samplesEqual(a, b []prompb.Sample) bool {
	return slices.EqualFunc(a, b, func(x, y prompb.Sample) bool { return x.Timestamp == y.Timestamp && x.Value == y.Value })
}

// readAll drains a series set into label key → samples.
func readAll(t *testing.T, ss storage.SeriesSet) map[string][]prompb.Sample {
	t.Helper()
	out := map[string][]prompb.Sample{}
	for ss.Next() {
		s := ss.At()
		var got []prompb.Sample
		it := s.Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			got = append(got, prompb.Sample{Timestamp: ts, Value: v})
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		out[s.Labels().String()] = got
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPromRemoteReadStreamed reads remote-written series back with
// Prometheus' own remote-read client, which asks for streamed XOR chunks
// first, and with one that accepts only samples: both must give back
// exactly what was written, from segments and from the head, over series
// long enough to span many chunks and frames.
func TestPromRemoteReadStreamed(t *testing.T) {
	s := startServer(t, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	want := map[string][]prompb.Sample{}
	const perSeries = 3000 // XOR chunks hold 120 samples: 25 chunks a series
	write := func(from int) {
		var req prompb.WriteRequest
		for k := range 12 {
			ts := promSeries("lat_seconds", "job", []string{"api", "db", "web"}[k%3], "instance", fmt.Sprintf("h:%d", k))
			for i := from; i < from+perSeries/2; i++ {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: 1_000_000 + int64(i)*1000, Value: rng.NormFloat64() * 1e3})
			}
			lb := labels.New(labels.Label{Name: "__name__", Value: "lat_seconds"}, labels.Label{Name: "instance", Value: fmt.Sprintf("h:%d", k)},
				labels.Label{Name: "job", Value: []string{"api", "db", "web"}[k%3]})
			want[lb.String()] = append(want[lb.String()], ts.Samples...)
			req.Timeseries = append(req.Timeseries, ts)
		}
		if code, body := s.remoteWrite(t, "/api/v1/write", &req); code != 204 {
			t.Fatalf("remote write: %d %s", code, body)
		}
	}
	write(0)
	if err := s.eng.Flush(); err != nil { // the first half in segments
		t.Fatal(err)
	}
	write(perSeries / 2) // the second in the head

	u, err := url.Parse(s.url + "/api/v1/read")
	if err != nil {
		t.Fatal(err)
	}
	client := func(types ...prompb.ReadRequest_ResponseType) remote.ReadClient {
		c, err := remote.NewReadClient("silt", &remote.ClientConfig{URL: &config_util.URL{URL: u},
			Timeout: model.Duration(30 * time.Second), ChunkedReadLimit: 50 << 20, AcceptedResponseTypes: types})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	all := &prompb.Query{StartTimestampMs: 0, EndTimestampMs: 10_000_000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "lat_seconds"}}}
	api := &prompb.Query{StartTimestampMs: 1_500_000, EndTimestampMs: 2_600_000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "lat_seconds"},
			{Type: prompb.LabelMatcher_RE, Name: "job", Value: "api|web"}}}
	// What the second query must give: its series cut to its range.
	wantAPI := map[string][]prompb.Sample{}
	for k, ss := range want {
		if !strings.Contains(k, `job="api"`) && !strings.Contains(k, `job="web"`) {
			continue
		}
		for _, x := range ss {
			if x.Timestamp >= api.StartTimestampMs && x.Timestamp <= api.EndTimestampMs {
				wantAPI[k] = append(wantAPI[k], x)
			}
		}
	}
	check := func(name string, got, want map[string][]prompb.Sample) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d series, want %d", name, len(got), len(want))
		}
		for k, w := range want {
			if !samplesEqual(got[k], w) {
				t.Fatalf("%s: series %s: %d samples differ from the %d written", name, k, len(got[k]), len(w))
			}
		}
	}
	for _, c := range []struct {
		name  string
		types []prompb.ReadRequest_ResponseType
	}{
		{"streamed (the client's default)", nil},
		{"samples", []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}},
	} {
		ss, err := client(c.types...).Read(context.Background(), all, true)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		check(c.name, readAll(t, ss), want)
		// Two queries in one request: each series answers its own.
		ss, err = client(c.types...).ReadMultiple(context.Background(), []*prompb.Query{api, all}, true)
		if err != nil {
			t.Fatalf("%s, two queries: %v", c.name, err)
		}
		got := readAll(t, ss) // the client merges both queries' series
		for k := range wantAPI {
			if !samplesEqual(got[k], want[k]) {
				t.Fatalf("%s, two queries: series %s differs", c.name, k)
			}
		}
	}
	// The streamed answer on the wire: its content type, and no snappy.
	rr := &prompb.ReadRequest{Queries: []*prompb.Query{api},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}}
	raw, _ := rr.Marshal()
	code, hdr, body := s.post(t, "/api/v1/read", string(snappy.Encode(nil, raw)), "Content-Encoding", "snappy", "Content-Type", "application/x-protobuf")
	if code != 200 || hdr.Get("Content-Type") != promChunkedContentType || hdr.Get("Content-Encoding") != "" {
		t.Fatalf("streamed read: %d %v", code, hdr)
	}
	cr := remote.NewChunkedReader(strings.NewReader(string(body)), 50<<20, nil)
	got := map[string][]prompb.Sample{}
	for {
		var res prompb.ChunkedReadResponse
		if err := cr.NextProto(&res); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		for _, cs := range res.ChunkedSeries {
			b := labels.NewScratchBuilder(len(cs.Labels))
			for _, l := range cs.Labels {
				b.Add(l.Name, l.Value)
			}
			got[b.Labels().String()] = nil
		}
	}
	if len(got) != len(wantAPI) {
		t.Fatalf("streamed frames name %d series, want %d", len(got), len(wantAPI))
	}
	// A matcher that does not compile is refused before the stream starts.
	rr.Queries = []*prompb.Query{{EndTimestampMs: 10_000_000, Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "job", Value: "("}}}}
	raw, _ = rr.Marshal()
	code, _, body = s.post(t, "/api/v1/read", string(snappy.Encode(nil, raw)), "Content-Encoding", "snappy", "Content-Type", "application/x-protobuf")
	if code != 400 || !strings.Contains(string(body), "prom-read-failed") {
		t.Fatalf("bad matcher, streamed: %d %s", code, body)
	}
}
