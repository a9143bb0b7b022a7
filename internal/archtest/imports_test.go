// Package archtest checks the package map of docs/architecture.md: which of
// Silt's packages may import which. A new import across the map fails here
// first, so the layering is changed on purpose (map and docs together) or not
// at all.
package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/siltdb/silt/"

// allowed maps a package (path relative to the module; a trailing "/..."
// covers its subpackages) to the Silt packages its non-test files may import.
// Entries are matched longest-prefix first. Standard library and third-party
// imports are not constrained here, except those in forbiddenDeps.
var allowed = map[string][]string{
	// Leaves: the data model, the write contract, file utilities, results.
	"columnar":          {"internal/fileutil"},
	"internal/fileutil": {},
	"internal/flagutil": {},
	"ingest/sink":       {"columnar"},
	"query":             {},
	"docs":              {}, // the embedded OpenAPI description

	// Decoders and the WAL sit on the data model only.
	"ingest/lineprotocol": {"columnar"},
	"ingest/ndjson":       {"columnar"},
	"ingest/promremote":   {"columnar"},
	"engine/wal":          {"columnar", "internal/fileutil"},

	// Storage building blocks, free of engine state.
	"segment":    {"columnar", "internal/fileutil"},
	"manifest":   {"columnar", "segment", "internal/fileutil"},
	"merge":      {"columnar", "segment"},
	"compaction": {"columnar", "segment", "manifest", "merge", "internal/fileutil"},
	"tiering":    {"columnar", "segment", "manifest", "internal/fileutil"},

	// The engine wires storage together and implements ingest/sink.Sink.
	"engine": {"columnar", "segment", "manifest", "merge", "compaction", "tiering",
		"engine/wal", "ingest/sink", "internal/fileutil"},

	// Membership and the query node's union of writers' manifests: the
	// bucket and manifests only; the binary hands them to the engine.
	"cluster": {"columnar", "segment", "manifest", "tiering"},

	// Iceberg tables of the published windows: the manifest and the
	// bucket only; the binary hooks it into the engine's tiering pass.
	"iceberg": {"columnar", "segment", "manifest", "tiering"},

	// Stream sources write through ingest/sink, never through the engine.
	"ingest/stream": {"columnar", "ingest/sink", "ingest/lineprotocol", "ingest/ndjson"},
	"ingest/kafka":  {"columnar", "ingest/sink", "ingest/stream"},
	"ingest/nats":   {"columnar", "ingest/sink", "ingest/stream"},
	// The import client talks HTTP to a server.
	"ingest/importer": {},

	// Query front ends and the executor read through the engine.
	"query/sql":      {},
	"query/exec":     {"columnar", "segment", "engine", "query", "query/sql"},
	"query/influxql": {"columnar", "query", "query/exec", "query/sql"},
	// PromQL runs on Prometheus' own engine over an adapter on the scans.
	"query/prom": {"columnar", "engine", "query"},

	"server": {"columnar", "segment", "manifest", "engine", "engine/wal", "ingest/sink",
		"ingest/lineprotocol", "ingest/ndjson", "query", "query/exec", "query/influxql", "query/sql",
		"docs", "ingest/promremote", "query/prom"},
	// The PostgreSQL listener runs queries through the server's executor,
	// seen as its Backend interface: it imports no server and no engine.
	"pgwire": {"columnar", "query", "query/sql"},
	"bench":  {},

	// The Flight SQL listener, as pgwire, runs queries through its own
	// Backend interface: it imports no server and no engine.
	"flightsql": {"columnar", "query", "query/sql"},

	// Test support: imported only by tests (checked below).
	"internal/testutil/...": {"internal/testutil/..."},
	"internal/archtest":     {},
	// A development tool (make cluster): an in-memory Kafka broker.
	"internal/devkafka": {},

	// Black-box suites: test files only, they run the built binary.
	"test/...": {},

	// The binary wires everything.
	"cmd/silt": {"..."},
}

// everywhere are leaves any package may import: flag helpers that carry no
// state and no dependencies.
var everywhere = []string{"internal/flagutil"}

