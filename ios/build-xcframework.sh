#!/usr/bin/env bash
# Builds libws.xcframework (device + simulator static libraries with the header and a
# module.modulemap, so Swift can `import libws`). Runs only on macOS with Xcode installed.
#   ios/build-xcframework.sh [output-dir]      (default: build/ios)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname)" != Darwin ]; then
    echo "ios/build-xcframework.sh needs macOS with Xcode (xcodebuild); this is $(uname)" >&2
    exit 1
fi
out=${1:-build/ios}
rustup target add aarch64-apple-ios aarch64-apple-ios-sim
cargo build --release --target aarch64-apple-ios
cargo build --release --target aarch64-apple-ios-sim
rm -rf "$out" && mkdir -p "$out/headers"
cp include/libws.h ios/module.modulemap "$out/headers/"
xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release/libws.a -headers "$out/headers" \
    -library target/aarch64-apple-ios-sim/release/libws.a -headers "$out/headers" \
    -output "$out/libws.xcframework"
echo "$out/libws.xcframework"
