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
 * - Listener: a global reference to the Java WebSocketTask is the event user_data (and the socket
 *   hook's, whose calls all come before the close event). The close event is the last event of a
 *   task and comes exactly once, so it is deleted right after the close event is delivered. If
 *   ws_connect refuses the call, no event ever comes and it is deleted at once.
 * - Global listeners and the logger hold no reference at all: a global listener's user_data is a
 *   number (Libws keeps number -> listener and forgets it when ws_off_event or ws_shutdown says
 *   libws will not call it again), and the logger calls a static method that reads Libws's
 *   current logger. So removing or replacing them can never free something a call in flight uses.
 * - The logger is called on any thread: libws's, resolver threads (attached like libws's thread,
 *   detached when they end) and Java threads calling ws_* (their own JNIEnv).
 * - The socket hook gets a new java.io.FileDescriptor holding the fd (its int field: "descriptor"
 *   on Android, "fd" on the desktop JDK, found in JNI_OnLoad). Nothing is registered to close it.
 * - Result callbacks: a global reference to the Java ResultCallback is the result user_data;
 *   libws calls each result callback exactly once (also for refused calls), so it is deleted
 *   after that call; only a call refused with WS_ERR_RUNTIME (no libws thread) gets no callback,
 *   and then it is deleted at once. No Java callback: NULL is passed, nothing is allocated.
 * - No Java exception survives a callback (checked after every JNI call that can throw; described
 *   and cleared), and no native method calls libws with one pending.
 * - Everything passed to libws (URL, headers, protocols, message bytes, reason) is copied by libws
 *   before the call returns, so the shim frees/releases it right after the call.
 * - The resolver (ws_config.resolver) holds no reference either: its user_data is Libws's key for
 *   the Java Resolver of the config given to ws_init (forgotten after ws_shutdown), and it calls
 *   the static Libws.onResolve. If Java cannot be reached, the shim answers the request with an
 *   error itself, so the task fails at once instead of waiting for its timeout.
 * - A Dispatcher (io.libws.Dispatcher): a ws_dispatcher whose wake callback (libws's thread) calls
 *   Dispatcher.onWake, which posts ws_dispatch to the app's Executor; callbacks of its tasks then
 *   run on the executor's (Java) thread, with that thread's own JNIEnv. The handle Java holds is a
 *   malloc'd {ws_dispatcher *, global ref to the Dispatcher}; both go once ws_dispatcher_free
 *   succeeded (libws calls the wake callback no more).
 */
#include <jni.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "libws.h"

static JavaVM *g_vm;
static jclass g_task_class;  /* global ref to io.libws.WebSocketTask */
static jclass g_libws_class; /* global ref to io.libws.Libws */
static jclass g_fd_class;    /* global ref to java.io.FileDescriptor */
static jmethodID g_on_event;        /* void onEvent(int kind, long, int code, byte[] a, byte[] b, byte[] c, boolean) */
static jmethodID g_on_global_event; /* static void Libws.onGlobalEvent(long key, int kind, long, int, byte[] x3, boolean) */
static jmethodID g_on_socket;       /* boolean onSocketEvent(long, FileDescriptor) */
static jmethodID g_on_log;          /* static void Libws.onLog(int, byte[]) */
static jmethodID g_on_result;       /* static void onResultEvent(ResultCallback, long, int, byte[]) */
static jmethodID g_fd_init;         /* FileDescriptor() */
static jmethodID g_on_wake;         /* void Dispatcher.onWake() */
static jmethodID g_on_resolve;      /* static void Libws.onResolve(long key, long requestId, byte[] host, int port) */
static jfieldID g_fd_field;         /* int FileDescriptor.descriptor (Android) or .fd (JDK) */
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

/* The slots a Java event method takes (see jni/java/io/libws/Event.java): a, b, c and flag by kind. */
typedef struct {
    jint kind, code;
    jbyteArray a, b, c;
    jboolean flag;
    jlongArray p; /* open: the profile's numbers (see Event.java) */
    jbyteArray s; /* open: the profile's strings, "tls_version\0tls_cipher\0peer_address\0" */
} event_args;

/* The open event's profile (ws_event.profile) as Event.java reads it. */
static void profile_args(JNIEnv *env, const ws_profile *p, event_args *x) {
    if (p == NULL) {
        return;
    }
    const jlong n[] = {(jlong)p->fetch_start_us, (jlong)p->domain_lookup_start_us, (jlong)p->domain_lookup_end_us,
                       (jlong)p->connect_start_us, (jlong)p->tls_start_us, (jlong)p->tls_end_us,
                       (jlong)p->connect_end_us, (jlong)p->open_us, (jlong)p->fetch_start_unix_us,
                       (jlong)p->attempts, (jlong)p->tls_resumed, (jlong)p->proxy_start_us,
                       (jlong)p->proxy_end_us};
    x->p = (*env)->NewLongArray(env, (jsize)(sizeof n / sizeof n[0]));
    if (x->p == NULL) {
        clear_exception(env);
    } else {
        (*env)->SetLongArrayRegion(env, x->p, 0, (jsize)(sizeof n / sizeof n[0]), n);
    }
    const ws_header strings[] = {{p->tls_version, p->tls_cipher}, {p->peer_address, ""}};
    x->s = header_block(env, strings, 2);
}

/* Copies an event into new Java arrays. Returns false only for a message whose bytes could not be
 * allocated (a listener must not see a message with its bytes missing) and for an unknown kind;
 * open, error and close are delivered even if a string could not be (Java reads null as ""), so
 * no onClose is ever lost. */
static bool make_args(JNIEnv *env, const ws_event *e, event_args *x) {
    memset(x, 0, sizeof *x);
    x->kind = (jint)e->kind;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        x->a = new_cstring_bytes(env, e->open.protocol);
        x->b = header_block(env, e->open.headers, e->open.header_count);
        x->c = new_cstring_bytes(env, e->open.extensions);
        x->flag = (jboolean)e->open.compressed;
        profile_args(env, e->profile, x);
        return true;
    case WS_EVENT_MESSAGE:
        x->a = new_bytes(env, e->message.data, e->message.len);
        x->flag = (jboolean)(e->message.kind == WS_TEXT);
        return x->a != NULL;
    case WS_EVENT_ERROR:
        x->code = (jint)e->error.code;
        x->a = new_cstring_bytes(env, e->error.err_msg);
        return true;
    case WS_EVENT_CLOSE:
        /* The reason is NUL-terminated; libws replaces NULs inside it, so strlen is its length. */
        x->code = (jint)e->close.code;
        x->a = new_cstring_bytes(env, e->close.reason);
        x->flag = (jboolean)e->close.was_clean;
        return true;
    default:
        return false; /* a kind newer than this shim */
    }
}

