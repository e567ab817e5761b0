#!/usr/bin/env bash
# Coverage-guided fuzzing of one target of core/tests/fuzz.rs under libFuzzer (docs/fuzzing.md).
#
#   scripts/fuzz.sh TARGET [SECONDS]
#   FUZZ_RUNS=10000000 scripts/fuzz.sh TARGET    # stop after that many inputs instead
#
# Needs the nightly toolchain. `cargo bolero test` would build every test target of
# conclave-core with the coverage flags, and the crate's unit-test binary does not link
# bolero's libFuzzer runtime (undefined __sanitizer_cov_* symbols); so this builds only the
# fuzz test binary with the same flags cargo-bolero uses and runs it the way cargo-bolero does.
# The growing corpus stays in the build directory; the checked-in seeds are copied in first.
# Crashes land in core/tests/__fuzz__/TARGET/crashes/, which `cargo test` then replays.
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}
seconds=${2:-300}
# A fixed number of inputs (libFuzzer's -runs) replaces the time limit when set.
if [ -n "${FUZZ_RUNS:-}" ]; then
    limit="-runs=$FUZZ_RUNS"
else
    limit="-max_total_time=$seconds"
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_TARGET_DIR:-$root/target/bolero}
triple=$(rustc -vV | sed -n 's/^host: //p')

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module --cfg fuzzing_libfuzzer \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth"
export BOLERO_FUZZER=libfuzzer

binary=$(cd "$root" && rustup run nightly cargo test --target "$triple" --profile fuzz \
    -p conclave-core --test fuzz --target-dir "$build" --no-run --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)

corpus=$build/corpus/$target
crashes=$root/core/tests/__fuzz__/$target/crashes
mkdir -p "$corpus" "$crashes"
if [ -d "$root/core/tests/__fuzz__/$target/corpus" ]; then
    cp -n "$root/core/tests/__fuzz__/$target/corpus/"* "$corpus/" 2>/dev/null || true
fi

cd "$root/core"
BOLERO_TEST_NAME=$target BOLERO_LIBTEST_HARNESS=1 \
BOLERO_LIBFUZZER_ARGS="$corpus $crashes -artifact_prefix=$crashes/ -timeout=20 \
$limit -max_len=4096 -print_final_stats=1" \
    "$binary" "$target" --exact --nocapture --quiet --test-threads 1
