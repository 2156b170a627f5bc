package io.libws;

import java.io.FileDescriptor;

/** Test-only natives (jni/test/c/test_native.c, loaded from -Dio.libws.test.library). */
final class TestNative {
    static {
        System.load(System.getProperty("io.libws.test.library"));
    }

    private TestNative() {}

    /** {TCP_NODELAY (0 or 1), the peer's port} of a connected IPv4 TCP socket; -1 for what cannot be read. */
    static native int[] socketInfo(FileDescriptor fd);
}
