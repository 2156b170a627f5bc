#!/usr/bin/env bash
# Every test: the header matches the code, Rust unit tests, then the C tests in ffi-tests/
# against real WebSocket servers on 127.0.0.1. Prints one closing "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "set-up failed"; exit 1; }

passed=0
failed=0

# build.rs rewrote include/libws.h from the code; any difference from the checked-in copy fails.
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --exit-code --stat -- include/libws.h; then
    echo "FAIL include/libws.h differs from what build.rs generates: commit the regenerated header"
    failed=$((failed + 1))
else
    echo "ok   include/libws.h matches the code"
    passed=$((passed + 1))
fi

unit_log=$(mktemp)
if cargo test --release 2>&1 | tee "$unit_log"; then :; else failed=$((failed + 1)); fi
n=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$unit_log" | awk '{s += $4} END {print s + 0}')
f=$(grep -Eo '[0-9]+ failed' "$unit_log" | awk '{s += $1} END {print s + 0}')
passed=$((passed + n)); failed=$((failed + f))
rm -f "$unit_log"

ffi_log=$(mktemp)
if ffi-tests/run.sh 2>&1 | tee "$ffi_log"; then ffi_status=0; else ffi_status=1; fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ffi_log" | tail -1)
rm -f "$ffi_log"
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | awk '{print $1}')))
    failed=$((failed + $(echo "$line" | awk '{print $3}')))
fi
if [ "$ffi_status" -ne 0 ] && [ -z "$line" -o "$(echo "$line" | awk '{print $3}')" = 0 ]; then
    failed=$((failed + 1)) # the suite itself broke before counting
fi

# RFC 6455 conformance: the Autobahn|Testsuite fuzzing server (cases 1-10) drives libws.
ab_log=$(mktemp)
if ffi-tests/autobahn/run.sh 2>&1 | tee "$ab_log"; then ab_status=0; else ab_status=1; fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ab_log" | tail -1)
rm -f "$ab_log"
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | awk '{print $1}')))
    failed=$((failed + $(echo "$line" | awk '{print $3}')))
fi
if [ "$ab_status" -ne 0 ] && [ -z "$line" -o "$(echo "$line" | awk '{print $3}')" = 0 ]; then
    failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
