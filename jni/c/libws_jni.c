/*
 * libws_jni: the JNI shim under io.libws.WebSocketTask. Thin on purpose: Java does argument
 * checks, UTF-8 encoding/decoding and exception handling for listeners; this file only moves
 * bytes between the JVM and libws and keeps JNI's rules.
 *
 * The rules it keeps:
 * - libws calls back on its own thread. The first callback on a thread the JVM does not know
 *   attaches it as a daemon thread (named after the thread, "libws") and caches the JNIEnv in a
 *   thread-local; a pthread key destructor detaches it when the thread ends (after ws_shutdown
 *   joins it), so a later runtime's new thread attaches afresh. (libws never runs a result
 *   callback inside the call; a Java thread that meets one anyway uses its own JNIEnv.)
 * - Each callback runs inside PushLocalFrame/PopLocalFrame: an attached native thread never returns
 *   to Java, so its local references would otherwise pile up forever.
 * - Everything libws hands a callback is copied into new Java arrays during the callback; Java
 *   decodes text as real UTF-8 (new String(bytes, UTF_8)), never JNI's modified UTF-8, so non-BMP
 *   characters and embedded NULs in messages survive.
 * - Listener: a global reference to the Java WebSocketTask is the event user_data. The close event
 *   is the last event of a task and comes exactly once, so it is deleted right after the close
 *   event is delivered. If ws_connect refuses the call, no event ever comes and it is deleted at
 *   once.
 * - Result callbacks: a global reference to the Java ResultCallback is the result user_data;
 *   libws calls each result callback exactly once (also for refused calls), so it is deleted
 *   after that call; only a call refused with WS_ERR_RUNTIME (no libws thread) gets no callback,
 *   and then it is deleted at once. No Java callback: NULL is passed, nothing is allocated.
 * - No Java exception survives a callback (checked after every JNI call that can throw; described
 *   and cleared), and no native method calls libws with one pending.
 * - Everything passed to libws (URL, headers, protocols, message bytes, reason) is copied by libws
 *   before the call returns, so the shim frees/releases it right after the call.
 */
#include <jni.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "libws.h"

static JavaVM *g_vm;
static jclass g_task_class; /* global ref to io.libws.WebSocketTask */
static jmethodID g_on_open;    /* void onOpenEvent(long, byte[], byte[]) */
static jmethodID g_on_message; /* void onMessageEvent(long, byte[], boolean) */
static jmethodID g_on_error;   /* void onErrorEvent(long, int, byte[]) */
static jmethodID g_on_close;   /* void onCloseEvent(long, int, byte[], boolean) */
static jmethodID g_on_result;  /* static void onResultEvent(ResultCallback, long, int, byte[]) */
static pthread_key_t g_detach_key;

/* The JNIEnv of a thread this shim attached (libws's), NULL on every other thread. */
static __thread JNIEnv *tls_env;
/* > 0 while this thread runs a libws callback. */
static __thread int tls_callback_depth;

/* pthread key destructor: the attached thread is ending; detach it from the JVM. */
static void detach_thread(void *value) {
    (void)value;
    tls_env = NULL;
    if (g_vm != NULL) {
        (*g_vm)->DetachCurrentThread(g_vm);
    }
}

/* The JNIEnv for a callback, attaching this thread as a daemon the first time. NULL if the thread
 * cannot be attached (then the callback cannot reach Java). */
static JNIEnv *callback_env(void) {
    if (tls_env != NULL) {
        return tls_env;
    }
    JNIEnv *env = NULL;
    jint rc = (*g_vm)->GetEnv(g_vm, (void **)&env, JNI_VERSION_1_6);
    if (rc == JNI_OK) {
        return env; /* a Java thread (an inline result callback): its own env, never detached by us */
    }
    if (rc != JNI_EDETACHED) {
        return NULL;
    }
    char name[17] = "libws"; /* the thread's own name (libws names its thread "libws") */
    if (prctl(PR_GET_NAME, (unsigned long)name, 0, 0, 0) != 0 || name[0] == '\0') {
        strcpy(name, "libws");
    }
    name[16] = '\0';
    JavaVMAttachArgs args = {JNI_VERSION_1_6, name, NULL};
    if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&env, &args) != JNI_OK) {
        return NULL;
    }
    /* A non-NULL value makes the destructor run when the thread exits. */
    pthread_setspecific(g_detach_key, env);
    tls_env = env;
    return env;
}

