#!/usr/bin/env bash
# make bench-peers: Silt next to InfluxDB 1.6, ClickHouse 18.16 and
# VictoriaMetrics 1.79 on this machine, in one run, on the same TSBS cpu-only
# data (TSBS's integer fields) and the 15 TSBS cpu-only query types, each
# system asked in the shape TSBS's query generator writes for it.
#
# Installs the peers from Debian if missing, starts them and two Silt servers
# on 127.0.0.1 with private config and data under a temporary directory:
# "Silt" (default settings; restarted after loading, which flushes its heads
# to Parquet: queried over segments) and, with HEAD=1, "Silt head"
# (--flush-interval 1h --max-head-bytes 4GiB, never restarted: queried over
# its in-memory head, what live dashboards read). Loads the same dataset into
# each (silt bench load: InfluxDB v1 /write for Silt, InfluxDB and
# VictoriaMetrics, HTTP INSERT ... FORMAT TabSeparated for ClickHouse; the
# ingest figures are Silt's, not Silt head's), lets each settle its storage
# (Silt: the restart; InfluxDB: snapshot and full compaction; ClickHouse:
# OPTIMIZE ... FINAL; VictoriaMetrics: force flush and merge), measures
# on-disk bytes, then runs the queries with all servers up, interleaved (silt
# bench compare): per type, every instance on every system in turn, round
# after round, who goes first rotating, so that a slow phase of this shared
# machine (its speed swings 2x for minutes) falls on all systems alike
# instead of bending one ratio. Silt through /api/v1/sql (SQL) and /query
# (TSBS's InfluxQL, Grafana's path), both servers; InfluxDB through /query,
# ClickHouse in TSBS's ClickHouse SQL, VictoriaMetrics in TSBS's PromQL (no
# PromQL for lastpoint, high-cpu-*, groupby-orderby-limit: n/a). Before
# every timed step the client times a canary (a fixed CPU-bound loop): the
# page shows the machine's speed per type and flags rounds run in a slow
# phase. Each server's peak RSS (VmHWM) is reset before each type and read
# after it. Then it stops them and writes bench/results/<date>.md (silt
# bench report).
#
#   make bench-peers                       # 100 hosts x 1 day at 10 s = 864k rows
#   SCALE=1000 END=2026-01-01T03:00:00Z make bench-peers
#   LOAD_RUNS=1 make bench-peers           # shorter: one load per system (~10 min
#                                          # less on 2 cores); the queries unchanged
#
# Settings (environment): SCALE, START, END, INTERVAL, SEED, OUT_OF_ORDER
# (rows shuffled within blocks of that many intervals), WORKERS, BATCH,
# LOAD_RUNS (loads per system, median reported), PER_TYPE (query instances per
# type), RUNS (timed runs per instance), TYPES, OUT (the results file), NOTE,
# HEAD (1: also start, load and query the second Silt, over its in-memory
# head; 0: skip it).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-100} START=${START:-2026-01-01T00:00:00Z} END=${END:-2026-01-02T00:00:00Z}
INTERVAL=${INTERVAL:-10s} SEED=${SEED:-123} OUT_OF_ORDER=${OUT_OF_ORDER:-0} WORKERS=${WORKERS:-4} BATCH=${BATCH:-5000}
LOAD_RUNS=${LOAD_RUNS:-3} PER_TYPE=${PER_TYPE:-5} RUNS=${RUNS:-3} TYPES=${TYPES:-} HEAD=${HEAD:-1}
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d).md} NOTE=${NOTE:-}

