package promremote

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/siltdb/silt/columnar"
)

func encode(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func series(name string, kv ...string) prompb.TimeSeries {
	ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: MetricLabel, Value: name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ts
}

type decoded struct {
	b    columnar.Batch
	errs []columnar.LineError
	meta []Metadata
	st   Stats
}

func decode(t testing.TB, body []byte, opt Options) (*decoded, error) {
	t.Helper()
	var d Decoder
	out := &decoded{}
	st, err := d.Decode(body, &out.b, opt, func(e columnar.LineError) { out.errs = append(out.errs, e) },
		func(m Metadata) { out.meta = append(out.meta, m) })
	out.st = st
	return out, err
}

func TestDecodeRows(t *testing.T) {
	up := series("up", "job", "node", "instance", "a:9100", "empty", "")
	up.Samples = []prompb.Sample{{Value: 1, Timestamp: 1_700_000_000_123}, {Value: math.Float64frombits(StaleNaN), Timestamp: 1_700_000_001_123}}
	up.Exemplars = []prompb.Exemplar{{Value: 3, Timestamp: 1}}
	hist := series("lat_bucket", "le", "+Inf")
	hist.Samples = []prompb.Sample{{Value: 7, Timestamp: -5}}
	hist.Histograms = []prompb.Histogram{{Timestamp: 9}}
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{up, hist},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "reqs_total", Help: "Requests.", Unit: "requests"}}}
	out, err := decode(t, encode(t, req), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.errs) != 0 {
		t.Fatalf("errors: %v", out.errs)
	}
	want := Stats{Series: 2, Samples: 3, StaleMarkers: 1, Exemplars: 1, Histograms: 1}
	if out.st != want {
		t.Fatalf("stats %+v, want %+v", out.st, want)
	}
	b := &out.b
	if len(b.Rows) != 3 {
		t.Fatalf("%d rows", len(b.Rows))
	}
	r := &b.Rows[1]
	if got := b.Str(r.Table); got != "up" {
		t.Fatalf("table %q", got)
	}
	if r.Time != 1_700_000_001_123_000_000 {
		t.Fatalf("time %d", r.Time)
	}
	var tags []string
	for _, tg := range b.RowTags(r) {
		tags = append(tags, b.Str(tg.Key)+"="+b.Str(tg.Value))
	}
	if strings.Join(tags, ",") != "job=node,instance=a:9100" {
		t.Fatalf("tags %v (the empty label must be left out)", tags)
	}
	f := b.RowFields(r)
	if len(f) != 1 || b.Str(f[0].Key) != ValueField || f[0].Type != columnar.FieldFloat || f[0].Num != StaleNaN {
		t.Fatalf("field %+v: the stale marker must keep its bits", f)
	}
	if b.Rows[2].Time != -5_000_000 || b.Str(b.Rows[2].Table) != "lat_bucket" {
		t.Fatalf("row 2: %+v", b.Rows[2])
	}
	if len(out.meta) != 1 || out.meta[0] != (Metadata{Metric: "reqs_total", Type: "counter", Help: "Requests.", Unit: "requests"}) {
		t.Fatalf("metadata %+v", out.meta)
	}
}

func TestDecodeRejectsSeries(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		ts   prompb.TimeSeries
		code string
	}{
		{series(""), CodeNoName},
		{prompb.TimeSeries{Labels: []prompb.Label{{Name: "job", Value: "x"}}}, CodeNoName},
		{series("m", "bad", "\xff\xfe"), CodeBadUTF8},
		{series("m\xff"), CodeBadUTF8},
		{series("m", "value", "1"), CodeReservedLabel},
		{series("m", "time", "1"), CodeReservedLabel},
		{series("m", "a", "1", "a", "2"), CodeDupLabel},
		{series("m", "", "1"), CodeBadLabelName},
		{series("m", "a", long, "b", long), CodeLabelsTooLong},
		{series("m", "a", "1", "b", "2", "c", "3", "d", "4"), CodeTooManyLabels},
	}
	for _, c := range cases {
		good := series("ok", "a", "b")
		good.Samples = []prompb.Sample{{Value: 2, Timestamp: 10}}
		c.ts.Samples = []prompb.Sample{{Value: 1, Timestamp: 1}, {Value: 1, Timestamp: 2}}
		req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{c.ts, good}}
		out, err := decode(t, encode(t, req), Options{MaxLabelBytes: 150, MaxLabels: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.errs) != 1 || out.errs[0].Code != c.code || out.errs[0].Line != 1 || !utf8.ValidString(out.errs[0].Reason) {
			t.Fatalf("%v: errors %+v, want one %s on series 1", c.ts.Labels, out.errs, c.code)
		}
		if len(out.b.Rows) != 1 || out.b.Str(out.b.Rows[0].Table) != "ok" || out.st.Rejected != 2 {
			t.Fatalf("%v: the good series must still be decoded: %d rows, stats %+v", c.ts.Labels, len(out.b.Rows), out.st)
		}
	}
}

