#!/bin/bash
# User and system CPU time per cache hit, casegate against the bare hyper server, under wrk:
# where a hit's time goes between casegate's code and the kernel (the loopback `writev` and the
# load generator's wake-ups), which `cargo bench --bench cache_hit` reports only as a sum.
#
#   benches/cache_hit/cpu_split.sh [SECONDS] CASEGATE_BINARY
#
# Needs wrk, openssl and curl, and the cache_hit bench built (`cargo bench --bench cache_hit
# --no-run`: it is also the bare server). Same request, body and pinning as that bench: wrk on
# core 0 (one thread, 64 connections), each server in turn on core 1; a 2 s warm-up, then
# SECONDS (default 5) measured. The figures are the server's utime and stime from
# /proc/PID/stat over the measured seconds, divided by the requests wrk completed.
set -euo pipefail
secs=5
[[ ${1:-} =~ ^[0-9]+$ ]] && { secs=$1; shift; }
[ $# -eq 1 ] || { echo "usage: $0 [SECONDS] CASEGATE_BINARY" >&2; exit 2; }
for tool in wrk openssl taskset curl python3; do
  command -v $tool > /dev/null || { echo "$0: $tool is missing (apt-get install -y wrk openssl curl)" >&2; exit 2; }
done
bin=$(realpath "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench=$(ls -t "$repo"/target/release/deps/cache_hit-* 2>/dev/null | grep -v '\.d$' | head -1) \
  || true
[ -x "$bench" ] || { echo "$0: build the bench first: cargo bench --bench cache_hit --no-run" >&2; exit 2; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir"
source "$repo/benches/cache_hit/setup.sh"
bare_port=$(port)
"$bin" sandbox --listen "127.0.0.1:$sandbox" > sandbox.log 2>&1 &
taskset -c 1 "$bin" serve --config casegate.toml > /dev/null 2>&1 &
gateway_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.3; done
curl -s -o body.json -H "$auth" "$url"
taskset -c 1 "$bench" --bare-hyper-server "127.0.0.1:$bare_port" "$dir/body.json" \
  "application/json; charset=utf-8" 0 > /dev/null 2>&1 &
bare_pid=$!
sleep 1
ticks=$(getconf CLK_TCK)
measure() { # NAME PID URL
  taskset -c 0 wrk -t1 -c64 -d2s -H "$auth" "$3" > /dev/null
  read -r user0 system0 < <(awk '{print $14, $15}' "/proc/$2/stat")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${secs}s" -H "$auth" "$3")
  read -r user1 system1 < <(awk '{print $14, $15}' "/proc/$2/stat")
  if grep -q "Non-2xx" <<< "$out"; then echo "$1: errors under load" >&2; exit 1; fi
  requests=$(awk '/requests in/{print $1}' <<< "$out")
  python3 - "$1" "$requests" "$secs" "$ticks" "$user0" "$user1" "$system0" "$system1" <<'P'
import sys
name, n, secs, ticks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u0, u1, s0, s1 = map(int, sys.argv[5:9])
user, system = (u1 - u0) / ticks / n * 1e6, (s1 - s0) / ticks / n * 1e6
print(f"{name}: {n / secs:,.0f} req/s, per request: user {user:.2f} µs, system {system:.2f} µs, total {user + system:.2f} µs")
P
}
measure "bare hyper" $bare_pid "http://127.0.0.1:$bare_port/getreport?ReportId=10800&Format=json"
measure casegate $gateway_pid "$url"