/* ws_event_cb of a task: user_data is a global ref to the Java WebSocketTask. */
static void on_event(const ws_event *e, void *user_data) {
    jobject task = (jobject)user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return; /* cannot reach Java (and so cannot delete the ref either) */
    }
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 8) == 0) {
        event_args x;
        if (make_args(env, e, &x)) {
            (*env)->CallVoidMethod(env, task, g_on_event, x.kind, (jlong)e->task_id, x.code, x.a, x.b, x.c, x.flag, x.p,
                                   x.s);
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

/* ws_event_cb of a global listener: user_data is Libws's key for it (a number, no reference). */
static void on_global_event(const ws_event *e, void *user_data) {
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return;
    }
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 8) == 0) {
        event_args x;
        if (make_args(env, e, &x)) {
            (*env)->CallStaticVoidMethod(env, g_libws_class, g_on_global_event, (jlong)(intptr_t)user_data, x.kind,
                                         (jlong)e->task_id, x.code, x.a, x.b, x.c, x.flag, x.p, x.s);
        }
        clear_exception(env);
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
    }
    tls_callback_depth--;
}

/* ws_socket_cb: user_data is the task's global ref (alive: hook calls come before the close event).
 * Refuses the socket (non-zero) when Java cannot be asked: a host that binds sockets to a network
 * must not have one connect unbound. */
