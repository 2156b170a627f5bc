/* Stand-in for the Apple SDK's TargetConditionals.h, only for scripts/ios/check.sh's cargo check
 * without an SDK (ring's base.h includes it on Apple targets). LIBWS_CHECK_SIMULATOR is set by the
 * compiler wrapper for aarch64-apple-ios-sim. */
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 0
#define TARGET_OS_IPHONE 1
#define TARGET_OS_IOS 1
#ifdef LIBWS_CHECK_SIMULATOR
#define TARGET_OS_SIMULATOR 1
#else
#define TARGET_OS_SIMULATOR 0
#endif
