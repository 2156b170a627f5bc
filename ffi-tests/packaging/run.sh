#!/usr/bin/env bash
# Packaging: `make install` into a temporary prefix, a C program built with pkg-config against
# the installed copy, only ws_* symbols exported, the header as strict C99 and as C++, and the
# header's hygiene (only ws_/WS_ names, a comment on every #define: check_header.py).
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