// forbiddenDeps are transitive dependencies a package must not pull in:
// decoding a line or replaying the WAL has no business linking Parquet.
var forbiddenDeps = map[string][]string{
	"ingest/lineprotocol": {"github.com/parquet-go/", "github.com/apache/arrow-go/"},
	"ingest/ndjson":       {"github.com/parquet-go/", "github.com/apache/arrow-go/"},
	"ingest/promremote":   {"github.com/parquet-go/", "github.com/apache/arrow-go/"},
	"engine/wal":          {"github.com/parquet-go/", "github.com/apache/arrow-go/"},
	"ingest/sink":         {"github.com/parquet-go/", "github.com/apache/arrow-go/"},
}

func rootDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type pkg struct {
	path    string   // relative to the module
	imports []string // Silt imports, relative to the module
	deps    []string // all transitive dependencies, full paths
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...")
	cmd.Dir = rootDir(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[0], module) {
			continue
		}
		p := pkg{path: strings.TrimPrefix(parts[0], module), deps: strings.Fields(parts[2])}
		for _, imp := range strings.Fields(parts[1]) {
			if strings.HasPrefix(imp, module) {
				p.imports = append(p.imports, strings.TrimPrefix(imp, module))
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is the module root right?", len(pkgs))
	}
	return pkgs
}

// ruleFor returns the allowed list of the longest matching entry.
func ruleFor(path string) ([]string, string, bool) {
	best, bestKey, found := []string(nil), "", false
	for k, v := range allowed {
		base := strings.TrimSuffix(k, "/...")
		match := path == k || (strings.HasSuffix(k, "/...") && (path == base || strings.HasPrefix(path, base+"/")))
		if match && len(k) > len(bestKey) {
			best, bestKey, found = v, k, true
		}
	}
	return best, bestKey, found
}

func permits(list []string, imp string) bool {
	for _, a := range append(list[:len(list):len(list)], everywhere...) {
		if a == "..." || a == imp {
			return true
		}
		if base, ok := strings.CutSuffix(a, "/..."); ok && (imp == base || strings.HasPrefix(imp, base+"/")) {
			return true
		}
	}
	return false
}

func TestImportDirections(t *testing.T) {
	for _, p := range listPackages(t) {
		list, key, ok := ruleFor(p.path)
		if !ok {
			t.Errorf("package %s is not on the map: add it to allowed (internal/archtest) and to docs/architecture.md", p.path)
			continue
		}
		for _, imp := range p.imports {
			if !permits(list, imp) {
				t.Errorf("%s imports %s, which the map (entry %q) does not allow; see docs/architecture.md", p.path, imp, key)
			}
		}
		for _, bad := range forbiddenDeps[p.path] {
			for _, d := range p.deps {
				if strings.HasPrefix(d, bad) {
					t.Errorf("%s depends on %s (through its imports); it must not pull in %s", p.path, d, bad)
					break
				}
			}
		}
	}
}

// TestRuleMatching keeps the matcher honest: a source importing the engine,
// the thing this check exists to stop, is refused.
func TestRuleMatching(t *testing.T) {
	list, _, ok := ruleFor("ingest/kafka")
	if !ok || permits(list, "engine") {
		t.Fatalf("ingest/kafka may import engine under the map: %v", list)
	}
	if !permits(list, "ingest/sink") {
		t.Fatalf("ingest/kafka may not import ingest/sink under the map: %v", list)
	}
	if l, k, _ := ruleFor("internal/testutil/pgoracle"); k != "internal/testutil/..." || permits(l, "engine") {
		t.Fatalf("internal/testutil/pgoracle matched %q allowing %v", k, l)
	}
	if l, _, _ := ruleFor("cmd/silt"); !permits(l, "engine") {
		t.Fatal("cmd/silt may not import engine")
	}
}

// TestTestSupportOnlyInTests: no production package imports internal/testutil.
func TestTestSupportOnlyInTests(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.HasPrefix(p.path, "internal/testutil") {
			continue
		}
		for _, imp := range p.imports {
			if strings.HasPrefix(imp, "internal/testutil") {
				t.Errorf("%s (non-test code) imports test support %s", p.path, imp)
			}
		}
	}
}
