package tiering

import (
	"context"
	"flag"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/internal/flagutil"
)

// Config holds the tiering settings a server is started with.
type Config struct {
	S3 S3Options
	// CacheDir (--cache.dir) holds the block cache; "" disables it (every
	// cold read is then a GET).
	CacheDir string
	// CacheMaxBytes (--cache.max-bytes) bounds the block cache on disk.
	CacheMaxBytes int64
	// CacheBlockBytes (--cache.block-bytes) is the cache's unit of fetch.
	CacheBlockBytes int64
	// FooterCacheBytes (--cache.footer-bytes) bounds footers kept in memory.
	FooterCacheBytes int64
	// UploadConcurrency (--tier.upload-concurrency) bounds parallel uploads.
	UploadConcurrency int
	// SecretKeyFile (--s3.secret-key-file) holds the secret key;
	// LoadSecrets reads it into S3.SecretKey.
	SecretKeyFile string
	// CreateBucket (--s3.create-bucket) makes the bucket at start if it
	// is missing: a convenience for a local MinIO.
	CreateBucket bool
}

// DefaultConfig returns the defaults the flags start from.
func DefaultConfig() Config {
	return Config{
		S3:                S3Options{Region: "us-east-1"},
		CacheMaxBytes:     10 << 30, // 10 GiB: a few days of hot cold-data on a small disk
		CacheBlockBytes:   DefaultBlockSize,
		FooterCacheBytes:  64 << 20, // ~1000 segment footers
		UploadConcurrency: 4,
	}
}

// RegisterFlags adds the --s3.* and --cache.* flags to fs, writing into c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.S3.Endpoint, "s3.endpoint", c.S3.Endpoint, "S3-compatible endpoint `host:port` (empty: tiering off)")
	fs.StringVar(&c.S3.Bucket, "s3.bucket", c.S3.Bucket, "bucket for tiered segments")
	fs.StringVar(&c.S3.Prefix, "s3.prefix", c.S3.Prefix, "key prefix inside the bucket")
	fs.StringVar(&c.S3.Region, "s3.region", c.S3.Region, "bucket region")
	fs.BoolVar(&c.S3.Insecure, "s3.insecure", c.S3.Insecure, "plain HTTP instead of HTTPS")
	fs.StringVar(&c.S3.AccessKey, "s3.access-key", c.S3.AccessKey, "access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.S3.SecretKey, "s3.secret-key", c.S3.SecretKey, "secret key (default $AWS_SECRET_ACCESS_KEY); visible to other local users in ps: prefer --s3.secret-key-file or the variable")
	fs.StringVar(&c.SecretKeyFile, "s3.secret-key-file", c.SecretKeyFile, "file holding the secret key (must not be readable by group or others: chmod 600)")
	fs.StringVar(&c.S3.Addressing, "s3.addressing", c.S3.Addressing, "bucket addressing: path, virtual or auto")
	fs.StringVar(&c.CacheDir, "cache.dir", c.CacheDir, "directory of the local cache of cold data (empty: no cache)")
	flagutil.BytesVar(fs, &c.CacheMaxBytes, "cache.max-bytes", c.CacheMaxBytes, "size bound of the cache directory (e.g. 10GiB)")
	flagutil.BytesVar(fs, &c.CacheBlockBytes, "cache.block-bytes", c.CacheBlockBytes, "unit the cache fetches and stores (e.g. 1MiB)")
	flagutil.BytesVar(fs, &c.FooterCacheBytes, "cache.footer-bytes", c.FooterCacheBytes, "memory for cached segment footers (e.g. 64MiB)")
	fs.IntVar(&c.UploadConcurrency, "tier.upload-concurrency", c.UploadConcurrency, "parallel segment uploads")
	fs.BoolVar(&c.CreateBucket, "s3.create-bucket", c.CreateBucket, "create --s3.bucket at start if it does not exist (local MinIO: make dev)")
}