static int32_t on_socket(int64_t task_id, int32_t fd, void *user_data) {
    jobject task = (jobject)user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return -1;
    }
    jboolean go_on = JNI_FALSE;
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 4) == 0) {
        jobject jfd = (*env)->NewObject(env, g_fd_class, g_fd_init);
        if (jfd != NULL) {
            (*env)->SetIntField(env, jfd, g_fd_field, (jint)fd);
            go_on = (*env)->CallBooleanMethod(env, task, g_on_socket, (jlong)task_id, jfd);
        }
        if (clear_exception(env)) {
            go_on = JNI_FALSE;
        }
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
    }
    tls_callback_depth--;
    return go_on ? 0 : -1;
}

/* ws_log_cb: any thread. Libws.onLog reads the current Java logger (and drops the line if none). */
static void on_log(int32_t level, const char *message, void *user_data) {
    (void)user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return;
    }
    /* A Java thread calling a native method that calls libws: never with an exception pending (see
     * the rules above), but be sure, since calling Java with one pending is not allowed. */
    if ((*env)->ExceptionCheck(env)) {
        return;
    }
    tls_callback_depth++;
    if ((*env)->PushLocalFrame(env, 2) == 0) {
        jbyteArray msg = new_cstring_bytes(env, message);
        if (msg != NULL) {
            (*env)->CallStaticVoidMethod(env, g_libws_class, g_on_log, (jint)level, msg);
        }
        clear_exception(env);
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
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

/* ws_resolve_cb, on libws's thread: user_data is Libws's key for the config's Resolver. */
static void on_resolve(int64_t request_id, const char *host, uint16_t port, void *user_data) {
    JNIEnv *env = callback_env();
    if (env == NULL) {
        ws_resolve_answer(request_id, NULL, 0, "the resolver could not be called (no JVM on this thread)");
        return;
    }
    tls_callback_depth++;
    bool called = false;
    if ((*env)->PushLocalFrame(env, 2) == 0) {
        jbyteArray h = new_cstring_bytes(env, host);
        if (h != NULL) {
            (*env)->CallStaticVoidMethod(env, g_libws_class, g_on_resolve, (jlong)(intptr_t)user_data,
                                         (jlong)request_id, h, (jint)port);
            called = true;
        }
        clear_exception(env); /* Libws.onResolve catches the resolver's own; this is e.g. an OOM */
        (*env)->PopLocalFrame(env, NULL);
    } else {
        clear_exception(env);
    }
    if (!called) {
        ws_resolve_answer(request_id, NULL, 0, "the resolver could not be called (out of memory)");
    }
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

/* A call refused with WS_ERR_RUNTIME (no libws thread) never calls its result callback: its global
 * ref is ours to free. Returns rc. */
static int64_t forget_if_no_callback(JNIEnv *env, int64_t rc, jobject cb) {
    if (rc == WS_ERR_RUNTIME && cb != NULL) (*env)->DeleteGlobalRef(env, cb);
    return rc;
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

/* A malloc'd copy of a Java byte[] (not NUL-terminated; *len bytes), or NULL for a null array
 * (*len 0). Sets *failed with an exception pending when it could not be copied. */
static uint8_t *copy_bytes(JNIEnv *env, jbyteArray a, size_t *len, int *failed) {
    *len = 0;
    *failed = 0;
    if (a == NULL) {
        return NULL;
    }
    jsize n = (*env)->GetArrayLength(env, a);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b == NULL) {
        throw_oom(env, "libws_jni: out of memory");
        *failed = 1;
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)b);
    if ((*env)->ExceptionCheck(env)) {
        free(b);
        *failed = 1;
        return NULL;
    }
    *len = (size_t)n;
    return b;
}

/* Frees a copy of a private key, zeroed first (volatile stores: not optimised away). */
static void free_secret(uint8_t *b, size_t len) {
    if (b == NULL) {
        return;
    }
    volatile uint8_t *v = b;
    for (size_t i = 0; i < len; i++) {
        v[i] = 0;
    }
    free(b);
}

/* A Dispatcher's native half: Java holds its address as the handle. */
typedef struct java_dispatcher {
    ws_dispatcher *d;
    jobject self; /* global ref to the io.libws.Dispatcher, the wake callback's user_data */
} java_dispatcher;

/* ws_wake_cb, on libws's thread: Dispatcher.onWake posts the drain to the executor. */
static void on_wake(void *user_data) {
    JNIEnv *env = callback_env();
    if (env == NULL) {
        return;
    }
    tls_callback_depth++;
    (*env)->CallVoidMethod(env, (jobject)user_data, g_on_wake);
    clear_exception(env); /* e.g. RejectedExecutionException: described, and the items wait */
    tls_callback_depth--;
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeDispatcherNew(JNIEnv *env, jclass cls, jobject self) {
    (void)cls;
    java_dispatcher *jd = calloc(1, sizeof *jd);
    if (jd == NULL) {
        return WS_ERR_RUNTIME;
    }
    jd->self = (*env)->NewGlobalRef(env, self);
    ws_dispatcher_options o;
    ws_dispatcher_options_init(&o);
    o.on_wake = on_wake;
    o.wake_user_data = jd->self;
    int32_t rc = jd->self != NULL ? ws_dispatcher_new(&o, &jd->d) : WS_ERR_RUNTIME;
    if (rc != WS_OK) {
        if (jd->self != NULL) {
            (*env)->DeleteGlobalRef(env, jd->self);
        }
        free(jd);
        return rc;
    }
    return (jlong)(intptr_t)jd;
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeDispatch(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    return ws_dispatch(((java_dispatcher *)(intptr_t)handle)->d, 0);
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeDispatcherFree(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    java_dispatcher *jd = (java_dispatcher *)(intptr_t)handle;
    int32_t rc = ws_dispatcher_free(jd->d);
    if (rc == WS_OK) {
        (*env)->DeleteGlobalRef(env, jd->self);
        free(jd);
    }
    return rc;
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeConnect(
    JNIEnv *env, jclass cls, jobject task, jbyteArray url, jobjectArray headers, jobjectArray protocols,
    jobject on_result_cb, jlong group, jint timeout_ms, jboolean tcp_no_delay, jint ping_interval_ms,
    jint pong_timeout_ms, jboolean per_message_deflate, jbyteArray ca_pem, jboolean dangerous, jboolean socket_hook,
    jlong dispatcher, jobjectArray addresses, jobjectArray pins, jbyteArray client_cert, jbyteArray client_key,
    jbyteArray proxy, jboolean no_proxy) {
    (void)cls;
    jlong id = WS_ERR_INVALID_ARGUMENT;
    uint8_t *c_ca = NULL, *c_cert = NULL, *c_key = NULL;
    size_t ca_len = 0, cert_len = 0, key_len = 0;
    char *c_url = NULL, *c_proxy = NULL;
    char **c_headers = NULL, **c_protocols = NULL, **c_addresses = NULL, **c_pins = NULL;
    size_t n_headers = 0, n_protocols = 0, n_addresses = 0, n_pins = 0;
    ws_header *hs = NULL;
    jobject task_ref = NULL, result_cb = NULL;
    int failed;

    c_url = copy_cstring(env, url);
    if (c_url == NULL) goto out;
    c_ca = copy_bytes(env, ca_pem, &ca_len, &failed);
    if (failed) goto out;
    c_headers = copy_cstrings(env, headers, &n_headers);
    if (c_headers == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_protocols = copy_cstrings(env, protocols, &n_protocols);
    if (c_protocols == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_addresses = copy_cstrings(env, addresses, &n_addresses);
    if (c_addresses == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_pins = copy_cstrings(env, pins, &n_pins);
    if (c_pins == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_cert = copy_bytes(env, client_cert, &cert_len, &failed);
    if (failed) goto out;
    c_key = copy_bytes(env, client_key, &key_len, &failed);
    if (failed) goto out;
    if (proxy != NULL && (c_proxy = copy_cstring(env, proxy)) == NULL) goto out;
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
    o.group = (uint64_t)group;
    o.timeout_ms = (uint32_t)timeout_ms;
    o.tcp_no_delay = tcp_no_delay;
    o.ping_interval_ms = (uint32_t)ping_interval_ms;
    o.pong_timeout_ms = (uint32_t)pong_timeout_ms;
    o.per_message_deflate = per_message_deflate;
    o.ca_pem = c_ca;
    o.ca_pem_len = ca_len;
    o.dangerous_skip_certificate_verification = dangerous;
    o.dispatcher = dispatcher != 0 ? ((java_dispatcher *)(intptr_t)dispatcher)->d : NULL;
    o.addresses = (const char *const *)c_addresses;
    o.address_count = n_addresses;
    o.certificate_pins = (const char *const *)c_pins;
    o.certificate_pin_count = n_pins;
    o.client_cert_pem = c_cert;
    o.client_cert_pem_len = cert_len;
    o.client_key_pem = c_key;
    o.client_key_pem_len = key_len;
    o.proxy = c_proxy;
    o.no_proxy = no_proxy;
    if (socket_hook) {
        o.on_socket = on_socket;
        o.socket_user_data = task_ref; /* the hook's calls all come before the close event */
    }
    id = ws_connect(&o); /* copies everything; on_result (and so result_cb) is called exactly once */
    if (id <= 0) {
        (*env)->DeleteGlobalRef(env, task_ref); /* refused: no event will ever come */
    }
    forget_if_no_callback(env, id, result_cb); /* no libws thread: no result callback either */
out:
    free(hs);
    free(c_proxy);
    free_secret(c_key, key_len);
    free(c_cert);
    free_cstrings(c_pins, n_pins);
    free_cstrings(c_addresses, n_addresses);
    free_cstrings(c_protocols, n_protocols);
    free_cstrings(c_headers, n_headers);
    free(c_ca);
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
        rc = (jint)forget_if_no_callback(env,
                                         ws_send((int64_t)task_id, (const uint8_t *)bytes, (size_t)len,
                                                 text ? WS_TEXT : WS_BINARY, cb != NULL ? on_result : NULL, cb),
                                         cb);
    }
    if (bytes != NULL) {
        (*env)->ReleaseByteArrayElements(env, data, bytes, JNI_ABORT); /* libws copied them */
    }
    return rc;
}

/* ws_close of a task (group 0) or ws_close_group of a group: the reason copied to a C string and
 * the result callback referenced for the call, and forgotten if the call refused to take it. */
static jint close_call(JNIEnv *env, int group, jlong id, jint code, jbyteArray reason, jobject on_result_cb) {
    int failed;
    char *c_reason = NULL;
    if (reason != NULL && (c_reason = copy_cstring(env, reason)) == NULL) {
        return WS_ERR_INVALID_ARGUMENT;
    }
    jobject cb = result_ref(env, on_result_cb, &failed);
    jint rc = WS_ERR_INVALID_ARGUMENT;
    if (!failed) {
        ws_result_cb done = cb != NULL ? on_result : NULL;
        int32_t called = group ? ws_close_group((uint64_t)id, (int32_t)code, c_reason, done, cb)
                               : ws_close((int64_t)id, (int32_t)code, c_reason, done, cb);
        rc = (jint)forget_if_no_callback(env, called, cb);
    }
    free(c_reason);
    return rc;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeClose(JNIEnv *env, jclass cls, jlong task_id, jint code,
                                                               jbyteArray reason, jobject on_result_cb) {
    (void)cls;
    return close_call(env, 0, task_id, code, reason, on_result_cb);
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeReadyState(JNIEnv *env, jclass cls, jlong task_id) {
    (void)env;
    (void)cls;
    return ws_ready_state((int64_t)task_id);
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeBufferedAmount(JNIEnv *env, jclass cls, jlong task_id) {
    (void)env;
    (void)cls;
    return (jlong)ws_buffered_amount((int64_t)task_id);
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

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeInit(JNIEnv *env, jclass cls, jboolean has_config,
                                                              jint max_connections_per_group, jlong max_message_size,
                                                              jlong max_send_queue, jint connect_timeout_ms,
                                                              jint close_timeout_ms, jbyteArray ca_pem,
                                                              jboolean use_system_roots, jboolean dangerous,
                                                              jint attempt_delay_ms, jobjectArray pins,
                                                              jbyteArray client_cert, jbyteArray client_key,
                                                              jbyteArray proxy, jlong resolver_key) {
    (void)cls;
    if (!has_config) {
        return ws_init(NULL);
    }
    jint rc = WS_ERR_INVALID_ARGUMENT;
    int failed;
    size_t ca_len = 0, cert_len = 0, key_len = 0, n_pins = 0;
    uint8_t *c_cert = NULL, *c_key = NULL;
    char *c_proxy = NULL;
    char **c_pins = NULL;
    uint8_t *c_ca = copy_bytes(env, ca_pem, &ca_len, &failed);
    if (failed) goto out;
    c_pins = copy_cstrings(env, pins, &n_pins);
    if (c_pins == NULL || (*env)->ExceptionCheck(env)) goto out;
    c_cert = copy_bytes(env, client_cert, &cert_len, &failed);
    if (failed) goto out;
    c_key = copy_bytes(env, client_key, &key_len, &failed);
    if (failed) goto out;
    if (proxy != NULL && (c_proxy = copy_cstring(env, proxy)) == NULL) goto out;
    ws_config c;
    ws_config_init(&c);
    c.max_connections_per_group = (uint32_t)max_connections_per_group;
    c.max_message_size = (uint64_t)max_message_size;
    c.max_send_queue = (uint64_t)max_send_queue;
    c.connect_timeout_ms = (uint32_t)connect_timeout_ms;
    c.close_timeout_ms = (uint32_t)close_timeout_ms;
    c.ca_pem = c_ca;
    c.ca_pem_len = ca_len;
    c.use_system_roots = use_system_roots;
    c.dangerous_skip_certificate_verification = dangerous;
    c.connection_attempt_delay_ms = (uint32_t)attempt_delay_ms;
    c.certificate_pins = (const char *const *)c_pins;
    c.certificate_pin_count = n_pins;
    c.client_cert_pem = c_cert;
    c.client_cert_pem_len = cert_len;
    c.client_key_pem = c_key;
    c.client_key_pem_len = key_len;
    c.proxy = c_proxy;
    if (resolver_key > 0) {
        c.resolver = on_resolve;
        c.resolver_user_data = (void *)(intptr_t)resolver_key;
    }
    rc = ws_init(&c); /* copies the config */
out:
    free(c_proxy);
    free_secret(c_key, key_len);
    free(c_cert);
    free_cstrings(c_pins, n_pins);
    free(c_ca);
    return rc;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeResolveAnswer(JNIEnv *env, jclass cls, jlong request_id,
                                                                       jobjectArray addresses, jbyteArray err_msg) {
    (void)cls;
    jint rc = WS_ERR_INVALID_ARGUMENT;
    size_t n = 0;
    char *c_err = NULL;
    char **c_addresses = copy_cstrings(env, addresses, &n);
    if (c_addresses == NULL || (*env)->ExceptionCheck(env)) goto out;
    if (err_msg != NULL && (c_err = copy_cstring(env, err_msg)) == NULL) goto out;
    rc = ws_resolve_answer((int64_t)request_id, (const char *const *)c_addresses, n, c_err); /* copies */
out:
    free(c_err);
    free_cstrings(c_addresses, n);
    return rc;
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeNetworkChanged(JNIEnv *env, jclass cls, jlong group,
                                                                        jboolean all_groups, jint probe_timeout_ms) {
    (void)env;
    (void)cls;
    return ws_network_changed((uint64_t)group, all_groups, (uint32_t)probe_timeout_ms);
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeCloseGroup(JNIEnv *env, jclass cls, jlong group, jint code,
                                                                    jbyteArray reason, jobject on_result_cb) {
    (void)cls;
    return close_call(env, 1, group, code, reason, on_result_cb);
}

JNIEXPORT jlong JNICALL Java_io_libws_WebSocketTask_nativeOnEvent(JNIEnv *env, jclass cls, jlong key) {
    (void)env;
    (void)cls;
    return ws_on_event(0, on_global_event, (void *)(intptr_t)key);
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeOffEvent(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    return ws_off_event((int64_t)handle);
}

JNIEXPORT jint JNICALL Java_io_libws_WebSocketTask_nativeSetLogger(JNIEnv *env, jclass cls, jint max_level) {
    (void)env;
    (void)cls;
    return ws_set_logger(max_level > 0 ? on_log : NULL, NULL, (int32_t)max_level);
}

JNIEXPORT jboolean JNICALL Java_io_libws_WebSocketTask_nativeOnCallbackThread(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jboolean)(tls_env != NULL || tls_callback_depth > 0);
}

/* A global ref to a class, NULL (exception pending) if missing. */
static jclass global_class(JNIEnv *env, const char *name) {
    jclass local = (*env)->FindClass(env, name);
    if (local == NULL) {
        return NULL;
    }
    jclass global = (jclass)(*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK) {
        return JNI_ERR;
    }
    /* Looked up here, on the loading thread: FindClass on the attached libws thread would use the
     * system class loader, which cannot see app classes on Android. */
    g_task_class = global_class(env, "io/libws/WebSocketTask");
    g_libws_class = global_class(env, "io/libws/Libws");
    g_fd_class = global_class(env, "java/io/FileDescriptor");
    if (g_task_class == NULL || g_libws_class == NULL || g_fd_class == NULL) {
        return JNI_ERR;
    }
    g_on_event = (*env)->GetMethodID(env, g_task_class, "onEvent", "(IJI[B[B[BZ[J[B)V");
    g_on_socket = (*env)->GetMethodID(env, g_task_class, "onSocketEvent", "(JLjava/io/FileDescriptor;)Z");
    g_on_result = (*env)->GetStaticMethodID(env, g_task_class, "onResultEvent",
                                            "(Lio/libws/WebSocketTask$ResultCallback;JI[B)V");
    g_on_global_event = (*env)->GetStaticMethodID(env, g_libws_class, "onGlobalEvent", "(JIJI[B[B[BZ[J[B)V");
    g_on_log = (*env)->GetStaticMethodID(env, g_libws_class, "onLog", "(I[B)V");
    g_on_resolve = (*env)->GetStaticMethodID(env, g_libws_class, "onResolve", "(JJ[BI)V");
    g_fd_init = (*env)->GetMethodID(env, g_fd_class, "<init>", "()V");
    jclass dispatcher_class = (*env)->FindClass(env, "io/libws/Dispatcher");
    if (dispatcher_class == NULL) {
        return JNI_ERR;
    }
    g_on_wake = (*env)->GetMethodID(env, dispatcher_class, "onWake", "()V");
    (*env)->DeleteLocalRef(env, dispatcher_class);
    if (g_on_event == NULL || g_on_socket == NULL || g_on_result == NULL || g_on_global_event == NULL ||
        g_on_log == NULL || g_fd_init == NULL || g_on_wake == NULL || g_on_resolve == NULL) {
        return JNI_ERR; /* NoSuchMethodError pending */
    }
    /* The int inside a FileDescriptor: "descriptor" on Android, "fd" on the desktop JDK. */
    g_fd_field = (*env)->GetFieldID(env, g_fd_class, "descriptor", "I");
    if (g_fd_field == NULL) {
        (*env)->ExceptionClear(env); /* NoSuchFieldError: not Android */
        g_fd_field = (*env)->GetFieldID(env, g_fd_class, "fd", "I");
        if (g_fd_field == NULL) {
            return JNI_ERR;
        }
    }
    if (pthread_key_create(&g_detach_key, detach_thread) != 0) {
        return JNI_ERR;
    }
    g_vm = vm;
    return JNI_VERSION_1_6;
}
