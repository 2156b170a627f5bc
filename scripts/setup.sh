#!/usr/bin/env bash
# Shared set-up for the demo and the tests: the release build and the Python venv with
# websockets. Safe to run again; does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
if ! .venv/bin/python -c 'import websockets, trustme' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'websockets>=13' trustme
fi
