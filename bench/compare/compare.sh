#!/usr/bin/env bash
# The comparison of BENCHMARKS.md: the same QoS 1 load through
#   mqflux:   mqflux serve (embedded broker, spool, writer) -> InfluxDB 1.8
#   telegraf: Debian mosquitto -> Telegraf (mqtt_consumer, json_v2) -> InfluxDB 1.8
# and the ceilings (mosquitto with no subscriber, mqflux with InfluxDB
# unreachable, InfluxDB alone), each run on a fresh InfluxDB, one after the
# other, RUNS times. Prints every run and a table of medians.
#
#   bench/compare/compare.sh [compare|scale|rate|latency|10k|offline]
#
# Environment: RUNS (3), LOADS ("100x2000 1000x200": devices x readings per
# device), PORT_BASE (27000), KEEP=1 keeps the work directory, PROFILE_DIR=dir
# writes a CPU profile of every mqflux serve there (and a heap profile: at exit,
# in mode 10k PROFILE_AT seconds (60) into the run), MQFLUX_BIN=path runs another
# build of the server (before/after comparisons), BENCH_FLAGS adds flags to the
# load tool in mode 10k (e.g. -debug: why each connection was lost),
# MQFLUX_GOMEMLIMIT=250MiB runs mqflux serve (only) with that GOMEMLIMIT.
# Mode offline also runs OLD_BIN (a previous build) with OLD_CONFIG (its
# config.yaml) side by side with the current one.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/bin
here=$root/bench/compare
mode=${1:-compare}
RUNS=${RUNS:-3}
LOADS=${LOADS:-"100x2000 1000x200"}
PORT_BASE=${PORT_BASE:-27000}
MQTT_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 1)) INFLUX_PORT=$((PORT_BASE + 2))
INFLUX_RPC_PORT=$((PORT_BASE + 3)) MOSQ_PORT=$((PORT_BASE + 4))
INFLUX_URL=http://127.0.0.1:$INFLUX_PORT
GATEWAY_USER=demo-gateway GATEWAY_PASS=demo-gateway-pass # the shipped demo gateway (config.yaml)

# 10,000 devices need ~10k descriptors in mqflux and as many in the load tool.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/mqflux-compare.XXXXXX)
results=$work/results
mkdir -p "$results"
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
command -v mosquitto >/dev/null || { echo "missing mosquitto: apt-get install mosquitto" >&2; exit 1; }
command -v jq >/dev/null || { echo "missing jq: apt-get install jq" >&2; exit 1; }
(cd "$root" && go build -o "$bin/influxload" ./bench/compare/influxload)

# stop PID: SIGTERM, wait; the pid leaves the cleanup list.
stop() {
  local p=$1 q=()
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for x in "${pids[@]}"; do [ "$x" != "$p" ] && q+=("$x"); done
  pids=("${q[@]}")
}

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2
  return 1
}

# start_influx DIR: a fresh InfluxDB 1.8 (the config of deploy/run-local.sh)
# with database telemetry. Sets influx_pid.
start_influx() {
  local dir=$1
  mkdir -p "$dir"
  "$root/deploy/influxd-conf.sh" "$dir" "127.0.0.1:$INFLUX_PORT" "127.0.0.1:$INFLUX_RPC_PORT" >"$dir/influxd.conf"
  "$bin/influxd" run -config "$dir/influxd.conf" >"$dir/influxd.log" 2>&1 &
  influx_pid=$!
  pids+=("$influx_pid")
  wait_for influxd 60 curl -fsS "$INFLUX_URL/ping"
  curl -fsS -o /dev/null -XPOST "$INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE "telemetry"'
}

