#!/usr/bin/env bash
# Where Silt's time goes: CPU profiles of Silt's ingest and of each TSBS query
# type, on the same data as make bench-peers.
#
# Starts a private Silt, profiles it while `silt bench load` loads the dataset,
# restarts it (flushing to segments), then for each query type profiles it for
# PROFILE_SECONDS while `silt bench query` repeats that type. Writes the profiles and
# a top-15 summary per profile to $OUT_DIR (default: a temporary directory).
#
#   bench/profile-silt.sh                  # SCALE=100 hosts, one day, PROFILE_SECONDS=8
#   go tool pprof -http=: /tmp/silt-profile.*/lastpoint.pprof
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-100} END=${END:-2026-01-02T00:00:00Z} PROFILE_SECONDS=${PROFILE_SECONDS:-8}
TYPES=${TYPES:-single-groupby-1-1-1,single-groupby-5-1-12,double-groupby-1,double-groupby-all,cpu-max-all-8,high-cpu-1,high-cpu-all,lastpoint,groupby-orderby-limit}
work=$(mktemp -d /tmp/silt-profile.XXXXXX)
OUT_DIR=${OUT_DIR:-$work}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
go build -o "$work/silt" ./cmd/silt
S="$work/silt"
. bench/peers.sh
PORT=$(free_port 21001)
start_silt "$PORT"
url="http://127.0.0.1:$PORT"
data=(--scale "$SCALE" --end "$END")

profile() { # name seconds: CPU profile of Silt into $OUT_DIR/name.pprof, in the background
  curl -sf -o "$OUT_DIR/$1.pprof" "$url/debug/pprof/profile?seconds=$2" & prof=$!
}
summary() {
  echo "== $1"
  go tool pprof -top -nodecount=15 "$work/silt" "$OUT_DIR/$1.pprof" 2>/dev/null | sed -n '4,20p' | tee "$OUT_DIR/$1.top"
}

# Ingest: the profile covers the load (and some idle time if the load is shorter).
profile ingest "$PROFILE_SECONDS"
"$S" bench load "${data[@]}" --url "$url" --db benchmark
wait "$prof"; summary ingest

kill -TERM "$silt_pid"; wait "$silt_pid" || true
start_silt "$PORT"
for t in ${TYPES//,/ }; do
  profile "$t" "$PROFILE_SECONDS"
  while kill -0 "$prof" 2>/dev/null; do
    "$S" bench query "${data[@]}" --url "$url" --db benchmark --dialect sql --types "$t" --per-type 3 --runs 1 >/dev/null
  done
  wait "$prof" || true
  summary "$t"
done
echo "profiles in $OUT_DIR"
