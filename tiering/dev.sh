#!/usr/bin/env bash
# make dev: Silt with a local MinIO as its object store, everything under
# ./silt-dev (MinIO's data, Silt's data dir and cold-data cache). Windows tier
# to the bucket after TIER_AFTER (default 1h, so tiering is visible in a session).
#
#   make dev                    # MinIO on 127.0.0.1:9000 (console off), Silt on 127.0.0.1:8086
#   TIER_AFTER=24h make dev     # production-like
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

go build -o bin/silt ./cmd/silt
./bin/silt serve --data-dir "$DEV/data" --http-addr "$SILT_ADDR" \
  --s3.endpoint "$MINIO_ADDR" --s3.bucket silt --s3.insecure --s3.create-bucket \
  --cache.dir "$DEV/cache" --tier.after "${TIER_AFTER:-1h}" "$@"
