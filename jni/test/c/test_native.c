/*
 * Test-only JNI helper (build/jni/libws_jni_test.so; never shipped): reads what the Java test
 * cannot see from Java about the socket a SocketHook was given.
 */
#include <jni.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* {TCP_NODELAY as getsockopt reports it, the peer's port} of the fd inside a java.io.FileDescriptor
 * (desktop JDK: its int field "fd"); {-1, -1} when the fd is not a connected TCP socket. */
JNIEXPORT jintArray JNICALL Java_io_libws_TestNative_socketInfo(JNIEnv *env, jclass cls, jobject fd_object) {
    (void)cls;
    jint out[2] = {-1, -1};
    jclass fd_class = (*env)->GetObjectClass(env, fd_object);
    jfieldID field = (*env)->GetFieldID(env, fd_class, "fd", "I");
    (*env)->DeleteLocalRef(env, fd_class);
    if (field == NULL) {
        return NULL; /* NoSuchFieldError pending: thrown in Java */
    }
    int fd = (*env)->GetIntField(env, fd_object, field);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0) {
        out[0] = nodelay != 0;
    }
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0 && peer.sin_family == AF_INET) {
        out[1] = ntohs(peer.sin_port);
    }
    jintArray a = (*env)->NewIntArray(env, 2);
    if (a != NULL) {
        (*env)->SetIntArrayRegion(env, a, 0, 2, out);
    }
    return a;
}
