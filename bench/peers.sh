# Shared by the bench/*-vs-influxdb.sh scripts (sourced, not run): start a
# private InfluxDB 1.x and a Silt on 127.0.0.1 with their data under $work.
# Needs: work, pids (array), SILT_PORT, INFLUX_PORT, and $work/silt built.

start_peers() {
  cat > "$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((INFLUX_PORT + 1))"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
  max-body-size = 0
CONF
  influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 & pids+=($!)
  "$work/silt" serve --data-dir "$work/silt-data" --http-addr "127.0.0.1:$SILT_PORT" --log-level warn >"$work/silt.log" 2>&1 & pids+=($!)
  for port in $SILT_PORT $INFLUX_PORT; do
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/ping" && break; sleep 0.2; done
  done
}
