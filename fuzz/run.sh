#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/*.rs) for a bounded time and fails on any crash:
# a failed property (panic), a hang (-timeout: one input over 10 s), or memory past a bound
# (-rss_limit_mb, and -malloc_limit_mb for a single allocation). Usage:
#
#     fuzz/run.sh [seconds]        # seconds per target, default 30; FUZZ_JOBS targets at once (nproc)
#
# FUZZ_SANITIZER (cargo-fuzz's -s) is none by default: what the targets look for (a failed
# property, a panic, integer overflow under debug assertions, a hang, memory past a bound) needs no
# sanitizer, and without AddressSanitizer the build takes about a third less and each target runs
# about five times the inputs per second (deflate: 3100/s against 600/s). Use
# FUZZ_SANITIZER=address for a long session that should also catch memory errors in unsafe code of
# dependencies (zlib-rs, httparse); -malloc_limit_mb only works with a sanitizer.
#
# Each target starts from its committed corpus fuzz/corpus/<target>/, which stays as it is: new
# inputs go to a scratch directory. A crash is saved as fuzz/artifacts/<target>/crash-*; once fixed,
# add it to fuzz/corpus/<target>/ so `cargo test` replays it (tests/fuzz_corpus.rs). Needs the
# nightly toolchain; installs cargo-fuzz (pinned) when missing. Prints each target's executions and
# "N passed, N failed" (one per target) as its last line.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
sanitizer=${FUZZ_SANITIZER:-none}
cargo_fuzz_version=0.13.2

give_up() {
    echo "fuzz: $1"
    echo "0 passed, 1 failed"
    exit 1
}

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain (cargo-fuzz needs one); installing it"
    rustup toolchain install nightly --profile minimal || give_up "rustup toolchain install nightly failed"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version"
    start=$SECONDS
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version" || give_up "cargo install cargo-fuzz failed"
    echo "fuzz: cargo-fuzz installed in $((SECONDS - start)) s"
fi
start=$SECONDS
cargo +nightly fuzz build -s "$sanitizer" || give_up "cargo fuzz build failed"
echo "fuzz: targets built in $((SECONDS - start)) s (sanitizer: $sanitizer)"
targets=$(cargo +nightly fuzz list) || give_up "cargo fuzz list failed"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Runs one target; its log and its verdict go to $scratch/<target>.{log,ok}.
run_target() {
    local t=$1
    mkdir -p "$scratch/$t.corpus"
    if cargo +nightly fuzz run -s "$sanitizer" "$t" "$scratch/$t.corpus" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        touch "$scratch/$t.ok"
    fi
}

for t in $targets; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    echo "fuzz: running $t for $seconds s"
    run_target "$t" &
done
wait

passed=0
failed=0
for t in $targets; do
    log=$scratch/$t.log
    stat() { grep -Eo "^stat::$1: *[0-9]+" "$log" | awk '{print $2}'; }
    summary="$(stat number_of_executed_units) executions ($(stat average_exec_per_sec)/s), \
$(stat new_units_added) new inputs, peak RSS $(stat peak_rss_mb) MB"
    if [ -e "$scratch/$t.ok" ]; then
        echo "ok   fuzz $t: $summary"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz $t: $summary"
        # The failed property (or libFuzzer's verdict) and where the input was saved.
        { grep -E -A3 "panicked at" "$log" | grep -v "^stack backtrace" | head -8
          grep -E "ERROR: libFuzzer|Test unit written|^Base64|^Error" "$log" | head -6; } | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
