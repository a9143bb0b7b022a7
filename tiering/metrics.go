package tiering

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreMetrics are the Prometheus metrics of object store calls.
type StoreMetrics struct {
	Ops     *prometheus.CounterVec   // silt_objstore_operations_total{op}
	Errors  *prometheus.CounterVec   // silt_objstore_errors_total{op,class}
	Bytes   *prometheus.CounterVec   // silt_objstore_bytes_total{op} (put: sent, get: received)
	Latency *prometheus.HistogramVec // silt_objstore_duration_seconds{op}
}

// NewStoreMetrics creates the metrics and registers them with reg (if not
// nil).
func NewStoreMetrics(reg prometheus.Registerer) *StoreMetrics {
	m := &StoreMetrics{
		Ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_objstore_operations_total", Help: "Object store calls by operation.",
		}, []string{"op"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_objstore_errors_total", Help: "Failed object store calls by operation and error class (not_found, unavailable, access_denied, checksum, invalid).",
		}, []string{"op", "class"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_objstore_bytes_total", Help: "Object bytes sent by put and received by get.",
		}, []string{"op"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "silt_objstore_duration_seconds", Help: "Object store call latency (get: until the body is closed).",
			// 1 ms (local MinIO) to ~30 s (a large upload to a far region).
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.Ops, m.Errors, m.Bytes, m.Latency)
	}
	return m
}

// ErrorClass names the sentinel an error wraps, for metric labels and logs.
func ErrorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrAccessDenied):
		return "access_denied"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "other"
}

// MetricsStore wraps an ObjectStore and counts its calls.
type MetricsStore struct {
	Inner ObjectStore
	M     *StoreMetrics
}

var _ ObjectStore = (*MetricsStore)(nil)

func (s *MetricsStore) done(op string, start time.Time, err error) {
	s.M.Ops.WithLabelValues(op).Inc()
	s.M.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		s.M.Errors.WithLabelValues(op, ErrorClass(err)).Inc()
	}
}

// Put implements ObjectStore.
func (s *MetricsStore) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	start := time.Now()
	info, err := s.Inner.Put(ctx, key, r, size)
	s.done("put", start, err)
	if err == nil {
		s.M.Bytes.WithLabelValues("put").Add(float64(size))
	}
	return info, err
}

// GetRange implements ObjectStore. Bytes and latency are counted as the
// body is read and closed.
func (s *MetricsStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := s.Inner.GetRange(ctx, key, off, n)
	if err != nil {
		s.done("get", start, err)
		return nil, err
	}
	return &meteredBody{rc: rc, s: s, start: start}, nil
}

type meteredBody struct {
	rc    io.ReadCloser
	s     *MetricsStore
	start time.Time
	n     int64
	err   error
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *meteredBody) Close() error {
	err := b.rc.Close()
	b.s.M.Bytes.WithLabelValues("get").Add(float64(b.n))
	b.s.done("get", b.start, b.err)
	return err
}

// Stat implements ObjectStore.
func (s *MetricsStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	start := time.Now()
	info, err := s.Inner.Stat(ctx, key)
	s.done("stat", start, err)
	return info, err
}

// List implements ObjectStore.
func (s *MetricsStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	start := time.Now()
	out, err := s.Inner.List(ctx, prefix)
	s.done("list", start, err)
	return out, err
}

// Delete implements ObjectStore.
func (s *MetricsStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.Inner.Delete(ctx, key)
	s.done("delete", start, err)
	return err
}
