#!/usr/bin/env bash
# `cargo check` of libws for the Android ABIs, on a machine without the NDK. Rust code is checked
# for real; the C parts of the ring crate (rustls' crypto) are compiled by clang against the
# freestanding stand-in headers in check-include/, which is enough for a check, not for shipping:
# scripts/android/build.sh makes the real jniLibs with the NDK.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$(pwd)/scripts/android
passed=0
failed=0
# rust target : clang target and the flags the NDK's clang would use
for spec in "aarch64-linux-android:aarch64-linux-android21" \
            "armv7-linux-androideabi:armv7a-linux-androideabi21 -march=armv7-a -mthumb -mfloat-abi=softfp -mfpu=neon" \
            "x86_64-linux-android:x86_64-linux-android21"; do
    target=${spec%%:*}
    clang_target=${spec#*:}
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null
    wrapper=$(mktemp)
    printf '#!/bin/sh\nexec clang --target=%s -ffreestanding -nostdlibinc -isystem %s "$@"\n' \
        "$clang_target" "$here/check-include" > "$wrapper"
    chmod +x "$wrapper"
    var=${target//-/_}
    if env "CC_$var=$wrapper" "AR_$var=llvm-ar" cargo check --quiet --release --target "$target"; then
        echo "ok   cargo check --target $target"
        passed=$((passed + 1))
    else
        echo "FAIL cargo check --target $target"
        failed=$((failed + 1))
    fi
    rm -f "$wrapper"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
