#!/usr/bin/env bash
# The libws benchmark, one command:
#   bench/run.sh            full run (7 repetitions, 14 for latency; ~15 minutes, 17 with the JVM rows): writes
#                           bench/results.md
#   bench/run.sh --quick    a few seconds, tiny counts: writes bench/target/results-quick.md;
#                           exits non-zero if any contender fails or any number is missing/zero
# Then the JVM rows (bench/jvm/run.sh: libws through jni/ against OkHttp 3.13, installing
# libokhttp-java and libokio-java through apt-get when missing), appended to the same file.
# Extra arguments go to the runner: --reps N, --only TEXT (cases whose name contains TEXT),
# --who NAMES (contenders whose name contains one of the comma-separated words), --pin same|none
# (default same: client and server share one core, see BENCHMARKS.md),
# --out FILE.
#
# Installs what it needs (libwebsockets-dev and pkg-config through apt-get when missing; the ws
# package into bench/node with npm ci when node is present), builds
# libws (cargo build --release at the repo root), the bench crate (bench/, its own workspace) and
# the C drivers, then runs bench/target/release/runner. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
for a in "$@"; do [ "$a" = "--quick" ] && quick=1; done

if ! pkg-config --exists libwebsockets 2>/dev/null; then
    echo "bench: installing libwebsockets-dev and pkg-config" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libwebsockets-dev pkg-config >&2
fi
command -v cc >/dev/null || { echo "bench: a C compiler (cc) is required" >&2; exit 1; }
# The compression rows' Node ws echo server and client (bench/node, ws pinned by its
# package-lock.json, the same ws as ffi-tests/node). Without node the runner leaves those rows out
# and says so; with node, a failed install is a failure.
if command -v node >/dev/null 2>&1 && [ ! -f bench/node/node_modules/ws/package.json ]; then
    command -v npm >/dev/null || { echo "bench: node is here but npm is not: cannot install bench/node" >&2; exit 1; }
    echo "bench: installing bench/node (npm ci)" >&2
    (cd bench/node && npm ci --no-audit --no-fund --silent) >&2
fi

echo "bench: building libws, the bench crate and the C drivers" >&2
cargo build --release --quiet >&2
(cd bench && cargo build --release --locked --quiet) >&2
mkdir -p bench/target/c
cc -O2 -Wall -Iinclude bench/c/libws_driver.c target/release/libws.a -pthread -ldl -lm \
    -o bench/target/c/libws_driver
# shellcheck disable=SC2046
cc -O2 -Wall bench/c/lws_driver.c $(pkg-config --cflags --libs libwebsockets) -pthread \
    -o bench/target/c/lws_driver

out="$root/bench/results.md"
[ "$quick" -eq 1 ] && out="$root/bench/target/results-quick.md"
# A later --out on the command line wins (for the JVM table too); --only/--who that name no JVM
# row leave the JVM rows out.
jvm=1
jvm_args=()
[ "$quick" -eq 1 ] && jvm_args+=(--quick)
prev=""
for a in "$@"; do
    case "$prev" in
        --out) out=$a ;;
        --only | --who) case "$a" in *jvm* | *okhttp* | *OkHttp*) ;; *) jvm=0 ;; esac ;;
    esac
    prev=$a
done
status=0
runner_log=$(mktemp)
trap 'rm -f "$runner_log"' EXIT
bench/target/release/runner --out "$out" "$@" | tee "$runner_log" || status=1
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The JVM rows (bench/jvm): libws through jni/ against OkHttp, appended to the same results file;
# they count as one more case in the closing "N passed, N failed" line (quick mode).
jvm_passed=0
jvm_failed=0
if [ "$jvm" -eq 1 ]; then
    echo
    if bench/jvm/run.sh ${jvm_args[@]+"${jvm_args[@]}"} --out "$out"; then
        jvm_passed=1
    else
        jvm_failed=1
        status=1
    fi
fi
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$runner_log" | tail -1 || true)
if [ -n "$counts" ] && [ "$jvm" -eq 1 ]; then
    echo "$((${counts%% *} + jvm_passed)) passed, $(($(echo "$counts" | awk '{print $3}') + jvm_failed)) failed"
fi
exit "$status"
