package kafka

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A tenure is one period in which one node owned a partition: the node, the
// consumer-group generation in which it was assigned the partition, and the
// offset it started consuming at. Every group commit carries the partition's
// recent tenures as its metadata, so that a node that crashed can learn,
// when it restarts, from which offset a later owner consumed again what it
// had already written (docs/scaling.md, "Hand-over of a partition").
type tenure struct {
	node  string
	gen   int32
	start int64
}

// historyPrefix marks (and versions) commit metadata written by Silt;
// metadata without it (another tool's commit) is an empty history.
const historyPrefix = "silt1 "

// maxHistory bounds the tenures a commit carries: about 40 bytes each,
// far below Kafka's default offset.metadata.max.bytes (4096). A node that
// stays down through more hand-overs of a partition than this falls back to
// the generation order (see handoverPoint).
const maxHistory = 32

// formatHistory encodes tenures, oldest first, keeping the last maxHistory.
func formatHistory(h []tenure) string {
	if len(h) > maxHistory {
		h = h[len(h)-maxHistory:]
	}
	var b strings.Builder
	b.WriteString(historyPrefix)
	for i, t := range h {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(t.node)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(t.gen)))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(t.start, 10))
	}
	return b.String()
}

// parseHistory decodes commit metadata. Metadata that is not Silt's is no
// history (nil, nil); Silt's that does not parse is an error.
func parseHistory(meta string) ([]tenure, error) {
	rest, ok := strings.CutPrefix(meta, historyPrefix)
	if !ok {
		return nil, nil
	}
	if rest == "" {
		return nil, nil
	}
	var h []tenure
	for _, e := range strings.Split(rest, ";") {
		f := strings.Split(e, ":")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("kafka: bad tenure %q in commit metadata", e)
		}
		gen, err := strconv.ParseInt(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("kafka: bad tenure generation %q in commit metadata", e)
		}
		start, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || start < 0 {
			return nil, fmt.Errorf("kafka: bad tenure start %q in commit metadata", e)
		}
		h = append(h, tenure{node: f[0], gen: int32(gen), start: start})
	}
	return h, nil
}

// handoverPoint returns the offset from which the records that node
// consumed in generation gen have been, or will be, consumed again by a
// later tenure of the partition: the start of the first tenure after the
// node's own in the history; with none, the group's committed offset, where
// the next owner (this node or another) will start; with no commit at all,
// 0 (the next owner starts at the beginning of the log).
func handoverPoint(h []tenure, committed int64, node string, gen int32) int64 {
	for i, t := range h {
		if t.node == node && t.gen == gen {
			if i+1 < len(h) {
				return h[i+1].start
			}
			return max(committed, 0)
		}
	}
	// The node's tenure is not recorded: it died before the tenure's first
	// commit (then the committed offset is where it started, as nothing
	// else committed since), or it fell out of the capped history (then
	// the oldest later tenure is the best estimate).
	for _, t := range h {
		if t.gen > gen {
			return t.start
		}
	}
	return max(committed, 0)
}

// nodeIDFile holds a node's stable identity in its data directory.
const nodeIDFile = "node-id"

// LoadNodeID returns the node id kept in dir, creating a random one on
// first use. A node id names the node in partition tenures; it must
// survive restarts, so it lives with the WAL it speaks for.
func LoadNodeID(dir string) (string, error) {
	name := filepath.Join(dir, nodeIDFile)
	raw, err := os.ReadFile(name)
	if err == nil {
		id := strings.TrimSpace(string(raw))
		if err := validNodeID(id); err != nil {
			return "", fmt.Errorf("kafka: node id in %s: %w", name, err)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("kafka: read node id: %w", err)
	}
	id, err := randomNodeID()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kafka: create %s: %w", dir, err)
	}
	// Written durably before any tenure names it: a node id lost in a
	// crash would make the node a stranger to its own WAL.
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("kafka: write node id: %w", err)
	}
	_, err = f.WriteString(id + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("kafka: write node id: %w", err)
	}
	return id, nil
}

func validNodeID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("empty or longer than 64 bytes")
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// randomNodeID names a node without a data directory (tests, benchmarks).
func randomNodeID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("kafka: make node id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
