#!/usr/bin/env bash
# influxd-conf.sh DIR HTTP_ADDR RPC_ADDR: print the InfluxDB 1.8 configuration
# that `make run` and the benchmarks use — data under DIR (an absolute path:
# influxd hangs at start on relative ones), Flux off (it costs seconds of CPU
# at every start), quiet logs.
set -euo pipefail
dir=$1 http=$2 rpc=$3
cat <<CONF
reporting-disabled = true
bind-address = "$rpc"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  bind-address = "$http"
  log-enabled = false
[logging]
  level = "warn"
CONF
