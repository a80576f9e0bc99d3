#!/usr/bin/env bash
# The PUBACK rate of one legitimate device with and without 32 parallel
# wrong-password attackers (BENCHMARKS.md, "Under a password-guessing
# flood"). One `mqflux serve` with the shipped config.yaml on a fresh
# InfluxDB 1.8; the device is `mqflux bench` (one device, every reading
# checked in InfluxDB), the attackers are bench/guessers (demo-device's
# name and unknown names, wrong passwords), each from a loopback address of
# its own (127.0.1.x).
# Runs alternate (none, flood, none, flood, ...) RUNS times each; prints
# every run and the medians.
#
#   bench/auth-flood.sh
#
# Environment: RUNS (3), DURATION (20s, per run), ATTACKERS (32),
# PORT_BASE (27100), KEEP=1 keeps the work directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
ATTACKERS=${ATTACKERS:-32}
PORT_BASE=${PORT_BASE:-27100}
MQTT_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 1)) INFLUX_PORT=$((PORT_BASE + 2)) INFLUX_RPC_PORT=$((PORT_BASE + 3))
INFLUX_URL=http://127.0.0.1:$INFLUX_PORT
# The load tool names its devices prefix + number, which a device-role user
# may not publish for: the legitimate device logs in as the shipped demo
# gateway (config.yaml) and publishes as one device, pi-legit-0.
DEVICE_USER=demo-gateway DEVICE_PASS=demo-gateway-pass

work=$(mktemp -d /tmp/mqflux-auth-flood.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

need() { [ -x "$1" ] || { echo "missing $1: $2" >&2; exit 1; }; }
need "$bin/mqflux" "make build"
need "$bin/influxd" "make tools"
command -v jq >/dev/null || { echo "missing jq: apt-get install jq" >&2; exit 1; }
(cd "$root" && go build -o "$bin/guessers" ./bench/guessers)

wait_for() {
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2
  return 1
}

mkdir -p "$work/influxd" "$work/mqflux"
"$root/deploy/influxd-conf.sh" "$work/influxd" "127.0.0.1:$INFLUX_PORT" "127.0.0.1:$INFLUX_RPC_PORT" >"$work/influxd/influxd.conf"
"$bin/influxd" run -config "$work/influxd/influxd.conf" >"$work/influxd/influxd.log" 2>&1 &
pids+=($!)
wait_for influxd 60 curl -fsS "$INFLUX_URL/ping"
curl -fsS -o /dev/null -XPOST "$INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE "telemetry"'

env MQFLUX_DATA_DIR="$work/mqflux/var" MQFLUX_BROKER_TCP=127.0.0.1:$MQTT_PORT \
  MQFLUX_HTTP_ADDRESS=127.0.0.1:$HTTP_PORT MQFLUX_INFLUX_URL="$INFLUX_URL" \
  MQFLUX_INFLUX_DRAIN_TIMEOUT=2s MQFLUX_LOG_LEVEL=warn \
  "$bin/mqflux" serve -config "$root/config.yaml" >"$work/mqflux/mqflux.log" 2>&1 &
mqflux_pid=$!
pids+=("$mqflux_pid")
wait_for "mqflux serve" 30 curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz"

# device NAME: one legitimate device publishing QoS 1 for DURATION, every
# reading checked in InfluxDB.
device() {
  "$bin/mqflux" bench -json -progress 0 -broker "tcp://127.0.0.1:$MQTT_PORT" \
    -username "$DEVICE_USER" -password "$DEVICE_PASS" -devices 1 -duration "$DURATION" \
    -device-prefix pi-legit- -influx "$INFLUX_URL" -timeout 1m \
    -pid "mqflux=$mqflux_pid" >"$work/$1.json" 2>"$work/$1.err" ||
    echo "   load tool failed (exit $?): $(tail -3 "$work/$1.err")" >&2
  jq -r '"   acked \(.acked), stored \(.storage.stored), lost \(.storage.lost), failed \(.failed), \(.ack_rate | floor) PUBACKs/s"' "$work/$1.json" >&2
}

denied() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v r="$1" '$1 ~ "^mqflux_mqtt_denied_total\\{reason=\""r"\",what=\"connect\"\\}" {print $2}'; }

for run in $(seq 1 "$RUNS"); do
  echo "== run $run: no attackers" >&2
  device "none-$run"
  echo "== run $run: $ATTACKERS wrong-password attackers" >&2
  "$bin/guessers" -broker "127.0.0.1:$MQTT_PORT" -attackers "$ATTACKERS" >"$work/guessers-$run.out" &
  g=$!
  pids+=("$g")
  # The device logs in once the flood is under way and being backed off.
  sleep 3
  device "flood-$run"
  kill -INT "$g"
  wait "$g" || echo "   guessers: an accepted guess!" >&2
  echo "   $(cat "$work/guessers-$run.out"); denied so far: backoff $(denied backoff), bad_password $(denied bad_password), unknown_user $(denied unknown_user)" >&2
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
for kind in none flood; do
  echo "$kind: median $(cat "$work"/$kind-*.json | jq -r '.ack_rate' | median | cut -d. -f1) PUBACKs/s over $RUNS runs;" \
    "lost+failed $(cat "$work"/$kind-*.json | jq -s 'map((.storage.lost // 0) + .failed) | add')"
done