func TestDecodeBadBodies(t *testing.T) {
	s := series("up", "job", "x")
	s.Samples = []prompb.Sample{{Value: 1, Timestamp: 1}}
	good := encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{s}})
	raw, _ := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{s}}).Marshal()
	cases := []struct {
		name string
		body []byte
		opt  Options
		want error
	}{
		{"empty body", nil, Options{}, ErrSnappy},
		{"truncated snappy", good[:len(good)-3], Options{}, ErrSnappy},
		{"not snappy", []byte("up{job=\"x\"} 1\n"), Options{}, ErrSnappy},
		{"uncompressed protobuf", raw, Options{}, ErrSnappy},
		{"bad protobuf", snappy.Encode(nil, []byte{0x0a, 0xff, 0xff, 0x01}), Options{}, ErrProtobuf},
		{"protobuf cut short", snappy.Encode(nil, raw[:len(raw)-2]), Options{}, ErrProtobuf},
		{"too large", good, Options{MaxDecodedBytes: 4}, ErrTooLarge},
		{"huge length header", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}, Options{MaxDecodedBytes: 1 << 20}, nil},
	}
	for _, c := range cases {
		out, err := decode(t, c.body, c.opt)
		switch {
		case c.name == "huge length header":
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrSnappy) {
				t.Fatalf("%s: %v", c.name, err)
			}
		case c.want == nil && err != nil:
			t.Fatalf("%s: %v", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Fatalf("%s: got %v, want %v", c.name, err, c.want)
		}
		if c.want != nil && len(out.b.Rows) != 0 {
			t.Fatalf("%s: %d rows decoded from a bad body", c.name, len(out.b.Rows))
		}
	}
}

// TestDecoderReuse decodes a large request then a small one with the same
// Decoder: nothing of the first may leak into the second.
func TestDecoderReuse(t *testing.T) {
	var d Decoder
	big := &prompb.WriteRequest{}
	for i := range 100 {
		s := series("m", "i", strings.Repeat("v", i))
		s.Samples = []prompb.Sample{{Value: float64(i), Timestamp: int64(i)}}
		big.Timeseries = append(big.Timeseries, s)
	}
	var b columnar.Batch
	if _, err := d.Decode(encode(t, big), &b, Options{}, func(columnar.LineError) {}, nil); err != nil {
		t.Fatal(err)
	}
	small := series("n")
	small.Samples = []prompb.Sample{{Value: 5, Timestamp: 7}}
	b.Reset()
	st, err := d.Decode(encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{small}}), &b, Options{}, func(columnar.LineError) {}, nil)
	if err != nil || st.Samples != 1 || len(b.Rows) != 1 || b.Str(b.Rows[0].Table) != "n" || len(b.RowTags(&b.Rows[0])) != 0 {
		t.Fatalf("second decode: %v %+v %d rows", err, st, len(b.Rows))
	}
}

// FuzzDecode: no input panics, and whatever is decoded is storable: a
// valid UTF-8 table and tags, one float field named value, one row a sample.
func FuzzDecode(f *testing.F) {
	s := series("up", "job", "node", "le", "0.5")
	s.Samples = []prompb.Sample{{Value: 1, Timestamp: 1}, {Value: math.NaN(), Timestamp: 2}}
	s.Exemplars = []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 1, Timestamp: 1}}
	h := series("h")
	h.Histograms = []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 3}, Sum: 2, Schema: 1, Timestamp: 5,
		PositiveSpans: []prompb.BucketSpan{{Offset: 0, Length: 2}}, PositiveDeltas: []int64{1, 1}}}
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{s, h, series("m\xff", "a", "b")},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "up", Help: "h"}}}
	f.Add(encode(f, req))
	raw, _ := req.Marshal()
	f.Add(raw)
	f.Add(snappy.Encode(nil, raw[:len(raw)/2]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var d Decoder
		var b columnar.Batch
		nerr := 0
		st, err := d.Decode(body, &b, Options{MaxDecodedBytes: 1 << 20, MaxLabelBytes: 4096, MaxLabels: 64},
			func(e columnar.LineError) {
				nerr++
				if e.Line < 1 || e.Code == "" || !utf8.ValidString(e.Reason) {
					t.Fatalf("bad line error %+v", e)
				}
			}, func(m Metadata) {
				if !utf8.ValidString(m.Metric) || !utf8.ValidString(m.Help) {
					t.Fatalf("metadata not UTF-8: %+v", m)
				}
			})
		if err != nil {
			if len(b.Rows) != 0 || nerr != 0 {
				t.Fatalf("error %v after decoding %d rows", err, len(b.Rows))
			}
			return
		}
		if len(b.Rows) != st.Samples {
			t.Fatalf("%d rows, %d samples", len(b.Rows), st.Samples)
		}
		for i := range b.Rows {
			r := &b.Rows[i]
			if name := b.Str(r.Table); name == "" || !utf8.ValidString(name) {
				t.Fatalf("table %q", name)
			}
			seen := map[string]bool{}
			for _, tg := range b.RowTags(r) {
				k, v := b.Str(tg.Key), b.Str(tg.Value)
				if k == "" || v == "" || !utf8.ValidString(k) || !utf8.ValidString(v) || k == ValueField || seen[k] {
					t.Fatalf("tag %q=%q", k, v)
				}
				seen[k] = true
			}
			if fs := b.RowFields(r); len(fs) != 1 || b.Str(fs[0].Key) != ValueField || fs[0].Type != columnar.FieldFloat {
				t.Fatalf("fields %+v", fs)
			}
		}
	})
}
