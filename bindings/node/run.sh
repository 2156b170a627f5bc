#!/usr/bin/env bash
# The JavaScript binding's tests: npm ci (koffi, and ws for a test server), a release build of
# libws, the loopback test server of the C tests (ffi-tests/server.py: WebSocket server and
# silent peer), then each bindings/node/test/test_*.js in its own Node process (at most 300 s).
# Ends with "N passed, N failed" summing the cases of every file (a file that fails without
# counting a failure counts one).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

fail_setup() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }
command -v node >/dev/null || fail_setup "node is not installed"
(cd bindings/node && npm ci --no-audit --no-fund --silent) || fail_setup "npm ci failed in bindings/node"
cargo build --release --quiet || fail_setup "cargo build failed"
python=.venv/bin/python
"$python" -c 'import websockets' 2>/dev/null || scripts/setup.sh >/dev/null || fail_setup "no .venv with websockets"

tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$python" ffi-tests/server.py 0 0 >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^READY ' "$tmp/server.out" 2>/dev/null && break
    sleep 0.1
done
grep -q '^READY ' "$tmp/server.out" || { cat "$tmp/server.err"; fail_setup "the test server did not start"; }
read -r _ ws_port silent_port <"$tmp/server.out"
export WS_BASE="ws://127.0.0.1:$ws_port" SILENT_PORT="$silent_port" LIBWS_SO="$root/target/release/libws.so"

passed=0
failed=0
for t in bindings/node/test/test_*.js; do
    echo "== node $t"
    status=0
    timeout 300 node "$t" >"$tmp/log" 2>&1 || status=$?
    sed 's/^/  /' "$tmp/log"
    counts=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed$' "$tmp/log" | tail -1)
    p=$(echo "${counts:-0 passed, 0 failed}" | awk '{print $1}')
    f=$(echo "${counts:-0 passed, 0 failed}" | awk '{print $3}')
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  $t: exit status $status$([ "$status" -eq 124 ] && echo ' (timed out: did the process not exit by itself?)')"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
