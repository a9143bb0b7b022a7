# Shared by the bench/*.sh scripts (sourced, not run): start Silt, a private
# InfluxDB 1.x and a private ClickHouse on 127.0.0.1 with their data under
# $work. Needs: work, pids (array), and $work/silt built; start_peers also
# SILT_PORT and INFLUX_PORT.

# wait_http URL: until URL answers 2xx (30 s at most).
wait_http() {
  for _ in $(seq 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "no answer from $1" >&2; return 1
}

# free_port: a TCP port nothing on 127.0.0.1 listens on (from 20000 up, odd
# ports only, so port+1 stays free for InfluxDB's RPC bind address).
free_port() {
  local p
  for p in $(seq "${1:-20001}" 2 40000); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# start_influxdb PORT [extra [data] lines]: InfluxDB 1.x on PORT (RPC on PORT+1).
start_influxdb() {
  cat > "$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(($1 + 1))"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
  trace-logging-enabled = false
${2:-}
[http]
  bind-address = "127.0.0.1:$1"
  log-enabled = false
  max-body-size = 0
CONF
  influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 & pids+=($!)
  influx_pid=$!
  wait_http "http://127.0.0.1:$1/ping"
}

# start_silt PORT [DATA_DIR [FLAG...]]: Silt on PORT, data in DATA_DIR
# ($work/silt-data by default), logging to DATA_DIR.log; sets silt_pid.
# SILT_ARGS adds flags (e.g. SILT_ARGS='--query-cache-bytes 0'), FLAG...
# more (bench-peers' second Silt, which keeps its data in the head).
start_silt() {
  local port=$1 data=${2:-$work/silt-data}
  shift; [ $# -gt 0 ] && shift
  local log="$work/silt.log"; [ "$data" = "$work/silt-data" ] || log="$data.log"
  # shellcheck disable=SC2086 # SILT_ARGS is a list of flags
  "$work/silt" serve --data-dir "$data" --http-addr "127.0.0.1:$port" --log-level warn ${SILT_ARGS:-} "$@" >>"$log" 2>&1 & pids+=($!)
  silt_pid=$!
  wait_http "http://127.0.0.1:$port/ready"
}

# start_clickhouse HTTP_PORT TCP_PORT: ClickHouse (Debian's 18.16) as a
# plain process, not the system service: private config, data and logs
# under $work/clickhouse, UTC, listening on 127.0.0.1 only.
start_clickhouse() {
  local d="$work/clickhouse"
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas"
  cat > "$d/config.xml" <<CONF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/server.log</log><errorlog>$d/error.log</errorlog><size>100M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$1</http_port>
  <tcp_port>$2</tcp_port>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
CONF
  clickhouse-server --config-file="$d/config.xml" >"$d/stdout.log" 2>&1 & pids+=($!)
  ch_pid=$!
  wait_http "http://127.0.0.1:$1/ping"
}

# start_victoriametrics PORT: single-node VictoriaMetrics (Debian's 1.79) on
# PORT, data under $work/vm; sets vm_pid. Retention of 100 years: the
# dataset's time stamps may lie further back than the default one month. No
# rollup-result cache: every instance runs four times and the other systems
# cache no results.
start_victoriametrics() {
  victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$1" -retentionPeriod=100y -search.disableCache \
    -loggerLevel=ERROR >"$work/vm.log" 2>&1 & pids+=($!)
  vm_pid=$!
  wait_http "http://127.0.0.1:$1/health"
}

# wait_idle PID...: wait (at most 3 minutes) until the processes together
# use less than 2% of a core over 5 seconds: background work a peer starts
# after its load (VictoriaMetrics' force_merge returns before the merge
# ends; InfluxDB compacts a cold shard in full) must not share the cores
# with the queries measured next.
wait_idle() {
  local tck; tck=$(getconf CLK_TCK)
  local busy prev cur
  cpu_of() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$s"; }
  prev=$(cpu_of "$@")
  for _ in $(seq 36); do
    sleep 5
    cur=$(cpu_of "$@")
    busy=$((cur - prev)); prev=$cur
    [ $((busy * 100)) -lt $((tck * 5 * 2)) ] && return 0
  done
  echo "warning: peers still busy after 3 minutes ($busy ticks in the last 5 s)" >&2
}

# rss_reset PID: restart the process's peak RSS (VmHWM) from its current
# resident set; rss_peak PID: print that peak in bytes.
rss_reset() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
rss_peak() { awk '/^VmHWM:/ {print $2 * 1024}' "/proc/$1/status"; }

# start_peers: Silt and InfluxDB, for the *-vs-influxdb.sh scripts.
start_peers() {
  start_influxdb "$INFLUX_PORT"
  start_silt "$SILT_PORT"
}