# start_mqflux DIR [INFLUX_URL]: mqflux serve with the shipped config.yaml.
# Sets mqflux_pid.
start_mqflux() {
  local dir=$1 url=${2:-$INFLUX_URL} config=${3:-$root/config.yaml} prof=()
  mkdir -p "$dir"
  if [ -n "${PROFILE_DIR:-}" ]; then
    mkdir -p "$PROFILE_DIR"
    prof=(-cpuprofile "$PROFILE_DIR/$(basename "$dir").prof" -memprofile "$PROFILE_DIR/$(basename "$dir").heap")
  fi
  env MQFLUX_DATA_DIR="$dir/var" MQFLUX_BROKER_TCP=127.0.0.1:$MQTT_PORT \
    MQFLUX_HTTP_ADDRESS=127.0.0.1:$HTTP_PORT MQFLUX_INFLUX_URL="$url" \
    MQFLUX_INFLUX_DRAIN_TIMEOUT=2s MQFLUX_LOG_LEVEL=warn ${MQFLUX_GOMEMLIMIT:+GOMEMLIMIT=$MQFLUX_GOMEMLIMIT} \
    "${MQFLUX_BIN:-$bin/mqflux}" serve -config "$config" "${prof[@]}" >"$dir/mqflux.log" 2>&1 &
  mqflux_pid=$!
  pids+=("$mqflux_pid")
  wait_for "mqflux serve" 30 curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz"
}

# start_mosquitto DIR: Debian mosquitto, anonymous, on MOSQ_PORT. Sets mosq_pid.
start_mosquitto() {
  local dir=$1
  mkdir -p "$dir"
  sed -e "s|@PORT@|$MOSQ_PORT|" "$here/mosquitto.conf" >"$dir/mosquitto.conf"
  # Line-buffered, so the subscription shows in the log at once.
  stdbuf -oL mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.out" 2>&1 &
  mosq_pid=$!
  pids+=("$mosq_pid")
  wait_for mosquitto 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MOSQ_PORT"
}

# start_telegraf DIR: Telegraf subscribed to mosquitto, writing to InfluxDB.
# Returns once mosquitto logged its subscription. Sets telegraf_pid.
start_telegraf() {
  local dir=$1
  sed -e "s|@MQTT@|tcp://127.0.0.1:$MOSQ_PORT|" -e "s|@INFLUX@|$INFLUX_URL|" "$here/telegraf.conf" >"$dir/telegraf.conf"
  "$bin/telegraf" --config "$dir/telegraf.conf" >"$dir/telegraf.log" 2>&1 &
  telegraf_pid=$!
  pids+=("$telegraf_pid")
  wait_for "telegraf's subscription" 60 grep -qF "telegraf-compare 1 devices/+/sensors/+" "$dir/mosquitto.out"
}

# bench NAME ARGS...: the load tool; its JSON report goes to results/NAME.json.
bench() {
  local name=$1; shift
  echo "== $name: mqflux bench $*" >&2
  "$bin/mqflux" bench -json -progress 0 "$@" >"$results/$name.json" 2>"$results/$name.err" || {
    echo "   load tool failed (exit $?): $(tail -3 "$results/$name.err")" >&2
  }
  summary "$results/$name.json" >&2
}

summary() {
  jq -r '"   stored \(.storage.stored // .acked) of \(.acked) acked, lost \(.storage.lost // 0), failed \(.failed), "
    + "rate \((.storage.stored_rate // .ack_rate) | floor)/s, p99 \(.storage.latency_p99_ms // "-") ms; cpu s/M: "
    + ([.processes[] | "\(.name) \(.cpu_seconds_per_million * 100 | round / 100)"] | join(", "))
    + "; peak RSS MiB: " + ([.processes[] | "\(.name) \(.peak_rss_bytes / 1048576 | floor)"] | join(", "))' "$1" 2>/dev/null ||
    echo "   (no report)"
}

load_args() { # DxM -> -devices D -messages M
  echo "-devices ${1%x*} -messages ${1#*x}"
}

