#!/usr/bin/env bash
# make cluster: a Silt cluster in a box, everything under ./silt-cluster —
# MinIO (the bucket), an in-memory Kafka (kfake, internal/devkafka) with a
# 6-partition topic seeded with cpu rows, three writers in one consumer
# group (--role writer, w1..w3) and one query node (--role query) that
# answers over all of them. Dev intervals: heads flush every 10 s and day
# windows that ended 30 s ago tier every 5 s. The writers publish the
# tiered windows to one Iceberg table per Silt table (--iceberg.publish)
# under s3://silt/cluster/iceberg/.
#
#   make cluster                       # query node on 127.0.0.1:8086
#   SEED=0 make cluster                # no seeded rows
#   kill -9 $(cat silt-cluster/w2.pid) # a writer down: see what the query node says
#
# Ctrl-C stops everything. MinIO is built once with .ci/minio.sh (~11 min
# cold, then cached). Logs are in silt-cluster/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${CLUSTER_DIR:-silt-cluster}
MINIO_ADDR=${MINIO_ADDR:-127.0.0.1:9000}
KAFKA_PORT=${KAFKA_PORT:-9092}
QUERY_ADDR=${QUERY_ADDR:-127.0.0.1:8086}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-siltdev} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-siltdev-secret}
mkdir -p "$DIR/minio"
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # name pid url
  for _ in $(seq 300); do
    curl -sf -o /dev/null "$3" && return 0
    kill -0 "$2" 2>/dev/null || { echo "$1 exited; its log: $DIR/$1.log" >&2; tail -20 "$DIR/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$1 not ready after a minute; its log: $DIR/$1.log" >&2
  exit 1
}

minio=$(bash .ci/minio.sh)
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
  "$minio" server --quiet --address "$MINIO_ADDR" "$DIR/minio" >"$DIR/minio.log" 2>&1 &
pids+=($!)
wait_http minio "${pids[-1]}" "http://$MINIO_ADDR/minio/health/live"
echo "MinIO on http://$MINIO_ADDR (bucket silt, keys $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY)"

make -s build
go build -o "$DIR/devkafka" ./internal/devkafka
"$DIR/devkafka" -port "$KAFKA_PORT" -topic metrics -partitions 6 -seed "${SEED:-36000}" >"$DIR/kafka.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^kafka" "$DIR/kafka.log" 2>/dev/null && break; sleep 0.2; done
cat "$DIR/kafka.log"

s3=(--s3.endpoint "$MINIO_ADDR" --s3.bucket silt --s3.insecure --s3.create-bucket --s3.prefix cluster
  --flush-interval 10s --tier.after 30s --tier.interval 5s --pg-addr '' --flight-addr '')
for i in 1 2 3; do
  ./bin/silt serve --role writer --node-id "w$i" --data-dir "$DIR/w$i" --http-addr "127.0.0.1:809$i" \
    --cluster.addr "127.0.0.1:1809$i" "${s3[@]}" --iceberg.publish \
    --kafka.brokers "127.0.0.1:$KAFKA_PORT" --kafka.group silt --kafka.topics metrics --kafka.db cluster \
    >"$DIR/w$i.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$DIR/w$i.pid"
done
for i in 1 2 3; do wait_http "w$i" "$(cat "$DIR/w$i.pid")" "http://127.0.0.1:809$i/ready"; done
./bin/silt serve --role query --node-id q1 --data-dir "$DIR/q1" --http-addr "$QUERY_ADDR" "${s3[@]}" \
  >"$DIR/q1.log" 2>&1 &
pids+=($!)
wait_http q1 "${pids[-1]}" "http://$QUERY_ADDR/ready"

cat <<MSG
writers w1..w3 on http://127.0.0.1:8091..8093 (consumer group silt, database cluster)
query node q1 on http://$QUERY_ADDR, answering over every writer:
  ./bin/silt query --server http://$QUERY_ADDR --db cluster 'SELECT hostname, count(*) FROM cpu GROUP BY hostname ORDER BY 1'
  curl -s 'http://$QUERY_ADDR/query?db=cluster' --data-urlencode 'q=SELECT count(usage_user) FROM cpu GROUP BY hostname'
the Iceberg table of cpu, once a day's window has ended and tiered (docs/scaling.md):
  s3://silt/cluster/iceberg/cluster/cpu (metadata/v<N>.metadata.json)
each writer's own share:
  for p in 8091 8092 8093; do ./bin/silt query --server http://127.0.0.1:\$p --db cluster 'SELECT count(*) FROM cpu'; done
Ctrl-C stops the cluster.
MSG
# A writer killed on purpose leaves the rest running; Ctrl-C ends all.
wait || true
