#!/usr/bin/env bash
# The C tests under valgrind (issue 4, item 4).
#
#   ffi-tests/valgrind.sh            memcheck on every ffi-tests/test_*.c program, then
#                                    ffi-tests/stress.c under helgrind and DRD
#   VALGRIND_ONLY="test_echo stress" ffi-tests/valgrind.sh    just those programs
#
# memcheck: --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite, so any
# invalid read/write, use of uninitialised memory, bad free or definitely-lost block fails the
# program. Suppressed are only:
#   - leaks of blocks the C test code allocates itself and keeps on purpose: common.h's recorders,
#     result boxes and URLs are "never freed" so that a late, buggy callback still writes to valid
#     memory and gets reported, and tests copy that pattern (e.g. a calloc'd result_box per
#     connect). A leak is suppressed only when the allocation call is in common.h or a test_*.c
#     file itself; every block libws (Rust) allocates is still checked for leaks;
#   - three false positives inside Rust dependencies (http, ring, rustls), described and narrowed
#     in ffi-tests/valgrind-rust.supp. Invalid reads/writes and bad frees are never suppressed.
#
# helgrind / DRD (and memcheck): stress.c (short: $STRESS_VG_SECONDS s, default 3, 4 threads,
# --no-heartbeat: the heartbeat is under memcheck in test_peer_faults, and its livelock on CLOSING
# sockets, which faults.sh's native stress run reports, would stop the run before the tools see
# anything) with ffi-tests/valgrind-rust.supp, which hides only races whose access is in Rust
# code (libws syncs with futexes that these tools cannot see; see the comments in that file). The
# script then proves the suppressions do not hide C races: `stress --plant-race` must be reported
# by helgrind with a race in stress.c.
#
# Servers: server.py (WS_BASE, SILENT_PORT, PYTHON, SERVER_PY as ffi-tests/run.sh sets them);
# test_tls, test_peer_faults and stress start their own. Prints a line per program and a final
# "N passed, N failed"; exits non-zero on any failure. Logs: build/faults/valgrind/*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is missing: installing it (Debian package)"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind; } >/dev/null ||
        { echo "could not install valgrind"; echo "0 passed, 1 failed"; exit 1; }
fi
if [ ! -x .venv/bin/python ] || [ ! -f target/release/libws.a ]; then
    scripts/setup.sh || { echo "set-up failed"; echo "0 passed, 1 failed"; exit 1; }
fi
cargo build --release --quiet || { echo "cargo build failed"; echo "0 passed, 1 failed"; exit 1; }

OUT=build/faults/valgrind
mkdir -p "$OUT"
passed=0
failed=0
pass() { passed=$((passed + 1)); printf '  ok   %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf '  FAIL %s\n' "$*"; }

wanted() { [ -z "${VALGRIND_ONLY:-}" ] || [[ " $VALGRIND_ONLY " == *" $1 "* ]]; }

# Deliberate keep-alive allocations of the shared test helpers (see the header comment).
SUPP_HELPERS=$OUT/test-helpers.supp
cat >"$SUPP_HELPERS" <<'EOF'
{
   common.h-keeps-on-purpose
   Memcheck:Leak
   match-leak-kinds: definite
   obj:*/vgpreload_memcheck-*.so
   src:common.h
}
{
   common.h-keeps-on-purpose-strdup
   Memcheck:Leak
   match-leak-kinds: definite
   obj:*/vgpreload_memcheck-*.so
   fun:strdup
   src:common.h
}
{
   test-code-keeps-on-purpose
   Memcheck:Leak
   match-leak-kinds: definite
   obj:*/vgpreload_memcheck-*.so
   src:test_*.c
}
EOF

# valgrind-rust.supp's entry 3 once per iovec index: memcheck matches a Param suppression's name
# ("sendmsg(msg.msg_iov[N])") exactly, and rustls writes up to 64 records in one call.
SUPP_SENDMSG=$OUT/rustls-sendmsg.supp
for i in $(seq 0 63); do
    printf '{\n   rustls-sealed-records-sendmsg-%d\n   Memcheck:Param\n   sendmsg(msg.msg_iov[%d])\n   ...\n   fun:_ZN6rustls6vecbuf14ChunkVecBuffer8write_to*\n}\n' "$i" "$i"
done >"$SUPP_SENDMSG"

CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -pthread -Iinclude -Iffi-tests)
compile() { # name source
    cc "${CFLAGS[@]}" "$2" target/release/libws.a -ldl -lm -o "$OUT/$1" 2>"$OUT/$1.cc.log" ||
        { cat "$OUT/$1.cc.log"; return 1; }
}

# server.py for the tests that use WS_BASE / SILENT_PORT.
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
coproc SERVER { exec .venv/bin/python ffi-tests/server.py 0 0; }
SERVER_PID=$SERVER_PID
read -r -t 20 ready ws_port silent_port <&"${SERVER[0]}"
if [ "${ready:-}" != READY ]; then
    echo "server.py did not start"
    echo "0 passed, 1 failed"
    exit 1
