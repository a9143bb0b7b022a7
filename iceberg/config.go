package iceberg

import (
	"errors"
	"flag"
	"strings"
)

// Config holds the publishing settings a server is started with.
type Config struct {
	// Publish (--iceberg.publish) keeps an Iceberg table per Silt table
	// in the tiering bucket, committed after every tiering pass.
	Publish bool
}

// RegisterFlags adds the --iceberg.* flags to fs, writing into c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Publish, "iceberg.publish", c.Publish,
		"keep an Apache Iceberg table per table under <s3.prefix>/iceberg/ in the bucket, committed after each tiering pass (needs --s3.endpoint)")
}

// Validate checks the settings against whether tiering is on and the node
// writes to the bucket.
func (c *Config) Validate(tiering, readOnly bool) error {
	if !c.Publish {
		return nil
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
