# Silt — build, run and test. `make help` lists the targets.
GO        ?= go
BIN       ?= bin/silt
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.revision=$(REVISION)
# build-static: one self-contained binary (the container image's). The SQL
# parser is C (pg_query), so cgo links statically against libc; netgo and
# osusergo keep name lookups in Go, which a static glibc cannot do.
STATIC_TAGS    := netgo,osusergo
STATIC_LDFLAGS := -linkmode external -extldflags -static
# A count ("200000x") instead of a duration avoids Go 1.26's fuzz-coordinator
# race (golang/go#75804) that fails a clean run with "context deadline exceeded".
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
BENCHCOUNT ?= 5
CRASH_ROUNDS ?= 100
# staticcheck, pinned; `make lint` installs it with `go install` when missing.
STATICCHECK_VERSION ?= v0.7.0
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin

HOSTILE_REQUESTS ?= 100000

.PHONY: help build build-static run dev cluster test test-cluster test-race test-race-short test-hostile test-crash lint fuzz bench bench-rollups bench-prom clean bench-peers

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/silt
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/silt

build-static: ## build bin/silt as a static binary (what the Dockerfile ships)
	$(GO) build -tags $(STATIC_TAGS) -ldflags "$(LDFLAGS) $(STATIC_LDFLAGS)" -o $(BIN) ./cmd/silt

run: build ## run Silt on its defaults: data in ./silt-data, HTTP on 127.0.0.1:8086
	./$(BIN) serve

dev: ## run Silt with a local MinIO as object store, all under ./silt-dev; seeds yesterday's rows, tiered within a minute
	tiering/dev.sh

cluster: ## a cluster in a box under ./silt-cluster: MinIO, an in-memory Kafka (6 partitions, seeded), 3 writers in one group, a query node on 127.0.0.1:8086
	cluster/dev.sh

test: ## vet and run every test (crash tests included; -short skips them)
	$(GO) vet ./...
	# 20m per package, not go test's 10m: cmd/silt's end-to-end tests take
	# about 6 minutes on a quiet machine and went past 10 under load.
	$(GO) test -count=1 -timeout 20m ./...
	# The oracle suites again with freed Arrow buffers poisoned, not
	# recycled: a scan result kept past its batch reads garbage and fails
	# (segment/arrow_pool.go).
	SILT_DEBUG_POISON_FREED=1 $(GO) test -count=1 -run 'AgainstPostgres|Oracle' ./query/exec ./server
	$(MAKE) test-race-short

# The concurrency tests (writers, scans, flushes, drops and WAL appends at
# once; views and frozen heads read while written) under the race
# detector: the regressions a data race would bring, in a few minutes'
# budget rather than the whole suite's (make test-race). ./server is left
# to make test-race: its race build recompiles the C SQL parser (pg_query),
# minutes on a fresh machine.
RACE_SHORT_TESTS := ^(TestViewIsStableUnderAppends|TestFrozenHeadReadDuringFlush|TestMatchSeriesIndexUnderAppends|TestOrderedColumnsUnderConcurrentReads|TestConcurrentWriteScanFlush|TestDropRacesFlush|TestConcurrentAppendSyncRotate|TestConcurrentPreparedAppends|TestTablesSnapshotConcurrentWrites|TestTablesConcurrentWritesDrops|TestHeadsViewAckedRowsExactlyOnce|TestScanAcquiresBeforeRetire)$$

test-cluster: ## the scale-out end-to-end suite alone, long mode: writers, a query node and node-id fencing as real processes over a real MinIO; 300k Kafka records through 10 kill -9s
	SILT_CLUSTER_KAFKA_RECORDS=300000 SILT_CLUSTER_KAFKA_KILLS=10 $(GO) test -count=1 -v -timeout=30m ./test/cluster/

test-race: ## run the tests under the race detector
	$(GO) test -count=1 -race ./...

test-race-short: ## the concurrency tests alone under the race detector (part of make test)
	$(GO) test -count=1 -race -timeout 10m -run '$(RACE_SHORT_TESTS)' ./segment ./engine ./engine/wal