/* Describes (prints) and clears a pending exception; returns 1 if there was one. */
static int clear_exception(JNIEnv *env) {
    if ((*env)->ExceptionCheck(env)) {
        (*env)->ExceptionDescribe(env);
        (*env)->ExceptionClear(env);
        return 1;
    }
    return 0;
}

/* A new byte[] holding a copy of len bytes at data (data may be NULL when len is 0). NULL with
 * no exception pending if the JVM could not allocate it. */
static jbyteArray new_bytes(JNIEnv *env, const void *data, size_t len) {
    if (len > (size_t)INT32_MAX) {
        return NULL;
    }
    jbyteArray a = (*env)->NewByteArray(env, (jsize)len);
    if (a == NULL) {
        clear_exception(env);
        return NULL;
    }
    if (len > 0) {
        (*env)->SetByteArrayRegion(env, a, 0, (jsize)len, (const jbyte *)data);
    }
    return a;
}

static jbyteArray new_cstring_bytes(JNIEnv *env, const char *s) {
    return new_bytes(env, s, s == NULL ? 0 : strlen(s));
}

/* "name\0value\0name\0value\0..." for the open event's headers; Java splits it. */
static jbyteArray header_block(JNIEnv *env, const ws_header *headers, size_t count) {
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        total += strlen(headers[i].name) + 1 + strlen(headers[i].value) + 1;
    }
    char *buf = malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        return NULL;
    }
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(headers[i].name) + 1, v = strlen(headers[i].value) + 1;
        memcpy(buf + at, headers[i].name, n);
        at += n;
        memcpy(buf + at, headers[i].value, v);
        at += v;
    }
    jbyteArray a = new_bytes(env, buf, total);
    free(buf);
    return a;
}

/* ws_event_cb: user_data is a global ref to the Java WebSocketTask. */
static void on_event(const ws_event *e, void *user_data) {
    jobject task = (jobject)user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return; /* cannot reach Java (and so cannot delete the ref either) */
    }
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 8) == 0) {
        jlong id = (jlong)e->task_id;
        switch (e->kind) {
        case WS_EVENT_OPEN: {
            jbyteArray protocol = new_cstring_bytes(env, e->open.protocol);
            jbyteArray headers = header_block(env, e->open.headers, e->open.header_count);
            (*env)->CallVoidMethod(env, task, g_on_open, id, protocol, headers);
            break;
        }
        case WS_EVENT_MESSAGE: {
            jbyteArray data = new_bytes(env, e->message.data, e->message.len);
            if (data != NULL) {
                (*env)->CallVoidMethod(env, task, g_on_message, id, data, (jboolean)(e->message.kind == WS_TEXT));
            }
            break;
        }
        case WS_EVENT_ERROR: {
            jbyteArray msg = new_cstring_bytes(env, e->error.err_msg);
            (*env)->CallVoidMethod(env, task, g_on_error, id, (jint)e->error.code, msg);
            break;
        }
        case WS_EVENT_CLOSE: {
            /* The reason is NUL-terminated; libws replaces NULs inside it, so strlen is its length. */
            jbyteArray reason = new_cstring_bytes(env, e->close.reason);
            (*env)->CallVoidMethod(env, task, g_on_close, id, (jint)e->close.code, reason,
                                   (jboolean)e->close.was_clean);
            break;
        }
        default:
            break;
        }
        clear_exception(env);
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
    }
    if (e->kind == WS_EVENT_CLOSE) {
        (*env)->DeleteGlobalRef(env, task); /* the last event of the task: exactly once */
    }
    tls_callback_depth--;
}

/* ws_result_cb: user_data is a global ref to the Java ResultCallback; called exactly once. */
static void on_result(const ws_result *r, void *user_data) {
    jobject cb = (jobject)user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return;
    }
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 4) == 0) {
        jbyteArray msg = new_cstring_bytes(env, r->err_msg);
        (*env)->CallStaticVoidMethod(env, g_task_class, g_on_result, cb, (jlong)r->task_id, (jint)r->code, msg);
        clear_exception(env);
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
    }
    (*env)->DeleteGlobalRef(env, cb);
    tls_callback_depth--;
}

/* ---- native methods (called on Java threads, or on the libws thread from a listener) ---------- */

static void throw_oom(JNIEnv *env, const char *what) {
    if (!(*env)->ExceptionCheck(env)) {
        jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
        if (oom != NULL) {
            (*env)->ThrowNew(env, oom, what);
        }
    }
}

/* A malloc'd NUL-terminated copy of a Java byte[] (Java already ends it with a NUL). NULL with an
 * exception pending on failure. */
