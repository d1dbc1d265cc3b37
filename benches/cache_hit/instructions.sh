#!/bin/bash
# User-space instructions per cache hit, under callgrind: a figure a busy machine does not
# disturb, for A/B comparisons of casegate builds while CPU time per request cannot be trusted.
#
#   benches/cache_hit/instructions.sh [SECONDS] CASEGATE_BINARY...
#
# Needs valgrind, wrk and openssl (apt-get install -y valgrind wrk openssl). Same request as
# `cargo bench --bench cache_hit`: the example report as JSON through the bench's grant (one
# column dropped, the other Customer.* masked, cached 1 h), an RS256 token on every request,
# 64 connections. Each build runs pinned to core 1 (as in the bench) under callgrind; counting
# starts after a 2 s warm-up and covers SECONDS (default 5) of load; the result is the
# instructions counted divided by the requests wrk completed. valgrind has no SHA-NI: SHA-256
# work is counted as its AVX code, several times what it costs on such a CPU.
# KEEP_CALLGRIND=FILE keeps the (last) build's profile for callgrind_annotate; KEEP_DIR=1 keeps
# the working folder (configuration and logs). CACHE_SIM=1 simulates the caches too (this
# machine's sizes) and adds the level-1 instruction and data cache misses per hit: a hit's
# time follows the code it touches more than the instructions it counts (benches/README.md).
set -euo pipefail
secs=5
[[ ${1:-} =~ ^[0-9]+$ ]] && { secs=$1; shift; }
[ $# -ge 1 ] || { echo "usage: $0 [SECONDS] CASEGATE_BINARY..." >&2; exit 2; }
for tool in valgrind callgrind_control callgrind_annotate wrk openssl taskset curl; do
  command -v $tool > /dev/null || { echo "$0: $tool is missing (apt-get install -y valgrind wrk openssl)" >&2; exit 2; }
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
# The binaries by absolute path: the script works in a temporary folder.
bins=(); for b in "$@"; do bins+=("$(realpath "$b")"); done; set -- "${bins[@]}"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP_DIR:-}" ] || rm -rf "$dir"' EXIT
cd "$dir"
source "$repo/benches/cache_hit/setup.sh"
"$1" sandbox --listen "127.0.0.1:$sandbox" > sandbox.log 2>&1 &
for bin in "$@"; do
  taskset -c 1 valgrind --tool=callgrind ${CACHE_SIM:+--cache-sim=yes} --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
    "$bin" serve --config casegate.toml > gateway.log 2>&1 &
  vg=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.3; done
  curl -s -o /dev/null -H "$auth" "$url"
  [ "$(curl -s -o /dev/null -D - -H "$auth" "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')" = HIT ] \
    || { echo "$bin: the second answer is not a cache hit" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c64 -d2s -H "$auth" "$url" > /dev/null
  callgrind_control -i on $vg > /dev/null
  out=$(taskset -c 0 wrk -t1 -c64 -d${secs}s -H "$auth" "$url")
  callgrind_control -i off $vg > /dev/null
  callgrind_control -d $vg > /dev/null
  sleep 1
  kill $vg; wait $vg 2>/dev/null || true
  if grep -q "Non-2xx" <<< "$out"; then echo "$bin: errors under load" >&2; exit 1; fi
  requests=$(awk '/requests in/{print $1}' <<< "$out")
  file=$(ls -S "$dir"/cg.out* | head -1)
  read -r total i1 d1r d1w < <(callgrind_annotate "$file" 2>/dev/null \
    | awk '/PROGRAM TOTALS/{gsub(",",""); print $1, $7, $9, $11}')
  echo "$bin: $((total / requests)) instructions per hit ($requests hits)"
  [ -n "${CACHE_SIM:-}" ] && echo "$bin: level-1 misses per hit: instructions $((i1 / requests)), data reads $((d1r / requests)), data writes $((d1w / requests))"
  [ -n "${KEEP_CALLGRIND:-}" ] && cp "$file" "$KEEP_CALLGRIND"
  rm -f "$dir"/cg.out*
done
