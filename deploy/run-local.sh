#!/usr/bin/env bash
# `make run`: start mqflux serve with a config file. When the configured
# InfluxDB is on this machine and nothing answers there, start bin/influxd
# with its data under data_dir, so a new user has the whole pipeline with
# one command. Ctrl-C stops both.
set -euo pipefail
bin=$1 config=$2
mq="$bin/mqflux"

url=$("$mq" check-config -config "$config" -print influx.url)
data_dir=$("$mq" check-config -config "$config" -print data_dir)
bucket=$("$mq" check-config -config "$config" -print influx.bucket)
hostport=${url#*://}; hostport=${hostport%%/*}
host=${hostport%:*}; port=${hostport##*:}
[ "$port" = "$hostport" ] && port=8086

influx_pid=""
cleanup() { [ -n "$influx_pid" ] && kill "$influx_pid" 2>/dev/null && wait "$influx_pid" 2>/dev/null; true; }
trap cleanup EXIT

if curl -fsS -o /dev/null "$url/ping" 2>/dev/null; then
  echo "InfluxDB answers at $url"
elif [ "$host" = "127.0.0.1" ] || [ "$host" = "localhost" ]; then
  [ -x "$bin/influxd" ] || make --no-print-directory tools
  mkdir -p "$data_dir/influxd"
  dir=$(cd "$data_dir/influxd" && pwd)   # influxd hangs at start on relative paths
  "$(dirname "$0")/influxd-conf.sh" "$dir" "$host:$port" "127.0.0.1:0" > "$dir/influxd.conf"
  echo "starting InfluxDB 1.8 on $host:$port, data in $dir (log: $dir/influxd.log)"
  "$bin/influxd" run -config "$dir/influxd.conf" >"$dir/influxd.log" 2>&1 &
  influx_pid=$!
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$url/ping" 2>/dev/null && break
    kill -0 "$influx_pid" 2>/dev/null || { echo "InfluxDB failed to start:"; tail -20 "$dir/influxd.log"; exit 1; }
    sleep 0.1
  done
  db=${bucket%%/*}
  curl -fsS -o /dev/null -XPOST "$url/query" --data-urlencode "q=CREATE DATABASE \"$db\"" \
    && echo "database $db ready"
else
  echo "warning: nothing answers at $url; readings wait in the spool until it does"
fi

"$mq" serve -config "$config" &
mq_pid=$!
trap 'kill -TERM $mq_pid 2>/dev/null; wait $mq_pid; cleanup' INT TERM
wait $mq_pid