fi
export WS_BASE="ws://127.0.0.1:$ws_port" SILENT_PORT="$silent_port"
export PYTHON="$ROOT/.venv/bin/python" SERVER_PY="$ROOT/ffi-tests/server.py"

START=$(date +%s)
echo "== memcheck"
MEMCHECK=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
          --show-leak-kinds=definite --num-callers=40 --suppressions="$SUPP_HELPERS" --suppressions="$SUPP_SENDMSG"
          --suppressions=ffi-tests/valgrind-rust.supp)
for src in ffi-tests/test_*.c; do
    name=$(basename "$src" .c)
    wanted "$name" || continue
    if ! compile "$name" "$src"; then fail "$name: does not compile"; continue; fi
    t0=$(date +%s)
    timeout 300 "${MEMCHECK[@]}" --log-file="$OUT/$name.memcheck.log" "$OUT/$name" >"$OUT/$name.out" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    summary=$(grep -h "ERROR SUMMARY" "$OUT/$name.memcheck.log" | tail -1 | sed 's/^==[0-9]*== //')
    lost=$(grep -h "definitely lost:" "$OUT/$name.memcheck.log" | tail -1 | sed 's/^==[0-9]*== *//')
    if [ "$rc" -eq 0 ]; then
        pass "$name under memcheck (${secs}s): $summary${lost:+; $lost}"
    else
        why="exit $rc"
        [ "$rc" -eq 99 ] && why="valgrind errors"
        [ "$rc" -eq 124 ] && why="timed out"
        fail "$name under memcheck (${secs}s): $why: $summary${lost:+; $lost}"
        grep -E "CHECK FAILED|FAIL" "$OUT/$name.out" | head -20 | sed 's/^/      /'
        grep -E -A12 "Invalid|uninitialised|definitely lost in|Mismatched|free\(\)" "$OUT/$name.memcheck.log" |
            head -60 | sed 's/^/      /'
    fi
done

if wanted stress; then
    echo "== stress.c under helgrind and DRD"
    secs_run=${STRESS_VG_SECONDS:-3}
    if compile stress ffi-tests/stress.c; then
        # memcheck too: the stress program's own allocations are all freed.
        for tool in memcheck helgrind drd; do
            case $tool in
                memcheck) opts=("${MEMCHECK[@]}") ;;
                *) opts=(valgrind --tool=$tool --error-exitcode=99 --num-callers=40
                         --suppressions=ffi-tests/valgrind-rust.supp) ;;
            esac
            t0=$(date +%s)
            STRESS_WATCHDOG_S=240 timeout 300 "${opts[@]}" --log-file="$OUT/stress.$tool.log" \
                "$OUT/stress" --seconds "$secs_run" --threads 4 --no-heartbeat >"$OUT/stress.$tool.out" 2>&1
            rc=$?
            secs=$(( $(date +%s) - t0 ))
            summary=$(grep -h "ERROR SUMMARY" "$OUT/stress.$tool.log" | tail -1 | sed 's/^==[0-9]*== //')
            checks=$(tail -1 "$OUT/stress.$tool.out")
            if [ "$rc" -eq 0 ]; then
                pass "stress under $tool (${secs}s): $summary; stress checks: $checks"
            else
                fail "stress under $tool (${secs}s): exit $rc: $summary; stress checks: $checks"
                grep -E "FAIL" "$OUT/stress.$tool.out" | head -10 | sed 's/^/      /'
                grep -E -A10 "Possible data race|Conflicting|Invalid|definitely lost in" "$OUT/stress.$tool.log" |
                    head -60 | sed 's/^/      /'
            fi
        done
        # The suppressions must not hide a race in C code: a planted one has to be reported.
        t0=$(date +%s)
        STRESS_WATCHDOG_S=240 timeout 300 valgrind --tool=helgrind --error-exitcode=99 --num-callers=40 \
            --suppressions=ffi-tests/valgrind-rust.supp --log-file="$OUT/stress.planted.log" \
            "$OUT/stress" --seconds 1 --threads 2 --no-heartbeat --plant-race >"$OUT/stress.planted.out" 2>&1
        rc=$?
        secs=$(( $(date +%s) - t0 ))
        if [ "$rc" -eq 99 ] && grep -A3 "Possible data race" "$OUT/stress.planted.log" | grep -q "(stress.c:"; then
            pass "helgrind reports a race planted in stress.c through the suppressions (${secs}s)"
        else
            fail "helgrind did not report the race planted in stress.c (exit $rc, ${secs}s): the suppressions hide C races"
        fi
    else
        fail "stress: does not compile"
    fi
fi

echo "valgrind: $(( $(date +%s) - START ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
