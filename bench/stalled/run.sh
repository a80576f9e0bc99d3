#!/usr/bin/env bash
# Publishers beside subscribers that stopped reading: acked readings per
# second of DEVICES x MESSAGES QoS 1 readings (mqflux bench), RUNS
# consecutive runs on one broker, with
#   none       no subscriber
#   stalled1   one `mosquitto_sub -q 1 -t 'devices/#'`, stopped with SIGSTOP
#              before the first run (a laptop asleep, its connection open)
#   stalled8   eight of them
#   reading8   eight `mosquitto_sub -q 1 -t 'devices/#'` that keep reading:
#              what subscribers cost when nothing is wrong with them, the
#              yardstick for what the stalled ones cost; the table says how
#              many readings each of them received (a broker may drop what
#              a reader does not take fast enough)
#   offline3   three persistent sessions (`mosquitto_sub -c`) that connected
#              once, subscribed and left before the first run
# for mqflux serve (the shipped config.yaml, InfluxDB 1.8 running beside it)
# and for Debian's Mosquitto 2 (its defaults: anonymous, no persistence) on
# the same machine. Each broker, once started, gets WARMUP unmeasured runs
# of the same load (a fresh process's first run was the slowest of every
# case, "none" included: the devices' login is checked with bcrypt once per
# process, InfluxDB creates the database's first shard, heaps and pools
# grow), then RUNS measured runs with no subscriber, then the case's
# subscribers are set up and RUNS measured runs follow; what the
# subscribers cost, their first deliveries included, is in those. Then the
# subscribers go (stalled and reading ones killed, offline sessions ended
# by a clean session of the same id) and RUNS more runs with no subscriber
# follow. The baseline is the median of the runs before and after: the
# machine's speed drifts by a fifth over minutes (a shared host), and a
# baseline from another process minutes earlier, or from the minute before
# only, measured the drift as much as the subscribers. For "none" the
# case's runs have no subscriber either: its ratio is this measure's
# noise. Prints every run and a table with each case's slowest run against
# the median of its baseline.
#
#   bench/stalled/run.sh            (or: make bench-stalled)
#
# The offline sessions' filling run alone, on fresh servers (each a warm-up
# of four runs, one baseline run, the filling run, one more run):
#
#   for i in 1 2 3 4 5; do BROKERS=mqflux CASES=offline3 WARMUP=4 RUNS=1 bench/stalled/run.sh; done
#
# Environment: RUNS (3), WARMUP (1), DEVICES (20), MESSAGES (2000), CASES,
# PORT_BASE (27200), BROKERS ("mqflux mosquitto"), KEEP=1 keeps the work
# directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-3} WARMUP=${WARMUP:-1} DEVICES=${DEVICES:-20} MESSAGES=${MESSAGES:-2000}
PORT_BASE=${PORT_BASE:-27200}
BROKERS=${BROKERS:-"mqflux mosquitto"}
MQTT_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 1)) INFLUX_PORT=$((PORT_BASE + 2)) INFLUX_RPC_PORT=$((PORT_BASE + 3))
INFLUX_URL=http://127.0.0.1:$INFLUX_PORT
CASES=${CASES:-"none stalled1 stalled8 reading8 offline3"}

