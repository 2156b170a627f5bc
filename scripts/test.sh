#!/usr/bin/env bash
# Every test: formatting and clippy (scripts/lint.sh), the header matches the code, Rust unit
# tests, the C tests in ffi-tests/ against real WebSocket servers on 127.0.0.1 (natively, then
# cross-compiled for ARM64 under qemu-aarch64), the Autobahn|Testsuite, packaging/Android/iOS/JNI
# checks and the benchmark's quick mode (so it cannot rot). Prints one closing
# "N passed, N failed" line summing every stage.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "set-up failed"; exit 1; }

passed=0
failed=0
timings=()

# Runs a stage that ends with "N passed, N failed" (or cargo's "test result:" lines) and adds its
# counts. A stage that fails without counting a failure counts as one failure.
stage() {
    local log status counted_failed started
    log=$(mktemp)
    started=$SECONDS
    if "$@" 2>&1 | tee "$log"; then status=0; else status=1; fi
    timings+=("$(printf '%5d s  %s' $((SECONDS - started)) "$*")")
    local p f
    p=$( (grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $1}';
          grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{print $4}') | awk '{s += $1} END {print s + 0}')
    f=$( (grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $3}';
          grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{print $6}') | awk '{s += $1} END {print s + 0}')
    rm -f "$log"
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL stage '$*' failed"
        failed=$((failed + 1))
    fi
}

# build.rs rewrote include/libws.h from the code; any difference from the checked-in copy fails.
header_check() {
    if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --exit-code --stat -- include/libws.h; then
        echo "include/libws.h differs from what build.rs generates: commit the regenerated header"
        echo "0 passed, 1 failed"
        return 1
    fi
    echo "include/libws.h matches the code"
    echo "1 passed, 0 failed"
}

stage scripts/lint.sh
stage header_check
stage cargo test --release
stage fuzz/run.sh 30
stage ffi-tests/run.sh
stage scripts/arm64/run.sh
stage ffi-tests/autobahn/run.sh
stage ffi-tests/faults.sh
stage ffi-tests/packaging/run.sh
stage scripts/android/check.sh
stage scripts/ios/check.sh
stage jni/run.sh
stage bindings/node/run.sh
stage bench/run.sh --quick

echo
echo "== time per stage"
printf '%s\n' "${timings[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
