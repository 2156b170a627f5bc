#!/usr/bin/env bash
# The C suite on ARM64 (every phone's CPU), for real: cross-compiles libws
# (aarch64-unknown-linux-gnu, ring's C by Debian's aarch64-linux-gnu-gcc) and the ffi-tests/
# programs, then runs each under qemu-aarch64 (user mode, libraries from /usr/aarch64-linux-gnu)
# against the same loopback servers as ffi-tests/run.sh. Needs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user (.ci/run installs them).
#
#   scripts/arm64/run.sh [test_name ...]     default: every ffi-tests/test_*.c (about a minute)
#
# Ends with ffi-tests/run.sh's "N passed, N failed" (N = test programs).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[ -f "$sysroot/lib/ld-linux-aarch64.so.1" ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing Debian packages: ${missing[*]} (apt-get install them; .ci/run does)"
    echo "0 passed, 1 failed"
    exit 1
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null

export LIBWS_TARGET=$target
export CC=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export QEMU_LD_PREFIX=$sysroot
export TEST_RUNNER=qemu-aarch64
export TEST_TIMEOUT=300 # qemu is several times slower than the host

# A smoke program first: proves the toolchain makes an AArch64 ELF that qemu runs, so a broken
# setup fails here with a clear message instead of as N failed programs.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <stdio.h>\n#include "libws.h"\nint main(void) { printf("libws %%s\\n", ws_version()); return 0; }\n' >"$probe_dir/probe.c"
echo "== cargo build --release --target $target"
cargo build --release --quiet --target "$target"
"$CC" -Iinclude "$probe_dir/probe.c" "target/$target/release/libws.a" -lpthread -ldl -lm -o "$probe_dir/probe"
machine=$(od -An -tx1 -j18 -N2 "$probe_dir/probe" | tr -d ' ')
if [ "$machine" != "b700" ]; then
    echo "the cross compiler did not make an AArch64 binary (ELF e_machine $machine)"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "== $(qemu-aarch64 "$probe_dir/probe") under $(qemu-aarch64 --version | head -1)"

exec ffi-tests/run.sh "$@"