work=$(mktemp -d /tmp/mqflux-stalled.XXXXXX)
results=$work/results
mkdir -p "$results"
pids=() subs=()
cleanup() {
  for p in "${subs[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${subs[@]}" "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

need() { [ -x "$1" ] || { echo "missing $1: $2" >&2; exit 1; }; }
need "$root/bin/influxd" "make tools"
need /usr/sbin/mosquitto "apt-get install mosquitto"
command -v mosquitto_sub >/dev/null || { echo "missing mosquitto_sub: apt-get install mosquitto-clients" >&2; exit 1; }
command -v jq >/dev/null || { echo "missing jq: apt-get install jq" >&2; exit 1; }
mqflux=$work/mqflux
(cd "$root" && CGO_ENABLED=0 go build -o "$mqflux" ./cmd/mqflux)

stop() { # PID: SIGTERM and wait; it leaves the cleanup list
  local p=$1 q=()
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for x in "${pids[@]}"; do [ "$x" != "$p" ] && q+=("$x"); done
  pids=("${q[@]}")
}

wait_for() { # WHAT SECONDS CMD...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2
  return 1
}

start_influx() { # DIR; sets influx_pid
  mkdir -p "$1"
  "$root/deploy/influxd-conf.sh" "$1" "127.0.0.1:$INFLUX_PORT" "127.0.0.1:$INFLUX_RPC_PORT" >"$1/influxd.conf"
  "$root/bin/influxd" run -config "$1/influxd.conf" >"$1/influxd.log" 2>&1 &
  influx_pid=$!
  pids+=("$influx_pid")
  wait_for influxd 60 curl -fsS "$INFLUX_URL/ping"
  curl -fsS -o /dev/null -XPOST "$INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE "telemetry"'
}

start_broker() { # BROKER DIR; sets broker_pid and login
  local b=$1 d=$2
  mkdir -p "$d"
  if [ "$b" = mqflux ]; then
    start_influx "$d/influxd"
    env MQFLUX_DATA_DIR="$d/var" MQFLUX_BROKER_TCP=127.0.0.1:$MQTT_PORT MQFLUX_HTTP_ADDRESS=127.0.0.1:$HTTP_PORT \
      MQFLUX_INFLUX_URL="$INFLUX_URL" MQFLUX_INFLUX_DRAIN_TIMEOUT=2s MQFLUX_LOG_LEVEL=info \
      "$mqflux" serve -config "$root/config.yaml" >"$d/mqflux.log" 2>&1 &
    broker_pid=$!
    pids+=("$broker_pid")
    wait_for "mqflux serve" 30 curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz"
    login=(-u demo-reader -P demo-reader-pass) pub=(-username demo-gateway -password demo-gateway-pass)
  else
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type subscribe\n' \
      "$MQTT_PORT" >"$d/mosquitto.conf"
    stdbuf -oL /usr/sbin/mosquitto -c "$d/mosquitto.conf" >"$d/mosquitto.out" 2>&1 &
    broker_pid=$!
    pids+=("$broker_pid")
    wait_for mosquitto 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT"
    login=() pub=()
  fi
}

stop_broker() { # BROKER
  stop "$broker_pid"
  [ "$1" = mqflux ] && stop "$influx_pid"
  return 0
}

stalled() { # N: N subscribers to devices/# at QoS 1, subscribed, then stopped
  local i p
  for i in $(seq 1 "$1"); do
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" "${login[@]}" -i "stalled-$i" -q 1 -t 'devices/#' >/dev/null 2>&1 &
    p=$!
    subs+=("$p")
    sleep 1 # connected and subscribed (a few ms on loopback)
    kill -STOP "$p"
  done
}

reading() { # N OUT: N subscribers to devices/# at QoS 1 that read everything, one line per message into OUT-i
  local i
  for i in $(seq 1 "$1"); do
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" "${login[@]}" -i "reading-$i" -q 1 -t 'devices/#' >"$2-$i" 2>/dev/null &
    subs+=("$!")
  done
  sleep 1 # connected and subscribed (a few ms on loopback)
}

delivered() { # OUT: readings each reading subscriber received, the fewest and the most
  local f n lo= hi=
  for f in "$1"-*; do
    [ -e "$f" ] || continue
    n=$(wc -l <"$f")
    if [ -z "$lo" ] || [ "$n" -lt "$lo" ]; then lo=$n; fi
    if [ -z "$hi" ] || [ "$n" -gt "$hi" ]; then hi=$n; fi
  done
  [ -n "$lo" ] && echo "$lo–$hi"
}

offline() { # N [-c]: sessions offline-1..N subscribed to devices/#, each gone after its SUBACK; with -c
  # persistent, left behind; without, clean, which ends the persistent session of the same id
  local i
  for i in $(seq 1 "$1"); do
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" "${login[@]}" ${2:+"$2"} -i "offline-$i" -q 1 -t 'devices/#' -E
  done
}

release() { # the subscribers, stalled or reading: SIGKILL (woken, one would first read its backlog, then reconnect)
  local p
  for p in "${subs[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  subs=()
}

cpu() { jq -r '[.processes[]? | select(.name != "bench") | .cpu_seconds][0] // 0 | . * 1000 | floor / 1000' "$1" 2>/dev/null || echo 0; }

# faults: the broker's minor page faults so far (/proc/PID/stat field 10):
# memory it touches for the first time; each costs CPU, much more in a VM.
faults() { awk '{print $10}' "/proc/$broker_pid/stat" 2>/dev/null || echo 0; }

run_load() { # BROKER CASE RUN-NAME: one bench run into $results/BROKER-CASE-RUN-NAME.json
  local f=$results/$1-$2-$3.json f0
  f0=$(faults)
  timeout 10m "$mqflux" bench -json -progress 0 -broker "tcp://127.0.0.1:$MQTT_PORT" "${pub[@]}" \
    -devices "$DEVICES" -messages "$MESSAGES" -pid "$1=$broker_pid" >"$f" 2>"$f.err" || true
  printf '%-9s %-9s %-8s %s acked/s (%s of %s acked), broker %s CPU s, %s page faults\n' "$1" "$2" "$3" \
    "$(jq -r '.ack_rate | floor' "$f" 2>/dev/null || echo -)" "$(jq -r .acked "$f" 2>/dev/null || echo -)" \
    "$((DEVICES * MESSAGES))" "$(cpu "$f")" "$(($(faults) - f0))" >&2
}

for b in $BROKERS; do
  for c in $CASES; do
    start_broker "$b" "$work/$b-$c"
    for i in $(seq 1 "$WARMUP"); do run_load "$b" "$c" "warmup-$i"; done
    for i in $(seq 1 "$RUNS"); do run_load "$b" "$c" "base-$i"; done
    case $c in
      stalled1) stalled 1 ;;
      stalled8) stalled 8 ;;
      reading8) reading 8 "$work/$b-$c-reader" ;;
      offline3) offline 3 -c ;;
    esac
    for i in $(seq 1 "$RUNS"); do run_load "$b" "$c" "$i"; done
    if [ "$b" = mqflux ]; then
      curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^mqflux_mqtt_messages_dropped_total' | sed 's/^/          /' >&2 || true
    fi
    release
    if [ "$c" = offline3 ]; then offline 3; fi
    if [ "$c" = reading8 ]; then
      delivered "$work/$b-$c-reader" >"$results/$b-$c-delivered"
      echo "          each reader received $(cat "$results/$b-$c-delivered") of $((RUNS * DEVICES * MESSAGES))" >&2
    fi
    for i in $(seq 1 "$RUNS"); do run_load "$b" "$c" "after-$i"; done
    stop_broker "$b"
  done
