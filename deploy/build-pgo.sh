#!/usr/bin/env bash
# The release binary, profile-guided: built instrumented, trained on the soak's mixed load
# against the sandbox, and built again with that profile, which lays the code a request runs
# out together and inlines along its paths. A cache hit runs through more code than the
# instruction cache holds, so its time follows that layout (benches/README.md, "Profile-guided
# build"). Same source, same tests; only the optimiser's choices differ.
#
#   deploy/build-pgo.sh [OUT]       (default target/pgo/casegate; from anywhere)
#
# Needs an llvm-profdata of rustc's own LLVM version, the first found of: rustup's llvm-tools
# component (`rustup component add llvm-tools`), llvm-profdata-N or /usr/lib/llvm-N (Debian's
# llvm-N, where N is rustc's LLVM major version: `rustc -vV`); or LLVM_PROFDATA=PATH. Also what
# the soak needs (kill, taskset, timeout). 16 minutes from a fresh checkout on 2 cores (6 Dec 2026):
# the instrumented build, the debug build of the soak, two runs of the soak (75 s each), the
# final build. The second soak run checks the final binary: every answer right, memory flat.
#
# The training is the soak (benches/soak: cache hits in XML, JSON and CSV, identity and gzip,
# misses that fill the cache while redacting, 403s, 401s for a bad signature and an expired
# token) at 400 requests a second for a minute; both the sandbox and the gateway run from the
# instrumented binary and write one merged profile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$repo/target/pgo/casegate}")
work=$repo/target/pgo
cd "$repo"
llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\)\..*/\1/p')
host=$(rustc -vV | sed -n 's/^host: //p')

profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
  for candidate in "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
    "llvm-profdata-$llvm" "/usr/lib/llvm-$llvm/bin/llvm-profdata"; do
    if command -v "$candidate" > /dev/null; then profdata=$candidate; break; fi
  done
fi
if [ -z "$profdata" ]; then
  echo "$0: no llvm-profdata for rustc's LLVM $llvm: rustup component add llvm-tools," \
    "or apt-get install llvm-$llvm, or set LLVM_PROFDATA" >&2
  exit 1
fi
# The raw profile's format follows LLVM's version: another version's tool rejects or misreads it.
if ! "$profdata" --version | grep -q "LLVM version $llvm\."; then
  found=$("$profdata" --version | sed -n 's/.*\(LLVM version [^ ]*\).*/\1/p' | head -1)
  echo "$0: $profdata is not LLVM $llvm (rustc's): ${found:-no LLVM version}" >&2
  exit 1
fi

# The soak stops its servers with kill(1): a server killed any other way writes no profile.
# `type -P`: the program, not the shell's builtin `kill`.
for tool in kill taskset timeout; do
  type -P $tool > /dev/null || { echo "$0: $tool is missing (Debian: procps, util-linux, coreutils)" >&2; exit 1; }
done

soak() {
  echo "$0: the soak against $1" >&2
  CASEGATE_BIN=$1 DURATION=60 WARMUP=10 SETTLE=2 RATE=400 QUIET_WAIT=1 \
    cargo test --locked --bench soak
}

rm -rf "$work/profiles" "$work/casegate.profdata"
RUSTFLAGS="-Cprofile-generate=$work/profiles" CARGO_TARGET_DIR=$work/instrumented \
  cargo build --release --locked --bin casegate
soak "$work/instrumented/release/casegate"
if ! compgen -G "$work/profiles/*.profraw" > /dev/null; then
  echo "$0: the training wrote no profile into $work/profiles" >&2
  exit 1
fi
"$profdata" merge -o "$work/casegate.profdata" "$work/profiles"

RUSTFLAGS="-Cprofile-use=$work/casegate.profdata" CARGO_TARGET_DIR=$work/optimized \
  cargo build --release --locked --bin casegate
mkdir -p "$(dirname "$out")"
cp "$work/optimized/release/casegate" "$out"
soak "$out"
echo "$0: $out" >&2
