#!/usr/bin/env bash
# Builds jniLibs/<abi>/libws.so for an Android app with cargo-ndk. Needs the Android NDK
# (ANDROID_NDK_HOME) and `cargo install cargo-ndk`; the API level defaults to 21.
#   scripts/android/build.sh [output-dir]     (default: build/jniLibs)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/jniLibs}
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
command -v cargo-ndk >/dev/null || { echo "install cargo-ndk: cargo install cargo-ndk" >&2; exit 1; }
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
cargo ndk --platform "${ANDROID_API:-21}" -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$out" build --release
find "$out" -name 'libws.so'
