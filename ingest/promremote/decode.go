// Package promremote decodes Prometheus remote-write 1.0 requests (a
// snappy-compressed prompb.WriteRequest) into a columnar.Batch.
//
// The data model (docs/prometheus.md): a sample is a row of the table named
// after its metric (__name__), its other labels are the row's tags, and its
// value the float field "value"; the time is the sample's millisecond
// timestamp in nanoseconds. Labels with empty values are left out: in
// Prometheus an empty label is the same as an absent one.
package promremote

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/siltdb/silt/columnar"
)

// ValueField is the field every sample's value is stored in.
const ValueField = "value"

// MetricLabel is the label that names a series' metric: the table.
const MetricLabel = "__name__"

// StaleNaN is the bit pattern Prometheus marks a vanished series with (the
// same as prometheus/model/value.StaleNaN); it is stored as is, so the
// PromQL engine sees the marker where Prometheus would.
const StaleNaN uint64 = 0x7ff0000000000002

// Codes of rejected series, stable: clients match on them.
const (
	CodeNoName        = "prom-no-metric-name"
	CodeBadUTF8       = "prom-invalid-utf8"
	CodeReservedLabel = "prom-reserved-label"
	CodeDupLabel      = "prom-duplicate-label"
	CodeLabelsTooLong = "prom-labels-too-long"
	CodeTooManyLabels = "prom-too-many-labels"
	CodeBadLabelName  = "prom-bad-label-name"
	CodeBadTimestamp  = "prom-bad-timestamp"
)

// Request-level errors: nothing of the request was decoded.
var (
	ErrSnappy   = errors.New("snappy")
	ErrProtobuf = errors.New("protobuf")
	ErrTooLarge = errors.New("too large")
)

// Options bound what a request may hold.
type Options struct {
	// MaxDecodedBytes bounds the protobuf message after snappy decoding,
	// checked from the snappy header before anything is allocated.
	MaxDecodedBytes int
	// MaxLabelBytes bounds the bytes of one series' label names and values
	// together; 0: no limit.
	MaxLabelBytes int
	// MaxLabels bounds the labels of one series (the metric name
	// included); 0: no limit.
	MaxLabels int
}

// Stats counts what one request held.
type Stats struct {
	Series       int // time series in the request
	Samples      int // float samples decoded into rows
	StaleMarkers int // of Samples, stale markers
	Exemplars    int // exemplars, which are not stored
	Histograms   int // native histogram samples, which are not stored
	Rejected     int // samples of rejected series
}

// Metadata is one metric family's type, help and unit, as remote write
// sends them (in requests of their own, every minute by default).
type Metadata struct {
	Metric, Type, Help, Unit string
}

// Decoder decodes requests, reusing its buffers between them. It is not
// safe for concurrent use.
type Decoder struct {
	buf []byte
	req prompb.WriteRequest
}

// Retained is the memory the decoder keeps between requests, in bytes of
// its decompression buffer: a pool may drop a decoder that one large
// request grew.
func (d *Decoder) Retained() int { return cap(d.buf) }

// Decode decodes the snappy-compressed WriteRequest body into b, one row
// per float sample. A series that cannot be stored (no metric name, labels
// that are not valid UTF-8, a label named like the time or value column, a
// repeated label, labels longer than the limit) is reported through onErr
// with Line set to its 1-based position in the request and its samples
// skipped; the other series are decoded. Metadata entries go to onMeta (may
// be nil). The error is non-nil only when the body as a whole is unusable.
func (d *Decoder) Decode(body []byte, b *columnar.Batch, opt Options, onErr func(columnar.LineError), onMeta func(Metadata)) (Stats, error) {
	var st Stats
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return st, fmt.Errorf("%w: the body is not snappy block-compressed data: %v", ErrSnappy, err)
	}
	if opt.MaxDecodedBytes > 0 && n > opt.MaxDecodedBytes {
		return st, fmt.Errorf("%w: the request decompresses to %d bytes, more than the %d allowed (--max-body-bytes); lower max_samples_per_send", ErrTooLarge, n, opt.MaxDecodedBytes)
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	raw, err := snappy.Decode(d.buf[:cap(d.buf)], body)
	if err != nil {
		return st, fmt.Errorf("%w: the body is not valid snappy data: %v", ErrSnappy, err)
	}
	d.req.Timeseries = d.req.Timeseries[:0]
	d.req.Metadata = d.req.Metadata[:0]
	if err := d.req.Unmarshal(raw); err != nil {
		return st, fmt.Errorf("%w: the body is not a remote-write 1.0 WriteRequest: %v", ErrProtobuf, err)
	}
	for i := range d.req.Timeseries {
		ts := &d.req.Timeseries[i]
		st.Series++
		st.Exemplars += len(ts.Exemplars)
		st.Histograms += len(ts.Histograms)
		if len(ts.Samples) == 0 {
			continue
		}
		if lerr := check(ts.Labels, opt); lerr != nil {
			lerr.Line = i + 1
			st.Rejected += len(ts.Samples)
			onErr(*lerr)
			continue
		}
		name := metricName(ts.Labels)
		for j := range ts.Samples {
			s := &ts.Samples[j]
			if s.Timestamp > math.MaxInt64/nsPerMs || s.Timestamp < math.MinInt64/nsPerMs {
				st.Rejected++
				onErr(columnar.LineError{Line: i + 1, Code: CodeBadTimestamp,
					Reason: fmt.Sprintf("series %s: timestamp %d ms is outside the nanosecond range", name, s.Timestamp)})
				continue
			}
			b.StartRow(unsafeBytes(name), i+1)
			for k := range ts.Labels {
				l := &ts.Labels[k]
				if l.Name == MetricLabel || l.Value == "" {
					continue
				}
				b.AddTag(unsafeBytes(l.Name), unsafeBytes(l.Value))
			}
			bits := math.Float64bits(s.Value)
			if bits == StaleNaN {
				st.StaleMarkers++
			}
			b.AddNum(valueKey, columnar.FieldFloat, bits)
			b.EndRow(s.Timestamp * nsPerMs)
			st.Samples++
		}
	}
	if onMeta != nil {
		for i := range d.req.Metadata {
			m := &d.req.Metadata[i]
			if !utf8.ValidString(m.MetricFamilyName) || !utf8.ValidString(m.Help) || !utf8.ValidString(m.Unit) {
				continue
			}
			onMeta(Metadata{Metric: m.MetricFamilyName, Type: metricType(m.Type), Help: m.Help, Unit: m.Unit})
		}
	}
	return st, nil
}

