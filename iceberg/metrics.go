package iceberg

import "github.com/prometheus/client_golang/prometheus"

// Commits returns how many table versions this publisher committed.
func (p *Publisher) Commits() int64 { return p.commits.Load() }

// Failures returns how many publications failed: a table's commit that
// met a store error or gave up after MaxAttempts lost races, or the
// listing of the tables before any commit. Each is tried again at the
// next tiering pass.
func (p *Publisher) Failures() int64 { return p.fails.Load() }

// Register adds the publisher's counters to reg (docs/iceberg.md):
// silt_iceberg_commits_total, silt_iceberg_commit_retries_total,
// silt_iceberg_metadata_deleted_total and silt_iceberg_commit_failures_total.
func (p *Publisher) Register(reg prometheus.Registerer) {
	c := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	reg.MustRegister(
		c("silt_iceberg_commits_total", "Iceberg table versions committed (--iceberg.publish).", p.Commits),
		c("silt_iceberg_commit_retries_total", "Iceberg commits lost to another writer that committed the version first, built again and retried.", p.Retries),
		c("silt_iceberg_metadata_deleted_total", "Iceberg metadata objects deleted: metadata files that left the metadata log, manifest lists and manifests only expired snapshots named, and leftovers of interrupted commits.", p.Deleted),
		c("silt_iceberg_commit_failures_total", "Iceberg publications that failed (a store error, or a commit that lost every attempt); retried at the next tiering pass.", p.Failures),
	)
}
