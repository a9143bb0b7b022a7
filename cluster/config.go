package cluster

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/siltdb/silt/internal/flagutil"
)

// Config holds the scale-out settings of silt serve (docs/scaling.md).
// With Role empty the node runs alone, as before scale-out.
type Config struct {
	// Role (--role) is RoleWriter or RoleQuery.
	Role string
	// NodeID (--node-id) names the node in the bucket: its registration
	// nodes/<node-id>.json and, for a writer, its prefix nodes/<node-id>/.
	NodeID string
	// Lease (--cluster.lease): see LeaseConfig.TTL.
	Lease time.Duration
	// Advertise (--cluster.advertise) is the HTTP address other nodes reach
	// this one at; empty: the address the HTTP listener is bound to.
	Advertise string
	// Addr (--cluster.addr) is where a writer serves its internal API to
	// query nodes (the rows it holds outside the bucket); the address it
	// binds is what query nodes are told, so bind a reachable one.
	Addr string
	// WriterDown (--cluster.writer-down) is what a query node does when a
	// writer's rows outside the bucket cannot be had: WriterDownError or
	// WriterDownPartial.
	WriterDown string
	// Pushdown (--cluster.pushdown, default on): a query node's scans that
	// read rollups take writers' rows as their own scans' partials where
	// that is exact (RollupPath), instead of every raw row.
	Pushdown bool
	// TokenFile (--cluster.token-file) holds the secret a query node
	// presents to writers' internal API (a token with the cluster scope);
	// Token is what LoadSecrets read from it or from $SILT_CLUSTER_TOKEN.
	TokenFile string
	Token     string
}

// RegisterFlags adds --role, --node-id and the --cluster.* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.Lease == 0 {
		c.Lease = 15 * time.Second
	}
	fs.StringVar(&c.Role, "role", c.Role, "scale-out role: writer (ingests, tiers into nodes/<node-id>/ under --s3.prefix) or query (no ingest: answers over every writer's tiered data); empty: a standalone node")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's id in the bucket (with --role): held by one live process at a time")
	fs.DurationVar(&c.Lease, "cluster.lease", c.Lease, "node id lease: renewed every third of it; a restarted node may wait this long before it holds its id again")
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.WriterDown == "" {
		c.WriterDown = WriterDownError
	}
	fs.StringVar(&c.Addr, "cluster.addr", c.Addr, "a writer's internal API for query nodes (its rows not yet in the bucket, as Arrow); port 0 picks a free one. With auth on (--auth-*), calls need a token with the cluster scope")
	fs.StringVar(&c.WriterDown, "cluster.writer-down", c.WriterDown, "a query node's answer when a writer's rows outside the bucket cannot be read: error (503) or partial (answer without them; stats.missing_nodes names the writers)")
	fs.BoolVar(&c.Pushdown, "cluster.pushdown", true, "a query node's aggregate scans take live writers' rows as partials their own scans fold (where no other source can hold the same points), instead of fetching every raw row; false: always raw")
	fs.StringVar(&c.TokenFile, "cluster.token-file", c.TokenFile, "file holding the secret a query node presents to writers' internal API (a token with the cluster scope); must not be readable by group or others. Default: $"+TokenEnv+", else the first cluster-scoped token of --auth-tokens-file")
	fs.StringVar(&c.Advertise, "cluster.advertise", c.Advertise, "HTTP address other nodes reach this one at (default: the --http-addr listener's)")
}

// LoadSecrets reads the query node's token from TokenFile, else from the
// TokenEnv variable (looked up with getenv). Errors never hold the secret.
func (c *Config) LoadSecrets(getenv func(string) string) error {
	if c.TokenFile != "" {
		b, err := flagutil.ReadSecretFile(c.TokenFile)
		if err != nil {
			return fmt.Errorf("--cluster.token-file: %w", err)
		}
		if c.Token = strings.TrimSpace(string(b)); c.Token == "" {
			return fmt.Errorf("--cluster.token-file %s is empty", c.TokenFile)
		}
		return nil
	}
	c.Token = strings.TrimSpace(getenv(TokenEnv))
	return nil
}

// Enabled reports whether the node runs in a cluster role.
func (c *Config) Enabled() bool { return c.Role != "" }

// Validate checks the settings without contacting the bucket.
func (c *Config) Validate() error {
	switch c.Role {
	case "":
		if c.NodeID != "" {
			return errors.New("--node-id needs --role (writer or query)")
		}
		return nil
	case RoleWriter, RoleQuery:
	default:
		return fmt.Errorf("--role must be writer or query, got %q", c.Role)
	}
	if c.NodeID == "" {
		return fmt.Errorf("--role %s needs --node-id", c.Role)
	}
	if err := ValidNodeID(c.NodeID); err != nil {
		return fmt.Errorf("--node-id: %w", err)
	}
	if c.WriterDown != WriterDownError && c.WriterDown != WriterDownPartial {
		return fmt.Errorf("--cluster.writer-down must be error or partial, got %q", c.WriterDown)
	}
	if c.Lease < 300*time.Millisecond {
		return fmt.Errorf("--cluster.lease must be at least 300ms, got %s", c.Lease)
	}
	return nil
}
