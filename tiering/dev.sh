#!/usr/bin/env bash
# make dev: Silt with a local MinIO as its object store, everything under
# ./silt-dev (MinIO's data, Silt's data dir and cold-data cache). Dev
# intervals make tiering visible within a minute: the head flushes every
# FLUSH_INTERVAL (10s), tiering looks every TIER_INTERVAL (5s) for day windows
# that ended TIER_AFTER (30s) ago, and a few rows of yesterday (SEED=0: none)
# are written to the database "dev" so that one such window exists; the
# script says when its segments reach the bucket.
#
#   make dev                    # MinIO on 127.0.0.1:9000 (console off), Silt on 127.0.0.1:8086
#   TIER_AFTER=24h FLUSH_INTERVAL=10m SEED=0 make dev     # production-like
#
# Ctrl-C stops both. MinIO is built once with .ci/minio.sh (~11 min cold, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${DEV_DIR:-silt-dev}
MINIO_ADDR=${MINIO_ADDR:-127.0.0.1:9000}
SILT_ADDR=${SILT_ADDR:-127.0.0.1:8086}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-siltdev} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-siltdev-secret}
mkdir -p "$DEV/minio" "$DEV/cache"

minio=$(bash .ci/minio.sh)
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
  "$minio" server --quiet --address "$MINIO_ADDR" "$DEV/minio" &
minio_pid=$!
trap 'kill "$minio_pid" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://$MINIO_ADDR/minio/health/live" && break
  sleep 0.2
done
echo "MinIO on http://$MINIO_ADDR (bucket silt, keys $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY)"

make -s build
./bin/silt serve --data-dir "$DEV/data" --http-addr "$SILT_ADDR" \
  --s3.endpoint "$MINIO_ADDR" --s3.bucket silt --s3.insecure --s3.create-bucket \
  --cache.dir "$DEV/cache" --flush-interval "${FLUSH_INTERVAL:-10s}" \
  --tier.after "${TIER_AFTER:-30s}" --tier.interval "${TIER_INTERVAL:-5s}" "$@" &
silt_pid=$!
trap 'kill "$silt_pid" "$minio_pid" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "http://$SILT_ADDR/ready"; do
  kill -0 "$silt_pid" 2>/dev/null || exit 1
  sleep 0.2
done

if [[ ${SEED:-1} != 0 ]]; then
  # An hour of yesterday, one row a minute for three hosts: a day window
  # that has ended, so it tiers once flushed.
  start=$(( $(date +%s) - 86400 ))
  for ((i = 0; i < 60; i++)); do
    for h in 0 1 2; do
      echo "cpu,hostname=dev-$h usage_user=$(( (i * 7 + h * 13) % 100 )),usage_system=$(( (i + h) % 10 )) $(( start + i * 60 ))000000000"
    done
  done | curl -sf -XPOST "http://$SILT_ADDR/write?db=dev" --data-binary @- \
    && echo "wrote yesterday's rows to database dev; waiting for them to tier (flush, then tiering)..."
  (
    for _ in $(seq 120); do
      n=$(curl -sf "http://$SILT_ADDR/metrics" | awk '$1 == "silt_tier_segments_total" {print $2}')
      if [[ -n $n && $n != 0 ]]; then
        echo "tiered: $n segment(s) in bucket silt (silt_tier_segments_total); query them with:"
        echo "  ./bin/silt query --server http://$SILT_ADDR --db dev 'SELECT hostname, count(*) FROM cpu GROUP BY hostname'"
        exit 0
      fi
      sleep 1
    done
    echo "nothing tiered after 2 minutes: see the log above" >&2
  ) &
fi
wait "$silt_pid"