need=()
command -v influxd >/dev/null || need+=(influxdb)
command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
if ((${#need[@]})); then
  echo "== installing ${need[*]} from Debian"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

work=$(mktemp -d /tmp/silt-bench-peers.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
res="$work/results"; mkdir -p "$res"
t0=$(date +%s)

echo "== build"
go build -o "$work/silt" ./cmd/silt
S="$work/silt"
. bench/peers.sh
SILT_PORT=$(free_port 20001); INFLUX_PORT=$(free_port $((SILT_PORT + 2)))
CH_HTTP=$(free_port $((INFLUX_PORT + 2))); CH_TCP=$((CH_HTTP + 1))
VM_PORT=$(free_port $((CH_HTTP + 2))); HEAD_PORT=$(free_port $((VM_PORT + 2)))

echo "== start Silt :$SILT_PORT, InfluxDB :$INFLUX_PORT, ClickHouse :$CH_HTTP, VictoriaMetrics :$VM_PORT (data under $work)"
# Snapshot the cache and fully compact a shard soon after writes stop (the
# defaults wait 10 min and 4 h), so its on-disk size is its settled size.
start_influxdb "$INFLUX_PORT" '  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "10s"'
start_silt "$SILT_PORT"; seg_pid=$silt_pid
start_clickhouse "$CH_HTTP" "$CH_TCP"
start_victoriametrics "$VM_PORT"
head_pid=
if [ "$HEAD" = 1 ]; then
  # The head server: nothing flushes during the run (an hour's flush
  # interval, a head of 4 GiB), and no PostgreSQL or Flight listener to
  # contend with the first server's default ports.
  echo "== start Silt head :$HEAD_PORT"
  start_silt "$HEAD_PORT" "$work/silt-head-data" --flush-interval 1h --max-head-bytes 4GiB --pg-addr "" --flight-addr ""
  head_pid=$silt_pid; silt_pid=$seg_pid
fi

influx_q() { curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode "q=$1" >/dev/null; }
ch_q() { curl -sf "http://127.0.0.1:$CH_HTTP/" --data-binary "$1"; }
ch_table() { # database
  ch_q "CREATE DATABASE IF NOT EXISTS $1"
  # A flat table like Silt's (TSBS's ClickHouse loader splits tags into a
  # second table; one table keeps the systems' data alike), its time column
  # named created_at as TSBS's, so TSBS's ClickHouse queries run as written.
  # Sorted by host then time, like Silt's segments and InfluxDB's series.
  ch_q "CREATE TABLE $1.cpu (created_at DateTime, hostname String, region String, datacenter String,
    rack String, os String, arch String, team String, service String, service_version String,
    service_environment String, usage_user Float64, usage_system Float64, usage_idle Float64,
    usage_nice Float64, usage_iowait Float64, usage_irq Float64, usage_softirq Float64,
    usage_steal Float64, usage_guest Float64, usage_guest_nice Float64)
    ENGINE = MergeTree() PARTITION BY toDate(created_at) ORDER BY (hostname, created_at)"
}
influx_version=$(curl -sI "http://127.0.0.1:$INFLUX_PORT/ping" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-influxdb-version" {print $2}')
ch_version=$(ch_q "SELECT version()")
silt_version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
vm_version=$(curl -s "http://127.0.0.1:$VM_PORT/metrics" | sed -n 's/^vm_app_version{version="victoria-metrics-\([^"]*\)".*/\1/p' | head -1)
NAME_SILT="Silt $silt_version" NAME_INFLUX="InfluxDB $influx_version" NAME_CH="ClickHouse $ch_version" NAME_VM="VictoriaMetrics ${vm_version:-1.79}"

data=(--scale "$SCALE" --start "$START" --end "$END" --interval "$INTERVAL" --seed "$SEED" --out-of-order "$OUT_OF_ORDER")
echo "== load (${LOAD_RUNS} runs each, alternating; run 1 into 'benchmark', the others into scratch databases; VictoriaMetrics once: it cannot drop a database)"
for i in $(seq "$LOAD_RUNS"); do
  db=benchmark; [ "$i" = 1 ] || db="scratch$i"
  influx_q "CREATE DATABASE $db"; ch_table "$db"
  "$S" bench load "${data[@]}" --url "http://127.0.0.1:$SILT_PORT" --db "$db" --workers "$WORKERS" --batch-size "$BATCH" --name "$NAME_SILT" --json "$res/load-silt-$i.json"
  "$S" bench load "${data[@]}" --url "http://127.0.0.1:$INFLUX_PORT" --db "$db" --workers "$WORKERS" --batch-size "$BATCH" --name "$NAME_INFLUX" --json "$res/load-influxdb-$i.json"
  "$S" bench load "${data[@]}" --url "http://127.0.0.1:$CH_HTTP" --protocol clickhouse --db "$db" --workers "$WORKERS" --batch-size "$BATCH" --name "$NAME_CH" --json "$res/load-clickhouse-$i.json"
  [ "$i" = 1 ] && "$S" bench load "${data[@]}" --url "http://127.0.0.1:$VM_PORT" --db "$db" --workers "$WORKERS" --batch-size "$BATCH" --name "$NAME_VM" --json "$res/load-victoriametrics-$i.json"
  # Scratch data would otherwise be compacted and merged during the queries.
  [ "$db" = benchmark ] || { influx_q "DROP DATABASE $db"; ch_q "DROP TABLE $db.cpu"; ch_q "DROP DATABASE $db"; }
done
if [ "$HEAD" = 1 ]; then
  echo "== load Silt head (once; its rate is not reported: the ingest rows are Silt's)"
  "$S" bench load "${data[@]}" --url "http://127.0.0.1:$HEAD_PORT" --db benchmark --workers "$WORKERS" --batch-size "$BATCH" --name "$NAME_SILT head"
fi

q=("${data[@]}" --db benchmark --per-type "$PER_TYPE" --runs "$RUNS")
types=${TYPES:-$("$S" bench query --list-types)}
flushed_head() { curl -s "http://127.0.0.1:$HEAD_PORT/metrics" | awk '$1 == "silt_segments_flushed_total" {print $2}'; }

echo "== settle the peers' storage"
# The peers settle before any query, so their background work (InfluxDB's
# snapshots and compactions, ClickHouse's merges) does not share the cores
# with the queries.
ch_q "OPTIMIZE TABLE benchmark.cpu FINAL"
curl -sf "http://127.0.0.1:$VM_PORT/internal/force_flush" >/dev/null || true
curl -sf "http://127.0.0.1:$VM_PORT/internal/force_merge" >/dev/null || true
# InfluxDB: wait until the WAL is snapshotted and the shard sizes stop changing.
prev=-1 stable=0
for _ in $(seq 90); do
  wal=$(du -sb "$work/influx/wal/benchmark" | cut -f1)
  cur=$(du -sb "$work/influx/data/benchmark" | cut -f1)
  if [ "$wal" -lt 65536 ] && [ "$cur" = "$prev" ] && ! find "$work/influx/data/benchmark" -name '*.tmp' | grep -q .; then
    stable=$((stable + 1)); [ "$stable" -ge 3 ] && break
  else stable=0; fi
  prev=$cur; sleep 2
done

echo "== settle Silt's storage"
# Silt: a restart flushes every head to Parquet segments (as a steady state would).
kill -TERM "$silt_pid"; wait "$silt_pid" || true
start_silt "$SILT_PORT"
# Silt too: the heads seal their last blocks and fold their live rollups
# after the load returns, as the peers merge after theirs.
wait_idle "$silt_pid" "$influx_pid" "$ch_pid" "$vm_pid" $head_pid
# Allocated bytes (du without --apparent-size): InfluxDB preallocates sparse
# series-file segments whose apparent size is mostly holes.
du -s -B1 "$work/silt-data/segments/benchmark" "$work/silt-data/wal" | awk '{s += $1} END {print s}' > "$res/disk-silt.txt"
du -s -B1 "$work/influx/data/benchmark" "$work/influx/wal/benchmark" | awk '{s += $1} END {print s}' > "$res/disk-influxdb.txt"
# ClickHouse keeps merged-away parts for 8 minutes: count the active parts only.
ch_q "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'benchmark' AND table = 'cpu'" > "$res/disk-clickhouse.txt"
sleep 5 # the forced merge runs in the background
du -s -B1 "$work/vm" | cut -f1 > "$res/disk-victoriametrics.txt"
echo "Parquet segments (zstd) plus the WAL directory; restarted after loading so the heads are flushed" > "$res/notes-silt.txt"
echo "TSM data plus WAL of the database after the cache snapshot and full compaction (cold durations lowered to 5 s / 10 s for this); default durability (WAL fsync per write)" > "$res/notes-influxdb.txt"
echo "MergeTree, one flat table, PARTITION BY toDate(created_at) ORDER BY (hostname, created_at), default LZ4; after OPTIMIZE TABLE ... FINAL, active parts' bytes_on_disk; inserts are not fsynced (ClickHouse's default); queries: TSBS's ClickHouse SQL, with hostname in the table instead of TSBS's joined tags table" > "$res/notes-clickhouse.txt"
echo "Silt's /query endpoint (InfluxQL, as Grafana queries it), TSBS's InfluxQL for InfluxDB; the same server as Silt SQL, so the same load and disk" > "$res/notes-silt-influxql.txt"
echo "single node, Debian's package, -retentionPeriod=100y -search.disableCache (no rollup-result cache: the other systems cache no results), otherwise defaults; loaded once (influx line protocol at /write: metrics cpu_usage_user ...); storage directory after force_flush and force_merge; queries: TSBS's PromQL through /api/v1/query_range (TSBS has none for lastpoint, high-cpu, groupby-orderby-limit)" > "$res/notes-victoriametrics.txt"

echo "== queries (interleaved)"
wait_idle "$silt_pid" "$influx_pid" "$ch_pid" "$vm_pid" $head_pid
systems=(--system "silt,sql,http://127.0.0.1:$SILT_PORT,$silt_pid,$NAME_SILT"
  --system "silt-influxql,influxql,http://127.0.0.1:$SILT_PORT,$silt_pid,$NAME_SILT /query")
if [ "$HEAD" = 1 ]; then
  systems+=(--system "silt-head,sql,http://127.0.0.1:$HEAD_PORT,$head_pid,$NAME_SILT head"
    --system "silt-head-influxql,influxql,http://127.0.0.1:$HEAD_PORT,$head_pid,$NAME_SILT head /query")
  flushed=$(flushed_head)
fi
systems+=(--system "influxdb,influxql,http://127.0.0.1:$INFLUX_PORT,$influx_pid,$NAME_INFLUX"
  --system "clickhouse,clickhouse,http://127.0.0.1:$CH_HTTP,$ch_pid,$NAME_CH"
  --system "victoriametrics,promql,http://127.0.0.1:$VM_PORT,$vm_pid,$NAME_VM")
# All types, all systems, in one interleaved run (see the header); each
# server's peak RSS is reset before each type and read after it. A failed
# query is listed on the page, not fatal here.
"$S" bench compare "${q[@]}" --types "$types" --dir "$res" "${systems[@]}" || true
if [ "$HEAD" = 1 ]; then
  echo "the loaded data in the in-memory head of a second Silt server (--flush-interval 1h --max-head-bytes 4GiB, never restarted; segments flushed since its start: ${flushed:-?} before the queries, $(flushed_head) after), through /api/v1/sql" > "$res/notes-silt-head.txt"
  echo "the same head through /query (InfluxQL)" > "$res/notes-silt-head-influxql.txt"
fi

echo "== stop"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

mkdir -p "$(dirname "$OUT")"
rm -rf "${OUT%.md}" # an earlier run of the same day: its files would mix with these
notes=(--note "Run took $(( $(date +%s) - t0 )) s. Client and servers share this machine's $(nproc) cores; one system works at a time (loads alternate; queries run one at a time, interleaved: per type, each instance on every system in turn). Peak RSS: VmHWM of each server process, reset before each query type (Linux clear_refs) and read after it, the largest over the types; an endpoint shows its process's figure (Silt's SQL and /query share one).")
[ -n "$NOTE" ] && notes+=(--note "$NOTE")
"$S" bench report --dir "$res" --out "$OUT" --archive "${OUT%.md}" "${notes[@]}" \
  --command "make bench-peers    # or: bench/bench-peers.sh; settings: SCALE=$SCALE END=$END OUT_OF_ORDER=$OUT_OF_ORDER LOAD_RUNS=$LOAD_RUNS PER_TYPE=$PER_TYPE RUNS=$RUNS WORKERS=$WORKERS BATCH=$BATCH"
echo "== wrote $OUT (raw results in ${OUT%.md}/)"
cat "$OUT"
