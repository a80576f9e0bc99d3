#!/bin/sh
# Measures what device/README.md reports under "Footprint": binary sizes of
# the release builds, and peak RSS and CPU time of one minute at one reading
# per second from 5 sim sensors against a local mosquitto.
# Usage: sh device/footprint.sh [seconds]   (from the repository root)
set -eu
secs=${1:-60}
out=$(mktemp -d)
trap 'kill $broker 2>/dev/null; rm -rf "$out"' EXIT

build() { # name goarch goarm
	CGO_ENABLED=0 GOOS=linux GOARCH=$2 GOARM=$3 go build -trimpath -ldflags "-s -w" -o "$out/$1" ./cmd/mqflux-device
	printf '%-8s %s bytes\n' "$1" "$(stat -c %s "$out/$1")"
}
build arm6 arm 6
build arm7 arm 7
build arm64 arm64 ""
build amd64 amd64 ""

port=18883
/usr/sbin/mosquitto -p $port >/dev/null 2>&1 &
broker=$!
sleep 1
cat >"$out/device.yaml" <<YAML
device:
  id: footprint
  broker: tcp://127.0.0.1:$port
  queue: {dir: $out/queue}
  sensors:
    - {kind: sim, measurement: s1, interval: 1s, seed: 1}
    - {kind: sim, measurement: s2, interval: 1s, seed: 2}
    - {kind: sim, measurement: s3, interval: 1s, seed: 3}
    - {kind: sim, measurement: s4, interval: 1s, seed: 4}
    - {kind: sim, measurement: s5, interval: 1s, seed: 5}
YAML

measure() { # label command...
	label=$1
	shift
	rm -rf "$out/queue"
	/usr/bin/time -v -o "$out/time.txt" timeout -s TERM "$secs" "$@" -config "$out/device.yaml" 2>/dev/null || true
	rss=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$out/time.txt")
	user=$(awk -F: '/User time/ {gsub(/ /,"",$2); print $2}' "$out/time.txt")
	sys=$(awk -F: '/System time/ {gsub(/ /,"",$2); print $2}' "$out/time.txt")
	printf '%-22s peak RSS %s KiB, CPU user %ss + sys %ss over %ss\n' "$label" "$rss" "$user" "$sys" "$secs"
}
measure "amd64" "$out/amd64"
measure "arm6 (qemu-arm)" qemu-arm-static "$out/arm6"
measure "arm64 (qemu-aarch64)" qemu-aarch64-static "$out/arm64"
