#!/usr/bin/env bash
# The libws C integration tests, end to end:
#   builds libws (release), makes sure .venv has the Python websockets and trustme packages, starts the loopback
#   test server (ffi-tests/server.py: the WebSocket server and the silent TCP peer), compiles each
#   ffi-tests/test_*.c against target/release/libws.a into build/ffi-tests/, runs each (at most
#   120 s), and ends with one line "N passed, N failed" (N = test programs). Exit status 0 only
#   if every program passed.
#
#   ffi-tests/run.sh [test_name ...]      e.g. ffi-tests/run.sh test_echo test_close
#
# Cross runs (scripts/arm64/run.sh): LIBWS_TARGET=<rust triple> builds and links
# target/<triple>/release/libws.a into build/ffi-tests-<triple>/, CC is the cross compiler,
# TEST_RUNNER prefixes each program (e.g. qemu-aarch64) and TEST_TIMEOUT (default 120 s) bounds it.
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-cc}
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pthread -g -Iinclude)
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
read -r -a RUNNER <<<"${TEST_RUNNER:-}"
if [ -n "${LIBWS_TARGET:-}" ]; then
    LIBS=("target/$LIBWS_TARGET/release/libws.a" -lpthread -ldl -lm)
    OUT=build/ffi-tests-$LIBWS_TARGET
    echo "== building libws (cargo build --release --target $LIBWS_TARGET)"
    cargo build --release --quiet --target "$LIBWS_TARGET"
else
    LIBS=(target/release/libws.a -lpthread -ldl -lm)
    OUT=build/ffi-tests
    echo "== building libws (cargo build --release)"
    cargo build --release --quiet
fi

# trustme makes the CAs and certificates of the TLS, trust, proxy and open-RTT peers.
if ! .venv/bin/python -c 'import websockets.asyncio.server, trustme' 2>/dev/null; then
    echo "== creating .venv with websockets and trustme"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'websockets>=13' trustme
fi
PYTHON=$PWD/.venv/bin/python

# The Node `ws` echo server of test_deflate (ffi-tests/node). Without node, test_deflate fails.
if [ ! -d ffi-tests/node/node_modules/ws ] && command -v npm >/dev/null 2>&1; then
    echo "== installing ffi-tests/node (npm ci)"
    (cd ffi-tests/node && npm ci --no-audit --no-fund --silent) ||
        echo "npm ci in ffi-tests/node failed: test_deflate's Node cases will fail" >&2
fi

mkdir -p "$OUT"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Port 0: the server picks free loopback ports and reports them on its READY line.
"$PYTHON" ffi-tests/server.py 0 0 >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^READY ' "$tmp/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q '^READY ' "$tmp/server.out"; then
    echo "the test server did not start:" >&2
    cat "$tmp/server.err" >&2
    exit 1
fi
read -r _ ws_port silent_port <"$tmp/server.out"
# READY is printed once both listeners are bound; check that they really accept.
for port in "$ws_port" "$silent_port"; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "port $port does not accept" >&2; exit 1; }
done
echo "== test server: ws://127.0.0.1:$ws_port, silent peer on port $silent_port (pid $server_pid)"

export WS_BASE="ws://127.0.0.1:$ws_port"
export SILENT_PORT="$silent_port"
export PYTHON
export SERVER_PY="$PWD/ffi-tests/server.py"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=()
    for src in ffi-tests/test_*.c; do tests+=("$(basename "$src" .c)"); done
fi

passed=0
failed=0
failed_names=()
for name in "${tests[@]}"; do
    echo
    if ! "$CC" "${CFLAGS[@]}" "ffi-tests/$name.c" "${LIBS[@]}" -o "$OUT/$name"; then
        echo "  $name: COMPILE FAILED"
        failed=$((failed + 1))
        failed_names+=("$name")
        continue
    fi
    # Indented, so the closing "N passed, N failed" below is the only such line at column 0
    # (scripts/test.sh reads it; some programs print their own case counts in that form).
    status=0
    timeout "$TEST_TIMEOUT" ${RUNNER[@]+"${RUNNER[@]}"} "$OUT/$name" 2>&1 | sed -u 's/^/  /' || status=${PIPESTATUS[0]}
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        if [ "$status" -eq 124 ]; then
            echo "  $name: TIMED OUT after $TEST_TIMEOUT s"
        elif [ "$status" -gt 128 ]; then
            echo "  $name: killed by signal $((status - 128))"
        fi
        echo "  $name: FAILED (exit status $status)"
        failed=$((failed + 1))
        failed_names+=("$name")
    fi
done

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the test server died during the run:" >&2
    tail -20 "$tmp/server.err" >&2
    failed=$((failed + 1))
elif [ "$failed" -gt 0 ] && [ -s "$tmp/server.err" ]; then
    echo
    echo "== test server stderr (last 20 lines)"
    tail -20 "$tmp/server.err"
fi

echo
[ "$failed" -gt 0 ] && echo "failed: ${failed_names[*]:-test server}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