var valueKey = []byte(ValueField)

// unsafeBytes views s as bytes without copying: the batch copies them into
// its arena.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// metricName is the value of __name__, "" if none.
func metricName(ls []prompb.Label) string {
	for i := range ls {
		if ls[i].Name == MetricLabel {
			return ls[i].Value
		}
	}
	return ""
}

// check reports why a series' labels cannot be stored, or nil.
func check(ls []prompb.Label, opt Options) *columnar.LineError {
	name, total := "", 0
	for i := range ls {
		l := &ls[i]
		total += len(l.Name) + len(l.Value)
		if l.Name == MetricLabel {
			name = l.Value
		}
	}
	quoted := name
	if !utf8.ValidString(quoted) {
		quoted = fmt.Sprintf("%q", name)
	}
	if len(quoted) > 200 {
		quoted = quoted[:200] + "..."
	}
	switch {
	case name == "":
		return &columnar.LineError{Code: CodeNoName, Reason: "a series has no __name__ label (or an empty one): the metric name names its table"}
	case opt.MaxLabels > 0 && len(ls) > opt.MaxLabels:
		return &columnar.LineError{Code: CodeTooManyLabels,
			Reason: fmt.Sprintf("series %s has %d labels, more than the %d allowed (--max-tags-per-line, plus the metric name)", quoted, len(ls), opt.MaxLabels)}
	case opt.MaxLabelBytes > 0 && total > opt.MaxLabelBytes:
		return &columnar.LineError{Code: CodeLabelsTooLong,
			Reason: fmt.Sprintf("series %s: its labels take %d bytes, more than the %d allowed (--max-line-bytes)", quoted, total, opt.MaxLabelBytes)}
	}
	for i := range ls {
		l := &ls[i]
		switch {
		case !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value):
			return &columnar.LineError{Code: CodeBadUTF8,
				Reason: fmt.Sprintf("series %s: label %q or its value is not valid UTF-8", quoted, l.Name)}
		case l.Name == "":
			return &columnar.LineError{Code: CodeBadLabelName, Reason: fmt.Sprintf("series %s: a label has an empty name", quoted)}
		case l.Name == ValueField || l.Name == "time":
			return &columnar.LineError{Code: CodeReservedLabel,
				Reason: fmt.Sprintf("series %s: label %q is the name of a column every Prometheus table has (time, value); relabel it (metric_relabel_configs)", quoted, l.Name)}
		}
		for j := i + 1; j < len(ls); j++ {
			if ls[j].Name == l.Name {
				return &columnar.LineError{Code: CodeDupLabel, Reason: fmt.Sprintf("series %s: label %q appears twice", quoted, l.Name)}
			}
		}
	}
	return nil
}

func metricType(t prompb.MetricMetadata_MetricType) string {
	switch t {
	case prompb.MetricMetadata_COUNTER:
		return "counter"
	case prompb.MetricMetadata_GAUGE:
		return "gauge"
	case prompb.MetricMetadata_HISTOGRAM:
		return "histogram"
	case prompb.MetricMetadata_GAUGEHISTOGRAM:
		return "gaugehistogram"
	case prompb.MetricMetadata_SUMMARY:
		return "summary"
	case prompb.MetricMetadata_INFO:
		return "info"
	case prompb.MetricMetadata_STATESET:
		return "stateset"
	}
	return "unknown"
}

// nsPerMs converts Prometheus' millisecond timestamps to Silt's nanoseconds.
const nsPerMs = 1_000_000
