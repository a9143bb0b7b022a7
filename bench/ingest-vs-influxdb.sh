#!/usr/bin/env bash
# End-to-end ingest, Silt against InfluxDB 1.x on the same machine in the same run.
#
# Both servers get the same TSBS cpu-only line protocol through the same client
# (`silt import`: gzip bodies of BATCH lines, WORKERS concurrent requests), with
# their default durability (Silt: fsync before acknowledging; InfluxDB 1.x: WAL
# fsync per write, wal-fsync-delay 0). Runs alternate between the two, each into
# a fresh database; the medians and Silt's ratio are printed.
#
#   bench/ingest-vs-influxdb.sh            # SCALE=1000 hosts, HOURS=3 (1.08M rows), RUNS=3
#   SCALE=100 HOURS=1 RUNS=1 bench/ingest-vs-influxdb.sh
#
# Needs Debian's influxdb package (apt-get install influxdb).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1000} HOURS=${HOURS:-3} RUNS=${RUNS:-3} WORKERS=${WORKERS:-4} BATCH=${BATCH:-5000}
SILT_PORT=${SILT_PORT:-18186} INFLUX_PORT=${INFLUX_PORT:-18187}
command -v influxd >/dev/null || { echo "influxd not found: apt-get install influxdb" >&2; exit 1; }

work=$(mktemp -d /tmp/silt-ingest-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/silt" ./cmd/silt
end=$(date -u -d "2026-01-01T00:00:00Z + $HOURS hours" +%Y-%m-%dT%H:%M:%SZ)
"$work/silt" bench gen --scale "$SCALE" --start 2026-01-01T00:00:00Z --end "$end" --out "$work/cpu.lp"
rows=$(wc -l < "$work/cpu.lp"); bytes=$(stat -c %s "$work/cpu.lp")
echo "dataset: $rows rows, $((bytes / 1000000)) MB of line protocol ($SCALE hosts, ${HOURS}h at 10s)"

. bench/peers.sh
start_peers

load() { # server db → rows/s
  local out
  out=$("$work/silt" import --server "$1" --db "$2" --workers "$WORKERS" --batch-lines "$BATCH" \
    --state-dir "$work/state" --no-resume "$work/cpu.lp" 2>&1 | tail -1)
  echo "$out" >&2
  echo "$out" | sed -n 's/.*(\([0-9,]*\) rows\/s.*/\1/p' | tr -d ,
}
silt_rates=(); influx_rates=()
for i in $(seq "$RUNS"); do
  curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode "q=CREATE DATABASE run$i" >/dev/null
  echo "run $i: silt";     silt_rates+=("$(load "http://127.0.0.1:$SILT_PORT" "run$i")")
  echo "run $i: influxdb"; influx_rates+=("$(load "http://127.0.0.1:$INFLUX_PORT" "run$i")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s=$(median "${silt_rates[@]}"); f=$(median "${influx_rates[@]}")
echo
echo "| system | rows/s (median of $RUNS) | runs |"
echo "| --- | --- | --- |"
echo "| Silt | $s | ${silt_rates[*]} |"
echo "| InfluxDB $(influxd version 2>/dev/null | awk '{print $2}') | $f | ${influx_rates[*]} |"
echo "| Silt / InfluxDB | $(awk -v a="$s" -v b="$f" 'BEGIN {printf "%.2fx", a / b}') | |"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
