#!/usr/bin/env bash
# Fault tolerance, stress and memory safety (issue 4, items 3 and 4):
#
#   1. ffi-tests/test_peer_faults.c  dead and misbehaving peers (ffi-tests/peers_faults.py)
#   2. ffi-tests/stress.c            threads calling the whole API at random, with the server
#                                    (ffi-tests/stress_server.py) accounting for every message;
#                                    run twice: as is (a quarter of the sockets with a heartbeat)
#                                    and --no-heartbeat, so that a heartbeat failure does not
#                                    hide what the rest of the run checks
#   3. ffi-tests/valgrind.sh         every C test under memcheck, stress under helgrind and DRD
#
#   ffi-tests/faults.sh                     all three
#   STRESS_SECONDS=30 ffi-tests/faults.sh   a longer stress run (default 5 s)
#   FAULTS_SKIP_VALGRIND=1 ffi-tests/faults.sh   only 1 and 2
#
# Run from anywhere; works on a fresh machine (scripts/setup.sh builds libws and the venv;
# valgrind.sh installs valgrind if it is missing). Prints each stage's output, then one line
# "N passed, N failed" summing the stages; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || [ ! -f target/release/libws.a ]; then
    scripts/setup.sh || { echo "set-up failed"; echo "0 passed, 1 failed"; exit 1; }
fi
cargo build --release --quiet || { echo "cargo build failed"; echo "0 passed, 1 failed"; exit 1; }

OUT=build/faults
mkdir -p "$OUT"
export PYTHON="${PYTHON:-$PWD/.venv/bin/python}"

passed=0
failed=0

# Runs a stage that ends with "N passed, N failed" and adds its counts; a stage that fails
# without counting a failure (crash, hang, no summary) counts as one failure.
stage() {
    local name=$1
    shift
    local log status p f
    log=$(mktemp)
    echo "=== $name"
    local t0=$SECONDS
    if "$@" 2>&1 | tee "$log"; then status=0; else status=1; fi
    p=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $1}')
    f=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $3}')
    rm -f "$log"
    p=${p:-0}
    f=${f:-0}
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL stage '$name' exited non-zero without counting a failure"
        f=1
    fi
    echo "=== $name: $p passed, $f failed ($((SECONDS - t0)) s)"
    passed=$((passed + p))
    failed=$((failed + f))
}

build() { # name
    cc -std=c11 -Wall -Wextra -Werror -g -pthread -Iinclude -Iffi-tests "ffi-tests/$1.c" \
        target/release/libws.a -ldl -lm -o "$OUT/$1"
}

if build test_peer_faults; then
    stage test_peer_faults timeout 300 "$OUT/test_peer_faults"
else
    echo "FAIL test_peer_faults does not compile"
    failed=$((failed + 1))
fi

if build stress; then
    stage stress timeout 600 "$OUT/stress" --seconds "${STRESS_SECONDS:-5}"
    stage "stress --no-heartbeat" timeout 600 "$OUT/stress" --seconds "${STRESS_SECONDS:-5}" --no-heartbeat
else
    echo "FAIL stress does not compile"
    failed=$((failed + 1))
fi

if [ -z "${FAULTS_SKIP_VALGRIND:-}" ]; then
    stage valgrind ffi-tests/valgrind.sh
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
