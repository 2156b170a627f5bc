/* Stand-in libc header for `cargo check` of the Android targets without an NDK: only ring's
 * C sources need it, and a check build only compiles them. Real builds use the NDK (cargo-ndk). */
#define assert(x) ((void)0)
