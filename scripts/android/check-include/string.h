/* Stand-in libc header for `cargo check` of the Android targets without an NDK: only ring's
 * C sources need it, and a check build only compiles them. Real builds use the NDK (cargo-ndk). */
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
