package engine

import (
	"flag"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/internal/flagutil"
	"github.com/siltdb/silt/segment"
)

// The query cache keeps decoded column pages of the segments scans read
// (segment.PageCache), bounded by Config.QueryCacheBytes: dashboards
// re-read the same hours every few seconds, and decoding the pages was
// most of such a query's time.

// registerQueryCacheFlag adds --query-cache-bytes, writing into c. On the
// command line 0 turns the cache off; in Config that is a negative value,
// since a library caller's zero takes the default.
func (c *Config) registerQueryCacheFlag(fs *flag.FlagSet) {
	c.QueryCacheBytes = segment.DefaultPageCacheBytes
	fs.Var(cacheBytesFlag{&c.QueryCacheBytes}, "query-cache-bytes", "memory for decoded column pages of recently read segments, so repeated queries (dashboards) skip decoding them; least recently used pages are evicted past it (e.g. 128MiB); 0 turns the cache off")
}

// queryCacheBytes is the cache's bound in force: 0 when off.
func (c *Config) queryCacheBytes() int64 {
	switch {
	case c.QueryCacheBytes < 0:
		return 0
	case c.QueryCacheBytes == 0:
		return segment.DefaultPageCacheBytes
	}
	return c.QueryCacheBytes
}

// cacheBytesFlag is --query-cache-bytes: a size, 0 meaning off (stored as
// -1).
type cacheBytesFlag struct{ p *int64 }

// String writes the size in the largest binary unit that divides it, as
// the config example shows sizes (128MiB).
func (f cacheBytesFlag) String() string {
	if f.p == nil || *f.p <= 0 {
		return "0"
	}
	n := *f.p
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if n%1024 != 0 || u == "GiB" {
			if u == "B" {
				return strconv.FormatInt(n, 10)
			}
			return strconv.FormatInt(n, 10) + u
		}
		n /= 1024
	}
	return strconv.FormatInt(*f.p, 10)
}

func (f cacheBytesFlag) Set(s string) error {
	n, err := flagutil.ParseBytes(s)
	if err != nil {
		return err
	}
	if n == 0 {
		n = -1
	}
	*f.p = n
	return nil
}

// registerQueryCacheMetrics exports the cache's counters on reg.
func registerQueryCacheMetrics(reg *prometheus.Registry, c *segment.PageCache) {
	counter := func(name, help string, v func(segment.PageCacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(c.Stats())) })
	}
	gauge := func(name, help string, v func(segment.PageCacheStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v(c.Stats())) })
	}
	reg.MustRegister(
		counter("silt_query_cache_hits_total", "Column pages segment scans took from the query cache.",
			func(s segment.PageCacheStats) uint64 { return s.Hits }),
		counter("silt_query_cache_misses_total", "Column pages segment scans decoded because the query cache lacked them.",
			func(s segment.PageCacheStats) uint64 { return s.Misses }),
		counter("silt_query_cache_evictions_total", "Column pages evicted from the query cache to stay within --query-cache-bytes.",
			func(s segment.PageCacheStats) uint64 { return s.Evictions }),
		gauge("silt_query_cache_bytes", "Memory held by decoded column pages in the query cache.",
			func(s segment.PageCacheStats) int64 { return s.Bytes }),
		gauge("silt_query_cache_max_bytes", "The query cache's bound (--query-cache-bytes; 0: off).",
			func(s segment.PageCacheStats) int64 { return s.MaxBytes }),
		gauge("silt_query_cache_pages", "Column pages in the query cache.",
			func(s segment.PageCacheStats) int64 { return int64(s.Pages) }),
	)
}

// QueryCacheStats returns the query cache's counters (zero when off).
func (e *Engine) QueryCacheStats() segment.PageCacheStats { return e.refs.cache.Stats() }