done

rate() { jq -r '.ack_rate // 0 | floor' "$1" 2>/dev/null || echo 0; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $DEVICES devices x $MESSAGES QoS 1 readings; per case $WARMUP unmeasured, $RUNS baseline runs (no subscriber), $RUNS measured consecutive runs, $RUNS baseline runs again, on one broker"
echo
echo "| broker | case | baseline acked/s, before · after | acked/s per run | slowest / median of baseline | broker CPU s, baseline → runs | each reader received |"
echo "|---|---|---|---|---:|---|---|"
for b in $BROKERS; do
  for c in $CASES; do
    runs=() before=() after=() slowest= cpus=() basecpus=()
    for i in $(seq 1 "$RUNS"); do
      before+=("$(rate "$results/$b-$c-base-$i.json")")
      after+=("$(rate "$results/$b-$c-after-$i.json")")
      basecpus+=("$(cpu "$results/$b-$c-base-$i.json")" "$(cpu "$results/$b-$c-after-$i.json")")
      cpus+=("$(cpu "$results/$b-$c-$i.json")")
      r=$(rate "$results/$b-$c-$i.json")
      runs+=("$r")
      if [ -z "$slowest" ] || [ "$r" -lt "$slowest" ]; then slowest=$r; fi
    done
    base=$(printf '%s\n' "${before[@]}" "${after[@]}" | median)
    got=
    [ -s "$results/$b-$c-delivered" ] && got="$(cat "$results/$b-$c-delivered") of $((RUNS * DEVICES * MESSAGES))"
    echo "| $b | $c | ${before[*]} · ${after[*]} | ${runs[*]} | $(awk -v s="$slowest" -v b="$base" 'BEGIN {if (b > 0) printf "%.2f", s / b; else print "-"}') | $(printf '%s\n' "${basecpus[@]}" | median) → ${cpus[*]} | $got |"
  done
done
