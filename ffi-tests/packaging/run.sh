#!/usr/bin/env bash
# Packaging: `make install` into a temporary prefix, a C program built with pkg-config against
# the installed copy, only ws_* symbols exported, the header as strict C99 and as C++, and the
# header's hygiene (only ws_/WS_ names, a comment on every #define: check_header.py); the README's
# links stay in the repository and its 30-line C host runs (check_readme.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
check "make install" bash -c "make --quiet install PREFIX='$prefix' >/dev/null 2>&1"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
check "pkg-config knows libws" pkg-config --exists libws
check "soname is libws.so.MAJOR" bash -c "readelf -d '$prefix/lib/libws.so' | grep -q 'SONAME.*libws\.so\.[0-9]'"
# shellcheck disable=SC2046
check "consumer builds with pkg-config" cc -std=c99 -Wall -Wextra -Werror ffi-tests/packaging/consumer.c \
    $(pkg-config --cflags --libs libws) -o "$prefix/consumer"
check "consumer runs against the installed .so" env LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer"
# shellcheck disable=SC2046
check "consumer links statically" cc -std=c99 -Wall -Wextra -Werror ffi-tests/packaging/consumer.c \
    $(pkg-config --cflags libws) "$prefix/lib/libws.a" $(pkg-config --libs-only-other --static libws) \
    -lpthread -ldl -lm -o "$prefix/consumer-static"
check "static consumer runs" "$prefix/consumer-static"
so="$prefix/lib/libws.so.$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
check "installed .so is stripped (no .debug_* or .symtab)" \
    bash -c "! readelf -S '$so' | grep -qE '\.debug_|\.symtab'"
check "installed .so names its debug file" bash -c "readelf -p .gnu_debuglink '$so' | grep -q \"\$(basename '$so').debug\""
check "the debug file holds the debug info and symbols" \
    bash -c "readelf -S '$prefix/lib/.debug/$(basename "$so").debug' | grep -q '\.debug_info' &&
             nm '$prefix/lib/.debug/$(basename "$so").debug' | grep -q ' T ws_connect\$'"
exported=$(nm -D --defined-only "$prefix/lib/libws.so" | awk '{print $3}')
check "only ws_* symbols exported" test -z "$(echo "$exported" | grep -v '^ws_')"
check "ws_connect is exported" bash -c "echo '$exported' | grep -qx ws_connect"
check "header compiles as C99 -pedantic" cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only \
    -x c -I"$prefix/include" - <<<'#include <libws.h>'
check "header compiles and links as C++" g++ -std=c++11 -Wall -Wextra -Werror ffi-tests/packaging/header.cpp \
    -I"$prefix/include" "$prefix/lib/libws.a" -lpthread -ldl -lm -o "$prefix/header-cpp"
check "header declares only ws_/WS_ names" python3 ffi-tests/packaging/check_header.py names "$prefix/include/libws.h"
check "every #define in the header has its own comment" \
    python3 ffi-tests/packaging/check_header.py comments "$prefix/include/libws.h"
check "README links stay inside the repository" python3 ffi-tests/packaging/check_readme.py links

# The README's 30-line host, as printed, against the demo echo server: it gets its echo and the
# close event before ws_shutdown (shutting down first would show close 1001 and no echo).
readme_host() {
    local port log pid status
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 ffi-tests/packaging/check_readme.py host "ws://127.0.0.1:$port/" >"$prefix/readme_host.c" || return 1
    cc -Wall -Werror -I"$prefix/include" "$prefix/readme_host.c" "$prefix/lib/libws.a" -pthread -ldl -lm \
        -o "$prefix/readme_host" || return 1
    log="$prefix/echo.log"
    .venv/bin/python demo/echo_server.py "$port" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "echo server on" "$log" && break; sleep 0.1; done
    timeout 30 "$prefix/readme_host" >"$prefix/readme_host.out"
    status=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    sed 's/^/    /' "$prefix/readme_host.out"
    [ "$status" -eq 0 ] && grep -qx "connect: connectSocket:ok" "$prefix/readme_host.out" &&
        grep -qx "got hi" "$prefix/readme_host.out" && grep -qx "closed 1000 bye" "$prefix/readme_host.out"
}
check "README's C host compiles and gets its echo and close" readme_host
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