// LoadSecrets reads the secret key of SecretKeyFile (if set) into
// S3.SecretKey. It reads a file, so it runs when the server opens, not in
// Validate.
func (c *Config) LoadSecrets() error {
	if c.SecretKeyFile == "" {
		return nil
	}
	if c.S3.SecretKey != "" {
		return fmt.Errorf("%w: --s3.secret-key and --s3.secret-key-file both given: keep one", ErrInvalid)
	}
	k, err := flagutil.ReadSecret(c.SecretKeyFile)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.S3.SecretKey = k
	return nil
}

// Enabled reports whether tiering is configured (an endpoint is set).
func (c *Config) Enabled() bool { return c.S3.Endpoint != "" }

// Validate checks the settings without contacting the bucket. Tiering off
// (no endpoint) is valid whatever the rest says.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if err := c.S3.validate(); err != nil {
		return err
	}
	if c.CacheDir != "" && c.CacheMaxBytes <= 0 {
		return fmt.Errorf("%w: cache max bytes must be positive, got %d", ErrInvalid, c.CacheMaxBytes)
	}
	if c.UploadConcurrency < 0 {
		return fmt.Errorf("%w: upload concurrency must not be negative, got %d", ErrInvalid, c.UploadConcurrency)
	}
	return nil
}

// Tier is the wired tiering layer: the bucket (with metrics), the caches
// and the uploader.
type Tier struct {
	Store    ObjectStore // metered S3 store
	S3       *S3Store
	Cache    *BlockCache // nil without --cache.dir
	Footers  *FooterCache
	Uploader *Uploader
	Metrics  *StoreMetrics
}

// Open builds the tiering layer from cfg, registering metrics with reg
// (may be nil). It does not contact the bucket.
func Open(cfg Config, reg prometheus.Registerer) (*Tier, error) {
	s3, err := NewS3Store(cfg.S3)
	if err != nil {
		return nil, err
	}
	t := &Tier{S3: s3, Metrics: NewStoreMetrics(reg), Footers: NewFooterCache(cfg.FooterCacheBytes)}
	t.Store = &MetricsStore{Inner: s3, M: t.Metrics}
	if cfg.CacheDir != "" {
		if t.Cache, err = OpenBlockCache(cfg.CacheDir, cfg.CacheMaxBytes, cfg.CacheBlockBytes); err != nil {
			return nil, err
		}
		if reg != nil {
			t.Cache.Register(reg)
		}
	}
	t.Uploader = &Uploader{Store: t.Store, Concurrency: cfg.UploadConcurrency}
	return t, nil
}

// Register exports the store's and the cache's metrics on reg (for a Tier
// opened with a nil registerer, before the registry existed).
func (t *Tier) Register(reg prometheus.Registerer) {
	reg.MustRegister(t.Metrics.Ops, t.Metrics.Errors, t.Metrics.Bytes, t.Metrics.Latency)
	if t.Cache != nil {
		t.Cache.Register(reg)
	}
}

// OpenSegment opens a cold segment for reading through the caches. info,
// if not nil, comes from the manifest and saves a Stat.
func (t *Tier) OpenSegment(ctx context.Context, key string, info *ObjectInfo) (*RemoteFile, error) {
	return OpenRemote(ctx, t.Store, key, RemoteOptions{Cache: t.Cache, Footers: t.Footers, Info: info})
}

// Register exports the cache's counters as Prometheus metrics.
func (c *BlockCache) Register(reg prometheus.Registerer) {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		counter("silt_cache_hits_total", "Cold-data block reads served from the local cache.", func() float64 { return float64(c.hits.Load()) }),
		counter("silt_cache_misses_total", "Cold-data block reads that went to the object store.", func() float64 { return float64(c.misses.Load()) }),
		counter("silt_cache_evictions_total", "Blocks evicted from the local cache to stay under --cache.max-bytes.", func() float64 { return float64(c.evictions.Load()) }),
		counter("silt_cache_corrupt_total", "Cached blocks that failed their checksum and were refetched.", func() float64 { return float64(c.corrupt.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_cache_bytes", Help: "Bytes held by the local cache of cold data."},
			func() float64 { return float64(c.Stats().Bytes) }),
	)
}
