#!/usr/bin/env bash
# The real Autobahn|Testsuite against libws: installs autobahntestsuite into the machine's
# CPython 2.7 (once), starts `wstest -m fuzzingserver` (one per core) on 127.0.0.1 with cases
# 1-10, 12 and 13 (ffi-tests/autobahn/fuzzingserver.json: of 12 and 13 those with messages up to
# 32 KiB), runs the C driver ffi-tests/autobahn_client.c through them (offering permessage-deflate
# on every connection), and fails unless every case is OK, or NON-STRICT or INFORMATIONAL with its
# reason written in docs/CONFORMANCE.md. Prints "N passed, N failed" over the cases.
#
#   AUTOBAHN_FULL=1               also the 12.*/13.* cases with 64 KiB and 128 KiB messages that
#                                 the spec's "exclude-cases" leave out by default (about 5 times
#                                 longer: see docs/CONFORMANCE.md)
#   AUTOBAHN_CASES='["13.3.*"]'  run only these cases (the spec's "cases" list, nothing excluded)
#   AUTOBAHN_REPORTS=DIR          keep the server's reports (index.json, one JSON and HTML file
#                                 per case with the wirelog) in DIR
set -euo pipefail
cd "$(dirname "$0")/../.."

py2="${PYTHON2:-$HOME/.pyenv/versions/2.7.18/bin/python}"
if [ ! -x "$py2" ]; then
    echo "FAIL: Autobahn|Testsuite needs CPython 2.7 at $py2 (set PYTHON2 to another path)" >&2
    exit 1
fi
wstest="$(dirname "$py2")/wstest"
if [ ! -x "$wstest" ]; then
    "$py2" -m pip install --quiet --disable-pip-version-check autobahntestsuite
fi

mkdir -p build
cc -std=c11 -Wall -Wextra -Werror -O2 -pthread -Iinclude ffi-tests/autobahn_client.c \
    target/release/libws.a -ldl -lm -o build/autobahn_client

# One fuzzing server per core (AUTOBAHN_SERVERS to choose): the single-threaded Python server's
# CPU bounds cases 12 and 13, so the driver shares the cases out over them.
servers="${AUTOBAHN_SERVERS:-$(nproc)}"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
urls=()
for k in $(seq "$servers"); do
    dir="$work/server-$k"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    sed "s/PORT/$port/" ffi-tests/autobahn/fuzzingserver.json > "$dir/spec.json"
    python3 - "$dir/spec.json" "${AUTOBAHN_CASES:-}" "${AUTOBAHN_FULL:-}" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
if sys.argv[2]:
    spec["cases"] = json.loads(sys.argv[2])
if sys.argv[2] or sys.argv[3]:
    spec["exclude-cases"] = []
json.dump(spec, open(sys.argv[1], "w"))
PY
    (cd "$dir" && exec "$py2" "$OLDPWD/ffi-tests/autobahn/fuzzingserver.py" spec.json) > "$dir/server.log" 2>&1 &
    pids+=($!)
    urls+=("ws://127.0.0.1:$port")
done
for k in $(seq "$servers"); do
    port=${urls[k-1]##*:}
    for _ in $(seq 150); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.2
    done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "FAIL: the fuzzing server did not start:" >&2
        cat "$work/server-$k/server.log" >&2
        exit 1
    fi
done

start=$SECONDS
client=0
timeout 1200 build/autobahn_client libws "${urls[@]}" > "$work/client.log" || client=$?
head -n 1 "$work/client.log"
echo "autobahn: the cases took $((SECONDS - start)) s on $servers fuzzing server(s)"
if [ -n "${AUTOBAHN_REPORTS:-}" ]; then
    mkdir -p "$AUTOBAHN_REPORTS"
    cp "$work/client.log" "$AUTOBAHN_REPORTS/"
    for k in $(seq "$servers"); do
        mkdir -p "$AUTOBAHN_REPORTS/server-$k"
        cp -r "$work/server-$k/reports/clients/." "$AUTOBAHN_REPORTS/server-$k/" 2>/dev/null || true
    done
fi
checked=0
count=$(sed -n '1s/ cases.*//p' "$work/client.log")
python3 ffi-tests/autobahn/check.py --doc docs/CONFORMANCE.md --cases "${count:-0}" libws \
    "$work"/server-*/reports/clients/index.json || checked=$?
if [ "$client" != 0 ]; then
    echo "FAIL: the driver exited with $client (a case without its close event, or no reports):" >&2
    grep -v '^case .*close [0-9]* clean' "$work/client.log" >&2 || true
    exit 1
fi
exit "$checked"
