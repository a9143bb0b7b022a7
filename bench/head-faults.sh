#!/usr/bin/env bash
# The head's queries right after a load, round by round: server CPU per query
# next to the page faults the server took in the round.
#
# Starts a private Silt whose heads keep the whole TSBS day (no flush), loads it
# with 4 loaders, then runs ROUNDS rounds of double-groupby-1 and
# single-groupby-5-1-12 (5 instances x 5 timed runs each, SQL) and prints, per
# round, the server's CPU ms per query (`silt bench query --server-pid`), its
# minor page faults and RSS. A round whose heap grows into pages it never
# touched pays a fault per new page (docs/memory.md, "The collector's pacing");
# GOGC=100 in the environment shows the runtime's own pacing for comparison.
#
#   bench/head-faults.sh                 # ./bin/silt, ROUNDS=6
#   GOGC=100 bench/head-faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin/silt} ROUNDS=${ROUNDS:-6} PORT=${PORT:-18417}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/silt
DATA=(--scale 100 --start 2026-01-01T00:00:00Z --end 2026-01-02T00:00:00Z --interval 10s --seed 123)
work=$(mktemp -d /tmp/silt-head-faults.XXXXXX)
"$BIN" serve --data-dir "$work/data" --http-addr "127.0.0.1:$PORT" --pg-addr "" --flight-addr "" \
  --log-level warn --flush-bytes 4GiB --max-head-bytes 4GiB >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.2; done
"$BIN" bench load "${DATA[@]}" --url "http://127.0.0.1:$PORT" --db benchmark --workers 4 --batch-size 5000 >/dev/null
sleep 3
faults() { awk '{print $10}' "/proc/$pid/stat"; }
printf "%-6s %-22s %14s %8s %9s\n" round type "cpu-ms/query" faults rss-MB
for r in $(seq "$ROUNDS"); do
  for t in double-groupby-1 single-groupby-5-1-12; do
    f0=$(faults)
    cpu=$("$BIN" bench query "${DATA[@]}" --db benchmark --per-type 5 --runs 5 --types "$t" \
      --url "http://127.0.0.1:$PORT" --dialect sql --server-pid "$pid" 2>&1 | grep -E "^\|? *$t" | head -1 | awk '{print $NF}')
    printf "%-6s %-22s %14s %8d %9d\n" "$r" "$t" "$cpu" $(( $(faults) - f0 )) $(( $(awk '/VmRSS/{print $2}' "/proc/$pid/status") / 1024 ))
  done
done
