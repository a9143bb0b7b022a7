#!/usr/bin/env bash
# TSBS query latency, Silt (SQL) against InfluxDB 1.x (InfluxQL), same data, same run.
#
# Generates the TSBS cpu-only day (SCALE hosts × 1 day at 10 s; 100 hosts = 864k rows),
# loads it into both servers with `silt import`, waits for Silt to flush it to segments,
# then runs each TSBS query shape RUNS times against each server (curl, one query at a
# time, alternating) and prints the median latency per shape and Silt's ratio.
#
#   bench/query-vs-influxdb.sh                 # SCALE=100, RUNS=5
#
# Needs Debian's influxdb package (apt-get install influxdb).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-100} RUNS=${RUNS:-5}
SILT_PORT=${SILT_PORT:-18286} INFLUX_PORT=${INFLUX_PORT:-18287}
command -v influxd >/dev/null || { echo "influxd not found: apt-get install influxdb" >&2; exit 1; }

work=$(mktemp -d /tmp/silt-query-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/silt" ./cmd/silt
"$work/silt" bench gen --scale "$SCALE" --start 2026-01-01T00:00:00Z --end 2026-01-02T00:00:00Z --out "$work/cpu.lp"
echo "dataset: $(wc -l < "$work/cpu.lp") rows ($SCALE hosts, one day at 10s)"

. bench/peers.sh
start_peers
curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode "q=CREATE DATABASE benchmark" >/dev/null
for url in "http://127.0.0.1:$SILT_PORT" "http://127.0.0.1:$INFLUX_PORT"; do
  "$work/silt" import --quiet --server "$url" --db benchmark --state-dir "$work/state" --no-resume "$work/cpu.lp"
done
# Silt: flush the head so queries read segments as they would in steady state.
kill -TERM "${pids[1]}"; wait "${pids[1]}" || true
"$work/silt" serve --data-dir "$work/silt-data" --http-addr "127.0.0.1:$SILT_PORT" --log-level warn >>"$work/silt.log" 2>&1 & pids[1]=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$SILT_PORT/ready" && break; sleep 0.2; done

T0=2026-01-01T00:00:00Z
h() { date -u -d "2026-01-01T00:00:00Z + $1 hours" +%Y-%m-%dT%H:%M:%SZ; }
O="TIMESTAMP '2000-01-01'"
declare -A SQL INFLUXQL
SQL[single-groupby-1-1-1]="SELECT date_bin('1 minute', time, $O) AS minute, max(usage_user) FROM cpu WHERE hostname = 'host_7' AND time >= '$(h 3)' AND time < '$(h 4)' GROUP BY 1 ORDER BY 1"
INFLUXQL[single-groupby-1-1-1]="SELECT max(usage_user) FROM cpu WHERE hostname = 'host_7' AND time >= '$(h 3)' AND time < '$(h 4)' GROUP BY time(1m)"
SQL[single-groupby-5-1-12]="SELECT date_bin('1 minute', time, $O) AS minute, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE hostname = 'host_7' AND time >= '$(h 3)' AND time < '$(h 15)' GROUP BY 1 ORDER BY 1"
INFLUXQL[single-groupby-5-1-12]="SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE hostname = 'host_7' AND time >= '$(h 3)' AND time < '$(h 15)' GROUP BY time(1m)"
SQL[double-groupby-1]="SELECT date_bin('1 hour', time, $O) AS hour, hostname, avg(usage_user) FROM cpu WHERE time >= '$(h 0)' AND time < '$(h 12)' GROUP BY 1, 2 ORDER BY 1, 2"
INFLUXQL[double-groupby-1]="SELECT mean(usage_user) FROM cpu WHERE time >= '$(h 0)' AND time < '$(h 12)' GROUP BY time(1h), hostname"
SQL[high-cpu-1]="SELECT * FROM cpu WHERE usage_user > 90 AND hostname = 'host_7' AND time >= '$(h 0)' AND time < '$(h 12)' ORDER BY time"
INFLUXQL[high-cpu-1]="SELECT * FROM cpu WHERE usage_user > 90 AND hostname = 'host_7' AND time >= '$(h 0)' AND time < '$(h 12)'"
SQL[lastpoint]="SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname"
INFLUXQL[lastpoint]="SELECT last(usage_user) FROM cpu GROUP BY hostname"
SQL[groupby-orderby-limit]="SELECT date_bin('1 minute', time, $O) AS minute, max(usage_user) FROM cpu WHERE time >= '$T0' AND time < '$(h 12)' GROUP BY 1 ORDER BY 1 DESC LIMIT 5"
INFLUXQL[groupby-orderby-limit]="SELECT max(usage_user) FROM cpu WHERE time >= '$T0' AND time < '$(h 12)' GROUP BY time(1m) ORDER BY time DESC LIMIT 5"

run() { # url-path param query → seconds
  curl -sf -o /dev/null -w '%{time_total}\n' -G "$1" --data-urlencode "db=benchmark" --data-urlencode "$2=$3"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rows() { # the result rows of one answer, to check both systems answered the same question
  curl -sf -G "$1" --data-urlencode "db=benchmark" --data-urlencode "$2=$3" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if "rows" in d: print(len(d["rows"]))
else: print(sum(len(s.get("values", [])) for r in d.get("results", []) for s in r.get("series", [])))'
}
echo
echo "| query | Silt ms (median of $RUNS) | InfluxDB ms | Silt / InfluxDB | result rows Silt / InfluxDB |"
echo "| --- | --- | --- | --- | --- |"
for q in single-groupby-1-1-1 single-groupby-5-1-12 double-groupby-1 high-cpu-1 lastpoint groupby-orderby-limit; do
  s=(); f=()
  for _ in $(seq "$RUNS"); do
    s+=("$(run "http://127.0.0.1:$SILT_PORT/api/v1/sql" q "${SQL[$q]}")")
    f+=("$(run "http://127.0.0.1:$INFLUX_PORT/query" q "${INFLUXQL[$q]}")")
  done
  ms=$(median "${s[@]}"); mf=$(median "${f[@]}")
  rs=$(rows "http://127.0.0.1:$SILT_PORT/api/v1/sql" q "${SQL[$q]}"); rf=$(rows "http://127.0.0.1:$INFLUX_PORT/query" q "${INFLUXQL[$q]}")
  awk -v q="$q" -v a="$ms" -v b="$mf" -v rs="$rs" -v rf="$rf" 'BEGIN {printf "| %s | %.1f | %.1f | %.2fx | %s / %s |\n", q, a*1000, b*1000, a/b, rs, rf}'
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(influxd version 2>/dev/null)"
