#!/usr/bin/env bash
# `cargo check` of libws for iOS (device and simulator), on Linux without Xcode or an Apple SDK.
# Rust code is checked for real; ring's C (rustls' crypto) is compiled by clang for the Apple
# target against freestanding stand-in headers (scripts/android/check-include, plus a
# TargetConditionals.h here), with SDKROOT pointing at an empty directory so cc-rs does not ask
# xcrun. Enough for a check, not for shipping: ios/build-xcframework.sh builds the real thing on
# macOS. A target whose standard library rustup cannot download here is reported as SKIP.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$(pwd)/scripts/ios
passed=0
failed=0
sdk=$(mktemp -d)
trap 'rm -rf "$sdk"' EXIT
# rust target : clang target and extra flags
for spec in "aarch64-apple-ios:arm64-apple-ios14.0" \
            "aarch64-apple-ios-sim:arm64-apple-ios14.0-simulator -DLIBWS_CHECK_SIMULATOR"; do
    target=${spec%%:*}
    clang_target=${spec#*:}
    if ! rustup target list --installed | grep -qx "$target" && ! rustup target add "$target" >/dev/null 2>&1; then
        # Not a pass and not a libws failure: this machine cannot get the target's standard library.
        echo "SKIP cargo check --target $target: rustup could not install its standard library"
        continue
    fi
    wrapper=$(mktemp)
    printf '#!/bin/sh\nexec clang --target=%s -ffreestanding -nostdlibinc -isystem %s -isystem %s "$@"\n' \
        "$clang_target" "$here/../android/check-include" "$here/check-include" > "$wrapper"
    chmod +x "$wrapper"
    var=${target//-/_}
    if env SDKROOT="$sdk" "CC_$var=$wrapper" "AR_$var=llvm-ar" cargo check --quiet --release --target "$target"; then
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