test-hostile: ## the HTTP fuzzer's long mode: HOSTILE_REQUESTS (100000) hostile requests at a real silt serve (SILT_HOSTILE_SEED=N replays a run)
	SILT_HOSTILE_REQUESTS=$(HOSTILE_REQUESTS) $(GO) test -count=1 -v -timeout=90m -run '^TestHostileHTTP$$' ./test/hostile/

test-crash: ## the kill -9 suites' long mode: CRASH_ROUNDS (100) rounds of ingest, compaction, tiering (and MinIO outages), retention, drop, Kafka and NATS crashes, each checked against the acknowledged rows
	SILT_CRASH_ROUNDS=$(CRASH_ROUNDS) SILT_COMPACT_CRASH_ROUNDS=$(CRASH_ROUNDS) SILT_KAFKA_CRASH_ROUNDS=$(CRASH_ROUNDS) SILT_NATS_CRASH_ROUNDS=$(CRASH_ROUNDS) \
	SILT_TIER_CRASH_ROUNDS=$(CRASH_ROUNDS) SILT_MINIO_OUTAGE_ROUNDS=$(CRASH_ROUNDS) SILT_RETENTION_CRASH_ROUNDS=$(CRASH_ROUNDS) SILT_DROP_CRASH_ROUNDS=$(CRASH_ROUNDS) \
		$(GO) test -count=1 -v -timeout=180m -run 'Kill9' ./cmd/silt/

.PHONY: soak
soak: ## SOAK (30m) of mixed HTTP writes, SQL/InfluxQL/PromQL queries and Kafka consumption at a real silt serve; fails if its RSS keeps climbing (SOAK_DIR keeps the RSS samples and heap profiles)
	SILT_SOAK=$(or $(SOAK),30m) SILT_SOAK_DIR=$(SOAK_DIR) $(GO) test -count=1 -v -timeout=0 -run '^TestSoak$$' ./cmd/silt/

lint: ## gofmt, go vet, staticcheck (pinned) and the package map check (docs/architecture.md)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x "$(GOBIN_DIR)/staticcheck" ] && "$(GOBIN_DIR)/staticcheck" -version | grep -q "$(STATICCHECK_VERSION)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$(GOBIN_DIR)/staticcheck" ./...
	$(GO) test -count=1 ./internal/archtest

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test -run=NONE -fuzz='^FuzzDecodeDifferential$$' -fuzztime=$(FUZZTIME) ./ingest/lineprotocol/
	$(GO) test -run=NONE -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./ingest/lineprotocol/
	$(GO) test -run=NONE -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./ingest/ndjson/
	$(GO) test -run=NONE -fuzz='^FuzzPlan$$' -fuzztime=$(FUZZTIME) ./query/sql/
	$(GO) test -run=NONE -fuzz='^FuzzExecute$$' -fuzztime=$(FUZZTIME) ./query/influxql/
	$(GO) test -run=NONE -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./pgwire/
	$(GO) test -run=NONE -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./ingest/promremote/
	$(GO) test -run=NONE -fuzz='^FuzzTicket$$' -fuzztime=$(FUZZTIME) ./flightsql/
	$(GO) test -run=NONE -fuzz='^FuzzCSVImport$$' -fuzztime=$(FUZZTIME) ./server/

bench: ## run the Go benchmarks (BENCHCOUNT runs each; compare with benchstat)
	$(GO) test -run=NONE -bench=. -benchmem -count=$(BENCHCOUNT) -benchtime=$(BENCHTIME) ./...

bench-rollups: ## rollups vs raw rows on 30 days x 100 hosts (data cached in $TMPDIR; the first run loads it, ~6 min), flush and compaction cost
	$(GO) test -run=NONE -bench='^BenchmarkRollup' -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) -timeout=90m ./query/exec/

bench-prom: ## Silt next to Prometheus 2.42 (Debian) on one hour of remote-written node scrapes: ingest, bytes per sample, range-query latency, peak RSS (~3 min)
	$(GO) test -run=NONE -bench='^BenchmarkAgainstPrometheus$$' -benchtime=1x -timeout=30m ./test/prometheus/

clean: ## remove build output (not ./silt-data)
	rm -rf bin

bench-peers: ## Silt next to InfluxDB 1.6, ClickHouse 18.16 and VictoriaMetrics 1.79 on TSBS cpu-only, TSBS query shapes; writes bench/results/<date>.md
	bench/bench-peers.sh
