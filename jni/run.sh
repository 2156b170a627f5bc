#!/usr/bin/env bash
# Builds the JNI binding and runs its JVM test against a loopback echo server.
#   1. cargo build --release                  (target/release/libws.a)
#   2. cc ... -> build/jni/libws_jni.so       (the shim, libws linked in statically)
#             -> build/jni/libws_jni_test.so  (test-only getsockopt helper, jni/test/c)
#   3. javac   -> build/jni/classes           (io.libws.* and the tests)
#   4. demo/echo_server.py on a free 127.0.0.1 port, ffi-tests/tls_server.py's wss:// echo (its
#      test CA), then the test under -Xcheck:jni
# Ends with "N passed, N failed" (the test's cases, plus one failed case if -Xcheck:jni reported
# a JNI misuse) and exits non-zero on any failure. Runs from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=build/jni

# The JDK: $JAVA_HOME if it has jni.h, else the one javac belongs to.
if [ -z "${JAVA_HOME:-}" ] || [ ! -f "$JAVA_HOME/include/jni.h" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
[ -f "$JAVA_HOME/include/jni.h" ] || { echo "no jni.h under $JAVA_HOME"; echo "0 passed, 1 failed"; exit 1; }

# Python with websockets for the echo server (scripts/setup.sh makes the venv on a fresh machine).
python=.venv/bin/python
if ! "$python" -c 'import websockets, trustme' 2>/dev/null; then
    scripts/setup.sh
fi

echo "== cargo build --release"
cargo build --release --quiet

echo "== cc -> $out/libws_jni.so"
mkdir -p "$out"
cc -shared -fPIC -O2 -Wall -Wextra -Werror \
    -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -Iinclude \
    jni/c/libws_jni.c target/release/libws.a -pthread -ldl -lm \
    -o "$out/libws_jni.so"
cc -shared -fPIC -O2 -Wall -Wextra -Werror -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" \
    jni/test/c/test_native.c -o "$out/libws_jni_test.so"

echo "== javac -> $out/classes"
rm -rf "$out/classes"
"$JAVA_HOME/bin/javac" -Xlint:all -Werror -encoding UTF-8 -d "$out/classes" \
    jni/java/io/libws/*.java jni/test/io/libws/*.java

# A free port (the kernel's choice), then the echo server on it; killed on exit.
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_log=$(mktemp)
test_log=$(mktemp)
tls_dir=$(mktemp -d)
server_pid=
tls_pid=
cleanup() {
    for pid in $server_pid $tls_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$server_log" "$test_log" "$tls_dir"
}
trap cleanup EXIT
# The groups case opens 1,000 sockets, and the echo server accepts them: lift a low soft limit.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$python" demo/echo_server.py "$port" >"$server_log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    grep -q "echo server on" "$server_log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; echo "0 passed, 1 failed"; exit 1; }
    sleep 0.1
done
grep -q "echo server on" "$server_log" || { echo "echo server did not start"; echo "0 passed, 1 failed"; exit 1; }

# The wss:// echo of the TLS options' case: a certificate for 127.0.0.1 signed by a test CA.
"$python" ffi-tests/tls_server.py certs 0 "$tls_dir" >/dev/null
"$python" ffi-tests/tls_server.py good 0 "$tls_dir" >"$tls_dir/out" 2>&1 &
tls_pid=$!
for _ in $(seq 100); do
    grep -q "^READY " "$tls_dir/out" && break
    kill -0 "$tls_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "^READY " "$tls_dir/out" || { cat "$tls_dir/out"; echo "wss server did not start"; echo "0 passed, 1 failed"; exit 1; }
tls_port=$(awk '/^READY /{print $2}' "$tls_dir/out")

echo "== java io.libws.WebSocketTaskTest ws://127.0.0.1:$port/"
status=0
timeout 300 "$JAVA_HOME/bin/java" -Xcheck:jni -Dfile.encoding=UTF-8 \
    -Djava.library.path="$root/$out" -Dio.libws.test.library="$root/$out/libws_jni_test.so" \
    -Dio.libws.test.wss="wss://127.0.0.1:$tls_port/echo" -Dio.libws.test.ca="$tls_dir/ca.pem" -cp "$out/classes" \
    io.libws.WebSocketTaskTest "ws://127.0.0.1:$port/" 2>&1 | tee "$test_log" || status=$?

counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$test_log" | tail -1 || true)
passed=${counts%% passed*}
failed=$(echo "$counts" | awk '{print $3}')
if [ -z "$counts" ]; then
    echo "the test did not finish (exit status $status)"
    passed=0
    failed=1
fi
# -Xcheck:jni reports misuse (an exception left pending, a bad reference...) as warnings or a fatal error.
if grep -qE 'WARNING in native method|FATAL ERROR in native method|^WARNING: JNI|JNI (ERROR|WARNING)' "$test_log"; then
    echo "FAIL -Xcheck:jni reported a JNI misuse (see above)"
    failed=$((failed + 1))
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
