#!/usr/bin/env bash
# A/B of two builds of mqflux serve on the same short end-to-end load, in
# alternating order so that both see the same machine state:
#
#   bench/compare/ab.sh OLD_BIN NEW_BIN
#
# Each run: a fresh InfluxDB 1.8 (bin/influxd), `mqflux serve` of the
# shipped config.yaml, and the load tool (NEW_BIN bench) with 100 devices ×
# 1,000 QoS 1 readings (LOAD=DxM), -influx to count what was stored. Prints
# every run and the medians of the stored rate and of the server's CPU
# seconds per million readings. Environment: PAIRS (7), LOAD (100x1000),
# PORT_BASE (28100).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=$1 new=$2
PAIRS=${PAIRS:-7} LOAD=${LOAD:-100x1000} P=${PORT_BASE:-28100}
MQTT=$P HTTP=$((P + 1)) IN=$((P + 2)) RPC=$((P + 3))
results=$(mktemp -d /tmp/mqflux-ab.XXXXXX)
trap 'rm -rf "$results"' EXIT

# run BIN NAME: one run; its report goes to results/NAME.json.
run() {
  local bin=$1 name=$2 work ipid mpid
  work=$(mktemp -d /tmp/mqflux-ab-run.XXXXXX)
  mkdir -p "$work/influxd"
  "$root/deploy/influxd-conf.sh" "$work/influxd" "127.0.0.1:$IN" "127.0.0.1:$RPC" >"$work/influxd/influxd.conf"
  "$root/bin/influxd" run -config "$work/influxd/influxd.conf" >"$work/influxd.log" 2>&1 &
  ipid=$!
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$IN/ping" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS -XPOST "http://127.0.0.1:$IN/query" --data-urlencode "q=CREATE DATABASE telemetry" >/dev/null
  env MQFLUX_DATA_DIR="$work/var" MQFLUX_BROKER_TCP=127.0.0.1:$MQTT MQFLUX_HTTP_ADDRESS=127.0.0.1:$HTTP \
    MQFLUX_INFLUX_URL="http://127.0.0.1:$IN" MQFLUX_INFLUX_DRAIN_TIMEOUT=2s MQFLUX_LOG_LEVEL=warn \
    "$bin" serve -config "$root/config.yaml" >"$work/mqflux.log" 2>&1 &
  mpid=$!
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  "$new" bench -json -progress 0 -broker "tcp://127.0.0.1:$MQTT" -username demo-gateway -password demo-gateway-pass \
    -devices "${LOAD%x*}" -messages "${LOAD#*x}" -influx "http://127.0.0.1:$IN" -timeout 2m -pid "mqflux=$mpid" \
    >"$results/$name.json" 2>"$work/bench.err" || echo "$name: load tool failed: $(tail -1 "$work/bench.err")" >&2
  jq -r --arg n "$name" '"\($n): stored \(.storage.stored) of \(.acked), lost \(.storage.lost), failed \(.failed), \(.storage.stored_rate | floor)/s, mqflux \([.processes[] | select(.name == "mqflux") | .cpu_seconds_per_million][0] * 100 | round / 100) CPU s/M"' "$results/$name.json" || true
  kill "$mpid"; wait "$mpid" 2>/dev/null || true
  kill "$ipid"; wait "$ipid" 2>/dev/null || true
  rm -rf "$work"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then run "$old" "old-$i"; run "$new" "new-$i"; else run "$new" "new-$i"; run "$old" "old-$i"; fi
done
for b in old new; do
  rate=$(jq -r '.storage.stored_rate' "$results"/$b-*.json | median)
  cpu=$(jq -r '[.processes[] | select(.name == "mqflux") | .cpu_seconds_per_million][0]' "$results"/$b-*.json | median)
  printf '%s: median %.0f readings/s stored, %.2f mqflux CPU s per million (%s runs)\n' "$b" "$rate" "$cpu" "$PAIRS"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
