#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for N seconds (default 10), starting from the
# committed seeds; prints each target's executions and the total. Exits non-zero when a
# target fails to build or finds a crash (the input is left in fuzz/artifacts/TARGET/).
#
#   fuzz/smoke.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked --version 0.13.2`) and a C++ compiler.
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets it take the `-Z` flags cargo-fuzz
# passes (sanitizer, coverage passes). FUZZ_SANITIZER=none|address (default address).
set -euo pipefail

cd "$(dirname "$0")"
seconds="${1:-10}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

# Builds every target (cargo fuzz build takes one target or all).
cargo fuzz build --sanitizer "$sanitizer"

total=0
for target in "${targets[@]}"; do
    corpus="target/corpus/$target"
    mkdir -p "$corpus"
    log="target/smoke-$target.log"
    status=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    runs="${runs:-0}"
    if [ "$status" -ne 0 ]; then
        echo "fuzz $target: FAILED after $runs executions (exit $status); log: fuzz/$log" >&2
        grep -E "panicked|ERROR: |SUMMARY|Test unit written" "$log" | head -n 20 >&2 || true
        exit 1
    fi
    echo "fuzz $target: $runs executions in ${seconds}s, no crash"
    total=$((total + runs))
done
echo "fuzz total: $total executions over ${#targets[@]} targets"