static char *copy_cstring(JNIEnv *env, jbyteArray a) {
    jsize len = (*env)->GetArrayLength(env, a);
    char *s = malloc((size_t)len + 1);
    if (s == NULL) {
        throw_oom(env, "libws_jni: out of memory");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, a, 0, len, (jbyte *)s);
    if ((*env)->ExceptionCheck(env)) {
        free(s);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

/* Copies a Java byte[][] of C strings into a malloc'd array of strings; count in *n. */
static char **copy_cstrings(JNIEnv *env, jobjectArray arr, size_t *n) {
    jsize len = arr == NULL ? 0 : (*env)->GetArrayLength(env, arr);
    *n = 0;
    char **out = calloc((size_t)len + 1, sizeof *out);
    if (out == NULL) {
        throw_oom(env, "libws_jni: out of memory");
        return NULL;
    }
    for (jsize i = 0; i < len; i++) {
        jbyteArray item = (jbyteArray)(*env)->GetObjectArrayElement(env, arr, i);
        if (item == NULL) {
            break; /* exception pending, or a null element (Java never passes one) */
        }
        out[i] = copy_cstring(env, item);
        (*env)->DeleteLocalRef(env, item);
        if (out[i] == NULL) {
            break;
        }
        *n = (size_t)i + 1;
    }
    if (*n != (size_t)len && !(*env)->ExceptionCheck(env)) {
        throw_oom(env, "libws_jni: could not copy strings");
    }
    return out;
}

static void free_cstrings(char **s, size_t n) {
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(s[i]);
    }
    free(s);
}

/* A global ref for a result callback, or NULL for none. Sets *failed on OOM (exception pending). */
static jobject result_ref(JNIEnv *env, jobject cb, int *failed) {
    *failed = 0;
    if (cb == NULL) {
        return NULL;
    }
    jobject ref = (*env)->NewGlobalRef(env, cb);
    if (ref == NULL) {
        throw_oom(env, "libws_jni: NewGlobalRef failed");
        *failed = 1;
    }
    return ref;
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeConnect(JNIEnv *env, jclass cls, jobject task, jbyteArray url,
                                                                  jobjectArray headers, jobjectArray protocols,
                                                                  jobject on_result_cb) {
    (void)cls;
    jlong id = WS_ERR_INVALID_ARGUMENT;
    char *c_url = NULL;
    char **c_headers = NULL, **c_protocols = NULL;
    size_t n_headers = 0, n_protocols = 0;
    ws_header *hs = NULL;
    jobject task_ref = NULL, result_cb = NULL;
    int failed;

    c_url = copy_cstring(env, url);
    if (c_url == NULL) goto out;
    c_headers = copy_cstrings(env, headers, &n_headers);
    if (c_headers == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_protocols = copy_cstrings(env, protocols, &n_protocols);
    if (c_protocols == NULL || (*env)->ExceptionCheck(env)) goto out;
    hs = calloc(n_headers / 2 + 1, sizeof *hs);
    if (hs == NULL) {
        throw_oom(env, "libws_jni: out of memory");
        goto out;
    }
    for (size_t i = 0; i + 1 < n_headers; i += 2) {
        hs[i / 2].name = c_headers[i];
        hs[i / 2].value = c_headers[i + 1];
    }
    task_ref = (*env)->NewGlobalRef(env, task);
    if (task_ref == NULL) {
        throw_oom(env, "libws_jni: NewGlobalRef failed");
        goto out;
    }
    result_cb = result_ref(env, on_result_cb, &failed);
    if (failed) {
        (*env)->DeleteGlobalRef(env, task_ref);
        goto out;
    }

    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = c_url;
    o.headers = hs;
    o.header_count = n_headers / 2;
    o.protocols = (const char *const *)c_protocols;
    o.protocol_count = n_protocols;
    o.on_event = on_event;
    o.event_user_data = task_ref;
    o.on_result = result_cb != NULL ? on_result : NULL;
    o.result_user_data = result_cb;
    id = ws_connect(&o); /* copies everything; on_result (and so result_cb) is called exactly once */
    if (id <= 0) {
        (*env)->DeleteGlobalRef(env, task_ref); /* refused: no event will ever come */
    }
    if (id == WS_ERR_RUNTIME && result_cb != NULL) {
        (*env)->DeleteGlobalRef(env, result_cb); /* no libws thread: no result callback either */
    }
out:
    free(hs);
    free_cstrings(c_protocols, n_protocols);
    free_cstrings(c_headers, n_headers);
    free(c_url);
    return id;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeSend(JNIEnv *env, jclass cls, jlong task_id, jbyteArray data,
                                                              jboolean text, jobject on_result_cb) {
    (void)cls;
    int failed;
    jsize len = (*env)->GetArrayLength(env, data);
    jbyte *bytes = NULL;
    if (len > 0) {
        bytes = (*env)->GetByteArrayElements(env, data, NULL);
        if (bytes == NULL) {
            throw_oom(env, "libws_jni: GetByteArrayElements failed");
            return WS_ERR_INVALID_ARGUMENT;
        }
    }
    jobject cb = result_ref(env, on_result_cb, &failed);
    jint rc = WS_ERR_INVALID_ARGUMENT;
    if (!failed) {
        /* Not a critical region: libws's thread may call into Java while this call runs. */
        rc = ws_send((int64_t)task_id, (const uint8_t *)bytes, (size_t)len, text ? WS_TEXT : WS_BINARY,
                     cb != NULL ? on_result : NULL, cb);
        if (rc == WS_ERR_RUNTIME && cb != NULL) {
            (*env)->DeleteGlobalRef(env, cb); /* no libws thread: no callback */
        }
    }
    if (bytes != NULL) {
        (*env)->ReleaseByteArrayElements(env, data, bytes, JNI_ABORT); /* libws copied them */
    }
    return rc;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeClose(JNIEnv *env, jclass cls, jlong task_id, jint code,
                                                               jbyteArray reason, jobject on_result_cb) {
    (void)cls;
    int failed;
    char *c_reason = NULL;
    if (reason != NULL && (c_reason = copy_cstring(env, reason)) == NULL) {
        return WS_ERR_INVALID_ARGUMENT;
    }
    jobject cb = result_ref(env, on_result_cb, &failed);
    jint rc = WS_ERR_INVALID_ARGUMENT;
    if (!failed) {
        rc = ws_close((int64_t)task_id, (int32_t)code, c_reason, cb != NULL ? on_result : NULL, cb);
        if (rc == WS_ERR_RUNTIME && cb != NULL) {
            (*env)->DeleteGlobalRef(env, cb); /* no libws thread: no callback */
        }
    }
    free(c_reason);
    return rc;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeReadyState(JNIEnv *env, jclass cls, jlong task_id) {
    (void)env;
    (void)cls;
    return ws_ready_state((int64_t)task_id);
}

JNIEXPORT jstring JNICALL Java_io_libws_WebSocketTask_nativeStrerror(JNIEnv *env, jclass cls, jint code) {
    (void)cls;
    return (*env)->NewStringUTF(env, ws_strerror(code)); /* static ASCII */
}

JNIEXPORT jstring JNICALL Java_io_libws_WebSocketTask_nativeVersion(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, ws_version()); /* static ASCII */
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeShutdown(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return ws_shutdown();
}

JNIEXPORT jboolean JNICALL Java_io_libws_WebSocketTask_nativeOnCallbackThread(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jboolean)(tls_env != NULL || tls_callback_depth > 0);
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK) {
        return JNI_ERR;
    }
    /* Looked up here, on the loading thread: FindClass on the attached libws thread would use the
     * system class loader, which cannot see app classes on Android. */
    jclass cls = (*env)->FindClass(env, "io/libws/WebSocketTask");
    if (cls == NULL) {
        return JNI_ERR;
    }
    g_task_class = (jclass)(*env)->NewGlobalRef(env, cls);
    (*env)->DeleteLocalRef(env, cls);
    if (g_task_class == NULL) {
        return JNI_ERR;
    }
    g_on_open = (*env)->GetMethodID(env, g_task_class, "onOpenEvent", "(J[B[B)V");
    g_on_message = (*env)->GetMethodID(env, g_task_class, "onMessageEvent", "(J[BZ)V");
    g_on_error = (*env)->GetMethodID(env, g_task_class, "onErrorEvent", "(JI[B)V");
    g_on_close = (*env)->GetMethodID(env, g_task_class, "onCloseEvent", "(JI[BZ)V");
    g_on_result = (*env)->GetStaticMethodID(env, g_task_class, "onResultEvent",
                                            "(Lio/libws/WebSocketTask$ResultCallback;JI[B)V");
    if (g_on_open == NULL || g_on_message == NULL || g_on_error == NULL || g_on_close == NULL || g_on_result == NULL) {
        return JNI_ERR; /* NoSuchMethodError pending */
    }
    if (pthread_key_create(&g_detach_key, detach_thread) != 0) {
        return JNI_ERR;
    }
    g_vm = vm;
    return JNI_VERSION_1_6;
}
