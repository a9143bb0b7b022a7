package iceberg

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config holds the publishing settings a server is started with.
type Config struct {
	// Publish (--iceberg.publish) keeps an Iceberg table per Silt table
	// in the tiering bucket, committed after every tiering pass.
	Publish bool
	// MaxSnapshotAge, MinSnapshots and PreviousVersions are the expiry of
	// old snapshots and metadata files (Publisher's fields of those
	// names, docs/iceberg.md).
	MaxSnapshotAge   time.Duration
	MinSnapshots     int
	PreviousVersions int
}

// RegisterFlags adds the --iceberg.* flags to fs, writing into c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Publish, "iceberg.publish", c.Publish,
		"keep an Apache Iceberg table per table under <s3.prefix>/iceberg/ in the bucket, committed after each tiering pass (needs --s3.endpoint)")
	fs.DurationVar(&c.MaxSnapshotAge, "iceberg.max-snapshot-age", DefaultMaxSnapshotAge,
		"a commit expires the snapshots older than this (Iceberg's history.expire.max-snapshot-age-ms), except the --iceberg.min-snapshots-to-keep newest (0: keeps only those); keep it at most --tier.delete-grace, after which an old snapshot's segments may be deleted")
	fs.IntVar(&c.MinSnapshots, "iceberg.min-snapshots-to-keep", DefaultMinSnapshots,
		"snapshots a commit keeps whatever their age, the current one included (Iceberg's history.expire.min-snapshots-to-keep)")
	fs.IntVar(&c.PreviousVersions, "iceberg.previous-versions-max", DefaultPreviousVersions,
		"metadata files kept before the current one (Iceberg's write.metadata.previous-versions-max); a commit deletes the one that leaves the metadata log, with the manifests and manifest lists only it named")
}

// Validate checks the settings against whether tiering is on and the node
// writes to the bucket.
func (c *Config) Validate(tiering, readOnly bool) error {
	if !c.Publish {
		return nil
	}
	if c.MaxSnapshotAge < 0 || c.MinSnapshots < 1 || c.PreviousVersions < 1 {
		return fmt.Errorf("--iceberg.max-snapshot-age must not be negative (%s), --iceberg.min-snapshots-to-keep (%d) and --iceberg.previous-versions-max (%d) must be at least 1",
			c.MaxSnapshotAge, c.MinSnapshots, c.PreviousVersions)
	}
	if !tiering {
		return errors.New("publishing Iceberg tables needs tiering (an S3 endpoint and bucket)")
	}
	if readOnly {
		return errors.New("a read-only node does not write to the bucket, so it cannot publish Iceberg tables")
	}
	return nil
}

// Location is the s3:// URL of a bucket and key prefix, as data file paths
// in the metadata name them.
func Location(bucket, prefix string) string {
	if p := strings.Trim(prefix, "/"); p != "" {
		return "s3://" + bucket + "/" + p
	}
	return "s3://" + bucket
}