# One run of each pipeline and ceiling for a load. $1 load, $2 run number.
run_mqflux() {
  local load=$1 i=$2 d=$work/mqflux-$1-$2
  start_influx "$d/influxd"
  start_mqflux "$d"
  # shellcheck disable=SC2046
  bench "mqflux-$load-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
    $(load_args "$load") -influx "$INFLUX_URL" -timeout 2m -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid"
  stop "$mqflux_pid"; stop "$influx_pid"
}

run_telegraf() {
  local load=$1 i=$2 d=$work/telegraf-$1-$2
  start_influx "$d/influxd"
  start_mosquitto "$d"
  start_telegraf "$d"
  # shellcheck disable=SC2046
  bench "telegraf-$load-$i" -broker "tcp://127.0.0.1:$MOSQ_PORT" $(load_args "$load") -influx "$INFLUX_URL" \
    -timeout 2m -pid "mosquitto=$mosq_pid" -pid "telegraf=$telegraf_pid" -pid "influxd=$influx_pid"
  stop "$telegraf_pid"; stop "$mosq_pid"; stop "$influx_pid"
}

run_ceilings() {
  local load=$1 i=$2 d=$work/ceil-$1-$2 n
  start_mosquitto "$d/mosq"
  # shellcheck disable=SC2046
  bench "mosquitto-alone-$load-$i" -broker "tcp://127.0.0.1:$MOSQ_PORT" $(load_args "$load") -pid "mosquitto=$mosq_pid"
  stop "$mosq_pid"
  # The broker and spool of mqflux with nowhere to write: InfluxDB's port is closed.
  start_mqflux "$d/mq" "http://127.0.0.1:$INFLUX_RPC_PORT"
  # shellcheck disable=SC2046
  bench "mqflux-spool-only-$load-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
    $(load_args "$load") -pid "mqflux=$mqflux_pid"
  stop "$mqflux_pid"
  start_influx "$d/influxd"
  n=$(( ${load%x*} * ${load#*x} ))
  echo "== influx-alone-$load-$i: influxload -devices ${load%x*} -points $n -batch 5000 -concurrency 2" >&2
  "$bin/influxload" -influx "$INFLUX_URL" -devices "${load%x*}" -points "$n" -batch 5000 -concurrency 2 \
    -pid "$influx_pid" >"$results/influx-alone-$load-$i.json"
  jq -r '"   rate \(.stored_rate | floor)/s; cpu s/M: influxd \(.influxd_cpu_seconds_per_million * 100 | round / 100)"' \
    "$results/influx-alone-$load-$i.json" >&2
  stop "$influx_pid"
}

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# med PATTERN JQ: median of a jq number over results/PATTERN.json
med() {
  local f out=()
  for f in "$results"/$1.json; do [ -s "$f" ] && out+=("$(jq -r "$2" "$f" 2>/dev/null)"); done
  printf '%s\n' "${out[@]}" | grep -E '^[0-9.e+-]+$' | median
}
sum_lost() {
  local f t=0
  for f in "$results"/$1.json; do
    [ -s "$f" ] || { echo "no report"; return; }
    t=$((t + $(jq -r '(.storage.lost // 0) + .failed' "$f")))
  done
  echo $t
}
cpu() { echo "[.processes[] | select(.name == \"$1\") | .cpu_seconds_per_million][0]"; }
fmt0() { awk '{printf "%.0f", $1}'; }
fmt2() { awk '{ if ($1 == "-") print "-"; else printf "%.2f", $1}'; }

compare_table() {
  echo
  echo "Medians of $RUNS runs (stored readings per second; CPU seconds per million stored readings)."
  echo
  echo "| load | pipeline | stored/s | lost+failed (all runs) | CPU s/M broker+pipeline | CPU s/M influxd | load tool CPU s/M |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for load in $LOADS; do
    local l="${load%x*} devices × ${load#*x}" rq rt
    rq=$(med "mqflux-$load-*" '.storage.stored_rate')
    rt=$(med "telegraf-$load-*" '.storage.stored_rate')
    echo "| $l | mqflux → InfluxDB | $(fmt0 <<<"$rq") | $(sum_lost "mqflux-$load-*") | mqflux $(med "mqflux-$load-*" "$(cpu mqflux)" | fmt2) | $(med "mqflux-$load-*" "$(cpu influxd)" | fmt2) | $(med "mqflux-$load-*" "$(cpu bench)" | fmt2) |"
    echo "| $l | mosquitto → Telegraf → InfluxDB | $(fmt0 <<<"$rt") | $(sum_lost "telegraf-$load-*") | mosquitto $(med "telegraf-$load-*" "$(cpu mosquitto)" | fmt2) + telegraf $(med "telegraf-$load-*" "$(cpu telegraf)" | fmt2) | $(med "telegraf-$load-*" "$(cpu influxd)" | fmt2) | $(med "telegraf-$load-*" "$(cpu bench)" | fmt2) |"
    echo "| $l | ceiling: mosquitto, no subscriber (acked/s) | $(med "mosquitto-alone-$load-*" '.ack_rate' | fmt0) | $(sum_lost "mosquitto-alone-$load-*") | mosquitto $(med "mosquitto-alone-$load-*" "$(cpu mosquitto)" | fmt2) | | $(med "mosquitto-alone-$load-*" "$(cpu bench)" | fmt2) |"
    echo "| $l | ceiling: mqflux, InfluxDB unreachable (spooled/s) | $(med "mqflux-spool-only-$load-*" '.ack_rate' | fmt0) | $(sum_lost "mqflux-spool-only-$load-*") | mqflux $(med "mqflux-spool-only-$load-*" "$(cpu mqflux)" | fmt2) | | $(med "mqflux-spool-only-$load-*" "$(cpu bench)" | fmt2) |"
    echo "| $l | ceiling: InfluxDB alone, gzip line protocol, 5000-line batches | $(med "influx-alone-$load-*" '.stored_rate' | fmt0) | | | $(med "influx-alone-$load-*" '.influxd_cpu_seconds_per_million' | fmt2) | |"
    echo "| $l | **ratio mqflux / Telegraf** | **$(awk -v a="$rq" -v b="$rt" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')** | | | | |"
  done
}

compare() {
  local i load
  for i in $(seq 1 "$RUNS"); do
    for load in $LOADS; do
      run_mqflux "$load" "$i"
      run_telegraf "$load" "$i"
      run_ceilings "$load" "$i"
    done
  done
  compare_table
}

# scale: mqflux alone, 100 / 1,000 / 10,000 devices as fast as they can.
scale() {
  local i load d
  for i in $(seq 1 "$RUNS"); do
    for load in ${SCALE_LOADS:-100x2000 1000x200 10000x20}; do
      d=$work/scale-$load-$i
      start_influx "$d/influxd"; start_mqflux "$d"
      # shellcheck disable=SC2046
      bench "scale-$load-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
        $(load_args "$load") -connect-rate 2000 -influx "$INFLUX_URL" -timeout 2m \
        -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid"
      stop "$mqflux_pid"; stop "$influx_pid"
    done
  done
  echo
  echo "| devices × readings | stored/s | lost+failed | p99 ms | mqflux CPU s/M | influxd CPU s/M | mqflux peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for load in ${SCALE_LOADS:-100x2000 1000x200 10000x20}; do
    echo "| ${load%x*} × ${load#*x} | $(med "scale-$load-*" '.storage.stored_rate' | fmt0) | $(sum_lost "scale-$load-*") | $(med "scale-$load-*" '.storage.latency_p99_ms' | fmt0) | $(med "scale-$load-*" "$(cpu mqflux)" | fmt2) | $(med "scale-$load-*" "$(cpu influxd)" | fmt2) | $(med "scale-$load-*" '[.processes[] | select(.name == "mqflux") | .peak_rss_bytes][0] / 1048576' | fmt0) |"
  done
}

# rate: 1,000 devices at fixed per-device rates for DURATION each: stored
# rate, latency and CPU as the offered rate grows.
rate() {
  local i r d
  for i in $(seq 1 "$RUNS"); do
    for r in ${RATES:-5 10 20 40 0}; do
      d=$work/rate-$r-$i
      start_influx "$d/influxd"; start_mqflux "$d"
      bench "rate-$r-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
        -devices 1000 -rate "$r" -duration "${DURATION:-20s}" -influx "$INFLUX_URL" -timeout 2m \
        -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid"
      stop "$mqflux_pid"; stop "$influx_pid"
    done
  done
  echo
  echo "| offered (1,000 devices) | stored/s | lost+failed | p50 ms | p99 ms | mqflux CPU s/M | influxd CPU s/M |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for r in ${RATES:-5 10 20 40 0}; do
    local what="$((r * 1000))/s"; [ "$r" = 0 ] && what="as fast as acks allow"
    echo "| $what | $(med "rate-$r-*" '.storage.stored_rate' | fmt0) | $(sum_lost "rate-$r-*") | $(med "rate-$r-*" '.storage.latency_p50_ms' | fmt0) | $(med "rate-$r-*" '.storage.latency_p99_ms' | fmt0) | $(med "rate-$r-*" "$(cpu mqflux)" | fmt2) | $(med "rate-$r-*" "$(cpu influxd)" | fmt2) |"
  done
}

# latency: 100 devices at RATE readings per device per second (half the
# maximum stored rate) for DURATION: publish->queryable p50/p99.
latency() {
  local i d r=${RATE:-250}
  for i in $(seq 1 "$RUNS"); do
    d=$work/latency-$i
    start_influx "$d/influxd"; start_mqflux "$d"
    bench "latency-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
      -devices 100 -rate "$r" -duration "${DURATION:-30s}" -influx "$INFLUX_URL" -timeout 2m \
      -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid"
    stop "$mqflux_pid"; stop "$influx_pid"
  done
  echo
  echo "| offered | stored/s | lost+failed | probes seen | p50 ms | p99 ms | max ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| 100 devices × $r/s | $(med "latency-*" '.storage.stored_rate' | fmt0) | $(sum_lost "latency-*") | $(med "latency-*" '.storage.probes_seen' | fmt0) | $(med "latency-*" '.storage.latency_p50_ms' | fmt0) | $(med "latency-*" '.storage.latency_p99_ms' | fmt0) | $(med "latency-*" '.storage.latency_max_ms' | fmt0) |"
}

# 10k: 10,000 devices connected at once, one reading every 10 s each, for
# DURATION (2m).
tenk() {
  local d=$work/10k
  start_influx "$d/influxd"; start_mqflux "$d"
  # With PROFILE_DIR: the heap profile while every device is connected.
  if [ -n "${PROFILE_DIR:-}" ]; then (sleep "${PROFILE_AT:-60}"; kill -USR1 "$mqflux_pid") & fi
  bench "10k" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
    -devices 10000 -rate 0.1 -duration "${DURATION:-2m}" -connect-rate 1000 -inflight 4 -influx "$INFLUX_URL" \
    -timeout 2m -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid" ${BENCH_FLAGS:-}
  echo "   broker clients at the end: $(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^mqflux_mqtt_clients_connected' || true)" >&2
  stop "$mqflux_pid"; stop "$influx_pid"
  echo
  jq -r '"| devices | readings acked | stored | lost | failed | reconnects | p99 ms | mqflux CPU s | mqflux peak RSS MiB |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    "| \(.devices) | \(.acked) | \(.storage.stored) | \(.storage.lost) | \(.failed) | \(.reconnects) | \(.storage.latency_p99_ms) | \([.processes[] | select(.name == "mqflux") | .cpu_seconds][0]) | \([.processes[] | select(.name == "mqflux") | .peak_rss_bytes][0] / 1048576 | floor) |"' "$results/10k.json"
}

# offline: 100 devices × 1,000 readings with no subscriber session, then
# with three persistent devices/# sessions created and left offline before
# the load (a reader that closed `mosquitto_sub -c`), on OLD_BIN and on
# this build, in one run. After the first run's load: the server's CPU
# over 10 idle seconds, and how long one of the sessions takes to reconnect
# (mosquitto_sub -E: CONNECT to SUBACK; mochi sends the whole queue in
# between).
offline() {
  local i build sessions d id t0 c0 c1
  need "${OLD_BIN:-}" "OLD_BIN=path to the previous build's mqflux"
  for i in $(seq 1 "$RUNS"); do
    for build in old new; do
      for sessions in 0 3; do
        d=$work/offline-$build-$sessions-$i
        start_influx "$d/influxd"
        if [ "$build" = old ]; then
          MQFLUX_BIN=$OLD_BIN start_mqflux "$d" "$INFLUX_URL" "${OLD_CONFIG:?OLD_CONFIG=the previous build\'s config.yaml}"
        else
          start_mqflux "$d"
        fi
        for id in $(seq 1 "$sessions"); do
          mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -u demo-reader -P demo-reader-pass -c -i "r$id" -q 1 -t 'devices/#' -E
        done
        bench "offline-$build-$sessions-$i" -broker "tcp://127.0.0.1:$MQTT_PORT" -username $GATEWAY_USER -password $GATEWAY_PASS \
          -devices 100 -messages 1000 -influx "$INFLUX_URL" -timeout 5m -pid "mqflux=$mqflux_pid" -pid "influxd=$influx_pid"
        # Idle CPU and reconnect once (the previous build takes minutes to reconnect).
        if [ "$sessions" -gt 0 ] && [ "$i" = 1 ]; then
          c0=$(awk '{print $14 + $15}' "/proc/$mqflux_pid/stat"); sleep 10; c1=$(awk '{print $14 + $15}' "/proc/$mqflux_pid/stat")
          echo "$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) / 10 ))" >"$results/offline-idle-$build-$i"
          t0=$(date +%s%N)
          mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -u demo-reader -P demo-reader-pass -c -i r1 -q 1 -t 'devices/#' -E >/dev/null 2>&1 || true
          echo "$(( ($(date +%s%N) - t0) / 1000000 ))" >"$results/offline-reconnect-$build-$i"
          echo "   idle CPU $(cat "$results/offline-idle-$build-$i") ms/s; reconnect $(cat "$results/offline-reconnect-$build-$i") ms; $(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^mqflux_mqtt_messages_dropped_total' | tr '\n' ' ')" >&2
        fi
        stop "$mqflux_pid"; stop "$influx_pid"
      done
    done
  done
  echo
  echo "| build | offline devices/# sessions | acked/s | stored/s | lost+failed | mqflux CPU s/M | idle CPU ms/s after | reconnect ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for build in old new; do
    for sessions in 0 3; do
      local idle=- rec=-
      if [ "$sessions" -gt 0 ]; then
        idle=$(cat "$results"/offline-idle-$build-* | median); rec=$(cat "$results"/offline-reconnect-$build-* | median)
      fi
      echo "| $build | $sessions | $(med "offline-$build-$sessions-*" '.ack_rate' | fmt0) | $(med "offline-$build-$sessions-*" '.storage.stored_rate' | fmt0) | $(sum_lost "offline-$build-$sessions-*") | $(med "offline-$build-$sessions-*" "$(cpu mqflux)" | fmt2) | $idle | $rec |"
    done
  done
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(lscpu | sed -n 's/^Model name: *//p'); open files $(ulimit -n)" >&2
case $mode in
  compare) need "$bin/telegraf" "see BENCHMARKS.md for the go install line"; compare ;;
  scale) scale ;;
  rate) rate ;;
  latency) latency ;;
  10k) tenk ;;
  offline) offline ;;
  *) echo "usage: $0 [compare|scale|rate|latency|10k|offline]" >&2; exit 2 ;;
esac
