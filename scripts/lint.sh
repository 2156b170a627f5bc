#!/usr/bin/env bash
# The first stage of the test command: the crate is formatted (rustfmt.toml) and clippy has
# nothing to say about it (warnings are errors), and the separate bench/ and fuzz/ workspaces are
# formatted too. Fix with `cargo fmt` (in the root, bench/ and fuzz/) and the clippy output.
# Needs the rustfmt and clippy components (.ci/run adds them). Prints "N passed, N failed", one
# per check.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0

check() {
    local what=$1
    shift
    echo "== $what"
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "FAIL $what"
        failed=$((failed + 1))
    fi
}

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "lint: the $component component is missing: rustup component add clippy rustfmt"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

check "cargo fmt --check" cargo fmt --check
check "cargo fmt --check (bench/)" cargo fmt --check --manifest-path bench/Cargo.toml
check "cargo fmt --check (fuzz/)" cargo fmt --check --manifest-path fuzz/Cargo.toml
check "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets --quiet -- -D warnings

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
