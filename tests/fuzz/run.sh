#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) seconds each, one after the other, on
# stable Rust: `-s none` builds without a sanitizer, the only part of cargo-fuzz that needs
# nightly (casegate forbids unsafe code, so AddressSanitizer would watch only dependencies).
# Exits non-zero if any target crashes, fails an assertion or times out, and prints the
# executions per target.
#
#   FUZZ_SECONDS=600 tests/fuzz/run.sh            # longer
#   FUZZ_TARGETS="redact_csv params" tests/fuzz/run.sh
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Builds into FUZZ_TARGET_DIR, else
# $CARGO_TARGET_DIR/fuzz, else tests/fuzz/target. The corpus a run grows is kept beside the
# build (work/corpus/<target>); the committed seeds in tests/fuzz/corpus are only read.
# A failing input is saved in tests/fuzz/artifacts/<target>/.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$fuzz_dir/../.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
read -r -a targets <<<"${FUZZ_TARGETS:-redact_xml redact_json redact_csv redact_pipeline params jwt_header}"
if [[ -n "${FUZZ_TARGET_DIR:-}" ]]; then
    target_dir="$FUZZ_TARGET_DIR"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$CARGO_TARGET_DIR/fuzz"
else
    target_dir="$fuzz_dir/target"
fi
work="$target_dir/work"

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "FUZZ_SECONDS must be a whole number of seconds, at least 1 (got '$seconds')" >&2
    exit 2
fi

cd "$repo"
fuzz=(cargo fuzz)
common=(--fuzz-dir tests/fuzz --sanitizer none --target-dir "$target_dir")

echo "== building the fuzz targets (cargo-fuzz $("${fuzz[@]}" --version | awk '{print $2}'), $(rustc --version))"
"${fuzz[@]}" build "${common[@]}"

mkdir -p "$work"
failed=()
rows=()
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    log="$work/$target.log"
    mkdir -p "$corpus"
    echo "== $target: ${seconds}s"
    status=ok
    # New inputs go to the first corpus directory: the work one, never the committed seeds.
    if ! "${fuzz[@]}" run "${common[@]}" "$target" "$corpus" "tests/fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=FAILED
        failed+=("$target")
        echo "-- $target failed; the end of its log ($log):"
        tail -n 80 "$log"
    fi
    # libFuzzer's last words: "Done 123456 runs in 61 second(s)".
    done_line="$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)"
    if [[ -n "$done_line" ]]; then
        read -r _ runs _ _ secs _ <<<"$done_line"
        per_second=$((runs / (secs > 0 ? secs : 1)))
    else
        runs="-" secs="-" per_second="-"
    fi
    cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}' || true)"
    inputs="$(find "$corpus" -type f | wc -l)"
    rows+=("$(printf '%-16s %12s %8s %10s %6s %8s  %s' "$target" "$runs" "$secs" "$per_second" \
        "${cov:--}" "$inputs" "$status")")
done

echo
echo "== summary (executions per target)"
printf '%-16s %12s %8s %10s %6s %8s  %s\n' target runs seconds runs/s cov corpus status
for row in "${rows[@]}"; do
    echo "$row"
done

echo
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (failing inputs in tests/fuzz/artifacts/<target>/; reproduce with"
    echo "  cargo fuzz run --fuzz-dir tests/fuzz -s none <target> <artifact>)"
fi
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
