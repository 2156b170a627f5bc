#!/usr/bin/env bash
# The JVM rows: libws through its Java binding (jni/) against OkHttp's WebSocket (Debian's
# libokhttp-java 3.13 with libokio-java), same echo server, same run (see BENCHMARKS.md, "JVM:
# libws vs OkHttp"). bench/run.sh calls it after the runner; it runs on its own too:
#
#   bench/jvm/run.sh [--quick] [--reps N] [--out FILE] [--url ws://127.0.0.1:PORT/]
#
# Installs libokhttp-java and libokio-java through apt-get when missing, builds libws and the JNI
# shim (as jni/run.sh does) into bench/target/jvm/, compiles jni/java and bench/jvm/src with the
# JDK's javac, starts bench/target/release/echo-server unless --url names a server, and prints the
# markdown table (appended to FILE with --out). Exits non-zero when a measurement fails or a
# number is missing. Listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

args=()
out=""
url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --url) url=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

jars=(/usr/share/java/okhttp.jar /usr/share/java/okio.jar)
if [ ! -f "${jars[0]}" ] || [ ! -f "${jars[1]}" ]; then
    echo "bench/jvm: installing libokhttp-java and libokio-java" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libokhttp-java libokio-java >&2
fi
if [ -z "${JAVA_HOME:-}" ] || [ ! -f "$JAVA_HOME/include/jni.h" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
[ -f "$JAVA_HOME/include/jni.h" ] || { echo "bench/jvm: no JDK with jni.h (javac, JDK 17)" >&2; exit 1; }

build=bench/target/jvm
mkdir -p "$build"
echo "bench/jvm: building libws, the JNI shim and the Java sources" >&2
cargo build --release --quiet >&2
cc -shared -fPIC -O2 -Wall -Wextra -Werror -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -Iinclude \
    jni/c/libws_jni.c target/release/libws.a -pthread -ldl -lm -o "$build/libws_jni.so"
rm -rf "$build/classes"
classpath="$(IFS=:; echo "${jars[*]}")"
"$JAVA_HOME/bin/javac" -Xlint:all,-options -Werror -encoding UTF-8 -cp "$classpath" -d "$build/classes" \
    jni/java/io/libws/*.java bench/jvm/src/jvmbench/*.java

server_pid=""
server_out=$(mktemp)
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f "$server_out"
}
trap cleanup EXIT
# 1,000 idle connections on each side of loopback.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ -z "$url" ]; then
    [ -x bench/target/release/echo-server ] || (cd bench && cargo build --release --locked --quiet --bin echo-server) >&2
    bench/target/release/echo-server --ca-out "$build/ca.pem" --max-secs 3600 >"$server_out" &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q '^PORTS ' "$server_out" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    port=$(sed -n 's/^PORTS ws=\([0-9]*\).*/\1/p' "$server_out")
    [ -n "$port" ] || { echo "bench/jvm: the echo server did not start" >&2; exit 1; }
    url="ws://127.0.0.1:$port/"
fi

table=$(mktemp)
status=0
"$JAVA_HOME/bin/java" -Djava.library.path="$root/$build" -cp "$build/classes:$classpath" \
    jvmbench.JvmBench ${args[@]+"${args[@]}"} "$url" >"$table" || status=$?
cat "$table"
if [ -n "$out" ]; then
    { echo; cat "$table"; } >>"$out"
fi
rm -f "$table"
exit "$status"
