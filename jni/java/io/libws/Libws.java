package io.libws;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The libws runtime as a whole: configuration ({@link #init}), {@link #shutdown}, mini-program
 * groups ({@link #closeGroup}), the global {@code onSocket*} listeners, the logger, and the small
 * static helpers. One task's calls are on {@link WebSocketTask}.
 *
 * <pre>{@code
 * // Application.onCreate
 * Libws.setLogger((level, msg) -> Log.println(Libws.androidPriority(level), "libws", msg), Libws.LOG_INFO);
 * Libws.init(new Libws.Config.Builder().maxConnectionsPerGroup(5).connectTimeoutMs(15_000).build());
 * }</pre>
 *
 * Every method may be called from any thread; {@link #init} and {@link #shutdown} are refused
 * ({@link WebSocketTask#WS_ERR_WRONG_THREAD}) inside a listener or callback.
 */
public final class Libws {
    /** Logger levels: a logger set at level N gets messages of levels 1..N. */
    public static final int LOG_OFF = 0;
    public static final int LOG_ERROR = 1;
    public static final int LOG_WARN = 2;
    public static final int LOG_INFO = 3;
    public static final int LOG_DEBUG = 4;

    private Libws() {}

    // ---- configuration -------------------------------------------------------------------------

    /** Runtime configuration ({@code ws_config}); immutable. Every option left unset keeps libws's default. */
    public static final class Config {
        final int maxConnectionsPerGroup;
        final long maxMessageSize;
        final long maxSendQueue;
        final int connectTimeoutMs;
        final int closeTimeoutMs;
        final byte[] caPem;
        final boolean useSystemRoots;
        final boolean dangerousSkipCertificateVerification;
        final int connectionAttemptDelayMs;
        final List<String> certificatePins;
        final byte[] clientCertPem;
        final byte[] clientKeyPem;
        final String proxy;
        final Resolver resolver;

        private Config(Builder b) {
            maxConnectionsPerGroup = b.maxConnectionsPerGroup;
            maxMessageSize = b.maxMessageSize;
            maxSendQueue = b.maxSendQueue;
            connectTimeoutMs = b.connectTimeoutMs;
            closeTimeoutMs = b.closeTimeoutMs;
            caPem = b.caPem == null ? null : b.caPem.clone();
            useSystemRoots = b.useSystemRoots;
            dangerousSkipCertificateVerification = b.dangerousSkipCertificateVerification;
            connectionAttemptDelayMs = b.connectionAttemptDelayMs;
            certificatePins = java.util.Collections.unmodifiableList(new ArrayList<>(b.certificatePins));
            clientCertPem = b.clientCertPem == null ? null : b.clientCertPem.clone();
            clientKeyPem = b.clientKeyPem == null ? null : b.clientKeyPem.clone();
            proxy = b.proxy;
            resolver = b.resolver;
        }

        public static final class Builder {
            private int maxConnectionsPerGroup;
            private long maxMessageSize;
            private long maxSendQueue;
            private int connectTimeoutMs;
            private int closeTimeoutMs;
            private byte[] caPem;
            private boolean useSystemRoots;
            private boolean dangerousSkipCertificateVerification;
            private int connectionAttemptDelayMs;
            private final List<String> certificatePins = new ArrayList<>();
            private byte[] clientCertPem;
            private byte[] clientKeyPem;
            private String proxy;
            private Resolver resolver;

            /** Open-or-connecting sockets per group; more are refused ({@code WS_ERR_TOO_MANY_CONNECTIONS}). Default 5 (WeChat's limit). */
            public Builder maxConnectionsPerGroup(int n) {
                maxConnectionsPerGroup = positive(n, "maxConnectionsPerGroup");
                return this;
            }

            /** Largest message sent or received, in bytes. Default 64 MiB. */
            public Builder maxMessageSize(long bytes) {
                maxMessageSize = positive(bytes, "maxMessageSize");
                return this;
            }

            /** Bytes a task may have queued but not yet written; a send past it fails with {@code WS_ERR_QUEUE_FULL}. Default 64 MiB. */
            public Builder maxSendQueue(long bytes) {
                maxSendQueue = positive(bytes, "maxSendQueue");
                return this;
            }

            /** Connect timeout (DNS + TCP + handshake) of tasks that set none. Default 60000. */
            public Builder connectTimeoutMs(int ms) {
                connectTimeoutMs = positive(ms, "connectTimeoutMs");
                return this;
            }

            /** How long to wait for the server's side of the close handshake (also in shutdown). Default 5000. */
            public Builder closeTimeoutMs(int ms) {
                closeTimeoutMs = positive(ms, "closeTimeoutMs");
                return this;
            }

            /** wss://: extra CA certificates (PEM) trusted by every task, beside the built-in Mozilla roots. */
            public Builder caPem(byte[] pem) {
                caPem = pem == null ? null : pem.clone();
                return this;
            }

            public Builder caPem(String pem) {
                return caPem(pem == null ? null : pem.getBytes(StandardCharsets.US_ASCII));
            }

            /** wss://: also trust the OS certificate store where libws can read it (Linux, Apple, Windows; not Android). Default false. */
            public Builder useSystemRoots(boolean on) {
                useSystemRoots = on;
                return this;
            }

            /**
             * DANGEROUS, development only: accept any server certificate for every wss:// task.
             * Anyone on the network path can then read and change the traffic. Default false.
             */
            public Builder dangerousSkipCertificateVerification(boolean on) {
                dangerousSkipCertificateVerification = on;
                return this;
            }

            /**
             * Happy Eyeballs (RFC 8305): how long one connection attempt runs alone before the next
             * address is tried in parallel (a failed attempt starts the next at once). Default 250
             * (the RFC's); values below 10 are raised to 10.
             */
            public Builder connectionAttemptDelayMs(int ms) {
                connectionAttemptDelayMs = positive(ms, "connectionAttemptDelayMs");
                return this;
            }

            /**
             * wss://: public key pins for every task ({@code "sha256/<base64>"}, added to any given
             * before); a task's own are added to these. See
             * {@link ConnectOptions.Builder#certificatePins}. A string that is not a pin makes
             * {@link Libws#init} return {@code WS_ERR_INVALID_ARGUMENT}. Default none.
             */
            public Builder certificatePins(String... pins) {
                for (String p : pins) {
                    if (p == null) {
                        throw new IllegalArgumentException("null pin");
                    }
                    certificatePins.add(p);
                }
                return this;
            }

            /**
             * wss://, mutual TLS: the client certificate (PEM, then any intermediates) and its
             * unencrypted key (PEM) for every task, presented when a server asks; a task's own
             * replaces it. A bad or mismatched pair makes {@link Libws#init} return
             * {@code WS_ERR_INVALID_ARGUMENT}. Default none. The arrays are copied.
             */
            public Builder clientCertificate(byte[] certPem, byte[] keyPem) {
                clientCertPem = certPem == null ? null : certPem.clone();
                clientKeyPem = keyPem == null ? null : keyPem.clone();
                return this;
            }

            /**
             * The proxy every task connects through unless it sets its own or
             * {@link ConnectOptions.Builder#noProxy}: {@code http://} or {@code socks5://} (see
             * {@link ConnectOptions.Builder#proxy}). A URL that does not parse makes
             * {@link Libws#init} return {@code WS_ERR_INVALID_ARGUMENT}. Null or "" (the
             * default): none. On Android, the system proxy is the host's to read and pass here.
             */
            public Builder proxy(String url) {
                proxy = url;
                return this;
            }

            /**
             * The host's resolver (e.g. an HTTP DNS client), asked for the host name of every task
             * whose URL names a host and that gave no {@link ConnectOptions.Builder#addresses}.
             * Default null: libws uses the system's resolver.
             */
            public Builder resolver(Resolver resolver) {
                this.resolver = resolver;
                return this;
            }

            public Config build() {
                return new Config(this);
            }

            private static int positive(int v, String what) {
                return (int) positive((long) v, what);
            }

            private static long positive(long v, String what) {
                if (v <= 0) {
                    throw new IllegalArgumentException(what + " must be > 0: " + v);
                }
                return v;
            }
        }
    }

    /**
     * The host's resolver ({@code ws_config.resolver}): called on libws's thread with the task's id
     * (the request id to answer), its URL's host name and port. It must not block: it starts the
     * lookup and returns; the answer goes to {@link Libws#resolveAnswer} later, from any thread
     * (or from inside this call). The task's connect timeout keeps running meanwhile (no answer in
     * time: {@code onError(WS_ERR_TIMEOUT, "connectSocket:fail timeout: no answer from the resolver
     * for "host"")}). An exception thrown goes to {@link WebSocketTask#setExceptionHandler} and
     * fails the request ({@code WS_ERR_DNS}) unless it was answered already.
     */
    @FunctionalInterface
    public interface Resolver {
        void resolve(long requestId, String host, int port);
    }

    /** Our key (the resolver's user_data in the shim) -> resolver, for the runtime started by init. */
    private static final Map<Long, Resolver> resolvers = new ConcurrentHashMap<>();

    /**
     * Answers a {@link Resolver} request, from any thread: either {@code errMsg} (the lookup
     * failed: the task fails with {@code onError(WS_ERR_DNS, "connectSocket:fail could not resolve
     * host "host": <errMsg>")}; {@code addresses} is then ignored) or {@code addresses} (IP
     * addresses with or without a port, as {@link ConnectOptions.Builder#addresses}; tried with
     * Happy Eyeballs in this order). Returns 0 when the answer was taken (a second answer, or one
     * after the task's timeout, is ignored); {@link WebSocketTask#WS_ERR_INVALID_ARGUMENT} for no
     * address and no errMsg or a string that is not an IP address (the task then fails with
     * {@code WS_ERR_DNS}); {@link WebSocketTask#WS_ERR_UNKNOWN_TASK}; {@link WebSocketTask#WS_ERR_CLOSED}
     * (the task timed out or was closed); {@link WebSocketTask#WS_ERR_SHUTTING_DOWN}.
     *
     * @throws IllegalArgumentException for a null address or a NUL character in a string
     */
    public static int resolveAnswer(long requestId, String[] addresses, String errMsg) {
        byte[][] cAddresses = WebSocketTask.cStrings(addresses == null ? java.util.Collections.<String>emptyList()
                : java.util.Arrays.asList(addresses), "address");
        return WebSocketTask.nativeResolveAnswer(requestId, cAddresses,
                errMsg == null ? null : WebSocketTask.cString(errMsg, "errMsg"));
    }

    /** Called by the shim on libws's thread for each resolver request. */
    private static void onResolve(long key, long requestId, byte[] host, int port) {
        Resolver r = resolvers.get(key);
        if (r == null) {
            // Cannot happen while the runtime that has the key runs; answer rather than let the task wait.
            WebSocketTask.nativeResolveAnswer(requestId, new byte[0][], WebSocketTask.cString("no resolver", "errMsg"));
            return;
        }
        try {
            r.resolve(requestId, Event.decode(host), port);
        } catch (Throwable t) {
            WebSocketTask.report(t);
            // Ignored by libws if the resolver answered before it threw.
            WebSocketTask.nativeResolveAnswer(requestId, new byte[0][],
                    WebSocketTask.cString("the resolver threw " + t.getClass().getName(), "errMsg"));
        }
    }

    // ---- network changes ----------------------------------------------------------------------------

    /**
     * The device's network changed (Android's {@code ConnectivityManager.NetworkCallback}
     * {@code onAvailable}/{@code onLost} of the default network): every OPEN task of {@code group}
     * (of every group when {@code allGroups}) pings at once and must hear from the server within
     * {@code probeTimeoutMs} (0: 3000), or fails with {@code onError(WS_ERR_TIMEOUT,
     * "onSocketError:fail network changed: no answer to the probe within N ms")} then
     * {@code onClose(1006)}, instead of waiting minutes for TCP to notice. Tasks that answer carry
     * on untouched. Returns 0 (also when libws is not running), or
     * {@link WebSocketTask#WS_ERR_SHUTTING_DOWN}. Any thread, listeners included.
     */
    public static int networkChanged(long group, boolean allGroups, int probeTimeoutMs) {
        if (probeTimeoutMs < 0) {
            throw new IllegalArgumentException("probeTimeoutMs is negative: " + probeTimeoutMs);
        }
        return WebSocketTask.nativeNetworkChanged(group, allGroups, probeTimeoutMs);
    }

    /**
     * Starts libws with {@code config} (null = the defaults). Optional: any other call starts libws
     * with the defaults. Returns {@link WebSocketTask#WS_OK}, {@link WebSocketTask#WS_ERR_ALREADY_RUNNING}
     * when libws runs already (call {@link #shutdown} first), {@link WebSocketTask#WS_ERR_WRONG_THREAD}
     * inside a listener, or {@link WebSocketTask#WS_ERR_RUNTIME}.
     */
    public static int init(Config config) {
        if (config == null) {
            return WebSocketTask.nativeInit(false, 0, 0, 0, 0, 0, null, false, false, 0, null, null, null, null, 0);
        }
        byte[][] pins = WebSocketTask.cStrings(config.certificatePins, "certificate pin");
        byte[] proxy = config.proxy == null ? null : WebSocketTask.cString(config.proxy, "proxy");
        long key = 0;
        if (config.resolver != null) {
            key = nextKey.getAndIncrement();
            resolvers.put(key, config.resolver); // before libws can call it
        }
        int rc = WebSocketTask.nativeInit(true, config.maxConnectionsPerGroup, config.maxMessageSize,
                config.maxSendQueue, config.connectTimeoutMs, config.closeTimeoutMs, config.caPem, config.useSystemRoots,
                config.dangerousSkipCertificateVerification, config.connectionAttemptDelayMs, pins,
                config.clientCertPem, config.clientKeyPem, proxy, key);
        if (rc != WebSocketTask.WS_OK && key != 0) {
            resolvers.remove(key); // no runtime of this config will call it
        }
        return rc;
    }

    /**
     * Stops libws: every task not CLOSED is closed (1001) and delivers onClose, global listeners are
     * removed, libws's thread ends. Blocks until done. Any later call starts libws again (with the
     * defaults unless {@link #init} is called first). Returns 0, or
     * {@link WebSocketTask#WS_ERR_WRONG_THREAD} inside a listener.
     */
    public static int shutdown() {
        List<Long> registered = new ArrayList<>(globals.keySet());
        List<Long> resolving = new ArrayList<>(resolvers.keySet());
        int rc = WebSocketTask.nativeShutdown();
        if (rc == WebSocketTask.WS_OK) {
            // libws removed its global listeners: forget those registered before the shutdown.
            for (Long key : registered) {
                globals.remove(key);
            }
            handles.values().removeAll(registered);
            // The runtime whose config had the resolver has stopped: nothing calls it again.
            resolvers.keySet().removeAll(resolving);
        }
        return rc;
    }

    // ---- groups ---------------------------------------------------------------------------------

    /** {@link #closeGroup(long, int, String, WebSocketTask.ResultCallback)} without a result callback. */
    public static int closeGroup(long group, int code, String reason) {
        return closeGroup(group, code, reason, null);
    }

    /**
     * Closes every task of {@code group} (the mini-program went to the background or exited) as
     * {@link WebSocketTask#close} would each one: code 1000, 1001 ("going away": the mini-program
     * leaves; close refuses it for one task) or 3000–4999, reason up to 123 UTF-8 bytes (null for
     * none). Each task delivers its own onClose. Returns 0 or the negative code of the failure (then
     * nothing is closed); {@code onResult} (may be null) gets "closeSocket:ok" or the fail errMsg,
     * with socketTaskId 0.
     */
    public static int closeGroup(long group, int code, String reason, WebSocketTask.ResultCallback onResult) {
        return WebSocketTask.nativeCloseGroup(group, code, reason == null ? null : WebSocketTask.cString(reason, "reason"),
                onResult);
    }

    // ---- global listeners -------------------------------------------------------------------------

    /**
     * The global {@code wx.onSocketOpen/onSocketMessage/onSocketError/onSocketClose}: the events of
     * every task, after the task's own listener, on libws's thread. All default to doing nothing; an
     * exception thrown goes to {@link WebSocketTask#setExceptionHandler}.
     */
    public interface GlobalListener {
        default void onOpen(long socketTaskId, WebSocketTask.Open open) {}

        default void onMessage(long socketTaskId, String text) {}

        default void onMessage(long socketTaskId, byte[] data) {}

        default void onError(long socketTaskId, int code, String errMsg) {}

        default void onClose(long socketTaskId, int code, String reason, boolean wasClean) {}
    }

    /** Our key (libws's user_data) -> listener. Keys are never reused, so a stale key finds nothing. */
    private static final Map<Long, GlobalListener> globals = new ConcurrentHashMap<>();
    /** libws's handle -> our key. */
    private static final Map<Long, Long> handles = new ConcurrentHashMap<>();
    private static final AtomicLong nextKey = new AtomicLong(1);

    /**
     * Adds a global listener. Returns its handle (> 0) for {@link #removeGlobalListener}, or a
     * negative code. It stays until removed or until {@link #shutdown}.
     */
    public static long addGlobalListener(GlobalListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener is null");
        }
        long key = nextKey.getAndIncrement();
        globals.put(key, listener); // before libws can call it
        long handle = WebSocketTask.nativeOnEvent(key);
        if (handle > 0) {
            handles.put(handle, key);
        } else {
            globals.remove(key);
        }
        return handle;
    }

    /**
     * Removes a global listener. Once this returns it is not called again (from another thread it
     * first waits for a call in progress). Returns 0 or {@link WebSocketTask#WS_ERR_UNKNOWN_LISTENER}.
     */
    public static int removeGlobalListener(long handle) {
        int rc = WebSocketTask.nativeOffEvent(handle);
        Long key = handles.remove(handle);
        if (key != null) {
            globals.remove(key);
        }
        return rc;
    }

    /** Called by the shim on the libws thread for a global listener's event (see {@link Event}). */
    private static void onGlobalEvent(long key, int kind, long taskId, int code, byte[] a, byte[] b, byte[] c,
            boolean flag, long[] p, byte[] s) {
        try {
            GlobalListener l = globals.get(key);
            if (l != null) {
                Event.deliver(l, kind, taskId, code, a, b, c, flag, p, s);
            }
        } catch (Throwable t) {
            WebSocketTask.report(t);
        }
    }

    // ---- the logger -------------------------------------------------------------------------------

    /**
     * Receives libws's diagnostics, one line at a time, from several threads (libws's thread,
     * resolver threads, threads calling libws) possibly at once: it must be thread-safe and quick.
     * An exception thrown goes to {@link WebSocketTask#setExceptionHandler}.
     */
    @FunctionalInterface
    public interface Logger {
        void log(int level, String message);
    }

    private static volatile Logger logger;
    private static final ThreadLocal<Boolean> inLogger = ThreadLocal.withInitial(() -> false);

    /**
     * Routes libws's diagnostics to {@code logger} for levels up to {@code maxLevel}
     * ({@link #LOG_ERROR} .. {@link #LOG_DEBUG}); null or {@link #LOG_OFF} turns logging off (the
     * default). libws never writes to stdout or stderr. Returns 0, or
     * {@link WebSocketTask#WS_ERR_INVALID_ARGUMENT} for a level outside 0..4.
     *
     * @throws IllegalStateException when called from inside a logger
     */
    public static int setLogger(Logger logger, int maxLevel) {
        if (inLogger.get()) {
            throw new IllegalStateException("setLogger inside a logger");
        }
        if (maxLevel < LOG_OFF || maxLevel > LOG_DEBUG) {
            return WebSocketTask.WS_ERR_INVALID_ARGUMENT;
        }
        boolean on = logger != null && maxLevel > LOG_OFF;
        Libws.logger = on ? logger : null;
        return WebSocketTask.nativeSetLogger(on ? maxLevel : LOG_OFF);
    }

    /** android.util.Log's priority for a libws level (ERROR 6, WARN 5, INFO 4, DEBUG 3). */
    public static int androidPriority(int level) {
        switch (level) {
            case LOG_ERROR: return 6;
            case LOG_WARN: return 5;
            case LOG_INFO: return 4;
            default: return 3;
        }
    }

    /** Called by the shim, on any thread, for each log line. */
    private static void onLog(int level, byte[] message) {
        Logger l = logger;
        if (l == null) {
            return; // turned off while the line was on its way
        }
        inLogger.set(true);
        try {
            l.log(level, new String(message, StandardCharsets.UTF_8));
        } catch (Throwable t) {
            WebSocketTask.report(t);
        } finally {
            inLogger.set(false);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------

    /** The readyState of any socketTaskId libws issued, or {@link WebSocketTask#WS_ERR_UNKNOWN_TASK}. */
    public static int readyState(long socketTaskId) {
        return WebSocketTask.nativeReadyState(socketTaskId);
    }

    /**
     * {@code ws_buffered_amount}: the bytes sent on any socketTaskId and not yet written (see
     * {@link WebSocketTask#bufferedAmount()}), 0 for a closed one, or {@link WebSocketTask#WS_ERR_UNKNOWN_TASK}.
     */
    public static long bufferedAmount(long socketTaskId) {
        return WebSocketTask.nativeBufferedAmount(socketTaskId);
    }

    /** A static English text for a result code. */
    public static String strerror(int code) {
        return WebSocketTask.nativeStrerror(code);
    }

    /** The linked libws version, e.g. "0.1.0". */
    public static String version() {
        return WebSocketTask.nativeVersion();
    }
}
