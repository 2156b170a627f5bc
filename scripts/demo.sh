#!/usr/bin/env bash
# The main job: build libws and the demo host, then talk to the given ws:// URL, or to a loopback
# echo server (Python websockets) that this script starts and stops.
#   scripts/demo.sh [ws://host:port/path]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude demo/host.c target/release/libws.a -ldl -lm -o build/demo-host

url="${1:-}"
if [ -z "$url" ]; then
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    .venv/bin/python demo/echo_server.py "$port" &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    url="ws://127.0.0.1:$port/"
fi
build/demo-host "$url"
