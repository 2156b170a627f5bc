#!/usr/bin/env bash
# The real Autobahn|Testsuite against libws: installs autobahntestsuite into the machine's
# CPython 2.7 (once), starts `wstest -m fuzzingserver` on 127.0.0.1 with cases 1-10, runs the C
# driver ffi-tests/autobahn_client.c through it, and fails unless every case is OK, NON-STRICT
# or INFORMATIONAL. Prints "N passed, N failed" over the cases.
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

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s/PORT/$port/" ffi-tests/autobahn/fuzzingserver.json > "$work/spec.json"
(cd "$work" && exec "$py2" "$OLDPWD/ffi-tests/autobahn/fuzzingserver.py" spec.json) > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "FAIL: the fuzzing server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

timeout 1200 build/autobahn_client "ws://127.0.0.1:$port" libws | tail -n 3
python3 ffi-tests/autobahn/check.py "$work/reports/clients/index.json" libws
